//! `login`, `logout`, `whoami`: the stored session.

use super::Ctx;
use crate::cli::args::Login;
use crate::cli::client::{self, Api};
use crate::cli::endpoints;
use crate::cli::exit::{CliError, Exit};
use crate::cli::table;
use serde_json::json;

pub(super) async fn sign_in(ctx: &mut Ctx<'_, '_>, login: Login) -> Result<(), CliError> {
    let password = read_password(ctx, login.password_stdin)?;
    let file = ctx.session_file()?;
    let session = client::login(
        &file,
        &login.url,
        &login.email,
        &password,
        login.totp.as_deref(),
    )
    .await?;
    let answer = json!({ "url": session.url, "email": session.email });
    ctx.print(&answer, |_| {
        format!("signed in to {} as {}\n", session.url, session.email)
    });
    Ok(())
}

/// The password: the first line of stdin, or a prompt on the terminal.
fn read_password(ctx: &mut Ctx<'_, '_>, from_stdin: bool) -> Result<String, CliError> {
    if from_stdin {
        let mut line = String::new();
        ctx.console
            .stdin
            .read_line(&mut line)
            .map_err(|error| CliError::new(Exit::Usage, format!("reading stdin: {error}")))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !ctx.console.terminal {
        return Err(CliError::new(
            Exit::Usage,
            "no terminal to ask for the password: pass --password-stdin",
        ));
    }
    rpassword::prompt_password("Password: ")
        .map_err(|error| CliError::new(Exit::Usage, format!("reading the password: {error}")))
}

pub(super) async fn sign_out(ctx: &mut Ctx<'_, '_>) -> Result<(), CliError> {
    let file = ctx.session_file()?;
    if file.load()?.is_none() {
        ctx.print(&json!({ "signed_out": false }), |_| {
            "not signed in\n".into()
        });
        return Ok(());
    }
    Api::signed_in(file)?.logout().await?;
    ctx.print(&json!({ "signed_out": true }), |_| "signed out\n".into());
    Ok(())
}

pub(super) async fn whoami(ctx: &mut Ctx<'_, '_>) -> Result<(), CliError> {
    let mut api = ctx.api()?;
    let me = api.call(&endpoints::me()).await?;
    let url = api.session().url.clone();
    ctx.print(&me, |me| {
        format!(
            "{} ({}) at {url}\n",
            table::cell(&me["email"]),
            table::cell(&me["role"])
        )
    });
    Ok(())
}

//! What each admin command does: the requests it makes (from [`super::endpoints`]), what
//! it waits for with `--wait`, and what it prints: a table or `key: value` lines for
//! people, the API's JSON unchanged with `--json`. `account` signs in and out, `tenants`
//! handles tenants and servers, `fleet` migration runs, backups, restores and relocation;
//! this module holds what they share (the context, paging, naming by slug or name,
//! waiting for a job).

mod account;
mod fleet;
mod tenants;

use super::Console;
use super::args::{AdminCli, AdminCommand, Global, WaitFlag};
use super::client::Api;
use super::endpoints::{self, TenantFilter};
use super::exit::{CliError, Exit};
use super::session::SessionFile;
use super::watch::{self, Target, Watch};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// The context of one command: how to print and how to wait.
pub(super) struct Ctx<'c, 'a> {
    console: &'c mut Console<'a>,
    global: Global,
}

impl Ctx<'_, '_> {
    pub(super) fn session_file(&self) -> Result<SessionFile, CliError> {
        SessionFile::locate(self.global.config_dir.as_deref(), &self.global.profile)
    }

    pub(super) fn api(&self) -> Result<Api, CliError> {
        Api::signed_in(self.session_file()?)
    }

    pub(super) fn watch(&self) -> Watch {
        Watch {
            timeout: Duration::from_secs(self.global.timeout),
            draw: self.console.terminal && !self.global.json,
        }
    }

    /// Prints `value` as JSON with `--json`, else what `human` makes of it.
    pub(super) fn print(&mut self, value: &Value, human: impl FnOnce(&Value) -> String) {
        let text = if self.global.json {
            format!("{value:#}\n")
        } else {
            human(value)
        };
        let _ = self.console.out.write_all(text.as_bytes());
    }
}

/// Runs the command `cli` names.
pub async fn dispatch(cli: AdminCli, console: &mut Console<'_>) -> Result<(), CliError> {
    let mut ctx = Ctx {
        console,
        global: cli.global,
    };
    match cli.command {
        AdminCommand::Login(login) => account::sign_in(&mut ctx, login).await,
        AdminCommand::Logout => account::sign_out(&mut ctx).await,
        AdminCommand::Whoami => account::whoami(&mut ctx).await,
        AdminCommand::Tenants(command) => tenants::tenants(&mut ctx, command).await,
        AdminCommand::Migrations(command) => fleet::migrations(&mut ctx, command).await,
        AdminCommand::Backups(command) => fleet::backups(&mut ctx, command).await,
        AdminCommand::Restore(restore) => fleet::restore_tenant(&mut ctx, restore).await,
        AdminCommand::Relocate(relocate) => fleet::relocate_tenant(&mut ctx, relocate).await,
        AdminCommand::Servers(command) => tenants::servers(&mut ctx, command).await,
    }
}

/// Every page of a list, as one page (`next_cursor: null`).
pub(super) async fn all_pages(
    api: &mut Api,
    request: impl Fn(Option<&str>) -> endpoints::Request,
) -> Result<Value, CliError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = api.call(&request(cursor.as_deref())).await?;
        all.extend(items(&page).iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(json!({ "items": all, "next_cursor": null })),
        }
    }
}

pub(super) fn items(page: &Value) -> &[Value] {
    page["items"].as_array().map_or(&[], Vec::as_slice)
}

/// With `--wait`, waits for the job named by `answer["job_id"]` and answers its last
/// view; without, answers `answer` itself.
pub(super) async fn watch_job(
    ctx: &mut Ctx<'_, '_>,
    api: &mut Api,
    answer: &Value,
    wait: WaitFlag,
) -> Result<Value, CliError> {
    if !wait.wait {
        return Ok(answer.clone());
    }
    let job = uuid_in(answer, "job_id")?;
    watch::wait(api, Target::Job(job), ctx.watch()).await
}

pub(super) fn uuid_in(value: &Value, key: &str) -> Result<Uuid, CliError> {
    value[key]
        .as_str()
        .and_then(|text| Uuid::parse_str(text).ok())
        .ok_or_else(|| CliError::new(Exit::ApiError, format!("the API answered no `{key}`")))
}

/// A tenant named by id or slug.
pub(super) async fn tenant_id(api: &mut Api, reference: &str) -> Result<Uuid, CliError> {
    if let Ok(id) = Uuid::parse_str(reference) {
        return Ok(id);
    }
    let filter = TenantFilter {
        search: Some(reference.to_owned()),
        limit: Some(200),
        ..TenantFilter::default()
    };
    let page = all_pages(api, |cursor| endpoints::tenants(&filter, cursor)).await?;
    let found = items(&page).iter().find(|item| item["slug"] == reference);
    found
        .and_then(|item| uuid_in(item, "id").ok())
        .ok_or_else(|| CliError::new(Exit::NotFound, format!("no tenant `{reference}`")))
}

/// A server named by id or name.
pub(super) async fn server_id(api: &mut Api, reference: &str) -> Result<Uuid, CliError> {
    if let Ok(id) = Uuid::parse_str(reference) {
        return Ok(id);
    }
    let page = api.call(&endpoints::servers()).await?;
    let found = items(&page).iter().find(|item| item["name"] == reference);
    found
        .and_then(|item| uuid_in(item, "id").ok())
        .ok_or_else(|| CliError::new(Exit::NotFound, format!("no server `{reference}`")))
}

//! `control-plane admin ...`: the admin CLI. It talks to the admin API over HTTP with a
//! stored login (never to the database), so it works from any operator's machine and obeys
//! the same roles, audit and validation as the portal.
//!
//! - `args`: the command line (clap), exit statuses in `--help`;
//! - `commands`: what each command does and prints (`account`, `tenants`, `fleet`);
//! - [`endpoints`]: every request, paths and bodies in one place;
//! - [`client`]: HTTP with the session, token refresh, errors;
//! - [`session`]: the stored login (0600 file per profile);
//! - [`watch`]: `--wait` polling with a progress bar;
//! - [`table`]: human output; `--json` prints the API's JSON unchanged instead;
//! - [`exit`]: exit statuses scripts can trust.

mod args;
pub mod client;
mod commands;
pub mod endpoints;
pub mod exit;
pub mod session;
pub mod table;
pub mod watch;

pub use args::AdminCli;
pub use exit::{CliError, Exit};

use std::io::{BufRead, Write};

/// Where a command reads and writes: the process's own streams, or buffers in tests.
pub struct Console<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Read by `login --password-stdin`.
    pub stdin: &'a mut dyn BufRead,
    /// Whether stdout is a terminal (progress bars and password prompts need one).
    pub terminal: bool,
}

/// Runs one admin command; answers its exit status (see [`Exit`]). Errors are told on
/// `err`; with `--json`, an API error's problem body is also printed on `out`, unchanged.
pub async fn run(cli: AdminCli, console: &mut Console<'_>) -> i32 {
    let json = cli.global.json;
    match commands::dispatch(cli, console).await {
        Ok(()) => Exit::Ok.code(),
        Err(error) => {
            let _ = writeln!(console.err, "error: {}", error.message);
            if let (true, Some(problem)) = (json, &error.problem) {
                let _ = writeln!(console.out, "{problem:#}");
            }
            error.exit.code()
        }
    }
}

/// Runs an admin command on the process's own streams (what `main` calls).
pub async fn run_in_process(cli: AdminCli) -> i32 {
    use std::io::IsTerminal as _;
    let terminal = std::io::stdout().is_terminal();
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut stdin = std::io::stdin().lock();
    let mut console = Console {
        out: &mut out,
        err: &mut err,
        stdin: &mut stdin,
        terminal,
    };
    run(cli, &mut console).await
}

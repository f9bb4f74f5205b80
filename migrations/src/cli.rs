//! The `migrations` command line: `migrations <control|tenant> <up|down|status|fresh|reset>`.
//!
//! The database URL comes from `--database-url`, then `APP_DATABASE__URL`, then
//! `DATABASE_URL`. A missing URL exits with status 2, a failed run with status 1. The URL is
//! only ever shown with its password redacted.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sea_orm_migration::MigrationStatus;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::{control, tenant};

/// Environment variables consulted, in order, when `--database-url` is absent.
pub const DATABASE_URL_ENV: [&str; 2] = ["APP_DATABASE__URL", "DATABASE_URL"];

/// Parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "migrations",
    version,
    about = "Migrate the control database or a tenant database"
)]
pub struct Cli {
    /// Postgres URL; defaults to $APP_DATABASE__URL, then $DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Which schema to migrate.
    #[command(subcommand)]
    pub target: Target,
}

/// The schema (and so the migrator) a command applies to.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Target {
    /// The control database (tenants, plans, jobs, admins, audit).
    Control {
        #[command(subcommand)]
        action: Action,
    },
    /// One tenant database (users, roles, settings, audit).
    Tenant {
        #[command(subcommand)]
        action: Action,
    },
}

/// What to do with the chosen migrator.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Action {
    /// Apply pending migrations (all, or the next N).
    Up {
        /// Number of migrations to apply.
        #[arg(short = 'n', long)]
        steps: Option<u32>,
    },
    /// Roll back applied migrations (the last one, or the last N).
    Down {
        /// Number of migrations to roll back (default 1).
        #[arg(short = 'n', long)]
        steps: Option<u32>,
    },
    /// List every migration as applied or pending.
    Status,
    /// Drop every table in the database, then apply all migrations.
    Fresh,
    /// Roll back every applied migration and drop the migration table.
    Reset,
}

/// Parses the process arguments, runs the command and returns the exit status.
pub async fn main() -> ExitCode {
    init_tracing();
    run_cli(Cli::parse()).await
}

/// Runs an already parsed command line and returns the exit status.
pub async fn run_cli(cli: Cli) -> ExitCode {
    let Some(url) = resolve_database_url(cli.database_url, |key| std::env::var(key).ok()) else {
        eprintln!(
            "error: no database URL: pass --database-url or set {}",
            DATABASE_URL_ENV.join(" or ")
        );
        return ExitCode::from(2);
    };
    match run(cli.target, &url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", scrub(&error_chain(&err), &url));
            ExitCode::from(1)
        }
    }
}

/// Connects to `url` and performs `target`'s action, then prints the migration status.
pub async fn run(target: Target, url: &str) -> anyhow::Result<()> {
    let db = connect(url)
        .await
        .with_context(|| format!("cannot connect to {}", redact_url(url)))?;
    let result = match target {
        Target::Control { action } => execute::<control::Migrator>("control", action, &db).await,
        Target::Tenant { action } => execute::<tenant::Migrator>("tenant", action, &db).await,
    };
    db.close().await.ok();
    result
}

/// First non-empty URL among the flag and the [`DATABASE_URL_ENV`] variables.
pub fn resolve_database_url(
    flag: Option<String>,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    flag.into_iter()
        .chain(DATABASE_URL_ENV.iter().filter_map(|key| env(key)))
        .find(|url| !url.trim().is_empty())
}

/// Every migration of `M` with its status, without creating the migration table.
pub async fn migration_statuses<M, C>(db: &C) -> Result<Vec<(String, MigrationStatus)>, DbErr>
where
    M: MigratorTrait,
    C: ConnectionTrait,
{
    let migrations = M::get_migration_with_status_read_only(db).await?;
    Ok(migrations
        .iter()
        .map(|migration| (migration.name().to_owned(), migration.status()))
        .collect())
}

/// `url` with any password (user-info or `password=` parameter) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let redacted = match userinfo_password_span(url) {
        Some((start, end)) => format!("{}***{}", &url[..start], &url[end..]),
        None => url.to_owned(),
    };
    redact_password_params(&redacted)
}

async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(2)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(15))
        .sqlx_logging(false);
    Database::connect(options).await
}

async fn execute<M: MigratorTrait>(
    label: &str,
    action: Action,
    db: &DatabaseConnection,
) -> anyhow::Result<()> {
    apply::<M>(action, db)
        .await
        .with_context(|| format!("{label} migrations: {action:?} failed"))?;
    print_status::<M>(label, db).await
}

async fn apply<M: MigratorTrait>(action: Action, db: &DatabaseConnection) -> Result<(), DbErr> {
    match action {
        Action::Up { steps } => crate::up_exclusively::<M>(db, steps).await,
        Action::Down { steps } => M::down(db, Some(steps.unwrap_or(1))).await,
        Action::Fresh => M::fresh(db).await,
        Action::Reset => M::reset(db).await,
        Action::Status => Ok(()),
    }
}

async fn print_status<M: MigratorTrait>(
    label: &str,
    db: &DatabaseConnection,
) -> anyhow::Result<()> {
    let statuses = migration_statuses::<M, _>(db)
        .await
        .with_context(|| format!("{label} migrations: cannot read status"))?;
    println!("{label} migrations (table {}):", M::migration_table_name());
    for (name, status) in statuses {
        let status = match status {
            MigrationStatus::Applied => "applied",
            MigrationStatus::Pending => "pending",
        };
        println!("  {status:<8} {name}");
    }
    Ok(())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Byte range of the password in `scheme://user:password@host...`, if any.
///
/// Uses the last `@` so that unencoded `@`, `/` or `?` inside a password are still covered.
fn userinfo_password_span(url: &str) -> Option<(usize, usize)> {
    let rest_start = url.find("://")? + 3;
    let at = rest_start + url[rest_start..].rfind('@')?;
    let colon = rest_start + url[rest_start..at].find(':')?;
    Some((colon + 1, at))
}

/// Replaces the value of every `password=` parameter with `***`.
fn redact_password_params(url: &str) -> String {
    const KEY: &str = "password=";
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(pos) = rest.to_ascii_lowercase().find(KEY) {
        let value_start = pos + KEY.len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let value_len = rest[value_start..]
            .find(['&', ' ', '#'])
            .unwrap_or(rest.len() - value_start);
        rest = &rest[value_start + value_len..];
    }
    out.push_str(rest);
    out
}

/// The error and its causes joined by `: `, skipping causes already in the text.
fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain().map(ToString::to_string) {
        if text.is_empty() {
            text = cause;
        } else if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

/// Removes the raw URL and its password from an error message.
fn scrub(message: &str, url: &str) -> String {
    let mut message = message.replace(url, &redact_url(url));
    if let Some((start, end)) = userinfo_password_span(url) {
        let password = &url[start..end];
        if password.len() >= 4 {
            message = message.replace(password, "***");
        }
    }
    message
}

#[cfg(test)]
mod tests;

//! The admin CLI's command line. Every long-running command takes `--wait` (poll until
//! the work ends, exit 6 if it failed) and the global `--timeout` for how long to wait.

use super::exit::EXIT_STATUS_HELP;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use uuid::Uuid;

/// Operate the platform through the admin API with a stored login.
#[derive(Debug, Parser)]
#[command(name = "admin", after_help = EXIT_STATUS_HELP)]
pub struct AdminCli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Print the API's JSON answers unchanged (and error bodies), for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// Which stored login to use (one file per profile).
    #[arg(
        long,
        global = true,
        env = "ERP_ADMIN_PROFILE",
        default_value = "default"
    )]
    pub profile: String,
    /// Where logins are stored [default: $XDG_CONFIG_HOME/erp-platform].
    #[arg(long, global = true, env = "ERP_ADMIN_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// How long `--wait` waits before giving up (exit 6; the work goes on).
    #[arg(long, global = true, default_value_t = 1800, value_name = "SECS")]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Sign in and store the session (password from a prompt or --password-stdin).
    Login(Login),
    /// End the session and forget it.
    Logout,
    /// Who is signed in.
    Whoami,
    /// Tenants: list, show, create, suspend, resume, delete.
    #[command(subcommand)]
    Tenants(Tenants),
    /// Fleet schema-migration runs.
    #[command(subcommand)]
    Migrations(Migrations),
    /// A tenant's backups.
    #[command(subcommand)]
    Backups(Backups),
    /// Restore a tenant from one of its backups.
    Restore(Restore),
    /// Move a tenant to another database server.
    Relocate(Relocate),
    /// Database servers.
    #[command(subcommand)]
    Servers(Servers),
}

#[derive(Debug, Args)]
pub struct Login {
    /// The control plane's base URL, e.g. https://admin.example.com.
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub email: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// A current TOTP code (or a recovery code) when the admin has 2FA.
    #[arg(long, value_name = "CODE")]
    pub totp: Option<String>,
}

/// `--wait`, shared by every command that starts long work.
#[derive(Debug, Clone, Copy, Args)]
pub struct WaitFlag {
    /// Wait (with a progress bar) until the work ends; exit 6 if it failed.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Subcommand)]
pub enum Tenants {
    /// List tenants (one page unless --all).
    List(TenantList),
    /// One tenant, by id or slug.
    Show { tenant: String },
    /// Create a tenant (provisioned by a job).
    Create(TenantCreate),
    /// Suspend an active tenant.
    Suspend {
        tenant: String,
        #[arg(long)]
        reason: String,
    },
    /// Resume a suspended tenant.
    Resume {
        tenant: String,
        #[arg(long)]
        reason: String,
    },
    /// Delete a tenant (final backup, then its database is dropped).
    Delete {
        tenant: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        wait: WaitFlag,
    },
}

#[derive(Debug, Args)]
pub struct TenantList {
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub plan: Option<String>,
    #[arg(long)]
    pub server: Option<Uuid>,
    /// Part of a slug or name.
    #[arg(long)]
    pub search: Option<String>,
    /// Page size (1 to 200).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Follow every page (with --json: one page holding every item, `next_cursor` null).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct TenantCreate {
    #[arg(long)]
    pub slug: String,
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub plan: String,
    #[arg(long)]
    pub admin_email: String,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Debug, Subcommand)]
pub enum Migrations {
    /// Start a fleet migration run (or --dry-run: how many tenants are behind).
    Run(MigrationRunArgs),
    /// The runs, or one run with its tenants.
    Status { run: Option<Uuid> },
    /// Resume a halted run.
    Resume {
        run: Uuid,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Cancel a run (tenants not yet migrated stay as they are).
    Cancel { run: Uuid },
}

#[derive(Debug, Args)]
pub struct MigrationRunArgs {
    /// Only these tenants (repeatable).
    #[arg(long = "tenant")]
    pub tenant_ids: Vec<Uuid>,
    /// Only tenants on these plans (repeatable).
    #[arg(long = "plan")]
    pub plan_codes: Vec<String>,
    /// Only tenants on these servers (repeatable).
    #[arg(long = "server")]
    pub server_ids: Vec<Uuid>,
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub canary_count: Option<u32>,
    #[arg(long)]
    pub canary_percent: Option<u32>,
    #[arg(long)]
    pub max_per_server: Option<u32>,
    #[arg(long)]
    pub max_failures: Option<u32>,
    #[arg(long)]
    pub max_failure_ratio: Option<f64>,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Debug, Subcommand)]
pub enum Backups {
    /// Back a tenant up now.
    Create {
        tenant: String,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// A tenant's backups.
    List { tenant: String },
}

#[derive(Debug, Args)]
pub struct Restore {
    pub tenant: String,
    #[arg(long = "backup", value_name = "BACKUP_ID")]
    pub backup_id: Uuid,
    /// Why (kept in the audit log).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Debug, Args)]
pub struct Relocate {
    pub tenant: String,
    /// The server to move to, by id or name.
    #[arg(long = "to", value_name = "SERVER")]
    pub server: String,
    /// Why (kept in the audit log).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Debug, Subcommand)]
pub enum Servers {
    /// Every server with its load.
    List,
    /// Place no new tenants on a server; with --evacuate, also move its tenants to the
    /// other servers, that many at a time; with --wait, until it holds none.
    Drain {
        /// By id or name.
        server: String,
        /// Relocate every tenant of the server, this many at once (1 to 16).
        #[arg(long, value_name = "CONCURRENCY", value_parser = clap::value_parser!(u8).range(1..=16))]
        evacuate: Option<u8>,
        #[command(flatten)]
        wait: WaitFlag,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        AdminCli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere_and_repeatable_filters_collect() {
        let cli = AdminCli::try_parse_from([
            "admin",
            "migrations",
            "run",
            "--plan",
            "a",
            "--plan",
            "b",
            "--json",
            "--wait",
        ])
        .unwrap();
        assert!(cli.global.json);
        let AdminCommand::Migrations(Migrations::Run(run)) = cli.command else {
            panic!("parsed as a migration run")
        };
        assert_eq!(run.plan_codes, ["a", "b"]);
        assert!(run.wait.wait);
    }

    #[test]
    fn a_usage_error_exits_2_like_every_usage_error() {
        let error = AdminCli::try_parse_from(["admin", "tenants", "suspend", "acme"]).unwrap_err();
        assert_eq!(error.exit_code(), super::super::Exit::Usage.code());
    }
}

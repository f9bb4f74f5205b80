//! `control-plane`: the admin API (`serve`, the default), the whole platform in one
//! process (`all-in-one`), or the admin CLI (`admin ...`, a client of a running admin
//! API). All logic is in the library.

use clap::{Parser, Subcommand};
use common::cli::ConfigArgs;
use control_plane::all_in_one::{self, Parts};

#[derive(Debug, Parser)]
#[command(version, about = "Control plane of the ERP platform")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the admin API (the default).
    Serve,
    /// Run the control plane, the tenant runtime and a provisioner worker in one process.
    AllInOne,
    /// Print the admin API's OpenAPI document (what `control-plane/openapi.json` holds).
    Openapi,
    /// Operate the platform through the admin API (`admin login` first).
    Admin(control_plane::cli::AdminCli),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // First: the OTLP exporter's HTTP client needs the provider when telemetry starts.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let parts = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => Parts::CONTROL_PLANE_ONLY,
        Command::AllInOne => Parts::ALL,
        Command::Openapi => {
            print!("{}", control_plane::api::openapi::document());
            return Ok(());
        }
        // A client: no configuration, no telemetry, its own exit statuses.
        Command::Admin(admin) => {
            std::process::exit(control_plane::cli::run_in_process(admin).await)
        }
    };
    let loaded = cli.config.load_or_exit();
    let _telemetry = common::telemetry::init(&loaded.settings.log, control_plane::SERVICE);
    common::cli::log_warnings(&loaded);
    let settings = loaded.settings;
    let shutdown = common::shutdown::on_signal();
    let mut platform = all_in_one::launch(&settings, parts, shutdown.clone()).await?;
    tokio::select! {
        admin = &mut platform.bootstrap => {
            let admin = admin.ok().flatten();
            println!("{}", all_in_one::banner(&settings, &platform, admin.as_ref()));
        }
        () = shutdown.cancelled() => {}
    }
    platform.wait().await
}

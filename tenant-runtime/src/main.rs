//! `tenant-runtime`: serves tenants' ERP API. All logic is in the library.

use clap::{Parser, Subcommand};
use common::cli::ConfigArgs;

#[derive(Debug, Parser)]
#[command(version, about = "Serves each tenant's ERP API from its own database")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum Command {
    /// Serve the tenant API (the default).
    Serve,
    /// Print the tenant API's OpenAPI document (what `tenant-runtime/openapi.json` holds).
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // First: the OTLP exporter's HTTP client needs the provider when telemetry starts.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        print!("{}", tenant_runtime::api::document());
        return Ok(());
    }
    let loaded = cli.config.load_or_exit();
    let _telemetry = common::telemetry::init(&loaded.settings.log, tenant_runtime::SERVICE);
    common::cli::log_warnings(&loaded);
    let settings = loaded.settings;
    let control_db = common::db::connect_lazy(&settings.database).await?;
    let app = tenant_runtime::build_app(&settings, control_db)?;
    tracing::info!(port = app.port(), "tenant runtime listening");
    app.run_until(common::shutdown::on_signal()).await?;
    Ok(())
}

//! `tenant-runtime`: serves tenants' ERP API. All logic is in the library.

use clap::Parser;
use common::cli::ConfigArgs;

#[derive(Debug, Parser)]
#[command(version, about = "Serves each tenant's ERP API from its own database")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // First: the OTLP exporter's HTTP client needs the provider when telemetry starts.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let loaded = Cli::parse().config.load_or_exit();
    let _telemetry = common::telemetry::init(&loaded.settings.log, tenant_runtime::SERVICE);
    common::cli::log_warnings(&loaded);
    let settings = loaded.settings;
    let control_db = common::db::connect_lazy(&settings.database).await?;
    let app = tenant_runtime::build_app(&settings, control_db)?;
    tracing::info!(port = app.port(), "tenant runtime listening");
    app.run_until(common::shutdown::on_signal()).await?;
    Ok(())
}

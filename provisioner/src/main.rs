//! `provisioner`: the job worker. All logic is in the library.

use clap::Parser;
use common::cli::ConfigArgs;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Provisions, migrates, backs up and relocates tenant databases"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // First: the OTLP exporter's HTTP client needs the provider when telemetry starts.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let loaded = Cli::parse().config.load_or_exit();
    let _telemetry = common::telemetry::init(&loaded.settings.log, provisioner::SERVICE);
    common::cli::log_warnings(&loaded);
    let control_db = common::db::connect_lazy(&loaded.settings.database).await?;
    let worker = provisioner::Worker::new(&loaded.settings, control_db.clone())?;
    let health = provisioner::health::bind(&loaded.settings, control_db, worker.startup_status())?;
    tracing::info!(
        port = health.port(),
        "health, readiness and metrics listening"
    );
    let shutdown = common::shutdown::on_signal();
    let served = tokio::spawn(health.run_until(shutdown.clone()));
    worker.run(shutdown.clone()).await;
    // The listener stops with the worker, whichever ends first.
    shutdown.cancel();
    served.await??;
    Ok(())
}

//! The command-line flags every binary shares (`--config`, `--print-config`) and the
//! start-up sequence they imply: load, validate, exit 2 on a bad value.

use crate::config::{self, Loaded};
use std::path::PathBuf;

/// Exit status for a configuration error.
pub const EXIT_BAD_CONFIG: i32 = 2;

#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// A TOML configuration file; `APP_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl ConfigArgs {
    /// Loads the configuration, or prints every bad key to stderr and exits with status 2.
    /// With `--print-config`, prints the settings and exits 0.
    pub fn load_or_exit(&self) -> Loaded {
        let loaded = match config::load(self.config.as_deref()) {
            Ok(loaded) => loaded,
            Err(errors) => {
                eprintln!("invalid configuration:\n{errors}");
                std::process::exit(EXIT_BAD_CONFIG);
            }
        };
        if self.print_config {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            print!("{}", config::render(&loaded.settings));
            std::process::exit(0);
        }
        loaded
    }
}

/// Logs the warnings collected while loading (call after telemetry is up).
pub fn log_warnings(loaded: &Loaded) {
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
}

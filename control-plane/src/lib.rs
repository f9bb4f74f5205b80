//! The control plane: admin API (`api`, with `auth` and `audit`), bootstrap of the control
//! database, the fleet gauges on `/metrics` (`fleet_metrics`), the all-in-one development
//! mode that runs every service in one process, and the admin CLI (`cli`), a client of the
//! admin API. This crate is the library;
//! `main.rs` only parses flags and calls it.

pub mod all_in_one;
pub mod api;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod fleet_metrics;
pub mod portal;
pub mod startup;
pub mod state;

pub use startup::{Application, build_app};
pub use state::AppState;

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "control-plane";

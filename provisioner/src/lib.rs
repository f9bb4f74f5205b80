//! The provisioner: a worker that takes jobs from the control database (provisioning,
//! suspension, deletion, fleet migrations, backups). This crate is the library; `main.rs`
//! only parses flags and calls it.

pub mod worker;

pub use worker::Worker;

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "provisioner";

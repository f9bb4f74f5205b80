//! The tenant runtime: resolves each request's tenant, serves its ERP API from the tenant's
//! own database. This crate is the library; `main.rs` only parses flags and calls it.

pub mod startup;

pub use startup::{Application, build_app};

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "tenant-runtime";

//! The tenant runtime: resolves each request's tenant, admits it through status, plan and
//! rate gates, and serves its ERP API from the tenant's own database through a bounded
//! registry of connection pools, and the ERP web app (`web`). This crate is the library;
//! `main.rs` only parses flags.

pub mod api;
pub mod auth;
pub mod db;
pub mod erp;
pub mod gate;
pub mod listener;
pub mod registry;
pub mod resolve;
pub mod startup;
pub mod state;
pub mod usage;
pub mod web;

pub use startup::{Application, build_app};
pub use state::AppState;

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "tenant-runtime";

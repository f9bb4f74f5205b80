//! What the control plane, tenant runtime and provisioner share: ids and names,
//! configuration, telemetry, metrics, the problem+json error body, HTTP basics, token
//! claims, the control-database connection and its entities.

pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod entities;
pub mod http;
pub mod ids;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod passwords;
pub mod problem;
pub mod secret;
pub mod shutdown;
pub mod telemetry;
pub mod tokens;

pub use secret::Secret;

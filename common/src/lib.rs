//! What the control plane, tenant runtime and provisioner share: ids and names,
//! configuration, telemetry, metrics, the problem+json error body and the HTTP services'
//! error type, HTTP basics, bearer tokens and their claims, the sign-in lock-out policy,
//! the limits that hold across replicas (Redis or a per-process share), the tenant and
//! server change feed's format, a tenant's audit log rows, the control-database
//! connection and its entities, the billing view both services answer, and the UI kit of
//! both web interfaces (`web`).

pub mod api_error;
pub mod bearer;
pub mod billing;
pub mod changes;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod entities;
pub mod fleet;
pub mod head_deadline;
pub mod http;
pub mod ids;
pub mod limits;
pub mod lockout;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod openapi_links;
pub mod passwords;
pub mod pg_listen;
pub mod problem;
pub mod secret;
pub mod shutdown;
pub mod telemetry;
pub mod tenant_audit;
pub mod tokens;
pub mod trace_context;
pub mod web;

pub use secret::Secret;

//! The provisioner: gives every tenant its own Postgres database and login role on one of
//! several servers, through jobs in the control database that any number of workers run.
//! This crate is the library; `main.rs` only parses flags and calls it.
//!
//! - [`tenants`]: the lifecycle API (create, suspend, resume, delete);
//! - [`lifecycle`]: the state machine every status change obeys;
//! - [`servers`]: the server registry and placement;
//! - [`jobs`]: the queue (`SKIP LOCKED`, leases, recorded steps, backoff);
//! - [`saga`]: the job runner ([`Provisioner::try_execute_job`]), with the steps of
//!   `provision` (in `provision`) and `delete` (in `delete`);
//! - [`template`]: the per-server template at the newest tenant schema;
//! - [`spares`]: pre-cloned spare databases that make provisioning a rename;
//! - [`sweeper`]: trial expiry, grace-period deletion and purge, on a [`clock`];
//! - [`reconcile`]: drift between the control database and what servers hold;
//! - [`worker`]: the loop that keeps running jobs until shutdown.

pub mod clock;
pub mod delete;
pub mod error;
pub mod invitation;
pub mod jobs;
pub mod lifecycle;
pub mod provision;
pub mod reconcile;
pub mod saga;
pub mod seed;
pub mod servers;
pub mod spares;
pub mod steps;
pub mod sweeper;
pub mod template;
pub mod tenants;
pub mod worker;

pub use error::ProvisionError;
pub use saga::{Executed, Provisioner};
pub use worker::Worker;

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "provisioner";

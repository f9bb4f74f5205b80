//! The provisioner: gives every tenant its own Postgres database and login role on one of
//! several servers, through jobs in the control database that any number of workers run.
//! This crate is the library; `main.rs` only parses flags and calls it.
//!
//! Public, for the control plane, the runtime's tests and the whole-system tests:
//! - [`tenants`]: the lifecycle API, the only way to change a tenant (create, start a
//!   trial, rename or re-plan, suspend, resume, delete, announce a plan change);
//! - [`servers`]: the server registry (register, capacity, spares, drain);
//! - [`keys`]: which encryption key seals how many secrets of each kind (rotation);
//! - [`billing`]: billing through Stripe (the webhook ledger and its worker, the state
//!   machine joining billing and access, Checkout, the portal, metered usage);
//! - [`fleet`]: fleet migration runs (dry run, start, list, read, resume, cancel) and the
//!   schema-version ledger;
//! - [`backups`]: ask for a tenant's backup, list them (the schedule and retention run in
//!   the worker's maintenance);
//! - [`restore`], [`relocation`]: restore a backup into a new database, move a tenant to
//!   another server, empty a server (each a job, switched in under a short write freeze);
//! - [`TenantDatabase`]: the way into an active tenant's database (impersonation);
//! - [`Provisioner`]: runs jobs ([`Provisioner::try_execute_job`]), sweeps, refills spares
//!   and reconciles; [`Worker`] is the loop that keeps doing so until shutdown;
//! - [`health`]: the standalone worker's `/healthz`, `/readyz` and `/metrics`.
//!
//! Internal: `lifecycle` (the state machine every status change obeys), `jobs` (the
//! queue: `SKIP LOCKED`, leases, recorded steps, backoff, typed payload keys), `saga` (the
//! job runner), `provision` and `delete` (the sagas' steps), `steps` (how a step fails),
//! `backup_store` (where backup files live: [`BackupStore`], [`LocalDir`], [`S3Store`]), `dump`
//! (`pg_dump`/`pg_restore` with row counts from the dump's snapshot), `copies` (a
//! tenant's databases besides its live one, write freezes, and the sweeps that finish
//! them),
//! `template` (the per-server template at the newest tenant schema), `spares`
//! (pre-cloned databases that make provisioning a rename), `seed`, `invitation`,
//! `sweeper` (trial expiry, grace-period deletion and purge, on a [`Clock`]),
//! `reconcile` (drift between the control database and what servers hold), and the fleet
//! jobs `role_limits` (a plan's connection limit on its tenants' roles) and `reseal`
//! (secrets under a previous key sealed again under the current one).

mod backup_store;
pub mod backups;
pub mod billing;
mod clock;
mod copies;
mod delete;
mod dump;
mod error;
pub mod fleet;
pub mod health;
mod invitation;
mod jobs;
pub mod keys;
mod lifecycle;
mod provision;
mod provisioner;
mod reconcile;
pub mod relocation;
mod reseal;
pub mod restore;
mod role_limits;
mod saga;
mod seed;
pub mod servers;
mod spares;
mod steps;
mod sweeper;
mod template;
mod tenant_db;
pub mod tenants;
mod worker;

pub use backup_store::{BackupStore, LocalDir, S3Store, StoreFuture};
pub use clock::{Clock, ManualClock, SystemClock};
pub use dump::pg_binary;
pub use error::ProvisionError;
pub use invitation::admin_invite;
pub use jobs::JobKind;
pub use lifecycle::InvalidTransition;
pub use provisioner::{DatabaseSource, Provisioner};
pub use reconcile::{ReconcileReport, ServerObject};
pub use reseal::RESEAL_STEPS;
pub use role_limits::ROLE_LIMITS_STEPS;
pub use saga::{
    BACKUP_STEPS, DELETE_STEPS, Executed, PROVISION_STEPS, RELOCATE_STEPS, RESTORE_STEPS,
};
pub use spares::list as list_spares;
pub use steps::StepError;
pub use sweeper::SweepReport;
pub use template::template_name;
pub use tenant_db::{TenantDatabase, TenantUser};
pub use worker::Worker;

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "provisioner";

//! [`Provisioner`]: what runs jobs and sweeps, and how it is set up (control database,
//! keyring, lease, backup directory and store, retention and grace periods, clock,
//! billing, where new tenant databases come from, and the crash tests' fail point). Its
//! work lives beside it: the job runner in `saga`, the steps in `provision`, `delete`,
//! `backups`, `restore` and `relocation`, housekeeping in `spares`, `sweeper`, `copies`
//! and `reconcile`.

use crate::backup_store::{BackupStore, LocalDir};
use crate::billing::Billing;
use crate::clock::{Clock, SystemClock};
use crate::fleet::TenantSchema;
use common::crypto::Keyring;
use sea_orm::DatabaseConnection;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DAY: u64 = 24 * 3600;

/// Runs jobs. Cheap to clone; several may run in one process or across many.
#[derive(Clone)]
pub struct Provisioner {
    pub(crate) control_db: DatabaseConnection,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) worker_id: String,
    pub(crate) lease: Duration,
    /// Where backups are kept (a [`LocalDir`] unless set otherwise).
    pub(crate) store: Arc<dyn BackupStore>,
    /// Local scratch space for dumps on their way into or out of the store.
    pub(crate) staging_dir: PathBuf,
    /// How long a database replaced by a restore or relocation is kept before it is dropped.
    pub(crate) retired_keep: Duration,
    pub(crate) deleted_retention: Duration,
    pub(crate) trial_grace: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) database_source: DatabaseSource,
    /// Billing through Stripe (disabled unless configured).
    pub(crate) billing: Billing,
    /// The tenant migrations fleet runs apply (the build's own; tests pass an upgrade).
    pub(crate) tenant_schema: TenantSchema,
    /// The armed fail point, if any (see `saga`).
    pub(crate) fail_point: Arc<Mutex<Option<String>>>,
}

/// Where a new tenant database comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DatabaseSource {
    /// A spare when there is one, else a clone of the server's template (what runs).
    #[default]
    TemplateClone,
    /// An empty database migrated from scratch: the baseline the provisioning benchmark
    /// compares the clone against. Never configured for a worker.
    Migrate,
}

impl Provisioner {
    pub fn new(control_db: DatabaseConnection, keyring: Keyring, worker_id: &str) -> Self {
        Self {
            control_db,
            keyring: Arc::new(keyring),
            worker_id: worker_id.to_owned(),
            lease: Duration::from_secs(60),
            store: Arc::new(LocalDir::new(".data/backups")),
            staging_dir: LocalDir::new(".data/backups").staging_dir(),
            retired_keep: Duration::from_secs(DAY),
            deleted_retention: Duration::from_secs(30 * DAY),
            trial_grace: Duration::from_secs(14 * DAY),
            clock: Arc::new(SystemClock),
            database_source: DatabaseSource::default(),
            billing: Billing::disabled(),
            tenant_schema: TenantSchema::current(),
            fail_point: Arc::default(),
        }
    }

    /// Where sweeps read the time (tests pass a `ManualClock`).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where new tenant databases come from (the benchmark's baseline sets `Migrate`).
    pub fn with_database_source(mut self, source: DatabaseSource) -> Self {
        self.database_source = source;
        self
    }

    /// How long a tenant stays suspended after its trial ended before it is deleted.
    pub fn with_trial_grace(mut self, grace: Duration) -> Self {
        self.trial_grace = grace;
        self
    }

    /// How long a deleted tenant's final backup is kept before it is purged.
    pub fn with_deleted_retention(mut self, retention: Duration) -> Self {
        self.deleted_retention = retention;
        self
    }

    /// Billing through Stripe (customer jobs, the event ledger, billing sweeps).
    pub fn with_billing(mut self, billing: Billing) -> Self {
        self.billing = billing;
        self
    }

    /// The tenant migrations fleet runs apply (tests stand an upgrade in with a longer list).
    pub fn with_tenant_schema(mut self, schema: TenantSchema) -> Self {
        self.tenant_schema = schema;
        self
    }

    pub fn tenant_schema(&self) -> &TenantSchema {
        &self.tenant_schema
    }

    pub fn billing(&self) -> &Billing {
        &self.billing
    }

    /// Where backups go: a local directory (the store) with its scratch space inside.
    pub fn with_backup_dir(self, dir: PathBuf) -> Self {
        let store = LocalDir::new(&dir);
        let staging = store.staging_dir();
        self.with_store(Arc::new(store), staging)
    }

    /// Where backups go: any store (`backup_store::from_settings` picks the configured one),
    /// with local scratch space for dumps on their way in or out.
    pub fn with_store(mut self, store: Arc<dyn BackupStore>, staging_dir: PathBuf) -> Self {
        self.store = store;
        self.staging_dir = staging_dir;
        self
    }

    /// How long a database replaced by a restore or relocation is kept (closed).
    pub fn with_retired_keep(mut self, keep: Duration) -> Self {
        self.retired_keep = keep;
        self
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }
}

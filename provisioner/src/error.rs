//! Errors of the provisioner's library API, each with a stable machine `code` that the admin
//! API puts in its problem+json body. Failures of a single job step are classified
//! separately (see `steps::StepError`): transient ones are retried, permanent ones compensate.

use crate::lifecycle::InvalidTransition;
use common::crypto::CryptoError;
use common::entities::TenantStatus;
use common::ids::SlugError;
use sea_orm::DbErr;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("slug {0}")]
    InvalidSlug(#[from] SlugError),
    #[error("the slug `{0}` is already taken")]
    SlugTaken(String),
    #[error("there is no plan `{0}`")]
    UnknownPlan(String),
    #[error("no active database server has free capacity")]
    NoCapacity,
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    #[error("tenant {0} does not exist")]
    TenantNotFound(Uuid),
    #[error("tenant {0} is deleted or being deleted and can no longer be changed")]
    TenantDeleted(Uuid),
    #[error("the tenant is {status}; only an active tenant's database can be entered")]
    TenantNotActive { status: TenantStatus },
    #[error("the database of tenant {tenant} cannot be reached: {reason}")]
    TenantDatabaseUnreachable { tenant: Uuid, reason: String },
    #[error("database server `{name}` is unreachable: {reason}")]
    ServerUnreachable { name: String, reason: String },
    #[error("a database server named `{0}` is already registered")]
    ServerNameTaken(String),
    #[error("database server {0} does not exist")]
    ServerNotFound(Uuid),
    #[error("tenant {0} already has a restore or relocation in progress")]
    TenantBusy(Uuid),
    #[error("backup {0} of this tenant does not exist")]
    BackupNotFound(Uuid),
    #[error("backup {id} is {state}; only a completed backup can be restored")]
    BackupNotRestorable { id: Uuid, state: String },
    #[error("database server `{0}` is draining and takes no tenants")]
    TargetDraining(String),
    #[error("database server `{0}` has no free capacity")]
    TargetFull(String),
    #[error("the tenant already lives on database server `{0}`")]
    SameServer(String),
    #[error("invalid value for `{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("secret encryption failed: {0}")]
    Crypto(#[from] CryptoError),
    #[error("control database error: {0}")]
    Db(#[from] DbErr),
    #[error("tenant database error: {}", crate::steps::describe(.0))]
    TenantDb(#[from] tokio_postgres::Error),
}

impl ProvisionError {
    /// The stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidSlug(_) | Self::Invalid { .. } => "validation_failed",
            Self::SlugTaken(_) => "slug_taken",
            Self::UnknownPlan(_) => "unknown_plan",
            Self::NoCapacity => "no_capacity",
            Self::InvalidTransition(_) => "invalid_transition",
            Self::TenantNotFound(_) => "tenant_not_found",
            // The same contract as any other change a tenant's status forbids.
            Self::TenantDeleted(_) => "invalid_transition",
            Self::TenantNotActive { .. } => "tenant_not_active",
            Self::TenantDatabaseUnreachable { .. } => "tenant_database_unreachable",
            Self::ServerUnreachable { .. } => "server_unreachable",
            Self::ServerNameTaken(_) => "server_name_taken",
            Self::ServerNotFound(_) => "server_not_found",
            Self::TenantBusy(_) => "tenant_busy",
            Self::BackupNotFound(_) => "backup_not_found",
            Self::BackupNotRestorable { .. } => "backup_not_restorable",
            Self::TargetDraining(_) => "target_draining",
            Self::TargetFull(_) => "target_full",
            Self::SameServer(_) => "same_server",
            Self::Crypto(_) | Self::Db(_) | Self::TenantDb(_) => "internal_error",
        }
    }
}

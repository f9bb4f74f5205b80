//! Restoring a backup: the library API (`request`) and the restore saga,
//! `check_backup -> build_copy -> verify -> freeze -> switch`.
//!
//! The backup is fetched and its size and SHA-256 checked against its record before
//! anything is touched (a corrupt or truncated file is refused there, and the job fails
//! with the live database as it was); it is restored into a **new** database on the
//! tenant's server, whose row counts must equal those recorded in the backup; only then
//! are writes frozen briefly, and the switch points the tenant at the new database (see
//! [`crate::copies`]). The replaced database is kept, closed, for `retired_keep`.

use crate::backups;
use crate::copies::{Switch, copy_name, role_of};
use crate::dump::{self, RowCounts};
use crate::error::ProvisionError;
use crate::jobs::{self, JobKind, PayloadKey};
use crate::provisioner::Provisioner;
use crate::steps::StepError;
use crate::tenants::{self, find_locked};
use common::entities::{
    BackupState, TenantStatus, jobs as job_rows, tenant_backups, tenants as tenant_rows,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};
use serde_json::json;
use std::path::PathBuf;
use uuid::Uuid;

/// Queues the restore of a completed backup of an active or suspended tenant; refused
/// while another restore or relocation of the tenant is queued or running. Returns the job.
pub async fn request(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    tenant_id: Uuid,
    backup_id: Uuid,
) -> Result<Uuid, ProvisionError> {
    let txn = db.begin().await?;
    let tenant = find_locked(&txn, tenant_id).await?;
    movable(&txn, &tenant).await?;
    let backup = backups::find(&txn, tenant_id, backup_id).await?;
    if backup.state != BackupState::Completed {
        return Err(ProvisionError::BackupNotRestorable {
            id: backup_id,
            state: backup.state.to_string(),
        });
    }
    let payload = [(PayloadKey::BackupId, json!(backup_id))];
    let job_id = jobs::enqueue_with(&txn, JobKind::Restore, tenant_id, &payload).await?;
    let target = json!(copy_name(tenant_id, job_id));
    jobs::set_in_payload(&txn, job_id, PayloadKey::TargetDatabase, target).await?;
    txn.commit().await?;
    Ok(job_id)
}

/// A tenant whose database may be replaced or moved: active or suspended, placed, and
/// not already in a restore or relocation.
pub(crate) async fn movable(
    txn: &DatabaseTransaction,
    tenant: &tenant_rows::Model,
) -> Result<(), ProvisionError> {
    if !matches!(
        tenant.status,
        TenantStatus::Active | TenantStatus::Suspended
    ) || tenant.server_id.is_none()
    {
        return Err(ProvisionError::TenantNotActive {
            status: tenant.status,
        });
    }
    let busy = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE tenant_id = $1 \
               AND kind IN ('restore', 'relocate') AND state IN ('queued', 'running')) AS busy",
            [tenant.id.into()],
        ))
        .await?
        .is_some_and(|row| row.try_get::<bool>("", "busy").unwrap_or(true));
    if busy {
        return Err(ProvisionError::TenantBusy(tenant.id));
    }
    Ok(())
}

impl Provisioner {
    pub(crate) async fn restore(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
    ) -> Result<(), StepError> {
        let backup_id = jobs::payload_uuid(job, PayloadKey::BackupId)
            .ok_or_else(|| StepError::Permanent("the job names no backup".into()))?;
        let target = target_database(job)?;
        self.step(job, "check_backup", || async {
            self.verified_dump(job, tenant_id, backup_id)
                .await
                .map(drop)
        })
        .await?;
        self.step(job, "build_copy", || {
            self.restore_copy(job, tenant_id, backup_id, &target)
        })
        .await?;
        self.step(job, "verify", || {
            self.verify_restored(tenant_id, backup_id, &target)
        })
        .await?;
        self.step(job, "freeze", || async {
            self.movable_tenant(tenant_id).await?;
            self.freeze(tenant_id, "restore").await
        })
        .await?;
        self.step(job, "switch", || {
            self.switch_restored(job, tenant_id, backup_id, &target)
        })
        .await
    }

    /// The tenant, if a move may still go on (a deleted one stops it).
    pub(crate) async fn movable_tenant(
        &self,
        tenant_id: Uuid,
    ) -> Result<tenant_rows::Model, StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        match tenant.status {
            TenantStatus::Active | TenantStatus::Suspended => Ok(tenant),
            TenantStatus::Deleting | TenantStatus::Deleted => Err(StepError::Cancelled),
            other => Err(StepError::Permanent(format!("tenant is {other}"))),
        }
    }

    /// The backup's file in local scratch space, its size and SHA-256 checked against the
    /// record and its table of contents readable: a corrupt or truncated file is a
    /// permanent failure before anything is touched.
    async fn verified_dump(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
        backup_id: Uuid,
    ) -> Result<PathBuf, StepError> {
        let backup = backups::find(&self.control_db, tenant_id, backup_id).await?;
        let (Some(key), Some(size), Some(sha256)) =
            (&backup.storage_key, backup.size_bytes, &backup.sha256)
        else {
            return Err(StepError::Permanent(format!(
                "backup {backup_id} is not complete"
            )));
        };
        let path = self.staging_dir.join(format!("{}.restore.dump", job.id));
        tokio::fs::create_dir_all(&self.staging_dir)
            .await
            .map_err(|error| StepError::Transient(format!("staging: {error}")))?;
        self.store.fetch(key, &path).await.map_err(|error| {
            // The store's own checksum refused the bytes: fetching again cannot help.
            if error.kind() == std::io::ErrorKind::InvalidData {
                StepError::Permanent(format!("backup {backup_id} is corrupt: {error}"))
            } else {
                StepError::Transient(format!("fetching backup {backup_id}: {error}"))
            }
        })?;
        let (found_size, found_sha) = dump::digest(&path).await?;
        if found_size != size || &found_sha != sha256 {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(StepError::Permanent(format!(
                "backup {backup_id} is corrupt: {found_size} bytes with SHA-256 {found_sha}, \
                 recorded {size} bytes with {sha256}"
            )));
        }
        dump::readable(&path).await?;
        Ok(path)
    }

    async fn restore_copy(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
        backup_id: Uuid,
        target: &str,
    ) -> Result<(), StepError> {
        let tenant = self.movable_tenant(tenant_id).await?;
        let server_id = tenant.server_id.unwrap_or_default();
        let file = self.verified_dump(job, tenant_id, backup_id).await?;
        self.record_building(job.id, tenant_id, server_id, target, "restore")
            .await?;
        let (url, admin) = self.server_admin(&tenant).await?;
        let built = self
            .build_copy(url.expose(), &admin, target, &role_of(&tenant), &file)
            .await;
        let _ = tokio::fs::remove_file(&file).await;
        built
    }

    async fn verify_restored(
        &self,
        tenant_id: Uuid,
        backup_id: Uuid,
        target: &str,
    ) -> Result<(), StepError> {
        let tenant = self.movable_tenant(tenant_id).await?;
        let backup = backups::find(&self.control_db, tenant_id, backup_id).await?;
        let (url, _) = self.server_admin(&tenant).await?;
        dump::verify_counts(url.expose(), target, &recorded_counts(&backup)?).await
    }

    /// Closes the replaced database to the role (so a runtime that missed the freeze
    /// cannot write there once the role may log in again), lets the role log in, and
    /// switches.
    async fn switch_restored(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
        backup_id: Uuid,
        target: &str,
    ) -> Result<(), StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        let backup = backups::find(&self.control_db, tenant_id, backup_id).await?;
        let (_, admin) = self.server_admin(&tenant).await?;
        let role = role_of(&tenant);
        if let Some(old) = tenant.db_name.as_deref().filter(|old| *old != target) {
            admin
                .batch_execute(&format!(
                    "ALTER DATABASE \"{old}\" OWNER TO CURRENT_USER; \
                     REVOKE ALL ON DATABASE \"{old}\" FROM \"{role}\""
                ))
                .await?;
        }
        admin
            .batch_execute(&format!("ALTER ROLE \"{role}\" LOGIN"))
            .await?;
        let switch = Switch {
            tenant_id,
            job_id: job.id,
            server_id: tenant.server_id.unwrap_or_default(),
            database: target.to_owned(),
            schema_version: backup.schema_version,
            purpose: "restore",
        };
        self.switch_to(&switch).await
    }
}

/// The database a restore or relocation builds, named on its job.
pub(crate) fn target_database(job: &job_rows::Model) -> Result<String, StepError> {
    jobs::payload_value(job, PayloadKey::TargetDatabase)
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| StepError::Permanent("the job names no target database".into()))
}

fn recorded_counts(backup: &tenant_backups::Model) -> Result<RowCounts, StepError> {
    backup
        .row_counts
        .clone()
        .and_then(|counts| serde_json::from_value(counts).ok())
        .ok_or_else(|| StepError::Permanent("the backup has no row counts".into()))
}

//! Backups of tenant databases: the library API the admin API calls (ask for one, list
//! them), the backup job's step, the final backup the delete saga takes, the schedule per
//! plan (`plans.backup_interval_hours`) and retention (`plans.backup_retention_count`).
//!
//! A backup is a row in `tenant_backups` made `pending` together with its job, then
//! `completed` by the job with everything a restore needs to trust it: the store key, size,
//! SHA-256, schema version and every table's row count from the dump's own snapshot (see
//! [`crate::dump`]). The bytes live in the [`BackupStore`](crate::backup_store::BackupStore).

use crate::dump::{self, Dump};
use crate::error::ProvisionError;
use crate::jobs::{self, JobKind, PayloadKey};
use crate::provisioner::Provisioner;
use crate::steps::StepError;
use crate::tenants;
use chrono::{DateTime, Utc};
use common::entities::{BackupKind, TenantStatus, jobs as job_rows, tenant_backups};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

/// Serialises the backup schedule, so two workers never queue the same backup twice.
const SCHEDULE_LOCK: i64 = 0x6572_705f_6261_636b;

/// Queues a manual backup of an active or suspended tenant: the `pending` row and its job,
/// in one transaction (the caller's, if `db` is one).
pub async fn request(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    tenant_id: Uuid,
) -> Result<tenant_backups::Model, ProvisionError> {
    let txn = db.begin().await?;
    let tenant = tenants::find_locked(&txn, tenant_id).await?;
    if !matches!(
        tenant.status,
        TenantStatus::Active | TenantStatus::Suspended
    ) {
        return Err(ProvisionError::TenantNotActive {
            status: tenant.status,
        });
    }
    let id = queue(&txn, tenant_id, BackupKind::Manual, Utc::now()).await?;
    let backup = find(&txn, tenant_id, id).await?;
    txn.commit().await?;
    Ok(backup)
}

/// The backup row and the job that takes it; `at` is when it was asked for (the
/// schedule's clock decides when the next one is due).
async fn queue(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    kind: BackupKind,
    at: DateTime<Utc>,
) -> Result<Uuid, ProvisionError> {
    let id = Uuid::now_v7();
    let payload = [(PayloadKey::BackupId, json!(id))];
    let job_id = jobs::enqueue_with(txn, JobKind::Backup, tenant_id, &payload).await?;
    insert_row(txn, id, tenant_id, (kind, at), Some(job_id)).await?;
    Ok(id)
}

async fn insert_row(
    db: &impl ConnectionTrait,
    id: Uuid,
    tenant_id: Uuid,
    (kind, at): (BackupKind, DateTime<Utc>),
    job_id: Option<Uuid>,
) -> Result<(), sea_orm::DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO tenant_backups (id, tenant_id, kind, job_id, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        [
            id.into(),
            tenant_id.into(),
            kind.as_str().into(),
            job_id.into(),
            at.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Every backup of the tenant, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<tenant_backups::Model>, ProvisionError> {
    tenants::find(db, tenant_id).await?;
    Ok(tenant_backups::Entity::find()
        .filter(tenant_backups::Column::TenantId.eq(tenant_id))
        .order_by_desc(tenant_backups::Column::CreatedAt)
        .all(db)
        .await?)
}

/// One backup of the tenant.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<tenant_backups::Model, ProvisionError> {
    tenant_backups::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|backup| backup.tenant_id == tenant_id)
        .ok_or(ProvisionError::BackupNotFound(id))
}

/// The store key of a backup: `<tenant>/<backup>.dump`.
pub(crate) fn storage_key(tenant_id: Uuid, backup_id: Uuid) -> String {
    format!("{tenant_id}/{backup_id}.dump")
}

impl Provisioner {
    /// The backup job: one step, which is idempotent (a completed backup is not taken again;
    /// an interrupted one is taken again from scratch under the same key).
    pub(crate) async fn backup(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
    ) -> Result<(), StepError> {
        let backup_id = jobs::payload_uuid(job, PayloadKey::BackupId)
            .ok_or_else(|| StepError::Permanent("the job names no backup".into()))?;
        self.step(job, "dump", || self.take_backup(tenant_id, backup_id))
            .await
    }

    /// Dumps the tenant's live database into the store and completes the backup's row.
    pub(crate) async fn take_backup(
        &self,
        tenant_id: Uuid,
        backup_id: Uuid,
    ) -> Result<(), StepError> {
        let backup = find(&self.control_db, tenant_id, backup_id).await?;
        if backup.state != common::entities::BackupState::Pending {
            return Ok(());
        }
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        let database = tenant
            .db_name
            .clone()
            .ok_or_else(|| StepError::Permanent("the tenant has no database".into()))?;
        let (url, _) = self.server_admin(&tenant).await?;
        let key = storage_key(tenant_id, backup_id);
        let staging = self.staging_dir.join(format!("{backup_id}.dump"));
        let dump = dump::dump_database(url.expose(), &database, &staging).await?;
        self.store
            .put(&key, &dump.path, &dump.sha256)
            .await
            .map_err(|error| StepError::Transient(format!("storing the backup: {error}")))?;
        self.complete_backup(backup_id, &key, &dump, tenant.server_id, &database)
            .await
    }

    async fn complete_backup(
        &self,
        backup_id: Uuid,
        key: &str,
        dump: &Dump,
        server_id: Option<Uuid>,
        database: &str,
    ) -> Result<(), StepError> {
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE tenant_backups SET state = 'completed', storage_key = $2, size_bytes = $3, \
                 sha256 = $4, schema_version = $5, row_counts = $6, server_id = $7, \
                 db_name = $8, completed_at = now(), error = NULL WHERE id = $1",
                [
                    backup_id.into(),
                    key.into(),
                    dump.size_bytes.into(),
                    dump.sha256.clone().into(),
                    dump.schema_version.clone().into(),
                    json!(dump.row_counts).into(),
                    server_id.into(),
                    database.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// The delete saga's final backup: a `final` row owned by the delete job (found again
    /// on a rerun), taken like any other; the tenant row keeps where it is, as before.
    pub(crate) async fn final_backup_of(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
    ) -> Result<(), StepError> {
        let existing = tenant_backups::Entity::find()
            .filter(tenant_backups::Column::JobId.eq(job.id))
            .one(&self.control_db)
            .await?;
        let backup_id = match existing {
            Some(backup) => backup.id,
            None => {
                let id = Uuid::now_v7();
                let kind = (BackupKind::Final, self.clock.now());
                insert_row(&self.control_db, id, tenant_id, kind, Some(job.id)).await?;
                id
            }
        };
        self.take_backup(tenant_id, backup_id).await?;
        let backup = find(&self.control_db, tenant_id, backup_id).await?;
        let path = self
            .store
            .location(backup.storage_key.as_deref().unwrap_or_default());
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE tenants SET backup_path = $2, backup_size_bytes = $3, backup_sha256 = $4, \
                 updated_at = now() WHERE id = $1",
                [
                    tenant_id.into(),
                    path.into(),
                    backup.size_bytes.into(),
                    backup.sha256.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Compensation of a backup job that gave up: its row says why.
    pub(crate) async fn fail_backup(
        &self,
        job: &job_rows::Model,
        error: &str,
    ) -> Result<(), sea_orm::DbErr> {
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE tenant_backups SET state = 'failed', error = $2 \
                 WHERE job_id = $1 AND state = 'pending'",
                [job.id.into(), error.into()],
            ))
            .await?;
        Ok(())
    }

    /// Queues a scheduled backup for every active or suspended tenant whose plan has a
    /// schedule and whose newest backup (pending or completed) is older than its interval.
    /// Returns the tenants.
    pub async fn schedule_backups(&self) -> Result<Vec<Uuid>, ProvisionError> {
        let now = self.clock.now();
        let txn = self.control_db.begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [SCHEDULE_LOCK.into()],
        ))
        .await?;
        let due = due_for_backup(&txn, now).await?;
        for tenant_id in &due {
            queue(&txn, *tenant_id, BackupKind::Scheduled, now).await?;
        }
        txn.commit().await?;
        Ok(due)
    }

    /// Removes from the store the manual and scheduled backups beyond each tenant's plan's
    /// retention count (newest kept; final backups go with the tenant's purge; a backup a
    /// queued or running restore names is kept). Returns the backups pruned.
    pub async fn prune_backups(&self) -> Result<Vec<Uuid>, ProvisionError> {
        let rows = self
            .control_db
            .query_all_raw(Statement::from_string(DbBackend::Postgres, PRUNABLE))
            .await?;
        let mut pruned = Vec::new();
        for row in rows {
            let id: Uuid = row.try_get("", "id")?;
            let key: String = row.try_get("", "storage_key")?;
            self.forget_backup(id, &key).await?;
            pruned.push(id);
        }
        Ok(pruned)
    }

    /// Deletes the backup's file, then marks its row `pruned` (a crash between the two
    /// deletes again next time, harmlessly).
    pub(crate) async fn forget_backup(&self, id: Uuid, key: &str) -> Result<(), ProvisionError> {
        self.store
            .delete(key)
            .await
            .map_err(|error| ProvisionError::Invalid {
                field: "backup_store",
                message: format!("deleting {key}: {error}"),
            })?;
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE tenant_backups SET state = 'pruned' WHERE id = $1",
                [id.into()],
            ))
            .await?;
        Ok(())
    }

    /// Every stored backup of a tenant, removed (the purge of a deleted tenant).
    pub(crate) async fn forget_all_backups(&self, tenant_id: Uuid) -> Result<(), ProvisionError> {
        let stored = tenant_backups::Entity::find()
            .filter(tenant_backups::Column::TenantId.eq(tenant_id))
            .filter(tenant_backups::Column::StorageKey.is_not_null())
            .filter(tenant_backups::Column::State.ne(common::entities::BackupState::Pruned))
            .all(&self.control_db)
            .await?;
        for backup in stored {
            let key = backup.storage_key.unwrap_or_default();
            self.forget_backup(backup.id, &key).await?;
        }
        // Files of backups older than the table (the delete saga's earlier dumps).
        let prefix = format!("{tenant_id}/");
        for key in self.store.list(&prefix).await.unwrap_or_default() {
            let _ = self.store.delete(&key).await;
        }
        Ok(())
    }
}

/// Backups beyond their tenant's plan's retention count, newest kept.
const PRUNABLE: &str = "SELECT id, storage_key FROM ( \
       SELECT b.id, b.storage_key, p.backup_retention_count AS keep, \
              row_number() OVER (PARTITION BY b.tenant_id ORDER BY b.created_at DESC) AS n \
       FROM tenant_backups b JOIN tenants t ON t.id = b.tenant_id \
       JOIN plans p ON p.code = t.plan_code \
       WHERE b.state = 'completed' AND b.kind IN ('manual', 'scheduled')) ranked \
     WHERE n > keep AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.state IN ('queued', 'running') \
       AND j.payload->>'backup_id' = ranked.id::text)";

async fn due_for_backup(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, ProvisionError> {
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT t.id FROM tenants t JOIN plans p ON p.code = t.plan_code \
             WHERE t.status IN ('active', 'suspended') AND p.backup_interval_hours > 0 \
               AND NOT EXISTS (SELECT 1 FROM tenant_backups b WHERE b.tenant_id = t.id \
                 AND b.kind <> 'final' AND b.state IN ('pending', 'completed') \
                 AND b.created_at > $1 - make_interval(hours => p.backup_interval_hours)) \
             ORDER BY t.id",
            [now.into()],
        ))
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| row.try_get::<Uuid>("", "id").ok())
        .collect())
}

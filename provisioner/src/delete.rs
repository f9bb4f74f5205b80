//! The delete saga: wait_for_other_jobs -> backup -> drop_database -> drop_role -> finish.
//! The final backup is taken like any other (`backups`, kind `final`) before anything is
//! dropped; the tenant row stays as `deleted` with the backup's path, size and SHA-256
//! until it is purged. Every database of the tenant goes: the live one and its copies.

use crate::provisioner::Provisioner;
use crate::steps::StepError;
use crate::template::database_exists;
use crate::tenants::{self, transition};
use common::entities::{TenantStatus, jobs as job_rows, tenants as tenant_rows};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use uuid::Uuid;

impl Provisioner {
    pub(crate) async fn delete(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
    ) -> Result<(), StepError> {
        self.step(job, "wait_for_other_jobs", || self.others_stopped(job))
            .await?;
        self.step(job, "backup", || self.final_backup(job, tenant_id))
            .await?;
        self.step(job, "drop_database", || self.drop_database(tenant_id))
            .await?;
        self.step(job, "drop_role", || self.drop_role(tenant_id))
            .await?;
        self.step(job, "finish", || self.finish_delete(tenant_id))
            .await
    }

    /// A provisioning job of the tenant still in flight could recreate what this job drops:
    /// wait (with the queue's backoff) until it has noticed the delete and stopped.
    async fn others_stopped(&self, job: &job_rows::Model) -> Result<(), StepError> {
        let busy = self
            .control_db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE tenant_id = $1 AND id <> $2 \
                 AND state IN ('queued', 'running')) AS busy",
                [job.tenant_id.into(), job.id.into()],
            ))
            .await?
            .is_some_and(|row| row.try_get::<bool>("", "busy").unwrap_or(true));
        if busy {
            return Err(StepError::Transient(
                "another job of this tenant has not stopped yet".into(),
            ));
        }
        Ok(())
    }

    async fn deleting_tenant(&self, tenant_id: Uuid) -> Result<tenant_rows::Model, StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        match tenant.status {
            TenantStatus::Deleting => Ok(tenant),
            other => Err(StepError::Permanent(format!(
                "tenant is {other}, not deleting"
            ))),
        }
    }

    /// The final backup (see `backups`), unless there is no database to back up.
    async fn final_backup(&self, job: &job_rows::Model, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = self.deleting_tenant(tenant_id).await?;
        let Some(database) = tenant
            .db_name
            .clone()
            .filter(|_| tenant.server_id.is_some())
        else {
            return Ok(());
        };
        let (_, admin) = self.server_admin(&tenant).await?;
        if !database_exists(&admin, &database).await? {
            return Ok(());
        }
        self.final_backup_of(job, tenant_id).await
    }

    /// Drops the live database and every copy (a restore's or relocation's, retired or
    /// half built): a copy holds grants to the role, which could not be dropped otherwise.
    async fn drop_database(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = self.deleting_tenant(tenant_id).await?;
        self.drop_all_copies(tenant_id).await?;
        let (Some(_), Some(database)) = (tenant.server_id, &tenant.db_name) else {
            return Ok(());
        };
        let (_, admin) = self.server_admin(&tenant).await?;
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
            ))
            .await?;
        Ok(())
    }

    async fn drop_role(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = self.deleting_tenant(tenant_id).await?;
        let (Some(_), Some(role)) = (tenant.server_id, &tenant.db_role) else {
            return Ok(());
        };
        let (_, admin) = self.server_admin(&tenant).await?;
        admin
            .batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""))
            .await?;
        Ok(())
    }

    async fn finish_delete(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        if tenant.status == TenantStatus::Deleted {
            return Ok(());
        }
        let now = self.clock.now();
        let purge_after =
            now + chrono::Duration::from_std(self.deleted_retention).unwrap_or_default();
        let txn = self.control_db.begin().await?;
        transition(&txn, tenant_id, TenantStatus::Deleted).await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE tenants SET deleted_at = $2, purge_after = $3, \
             db_password_ciphertext = NULL, db_password_key_id = NULL WHERE id = $1",
            [tenant_id.into(), now.into(), purge_after.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(())
    }
}

//! The `role_limits` job: brings a tenant role's `CONNECTION LIMIT` to its plan's
//! `max_db_connections`. Queued (deduplicated, see [`crate::jobs::enqueue_once`]) in the
//! same transaction as whatever changed the limit: an edit of the plan, a move of the
//! tenant to another plan (admin or billing). The limit is read when the job runs, not
//! when it was queued, so the last change wins however the jobs interleave; `ALTER ROLE`
//! is idempotent, and a server that does not answer makes the job retry with backoff.

use crate::jobs::{self, JobKind};
use crate::provision::names;
use crate::provisioner::Provisioner;
use crate::steps::StepError;
use crate::tenants;
use common::entities::{TenantStatus, jobs as job_rows};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

/// The `role_limits` job's only step.
pub const ROLE_LIMITS_STEPS: [&str; 1] = ["apply_connection_limit"];

/// Queues the tenant's `role_limits` job, unless one is queued already.
pub(crate) async fn queue(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<(), DbErr> {
    jobs::enqueue_once(db, JobKind::RoleLimits, Some(tenant_id)).await?;
    Ok(())
}

impl Provisioner {
    pub(crate) async fn role_limits(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
    ) -> Result<(), StepError> {
        self.step(job, ROLE_LIMITS_STEPS[0], || {
            self.apply_connection_limit(tenant_id)
        })
        .await
    }

    async fn apply_connection_limit(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        match tenant.status {
            TenantStatus::Active | TenantStatus::Suspended => {}
            // Its role may be made with the limit read before the change: wait for it.
            TenantStatus::Pending | TenantStatus::Provisioning => {
                return Err(StepError::Transient(
                    "the tenant is still being provisioned".into(),
                ));
            }
            // No role to keep (or it is being dropped).
            TenantStatus::Failed | TenantStatus::Deleting | TenantStatus::Deleted => {
                return Ok(());
            }
        }
        let limit = self.plan_connection_limit(&tenant.plan_code).await?;
        let (_, admin) = self.server_admin(&tenant).await?;
        let role = names(&tenant)?.1;
        admin
            .batch_execute(&format!("ALTER ROLE \"{role}\" CONNECTION LIMIT {limit}"))
            .await?;
        tracing::info!(%tenant_id, limit, "tenant role connection limit applied");
        Ok(())
    }
}

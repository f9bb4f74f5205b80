//! Time-driven housekeeping of tenants, by the provisioner's [`Clock`](crate::clock::Clock):
//!
//! - a trial that ended without a paid subscription suspends the tenant (`trial_expired`);
//! - a tenant suspended for its expired trial longer than the grace period is deleted (the
//!   delete job takes the final backup first);
//! - a deleted tenant past its retention period is purged: its backup files are removed and
//!   the row keeps only the facts (no backup path, no credentials).
//!
//! Each pass is a set of independent, idempotent statements: running it twice, or on two
//! workers at once, changes nothing more than running it once.

use crate::error::ProvisionError;
use crate::provisioner::Provisioner;
use crate::tenants;
use chrono::{DateTime, Utc};
use common::entities::SuspensionKind;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

/// What one sweep did, tenant by tenant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub suspended: Vec<Uuid>,
    pub deleting: Vec<Uuid>,
    pub purged: Vec<Uuid>,
}

impl Provisioner {
    /// Runs one sweep at the clock's current time.
    pub async fn sweep(&self) -> Result<SweepReport, ProvisionError> {
        let now = self.clock.now();
        Ok(SweepReport {
            suspended: self.suspend_expired_trials(now).await?,
            deleting: self.delete_after_grace(now).await?,
            purged: self.purge_retained(now).await?,
        })
    }

    async fn suspend_expired_trials(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, ProvisionError> {
        let due = self
            .tenant_ids(
                // A subscription in place (paid, or in its own trial) keeps the tenant.
                "SELECT id FROM tenants WHERE status = 'active' AND trial_ends_at <= $1 \
                 AND billing_state NOT IN ('active', 'past_due') \
                 AND NOT (billing_state = 'trialing' AND stripe_subscription_id IS NOT NULL) \
                 ORDER BY id",
                now,
            )
            .await?;
        let mut suspended = Vec::new();
        for id in due {
            let reason = "the trial ended without a paid subscription";
            match tenants::suspend_at(
                &self.control_db,
                id,
                SuspensionKind::TrialExpired,
                reason,
                now,
            )
            .await
            {
                Ok(()) => suspended.push(id),
                // Changed under us (paid, suspended by an admin): the next sweep decides again.
                Err(ProvisionError::InvalidTransition(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(suspended)
    }

    async fn delete_after_grace(&self, now: DateTime<Utc>) -> Result<Vec<Uuid>, ProvisionError> {
        let cutoff = now - chrono::Duration::from_std(self.trial_grace).unwrap_or_default();
        let due = self
            .tenant_ids(
                "SELECT id FROM tenants WHERE status = 'suspended' \
                 AND suspension_kind = 'trial_expired' AND suspended_at <= $1 ORDER BY id",
                cutoff,
            )
            .await?;
        self.delete_all(due, "the trial's grace period ended").await
    }

    /// Deletes each tenant (the delete saga backs it up first); one that changed meanwhile
    /// (resumed, already deleting) is left for the next sweep to decide.
    pub(crate) async fn delete_all(
        &self,
        due: Vec<Uuid>,
        reason: &str,
    ) -> Result<Vec<Uuid>, ProvisionError> {
        let mut deleting = Vec::new();
        for id in due {
            match tenants::delete(&self.control_db, id, reason).await {
                Ok(_) => deleting.push(id),
                Err(ProvisionError::InvalidTransition(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(deleting)
    }

    async fn purge_retained(&self, now: DateTime<Utc>) -> Result<Vec<Uuid>, ProvisionError> {
        let due = self
            .tenant_ids(
                "SELECT id FROM tenants WHERE status = 'deleted' AND purge_after <= $1 ORDER BY id",
                now,
            )
            .await?;
        for id in &due {
            self.purge(*id).await?;
        }
        Ok(due)
    }

    /// Removes the tenant's backups from the store, then forgets where they were.
    async fn purge(&self, tenant_id: Uuid) -> Result<(), ProvisionError> {
        self.forget_all_backups(tenant_id).await?;
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE tenants SET backup_path = NULL, backup_size_bytes = NULL, \
                 backup_sha256 = NULL, purge_after = NULL, status_reason = 'purged', \
                 updated_at = now() WHERE id = $1 AND status = 'deleted'",
                [tenant_id.into()],
            ))
            .await?;
        tracing::info!(tenant = %tenant_id, "deleted tenant purged");
        Ok(())
    }

    /// The ids a query with one timestamp parameter (`$1`) answers.
    pub(crate) async fn tenant_ids(
        &self,
        sql: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, ProvisionError> {
        let rows = self
            .control_db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [at.into()],
            ))
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| row.try_get::<Uuid>("", "id").ok())
            .collect())
    }
}

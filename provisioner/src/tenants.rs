//! The tenant lifecycle as a library API, the only way the control plane changes a
//! tenant: create (queues provisioning), start its trial, rename or re-plan, suspend,
//! resume, delete (queues backup and drop), and announce a plan's new limits. Every status
//! change goes through the state machine in [`crate::lifecycle`] under a row lock; every
//! change announces itself on [`common::changes::CHANNEL`] in the same transaction, so
//! runtimes hear of it exactly when it commits.

use crate::error::ProvisionError;
use crate::jobs::{self, JobKind, PayloadKey};
use crate::lifecycle::check_transition;
use common::changes::{CHANNEL, TenantChange};
use common::db::is_unique_violation;
use common::entities::{SuspensionKind, TenantStatus, tenants};
use common::ids::{TenantId, TenantSlug};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QuerySelect, Statement,
    TransactionTrait, Value,
};
use uuid::Uuid;

/// A tenant to create.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub admin_email: String,
    /// The first admin's argon2id PHC hash when they chose a password (self-serve signup);
    /// `None` invites them with a set-password token instead.
    pub admin_password_hash: Option<String>,
}

/// A tenant just created, and the job that provisions it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    pub tenant_id: Uuid,
    pub job_id: Uuid,
}

/// Validates, records the tenant as `provisioning` and queues its job, atomically
/// (inside the caller's transaction, if `db` is one).
pub async fn create(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    tenant: NewTenant,
) -> Result<Created, ProvisionError> {
    let slug = TenantSlug::parse(&tenant.slug)?;
    let name = required("name", &tenant.name, 200)?;
    let admin_email = valid_email(&tenant.admin_email)?;
    let txn = db.begin().await?;
    let trial_days = plan_trial_days(&txn, &tenant.plan).await?;
    if !crate::servers::has_free_capacity(&txn).await? {
        return Err(ProvisionError::NoCapacity);
    }
    let id = TenantId::new().0;
    let inserted = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO tenants (id, slug, name, status, plan_code, admin_email, trial_ends_at) \
             VALUES ($1, $2, $3, 'provisioning', $4, $5, \
                     CASE WHEN $6 > 0 THEN now() + make_interval(days => $6) END)",
            [
                id.into(),
                slug.as_str().into(),
                name.into(),
                tenant.plan.clone().into(),
                admin_email.into(),
                trial_days.into(),
            ],
        ))
        .await;
    match inserted {
        Err(error) if is_unique_violation(&error) => {
            return Err(ProvisionError::SlugTaken(slug.to_string()));
        }
        other => other?,
    };
    let job_id = jobs::enqueue(&txn, JobKind::Provision, id).await?;
    // Announced too: a runtime that remembered the slug as unknown must forget that.
    notify_changed(&txn, id).await?;
    if let Some(hash) = tenant.admin_password_hash {
        let hash = serde_json::Value::String(hash);
        jobs::set_in_payload(&txn, job_id, PayloadKey::AdminPasswordHash, hash).await?;
    }
    txn.commit().await?;
    Ok(Created {
        tenant_id: id,
        job_id,
    })
}

/// Puts a tenant on a trial (`billing_state = trialing`): until the end its plan gave it
/// at creation, or `default_days` from now when the plan has no trial of its own.
pub async fn start_trial(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    tenant_id: Uuid,
    default_days: i32,
) -> Result<(), ProvisionError> {
    let txn = db.begin().await?;
    let updated = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE tenants SET billing_state = 'trialing', trial_ends_at = \
               coalesce(trial_ends_at, now() + make_interval(days => $2)), \
               row_version = row_version + 1, updated_at = now() WHERE id = $1",
            [tenant_id.into(), default_days.into()],
        ))
        .await?;
    if updated.rows_affected() == 0 {
        return Err(ProvisionError::TenantNotFound(tenant_id));
    }
    notify_changed(&txn, tenant_id).await?;
    txn.commit().await?;
    Ok(())
}

/// A rename, a move to another plan, or both; `None` keeps the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantUpdate {
    pub name: Option<String>,
    pub plan: Option<String>,
}

/// Renames the tenant or moves it to another open plan, under its row lock, and announces
/// it (the runtimes reload its limits); a move queues the `role_limits` job that gives its
/// role the new plan's connection limit. A tenant being deleted, or deleted, is refused
/// with [`ProvisionError::TenantDeleted`]. Returns the row as it was before.
pub async fn update(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    tenant_id: Uuid,
    change: TenantUpdate,
) -> Result<tenants::Model, ProvisionError> {
    let name = change
        .name
        .as_deref()
        .map(|name| required("name", name, 200))
        .transpose()?;
    let txn = db.begin().await?;
    let before = find_locked(&txn, tenant_id).await?;
    if matches!(
        before.status,
        TenantStatus::Deleting | TenantStatus::Deleted
    ) {
        return Err(ProvisionError::TenantDeleted(tenant_id));
    }
    if let Some(plan) = &change.plan {
        plan_trial_days(&txn, plan).await?;
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE tenants SET name = coalesce($2, name), plan_code = coalesce($3, plan_code), \
           row_version = row_version + 1, updated_at = now() WHERE id = $1",
        [tenant_id.into(), name.into(), change.plan.clone().into()],
    ))
    .await?;
    if change.plan.is_some_and(|plan| plan != before.plan_code) {
        crate::role_limits::queue(&txn, tenant_id).await?;
    }
    notify_changed(&txn, tenant_id).await?;
    txn.commit().await?;
    Ok(before)
}

/// Announces that plan `code` changed, so every runtime reloads the limits of its
/// tenants (sent when the caller's transaction commits, if `db` is one). When its
/// `max_db_connections` changed, also queues a `role_limits` job (deduplicated) for each
/// of its tenants, in the same transaction, so their roles get the new limit.
pub async fn plan_changed(
    db: &impl ConnectionTrait,
    code: &str,
    connection_limit_changed: bool,
) -> Result<(), ProvisionError> {
    notify(db, &TenantChange::Plan(code.to_owned())).await?;
    if connection_limit_changed {
        let queued = jobs::enqueue_role_limits_of_plan(db, code).await?;
        tracing::info!(plan = code, queued, "role limit jobs queued");
    }
    Ok(())
}

/// The trial days of an open (not archived) plan; [`ProvisionError::UnknownPlan`] if
/// there is none.
async fn plan_trial_days(txn: &DatabaseTransaction, plan: &str) -> Result<i32, ProvisionError> {
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT trial_days FROM plans WHERE code = $1 AND NOT archived",
            [plan.into()],
        ))
        .await?
        .ok_or_else(|| ProvisionError::UnknownPlan(plan.to_owned()))?;
    Ok(row.try_get("", "trial_days")?)
}

fn required(field: &'static str, value: &str, max: usize) -> Result<String, ProvisionError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(ProvisionError::Invalid {
            field,
            message: format!("must be 1 to {max} characters"),
        });
    }
    Ok(value.to_owned())
}

fn valid_email(email: &str) -> Result<String, ProvisionError> {
    common::ids::normalize_email(email).ok_or_else(|| ProvisionError::Invalid {
        field: "admin_email",
        message: "is not an email address".into(),
    })
}

/// Suspends an active tenant; the runtime refuses it from the next request on.
pub async fn suspend(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    tenant_id: Uuid,
    kind: SuspensionKind,
    reason: &str,
) -> Result<(), ProvisionError> {
    suspend_at(db, tenant_id, kind, reason, chrono::Utc::now()).await
}

/// [`suspend`], recording `at` as the moment (the sweeper passes its clock's time, which
/// starts the grace period).
pub async fn suspend_at(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    tenant_id: Uuid,
    kind: SuspensionKind,
    reason: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), ProvisionError> {
    let reason = required("reason", reason, 500)?;
    let txn = db.begin().await?;
    transition(&txn, tenant_id, TenantStatus::Suspended).await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE tenants SET suspension_kind = $2, status_reason = $3, suspended_at = $4 \
         WHERE id = $1",
        [
            tenant_id.into(),
            kind.as_str().into(),
            reason.into(),
            at.into(),
        ],
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Resumes a suspended tenant.
pub async fn resume(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    tenant_id: Uuid,
) -> Result<(), ProvisionError> {
    let txn = db.begin().await?;
    transition(&txn, tenant_id, TenantStatus::Active).await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE tenants SET suspension_kind = NULL, status_reason = NULL, suspended_at = NULL \
         WHERE id = $1",
        [tenant_id.into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Marks the tenant `deleting` and queues the job that backs it up and drops it. A
/// provisioning job still running for it stops at its next step.
pub async fn delete(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    tenant_id: Uuid,
    reason: &str,
) -> Result<Uuid, ProvisionError> {
    let reason = required("reason", reason, 500)?;
    let txn = db.begin().await?;
    transition(&txn, tenant_id, TenantStatus::Deleting).await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE tenants SET status_reason = $2 WHERE id = $1",
        [tenant_id.into(), reason.into()],
    ))
    .await?;
    jobs::cancel_idle_jobs_of(&txn, tenant_id, "the tenant is being deleted").await?;
    let job_id = jobs::enqueue(&txn, JobKind::Delete, tenant_id).await?;
    txn.commit().await?;
    Ok(job_id)
}

/// Locks the tenant row, checks the move against the state machine, applies it and
/// queues the notification (sent on commit). Returns the row as it was before.
pub(crate) async fn transition(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    to: TenantStatus,
) -> Result<tenants::Model, ProvisionError> {
    let tenant = find_locked(txn, tenant_id).await?;
    check_transition(tenant.status, to)?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE tenants SET status = $2, row_version = row_version + 1, updated_at = now() \
         WHERE id = $1",
        [tenant_id.into(), to.as_str().into()],
    ))
    .await?;
    notify_changed(txn, tenant_id).await?;
    Ok(tenant)
}

/// The tenant's row, locked until the transaction ends.
pub(crate) async fn find_locked(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
) -> Result<tenants::Model, ProvisionError> {
    tenants::Entity::find_by_id(tenant_id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(ProvisionError::TenantNotFound(tenant_id))
}

/// Announces a change of a database server's budget or address to every runtime
/// (delivered when the transaction commits).
pub(crate) async fn notify_server_changed(
    db: &impl ConnectionTrait,
    server_id: Uuid,
) -> Result<(), sea_orm::DbErr> {
    notify(db, &TenantChange::Server(server_id)).await
}

/// Announces a change of the tenant (delivered when the transaction commits).
pub(crate) async fn notify_changed(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<(), sea_orm::DbErr> {
    notify(db, &TenantChange::Tenant(tenant_id)).await
}

async fn notify(db: &impl ConnectionTrait, change: &TenantChange) -> Result<(), sea_orm::DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), Value::String(Some(change.payload()))],
    ))
    .await?;
    Ok(())
}

/// The tenant's row.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<tenants::Model, ProvisionError> {
    tenants::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .ok_or(ProvisionError::TenantNotFound(tenant_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowered_and_checked() {
        assert_eq!(
            valid_email(" Ann@Acme.Example ").unwrap(),
            "ann@acme.example"
        );
        for bad in [
            "ann",
            "ann@",
            "@acme.example",
            "ann@localhost",
            "a nn@acme.example",
        ] {
            assert!(valid_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn required_text_is_trimmed_and_bounded() {
        assert_eq!(required("name", "  Acme ", 10).unwrap(), "Acme");
        assert!(required("name", "   ", 10).is_err());
        assert!(required("name", "x".repeat(11).as_str(), 10).is_err());
    }
}

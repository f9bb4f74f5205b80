//! Fleet migration runs: bringing every tenant database (or those a filter picks) to the
//! newest tenant schema, fast and observably, without ever serving a half-migrated tenant.
//!
//! A run is a row of `migration_runs` with one row per tenant in `migration_run_tenants`,
//! driven by a `migration_run` job, so a worker that dies mid-run is taken over through
//! the job's lease (see [`runner`]). This module is its API, the same for the admin API,
//! the admin CLI (through that API) and a worker starting a run at boot: plan (a dry run),
//! start, list, read, resume, cancel. Each tenant's migration is one transaction
//! ([`tenant`]); the ledger of versions is [`ledger`].

mod ledger;
mod runner;
mod schema;
mod tenant;

pub(crate) use ledger::record_provisioned;
pub use ledger::{record_template, tenants_behind};
pub use schema::TenantSchema;

use crate::jobs::{self, JobKind, PayloadKey};
use chrono::{DateTime, Utc};
use common::fleet::{BehindTenant, DryRunView, RunCounts, RunTenantView, RunView, ServerShare};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, QueryResult,
    Statement, TransactionTrait,
};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// Most tenants a dry run lists by name.
const SAMPLE: u64 = 100;

/// What to migrate and how carefully.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// Only these tenants (all when `None`).
    pub tenant_ids: Option<Vec<Uuid>>,
    /// Only tenants on these plans.
    pub plan_codes: Option<Vec<String>>,
    /// Only tenants on these servers.
    pub server_ids: Option<Vec<Uuid>>,
    pub canary: Canary,
    /// At most this many migrations at once on one server.
    pub max_per_server: u32,
    /// Halt when more tenants than this have failed.
    pub max_failures: Option<u32>,
    /// Halt when more than this share of the run's tenants have failed.
    pub max_failure_ratio: Option<f64>,
    /// How long one tenant's migration waits for a lock before it is put back for later.
    pub lock_timeout: Duration,
}

/// How the canary wave is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canary {
    /// This many tenants.
    Count(u32),
    /// This percentage of the run's tenants, rounded up (at least one when any).
    Percent(u32),
}

impl Default for RunRequest {
    /// What a run started at boot uses: a 5 % canary, four migrations per server, halt
    /// past 10 % failures, two seconds' lock wait.
    fn default() -> Self {
        Self {
            tenant_ids: None,
            plan_codes: None,
            server_ids: None,
            canary: Canary::Percent(5),
            max_per_server: 4,
            max_failures: None,
            max_failure_ratio: Some(0.1),
            lock_timeout: Duration::from_secs(2),
        }
    }
}

impl RunRequest {
    fn filter(&self) -> serde_json::Value {
        let mut filter = json!({});
        if let Some(ids) = &self.tenant_ids {
            filter["tenant_ids"] = json!(ids);
        }
        if let Some(codes) = &self.plan_codes {
            filter["plan_codes"] = json!(codes);
        }
        if let Some(ids) = &self.server_ids {
            filter["server_ids"] = json!(ids);
        }
        filter
    }

    /// The canary wave's size for a run of `total` tenants.
    fn canary_size(&self, total: i64) -> i64 {
        let size = match self.canary {
            Canary::Count(count) => i64::from(count),
            Canary::Percent(percent) => ((total * i64::from(percent) + 99) / 100).max(1),
        };
        size.min(total)
    }
}

/// Why a run could not be started, read or changed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("migration run {0} not found")]
    NotFound(Uuid),
    #[error("migration run {0} is still active: wait for it or cancel it first")]
    AnotherRunActive(Uuid),
    #[error("a {state} migration run cannot be {action}")]
    InvalidState { state: String, action: &'static str },
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What a run would do: the matching tenants behind the newest schema, per server.
pub async fn plan(
    db: &impl ConnectionTrait,
    schema: &TenantSchema,
    request: &RunRequest,
) -> Result<DryRunView, FleetError> {
    let target = schema.latest();
    let filter = request.filter();
    let shares = db
        .query_all_raw(behind_query(
            "SELECT t.server_id, count(*) AS tenants",
            "GROUP BY t.server_id ORDER BY t.server_id",
            &target,
            &filter,
        ))
        .await?;
    let servers = shares
        .iter()
        .map(|row| {
            Ok(ServerShare {
                server_id: row.try_get("", "server_id")?,
                tenants: row.try_get("", "tenants")?,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    let sample = db
        .query_all_raw(behind_query(
            "SELECT t.id, t.slug, t.schema_version",
            &format!("ORDER BY t.slug LIMIT {SAMPLE}"),
            &target,
            &filter,
        ))
        .await?
        .iter()
        .map(|row| {
            Ok(BehindTenant {
                tenant_id: row.try_get("", "id")?,
                slug: row.try_get("", "slug")?,
                schema_version: row.try_get("", "schema_version")?,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    let behind: i64 = servers.iter().map(|share| share.tenants).sum();
    Ok(DryRunView {
        dry_run: true,
        canary_size: request.canary_size(behind),
        tenants_behind: behind,
        migrations: schema.names(),
        target_version: target,
        servers,
        sample,
    })
}

/// `select` over the tenants with a database that the filter picks and whose schema is
/// behind `target`, then `tail` (grouping, order, limit).
fn behind_query(select: &str, tail: &str, target: &str, filter: &serde_json::Value) -> Statement {
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "{select} FROM tenants t \
             WHERE t.status IN ('active', 'suspended') AND t.server_id IS NOT NULL \
               AND t.db_name IS NOT NULL \
               AND (t.schema_version IS NULL OR t.schema_version < $1) \
               AND (NOT ($2::jsonb ? 'tenant_ids') OR t.id::text IN \
                    (SELECT jsonb_array_elements_text($2::jsonb -> 'tenant_ids'))) \
               AND (NOT ($2::jsonb ? 'plan_codes') OR t.plan_code IN \
                    (SELECT jsonb_array_elements_text($2::jsonb -> 'plan_codes'))) \
               AND (NOT ($2::jsonb ? 'server_ids') OR t.server_id::text IN \
                    (SELECT jsonb_array_elements_text($2::jsonb -> 'server_ids'))) \
             {tail}"
        ),
        [target.into(), filter.clone().into()],
    )
}

/// Starts a run over the matching tenants that are behind: records it and its tenants
/// (the canary wave first: a random sample of the given size), and queues its job, in
/// the caller's transaction (which audits it beside).
pub async fn start(
    txn: &DatabaseTransaction,
    schema: &TenantSchema,
    request: &RunRequest,
    started_by: &str,
) -> Result<RunView, FleetError> {
    if let Some(active) = active_run(txn).await? {
        return Err(FleetError::AnotherRunActive(active));
    }
    let id = Uuid::now_v7();
    let target = schema.latest();
    let filter = request.filter();
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO migration_runs (id, target_version, filter, canary_size, max_per_server, \
         max_failures, max_failure_ratio, lock_timeout_ms, started_by) \
         VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8)",
        [
            id.into(),
            target.clone().into(),
            filter.clone().into(),
            i32::try_from(request.max_per_server)
                .unwrap_or(i32::MAX)
                .into(),
            request
                .max_failures
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX))
                .into(),
            request.max_failure_ratio.into(),
            i32::try_from(request.lock_timeout.as_millis())
                .unwrap_or(i32::MAX)
                .into(),
            started_by.into(),
        ],
    ))
    .await
    .map_err(|error| unique_violation_means_active(error, id))?;
    let inserted = txn
        .execute_raw(behind_query(
            &format!(
                "INSERT INTO migration_run_tenants (run_id, tenant_id, server_id, wave, from_version) \
                 SELECT '{id}'::uuid, t.id, t.server_id, 1, t.schema_version"
            ),
            "",
            &target,
            &filter,
        ))
        .await?
        .rows_affected();
    let total = i64::try_from(inserted).unwrap_or(i64::MAX);
    let canary = request.canary_size(total);
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH canary AS (SELECT tenant_id FROM migration_run_tenants WHERE run_id = $1 \
           ORDER BY random() LIMIT $2) \
         UPDATE migration_run_tenants SET wave = 0 \
         WHERE run_id = $1 AND tenant_id IN (SELECT tenant_id FROM canary)",
        [id.into(), canary.into()],
    ))
    .await?;
    let job = jobs::enqueue_fleet(
        txn,
        JobKind::MigrationRun,
        &[(PayloadKey::RunId, json!(id))],
    )
    .await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE migration_runs SET total = $2, canary_size = $3, job_id = $4 WHERE id = $1",
        [
            id.into(),
            i32::try_from(total).unwrap_or(i32::MAX).into(),
            i32::try_from(canary).unwrap_or(i32::MAX).into(),
            job.into(),
        ],
    ))
    .await?;
    get(txn, id).await
}

/// Starts a run with the default settings when tenants are behind this build's schema and
/// no run is active (a worker calls it at start, so an upgrade migrates the fleet by
/// itself). Returns the run it started, if any.
pub async fn start_if_behind(
    db: &DatabaseConnection,
    schema: &TenantSchema,
) -> Result<Option<RunView>, FleetError> {
    let request = RunRequest::default();
    if plan(db, schema, &request).await?.tenants_behind == 0 {
        return Ok(None);
    }
    let txn = db.begin().await?;
    match start(&txn, schema, &request, "boot").await {
        Ok(run) => {
            txn.commit().await?;
            Ok(Some(run))
        }
        // Another worker started one first: it will do.
        Err(FleetError::AnotherRunActive(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The run that is queued or running, if any.
async fn active_run(db: &impl ConnectionTrait) -> Result<Option<Uuid>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id FROM migration_runs WHERE state IN ('queued', 'running')",
        ))
        .await?;
    row.map(|row| row.try_get("", "id")).transpose()
}

/// The one-active-run index turned away an insert racing another start.
fn unique_violation_means_active(error: DbErr, id: Uuid) -> FleetError {
    match error.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => FleetError::AnotherRunActive(id),
        _ => FleetError::Db(error),
    }
}

const RUN_COLUMNS: &str = "r.id, r.state, r.target_version, r.filter, r.canary_size, \
    r.max_per_server, r.max_failures, r.max_failure_ratio, r.lock_timeout_ms, r.halted_reason, \
    r.started_by, r.created_at, r.started_at, r.finished_at, \
    (SELECT count(*) FROM migration_run_tenants i WHERE i.run_id = r.id) AS n_total, \
    (SELECT count(*) FROM migration_run_tenants i WHERE i.run_id = r.id AND i.state = 'pending') AS n_pending, \
    (SELECT count(*) FROM migration_run_tenants i WHERE i.run_id = r.id AND i.state = 'running') AS n_running, \
    (SELECT count(*) FROM migration_run_tenants i WHERE i.run_id = r.id AND i.state = 'succeeded') AS n_succeeded, \
    (SELECT count(*) FROM migration_run_tenants i WHERE i.run_id = r.id AND i.state = 'failed') AS n_failed, \
    (SELECT count(*) FROM migration_run_tenants i WHERE i.run_id = r.id AND i.state = 'skipped') AS n_skipped";

/// One run with its counts.
pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> Result<RunView, FleetError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {RUN_COLUMNS} FROM migration_runs r WHERE r.id = $1"),
            [id.into()],
        ))
        .await?
        .ok_or(FleetError::NotFound(id))?;
    Ok(run_view(&row)?)
}

/// Runs, newest first, after the run `after` (keyset paging on creation time and id).
pub async fn list(
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<RunView>, FleetError> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {RUN_COLUMNS} FROM migration_runs r \
                 WHERE $1::uuid IS NULL OR (r.created_at, r.id) < \
                   (SELECT created_at, id FROM migration_runs WHERE id = $1) \
                 ORDER BY r.created_at DESC, r.id DESC LIMIT $2"
            ),
            [
                after.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    Ok(rows.iter().map(run_view).collect::<Result<_, _>>()?)
}

/// A page of a run's tenants (in `state` when given), in tenant id order after `after`:
/// up to `limit` rows (ask one more than the page to learn whether another follows).
pub async fn run_tenants(
    db: &impl ConnectionTrait,
    id: Uuid,
    state: Option<&str>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<RunTenantView>, FleetError> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT i.tenant_id, t.slug, i.server_id, i.wave, i.state, i.attempts, i.waits, \
             i.from_version, i.to_version, i.error, i.started_at, i.finished_at, i.duration_ms \
             FROM migration_run_tenants i JOIN tenants t ON t.id = i.tenant_id \
             WHERE i.run_id = $1 AND ($2::text IS NULL OR i.state = $2) \
               AND ($3::uuid IS NULL OR i.tenant_id > $3) \
             ORDER BY i.tenant_id LIMIT $4",
            [
                id.into(),
                state.map(str::to_owned).into(),
                after.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    Ok(rows
        .iter()
        .map(tenant_view)
        .collect::<Result<Vec<_>, _>>()?)
}

/// Picks a halted, cancelled or failed run up where it stopped: its failed tenants are
/// tried again, and a new job runs it (in the caller's transaction).
pub async fn resume(txn: &DatabaseTransaction, id: Uuid) -> Result<RunView, FleetError> {
    let state = locked_state(txn, id).await?;
    if !matches!(state.as_str(), "halted" | "cancelled" | "failed") {
        return Err(FleetError::InvalidState {
            state,
            action: "resumed",
        });
    }
    if let Some(active) = active_run(txn).await? {
        return Err(FleetError::AnotherRunActive(active));
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE migration_run_tenants SET state = 'pending', waits = 0, error = NULL, \
         retry_after = now() WHERE run_id = $1 AND state = 'failed'",
        [id.into()],
    ))
    .await?;
    let job = jobs::enqueue_fleet(
        txn,
        JobKind::MigrationRun,
        &[(PayloadKey::RunId, json!(id))],
    )
    .await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE migration_runs SET state = 'queued', halted_reason = NULL, finished_at = NULL, \
         job_id = $2, updated_at = now() WHERE id = $1",
        [id.into(), job.into()],
    ))
    .await
    .map_err(|error| unique_violation_means_active(error, id))?;
    get(txn, id).await
}

/// Stops a queued, running or halted run: no tenant starts after this; those already
/// migrating finish their transaction. It can be resumed later. In the caller's transaction.
pub async fn cancel(txn: &DatabaseTransaction, id: Uuid) -> Result<RunView, FleetError> {
    let state = locked_state(txn, id).await?;
    if !matches!(state.as_str(), "queued" | "running" | "halted") {
        return Err(FleetError::InvalidState {
            state,
            action: "cancelled",
        });
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE migration_runs SET state = 'cancelled', finished_at = now(), updated_at = now() \
         WHERE id = $1",
        [id.into()],
    ))
    .await?;
    get(txn, id).await
}

async fn locked_state(db: &impl ConnectionTrait, id: Uuid) -> Result<String, FleetError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT state FROM migration_runs WHERE id = $1 FOR UPDATE",
            [id.into()],
        ))
        .await?
        .ok_or(FleetError::NotFound(id))?;
    Ok(row.try_get("", "state")?)
}

fn run_view(row: &QueryResult) -> Result<RunView, DbErr> {
    let at = |column: &str| -> Result<Option<DateTime<Utc>>, DbErr> {
        Ok(row
            .try_get::<Option<DateTime<chrono::FixedOffset>>>("", column)?
            .map(|at| at.to_utc()))
    };
    Ok(RunView {
        id: row.try_get("", "id")?,
        state: row.try_get("", "state")?,
        target_version: row.try_get("", "target_version")?,
        filter: row.try_get("", "filter")?,
        canary_size: row.try_get("", "canary_size")?,
        max_per_server: row.try_get("", "max_per_server")?,
        max_failures: row.try_get("", "max_failures")?,
        max_failure_ratio: row.try_get("", "max_failure_ratio")?,
        lock_timeout_ms: row.try_get("", "lock_timeout_ms")?,
        halted_reason: row.try_get("", "halted_reason")?,
        started_by: row.try_get("", "started_by")?,
        counts: RunCounts {
            total: row.try_get("", "n_total")?,
            pending: row.try_get("", "n_pending")?,
            running: row.try_get("", "n_running")?,
            succeeded: row.try_get("", "n_succeeded")?,
            failed: row.try_get("", "n_failed")?,
            skipped: row.try_get("", "n_skipped")?,
        },
        created_at: at("created_at")?.unwrap_or_default(),
        started_at: at("started_at")?,
        finished_at: at("finished_at")?,
    })
}

fn tenant_view(row: &QueryResult) -> Result<RunTenantView, DbErr> {
    let at = |column: &str| -> Result<Option<DateTime<Utc>>, DbErr> {
        Ok(row
            .try_get::<Option<DateTime<chrono::FixedOffset>>>("", column)?
            .map(|at| at.to_utc()))
    };
    Ok(RunTenantView {
        tenant_id: row.try_get("", "tenant_id")?,
        slug: row.try_get("", "slug")?,
        server_id: row.try_get("", "server_id")?,
        wave: row.try_get("", "wave")?,
        state: row.try_get("", "state")?,
        attempts: row.try_get("", "attempts")?,
        waits: row.try_get("", "waits")?,
        from_version: row.try_get("", "from_version")?,
        to_version: row.try_get("", "to_version")?,
        error: row.try_get("", "error")?,
        started_at: at("started_at")?,
        finished_at: at("finished_at")?,
        duration_ms: row.try_get("", "duration_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canary_is_a_count_or_a_rounded_up_share_never_more_than_the_run() {
        let with = |canary| RunRequest {
            canary,
            ..RunRequest::default()
        };
        assert_eq!(with(Canary::Count(10)).canary_size(1000), 10);
        assert_eq!(with(Canary::Count(10)).canary_size(3), 3);
        assert_eq!(with(Canary::Percent(5)).canary_size(1000), 50);
        assert_eq!(with(Canary::Percent(5)).canary_size(21), 2);
        assert_eq!(with(Canary::Percent(5)).canary_size(1), 1);
        assert_eq!(with(Canary::Percent(5)).canary_size(0), 0);
        assert_eq!(with(Canary::Count(0)).canary_size(50), 0);
    }

    #[test]
    fn the_filter_holds_only_what_was_asked() {
        let request = RunRequest {
            plan_codes: Some(vec!["pro".into()]),
            ..RunRequest::default()
        };
        assert_eq!(request.filter(), json!({ "plan_codes": ["pro"] }));
        assert_eq!(RunRequest::default().filter(), json!({}));
    }
}

//! The control plane's `GET /metrics`: the process's own series (requests, ...) plus
//! gauges about the fleet, read from the control database at each scrape (so they are the
//! fleet's, whichever worker did the work; aggregate queries only, since per-tenant series
//! would grow with the fleet):
//!
//! - jobs: `erp_jobs{kind,state}`, and for those finished in the last hour
//!   `erp_jobs_finished_last_hour{kind,outcome}`, `erp_job_seconds_last_hour_mean` and
//!   `_max`;
//! - migration runs: `erp_migration_run_active`, `erp_migration_run_tenants{state}` (the
//!   newest run's progress), `erp_tenants_behind_schema`;
//! - backups: `control_backups_stored` and `control_backup_stored_bytes` (completed
//!   backups still in the store, and their total size); `control_backup_latest_bytes_max`
//!   (the largest of each live tenant's newest backup); `control_backup_latest_age_seconds_max`
//!   (the oldest of each live tenant's newest completed backup: the fleet's worst recovery
//!   point); `control_tenants_without_backup`.
//!
//! A control database that does not answer leaves the gauges as they were (they expire
//! after two minutes) and the scrape still succeeds.

use crate::state::AppState;
use actix_web::{HttpResponse, web};
use provisioner::fleet::{self, TenantSchema};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement};

const FLEET_BACKUPS: &str = "WITH latest AS ( \
       SELECT t.id, max(b.completed_at) AS at, \
              (array_agg(b.size_bytes ORDER BY b.completed_at DESC) \
                 FILTER (WHERE b.completed_at IS NOT NULL))[1] AS bytes \
       FROM tenants t LEFT JOIN tenant_backups b ON b.tenant_id = t.id AND b.state = 'completed' \
       WHERE t.status IN ('active', 'suspended') GROUP BY t.id) \
     SELECT (SELECT count(*) FROM tenant_backups WHERE state = 'completed')::float8 AS stored, \
            (SELECT coalesce(sum(size_bytes), 0) FROM tenant_backups \
               WHERE state = 'completed')::float8 AS stored_bytes, \
            coalesce(max(bytes), 0)::float8 AS latest_bytes_max, \
            coalesce(max(EXTRACT(EPOCH FROM now() - at)), 0)::float8 AS latest_age_max, \
            (count(*) FILTER (WHERE at IS NULL))::float8 AS without \
     FROM latest";

/// `GET /metrics` with the fleet's gauges refreshed first.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if let Err(error) = record_backup_gauges(&state.db).await {
        tracing::warn!("backup gauges not refreshed: {error}");
    }
    match snapshot(&state.db).await {
        Ok(snapshot) => publish(&snapshot),
        Err(error) => tracing::warn!("fleet gauges not refreshed: {error}"),
    }
    common::http::metrics().await
}

async fn record_backup_gauges(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let Some(row) = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, FLEET_BACKUPS))
        .await?
    else {
        return Ok(());
    };
    let gauges = [
        ("control_backups_stored", "stored"),
        ("control_backup_stored_bytes", "stored_bytes"),
        ("control_backup_latest_bytes_max", "latest_bytes_max"),
        ("control_backup_latest_age_seconds_max", "latest_age_max"),
        ("control_tenants_without_backup", "without"),
    ];
    for (name, column) in gauges {
        let value: f64 = row.try_get("", column)?;
        metrics::gauge!(name).set(value);
    }
    Ok(())
}

/// What the gauges show, read in one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetSnapshot {
    /// `(kind, state, jobs)`.
    pub jobs: Vec<(String, String, i64)>,
    /// `(kind, outcome, jobs, mean seconds, max seconds)` of jobs finished in the last hour.
    pub finished_last_hour: Vec<(String, String, i64, f64, f64)>,
    /// Whether the newest migration run is queued or running.
    pub run_active: bool,
    /// The newest run's tenants per state (`pending`, `running`, ...).
    pub run_tenants: Vec<(&'static str, i64)>,
    pub tenants_behind: i64,
}

/// Reads everything the gauges show.
pub async fn snapshot(db: &DatabaseConnection) -> Result<FleetSnapshot, DbErr> {
    let (run_active, run_tenants) = migration_progress(db).await?;
    Ok(FleetSnapshot {
        jobs: jobs_by_state(db).await?,
        finished_last_hour: job_durations(db).await?,
        run_active,
        run_tenants,
        tenants_behind: fleet::tenants_behind(db, &TenantSchema::current()).await?,
    })
}

/// Sets the gauges.
pub fn publish(snapshot: &FleetSnapshot) {
    for (kind, state, n) in &snapshot.jobs {
        metrics::gauge!("erp_jobs", "kind" => kind.clone(), "state" => state.clone())
            .set(*n as f64);
    }
    for (kind, outcome, n, mean, max) in &snapshot.finished_last_hour {
        let labels = [("kind", kind.clone()), ("outcome", outcome.clone())];
        metrics::gauge!("erp_jobs_finished_last_hour", &labels).set(*n as f64);
        metrics::gauge!("erp_job_seconds_last_hour_mean", &labels).set(*mean);
        metrics::gauge!("erp_job_seconds_last_hour_max", &labels).set(*max);
    }
    metrics::gauge!("erp_migration_run_active").set(f64::from(u8::from(snapshot.run_active)));
    for (state, n) in &snapshot.run_tenants {
        metrics::gauge!("erp_migration_run_tenants", "state" => *state).set(*n as f64);
    }
    metrics::gauge!("erp_tenants_behind_schema").set(snapshot.tenants_behind as f64);
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Result<Vec<QueryResult>, DbErr> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
}

async fn jobs_by_state(db: &DatabaseConnection) -> Result<Vec<(String, String, i64)>, DbErr> {
    let sql = "SELECT kind, state, count(*) AS n FROM jobs GROUP BY kind, state ORDER BY 1, 2";
    rows(db, sql)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("", "kind")?,
                row.try_get("", "state")?,
                row.try_get("", "n")?,
            ))
        })
        .collect()
}

async fn job_durations(
    db: &DatabaseConnection,
) -> Result<Vec<(String, String, i64, f64, f64)>, DbErr> {
    let sql = "SELECT kind, state, count(*) AS n, \
               avg(extract(epoch FROM finished_at - created_at))::float8 AS mean, \
               max(extract(epoch FROM finished_at - created_at))::float8 AS max \
               FROM jobs WHERE finished_at > now() - interval '1 hour' \
               GROUP BY kind, state ORDER BY 1, 2";
    rows(db, sql)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("", "kind")?,
                row.try_get("", "state")?,
                row.try_get("", "n")?,
                row.try_get("", "mean")?,
                row.try_get("", "max")?,
            ))
        })
        .collect()
}

/// Whether the newest run is active, and its tenants per state (every state, zeros too).
async fn migration_progress(
    db: &DatabaseConnection,
) -> Result<(bool, Vec<(&'static str, i64)>), DbErr> {
    let sql = "SELECT r.state AS run_state, i.state, count(i.tenant_id) AS n \
               FROM (SELECT id, state FROM migration_runs ORDER BY created_at DESC LIMIT 1) r \
               LEFT JOIN migration_run_tenants i ON i.run_id = r.id GROUP BY r.state, i.state";
    let found = rows(db, sql).await?;
    let active = found.first().is_some_and(|row| {
        row.try_get::<String>("", "run_state")
            .is_ok_and(|state| state == "queued" || state == "running")
    });
    let count = |state: &str| {
        found
            .iter()
            .find(|row| {
                row.try_get::<Option<String>>("", "state")
                    .ok()
                    .flatten()
                    .as_deref()
                    == Some(state)
            })
            .and_then(|row| row.try_get::<i64>("", "n").ok())
            .unwrap_or(0)
    };
    let states = ["pending", "running", "succeeded", "failed", "skipped"];
    Ok((
        active,
        states
            .into_iter()
            .map(|state| (state, count(state)))
            .collect(),
    ))
}

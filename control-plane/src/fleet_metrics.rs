//! Fleet gauges on the control plane's `/metrics`, read from the control database every
//! [`REFRESH`] (so they are the fleet's, whichever worker did the work): jobs by kind and
//! state, how long the jobs that finished in the last hour took by kind and outcome, the
//! latest migration run's progress, and how many tenants are behind this build's schema.

use provisioner::fleet::{self, TenantSchema};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the gauges are read again.
const REFRESH: Duration = Duration::from_secs(15);

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

/// Refreshes the gauges until shutdown; a failed read is logged and tried at the next tick.
pub async fn run(db: DatabaseConnection, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match snapshot(&db).await {
            Ok(snapshot) => publish(&snapshot),
            Err(error) => tracing::debug!("fleet gauges not refreshed: {error}"),
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(REFRESH) => {}
        }
    }
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

//! Running a migration run: the `migration_run` job. The worker holding the job's lease
//! first moves every server's template (and so its spares) to the new schema, then runs
//! the canary wave and, if no canary failed, the rest. Tenants are queued per server and at
//! most `max_per_server` migrate at once on one server, however large the fleet. A tenant
//! that cannot take a lock in time, or whose server does not answer, is put back with
//! backoff and tried again later in the run; one whose migration fails is recorded and
//! the others go on, until the failures pass the run's threshold and it halts.
//!
//! Every tenant's state is written to the control database as it changes, so the run can
//! stop anywhere: a worker that dies loses its lease and the next one resets the tenants
//! it was migrating to `pending` (each one's transaction either committed, and migrating
//! it again applies nothing, or rolled back) and carries on; a cancel is seen within a
//! second; a resume tries the failed tenants again.

use super::ledger;
use super::tenant::{self, Attempt, Target};
use crate::jobs;
use crate::provisioner::Provisioner;
use crate::servers::{self, url_for_database};
use crate::steps::StepError;
use crate::template;
use common::Secret;
use common::entities::{ServerState, database_servers, jobs as job_rows};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Statement,
    TransactionTrait,
};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tracing::Instrument as _;
use uuid::Uuid;

/// How often a running run renews its lease and looks for a cancel.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How many times one tenant may be put back (lock or server) before it counts as failed:
/// with the backoff below, about ten minutes of waiting.
const MAX_WAITS: i32 = 64;
/// The longest a tenant waits before its next try.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A run's settings, as stored.
struct Run {
    id: Uuid,
    state: String,
    target_version: String,
    max_per_server: usize,
    max_failures: Option<i64>,
    max_failure_ratio: Option<f64>,
    lock_timeout: Duration,
    total: i64,
}

/// One tenant waiting its turn.
struct Item {
    tenant_id: Uuid,
    server_id: Uuid,
    database: String,
    role: String,
    waits: i32,
}

/// How a wave stopped before its end.
enum Stop {
    Halt(String),
    Cancelled,
    LostLease,
}

impl Provisioner {
    /// Claims and runs one due fleet job (a migration run), if any. Workers run these
    /// beside the saga jobs, so a long run never delays a signup.
    pub async fn try_execute_fleet_job(&self) -> Result<crate::Executed, DbErr> {
        let Some(job) = jobs::claim(
            &self.control_db,
            &self.worker_id,
            self.lease,
            jobs::Lane::Fleet,
        )
        .await?
        else {
            return Ok(crate::Executed::Idle);
        };
        let span = tracing::info_span!("fleet_job", id = %job.id, kind = %job.kind);
        common::trace_context::continue_from(&span, job.traceparent.as_deref());
        async {
            let outcome = match jobs::JobKind::parse(&job.kind) {
                Some(jobs::JobKind::MigrationRun) => self.run_migrations(&job).await,
                _ => Err(StepError::Permanent(format!(
                    "unsupported fleet job `{}`",
                    job.kind
                ))),
            };
            self.settle(&job, outcome).await
        }
        .instrument(span)
        .await
    }

    async fn run_migrations(&self, job: &job_rows::Model) -> Result<(), StepError> {
        let run_id = jobs::payload_uuid(job, jobs::PayloadKey::RunId)
            .ok_or_else(|| StepError::Permanent("the job names no run".into()))?;
        let run = load_run(&self.control_db, run_id).await?;
        if !matches!(run.state.as_str(), "queued" | "running") {
            return Ok(());
        }
        if migrations::is_behind(Some(&self.tenant_schema.latest()), &run.target_version) {
            return Err(StepError::Transient(format!(
                "this worker's code stops before {}: left for a newer worker",
                run.target_version
            )));
        }
        begin(&self.control_db, run_id).await?;
        self.refresh_templates().await;
        for wave in [0, 1] {
            match self.run_wave(job, &run, wave).await? {
                None => {}
                Some(Stop::Halt(reason)) => return halt(&self.control_db, run_id, &reason).await,
                Some(Stop::Cancelled) => return Ok(()),
                Some(Stop::LostLease) => return Err(StepError::LostLease),
            }
        }
        finish(&self.control_db, run_id).await?;
        if let Err(error) = self.refill_spares().await {
            tracing::warn!("spares not refilled after the run: {error}");
        }
        Ok(())
    }

    /// Moves every active server's template to this build's schema (new tenants then need
    /// no migration; spares of the old schema are dropped at their next refill) and
    /// records its version. A server that does not answer keeps its old template until
    /// the next provisioning on it builds the new one.
    async fn refresh_templates(&self) {
        let active = database_servers::Entity::find()
            .filter(database_servers::Column::State.eq(ServerState::Active))
            .all(&self.control_db)
            .await
            .unwrap_or_default();
        for server in active {
            let built = async {
                let url = servers::admin_url(&self.keyring, &server)?;
                let admin = servers::connect_admin(url.expose()).await?;
                template::ensure(&admin, url.expose()).await?;
                ledger::record_template(
                    &self.control_db,
                    server.id,
                    &migrations::latest_tenant_version(),
                )
                .await?;
                Ok::<_, StepError>(())
            };
            if let Err(error) = built.await {
                tracing::warn!(server = server.name, "template not refreshed: {error}");
            }
        }
    }

    /// Runs the run's pending tenants of `wave`; `None` when the wave is done.
    async fn run_wave(
        &self,
        job: &job_rows::Model,
        run: &Run,
        wave: i16,
    ) -> Result<Option<Stop>, StepError> {
        let mut failed = failed_so_far(&self.control_db, run.id).await?;
        if wave == 1 && failed > 0 && failed_in_canary(&self.control_db, run.id).await? {
            return Ok(Some(Stop::Halt(canary_reason(failed))));
        }
        let urls = self.server_urls().await?;
        let mut queues = self.pending_items(run.id, wave).await?;
        let mut delayed: Vec<(Instant, Item)> = Vec::new();
        let mut in_flight: HashMap<Uuid, usize> = HashMap::new();
        let mut tasks: JoinSet<(Item, Attempt, Duration)> = JoinSet::new();
        let mut stop: Option<Stop> = None;
        let mut last_check = Instant::now();
        loop {
            if stop.is_none() {
                self.start_ready(run, &urls, &mut queues, &mut in_flight, &mut tasks)
                    .await?;
            }
            let idle = queues.values().all(VecDeque::is_empty) && delayed.is_empty();
            if tasks.is_empty() && (stop.is_some() || idle) {
                return Ok(stop);
            }
            let next_due = delayed.iter().map(|(due, _)| *due).min();
            let nap = next_due.map_or(CHECK_EVERY, |due| {
                due.saturating_duration_since(Instant::now())
                    .min(CHECK_EVERY)
            });
            tokio::select! {
                Some(done) = tasks.join_next() => {
                    let Ok((item, attempt, took)) = done else { continue };
                    *in_flight.entry(item.server_id).or_default() -= 1;
                    match self.settle_tenant(run, item, attempt, took).await? {
                        Settled::Done => {}
                        Settled::Later(due, item) => delayed.push((due, item)),
                        Settled::Failed => {
                            failed += 1;
                            if stop.is_none() {
                                stop = threshold_passed(run, wave, failed).map(Stop::Halt);
                            }
                        }
                    }
                }
                () = tokio::time::sleep(nap) => {}
            }
            requeue_due(&mut delayed, &mut queues);
            if last_check.elapsed() >= CHECK_EVERY {
                last_check = Instant::now();
                if let Some(found) = self.check_in(job, run.id).await? {
                    stop.get_or_insert(found);
                }
            }
        }
    }

    /// Starts every queued tenant whose server has room, marking each `running`.
    async fn start_ready(
        &self,
        run: &Run,
        urls: &HashMap<Uuid, Secret>,
        queues: &mut HashMap<Uuid, VecDeque<Item>>,
        in_flight: &mut HashMap<Uuid, usize>,
        tasks: &mut JoinSet<(Item, Attempt, Duration)>,
    ) -> Result<(), StepError> {
        for (server_id, queue) in queues.iter_mut() {
            while in_flight.get(server_id).copied().unwrap_or(0) < run.max_per_server {
                let Some(item) = queue.pop_front() else { break };
                mark_running(&self.control_db, run.id, item.tenant_id).await?;
                *in_flight.entry(*server_id).or_default() += 1;
                let target = Target {
                    url: urls
                        .get(server_id)
                        .map(|url| url_for_database(url.expose(), &item.database))
                        .unwrap_or_default(),
                    database: item.database.clone(),
                    role: item.role.clone(),
                };
                let (schema, lock_timeout) = (self.tenant_schema, run.lock_timeout);
                tasks.spawn(async move {
                    let started = Instant::now();
                    let attempt = tenant::migrate(&schema, &target, lock_timeout).await;
                    (item, attempt, started.elapsed())
                });
            }
        }
        Ok(())
    }

    /// Writes how one tenant's attempt ended.
    async fn settle_tenant(
        &self,
        run: &Run,
        item: Item,
        attempt: Attempt,
        took: Duration,
    ) -> Result<Settled, StepError> {
        let took_ms = i32::try_from(took.as_millis()).unwrap_or(i32::MAX);
        match attempt {
            Attempt::Migrated { from, to } => {
                let txn = self.control_db.begin().await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE migration_run_tenants SET state = 'succeeded', to_version = $3, \
                     from_version = COALESCE($4, from_version), error = NULL, \
                     finished_at = now(), duration_ms = $5 WHERE run_id = $1 AND tenant_id = $2",
                    [
                        run.id.into(),
                        item.tenant_id.into(),
                        to.into(),
                        from.clone().into(),
                        took_ms.into(),
                    ],
                ))
                .await?;
                ledger::record_migrated(
                    &txn,
                    item.tenant_id,
                    Some(run.id),
                    from.as_deref(),
                    &self.tenant_schema,
                )
                .await?;
                txn.commit().await?;
                Ok(Settled::Done)
            }
            Attempt::Wait(reason) if item.waits < MAX_WAITS => {
                let backoff = backoff(item.waits);
                self.record_wait(run.id, &item, &reason, backoff).await?;
                let waits = item.waits + 1;
                Ok(Settled::Later(
                    Instant::now() + backoff,
                    Item { waits, ..item },
                ))
            }
            Attempt::Wait(reason) | Attempt::Failed(reason) => {
                tracing::warn!(tenant = %item.tenant_id, "tenant migration failed: {reason}");
                self.control_db
                    .execute_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "UPDATE migration_run_tenants SET state = 'failed', error = $3, \
                         finished_at = now(), duration_ms = $4 \
                         WHERE run_id = $1 AND tenant_id = $2",
                        [
                            run.id.into(),
                            item.tenant_id.into(),
                            reason.into(),
                            took_ms.into(),
                        ],
                    ))
                    .await?;
                Ok(Settled::Failed)
            }
        }
    }

    async fn record_wait(
        &self,
        run_id: Uuid,
        item: &Item,
        reason: &str,
        backoff: Duration,
    ) -> Result<(), DbErr> {
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE migration_run_tenants SET state = 'pending', waits = waits + 1, \
                 error = $3, retry_after = now() + make_interval(secs => $4) \
                 WHERE run_id = $1 AND tenant_id = $2",
                [
                    run_id.into(),
                    item.tenant_id.into(),
                    format!("waiting: {reason}").into(),
                    backoff.as_secs_f64().into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Renews the job's lease and reads the run's state: a reason to stop, if any.
    async fn check_in(
        &self,
        job: &job_rows::Model,
        run_id: Uuid,
    ) -> Result<Option<Stop>, StepError> {
        if !jobs::renew_lease(&self.control_db, job, &self.worker_id, self.lease).await? {
            return Ok(Some(Stop::LostLease));
        }
        let run = load_run(&self.control_db, run_id).await?;
        Ok((run.state == "cancelled").then_some(Stop::Cancelled))
    }

    /// Every registered server's admin URL (a tenant moved meanwhile may sit on any).
    async fn server_urls(&self) -> Result<HashMap<Uuid, Secret>, StepError> {
        let all = database_servers::Entity::find()
            .all(&self.control_db)
            .await?;
        all.iter()
            .map(|server| Ok((server.id, servers::admin_url(&self.keyring, server)?)))
            .collect()
    }

    /// The wave's pending tenants, queued per server (where each is now). Tenants that
    /// no longer have a database to migrate (deleted meanwhile) are marked `skipped`.
    async fn pending_items(
        &self,
        run_id: Uuid,
        wave: i16,
    ) -> Result<HashMap<Uuid, VecDeque<Item>>, StepError> {
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE migration_run_tenants i SET state = 'skipped', finished_at = now(), \
                 error = 'the tenant has no database to migrate any more' FROM tenants t \
                 WHERE i.run_id = $1 AND i.wave = $2 AND i.state = 'pending' \
                   AND t.id = i.tenant_id AND (t.status NOT IN ('active', 'suspended') \
                   OR t.db_name IS NULL OR t.server_id IS NULL)",
                [run_id.into(), wave.into()],
            ))
            .await?;
        let rows = self
            .control_db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE migration_run_tenants i SET server_id = t.server_id FROM tenants t \
                 WHERE i.run_id = $1 AND i.wave = $2 AND i.state = 'pending' \
                   AND t.id = i.tenant_id \
                 RETURNING i.tenant_id, t.server_id, t.db_name, \
                   COALESCE(t.db_role, t.db_name) AS db_role, i.waits",
                [run_id.into(), wave.into()],
            ))
            .await?;
        let mut items = rows
            .iter()
            .map(|row| {
                Ok(Item {
                    tenant_id: row.try_get("", "tenant_id")?,
                    server_id: row.try_get("", "server_id")?,
                    database: row.try_get("", "db_name")?,
                    role: row.try_get("", "db_role")?,
                    waits: row.try_get("", "waits")?,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        // In tenant id order: a run's order is the same every time it is read.
        items.sort_by_key(|item| item.tenant_id);
        let mut queues: HashMap<Uuid, VecDeque<Item>> = HashMap::new();
        for item in items {
            queues.entry(item.server_id).or_default().push_back(item);
        }
        Ok(queues)
    }
}

/// What settling one attempt left to do.
enum Settled {
    Done,
    /// Try again at the instant.
    Later(Instant, Item),
    Failed,
}

/// Moves the put-back tenants whose wait is over to their server's queue.
fn requeue_due(delayed: &mut Vec<(Instant, Item)>, queues: &mut HashMap<Uuid, VecDeque<Item>>) {
    let now = Instant::now();
    let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(delayed)
        .into_iter()
        .partition(|(at, _)| *at <= now);
    *delayed = waiting;
    for (_, item) in due {
        queues.entry(item.server_id).or_default().push_back(item);
    }
}

/// 250 ms doubling per wait, capped.
fn backoff(waits: i32) -> Duration {
    let exponent = u32::try_from(waits.clamp(0, 8)).unwrap_or(0);
    (Duration::from_millis(250) * (1 << exponent)).min(MAX_BACKOFF)
}

/// Why the run must halt after its `failed`-th failure, if it must: any failure in the
/// canary wave; otherwise more failures than the count, or a larger share than the ratio.
fn threshold_passed(run: &Run, wave: i16, failed: i64) -> Option<String> {
    if wave == 0 {
        return Some(canary_reason(failed));
    }
    if let Some(max) = run.max_failures
        && failed > max
    {
        return Some(format!(
            "{failed} tenants failed, more than the {max} allowed"
        ));
    }
    if let Some(ratio) = run.max_failure_ratio
        && run.total > 0
        && failed as f64 / run.total as f64 > ratio
    {
        return Some(format!(
            "{failed} of {} tenants failed, more than {:.1} % allowed",
            run.total,
            ratio * 100.0
        ));
    }
    None
}

fn canary_reason(failed: i64) -> String {
    format!("the canary wave failed on {failed} tenant(s); the rest were not started")
}

async fn load_run(db: &impl ConnectionTrait, id: Uuid) -> Result<Run, StepError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, state, target_version, max_per_server, max_failures, max_failure_ratio, \
             lock_timeout_ms, total FROM migration_runs WHERE id = $1",
            [id.into()],
        ))
        .await?
        .ok_or_else(|| StepError::Permanent(format!("migration run {id} is gone")))?;
    let max_per_server: i32 = row.try_get("", "max_per_server")?;
    let max_failures: Option<i32> = row.try_get("", "max_failures")?;
    let lock_timeout_ms: i32 = row.try_get("", "lock_timeout_ms")?;
    let total: i32 = row.try_get("", "total")?;
    Ok(Run {
        id,
        state: row.try_get("", "state")?,
        target_version: row.try_get("", "target_version")?,
        max_per_server: usize::try_from(max_per_server.max(1)).unwrap_or(1),
        max_failures: max_failures.map(i64::from),
        max_failure_ratio: row.try_get("", "max_failure_ratio")?,
        lock_timeout: Duration::from_millis(u64::try_from(lock_timeout_ms.max(1)).unwrap_or(1)),
        total: i64::from(total),
    })
}

/// Marks the run running and puts back the tenants a dead worker left `running`.
async fn begin(db: &sea_orm::DatabaseConnection, run_id: Uuid) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE migration_runs SET state = 'running', started_at = COALESCE(started_at, now()), \
         updated_at = now() WHERE id = $1 AND state IN ('queued', 'running')",
        [run_id.into()],
    ))
    .await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE migration_run_tenants SET state = 'pending' WHERE run_id = $1 AND state = 'running'",
        [run_id.into()],
    ))
    .await?;
    txn.commit().await
}

async fn mark_running(
    db: &impl ConnectionTrait,
    run_id: Uuid,
    tenant_id: Uuid,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE migration_run_tenants SET state = 'running', attempts = attempts + 1, \
         started_at = COALESCE(started_at, now()) WHERE run_id = $1 AND tenant_id = $2",
        [run_id.into(), tenant_id.into()],
    ))
    .await?;
    Ok(())
}

async fn count(db: &impl ConnectionTrait, sql: &str, run_id: Uuid) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [run_id.into()],
        ))
        .await?;
    row.map_or(Ok(0), |row| row.try_get("", "n"))
}

async fn failed_so_far(db: &impl ConnectionTrait, run_id: Uuid) -> Result<i64, DbErr> {
    count(
        db,
        "SELECT count(*) AS n FROM migration_run_tenants WHERE run_id = $1 AND state = 'failed'",
        run_id,
    )
    .await
}

async fn failed_in_canary(db: &impl ConnectionTrait, run_id: Uuid) -> Result<bool, DbErr> {
    let failed = count(
        db,
        "SELECT count(*) AS n FROM migration_run_tenants \
         WHERE run_id = $1 AND wave = 0 AND state = 'failed'",
        run_id,
    )
    .await?;
    Ok(failed > 0)
}

async fn halt(db: &impl ConnectionTrait, run_id: Uuid, reason: &str) -> Result<(), StepError> {
    tracing::warn!(run = %run_id, "migration run halted: {reason}");
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE migration_runs SET state = 'halted', halted_reason = $2, finished_at = now(), \
         updated_at = now() WHERE id = $1 AND state = 'running'",
        [run_id.into(), reason.into()],
    ))
    .await?;
    Ok(())
}

/// Ends the run: `succeeded` when every tenant migrated (or was skipped), else `failed`.
async fn finish(db: &impl ConnectionTrait, run_id: Uuid) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE migration_runs SET finished_at = now(), updated_at = now(), \
         state = CASE WHEN EXISTS (SELECT 1 FROM migration_run_tenants \
           WHERE run_id = $1 AND state = 'failed') THEN 'failed' ELSE 'succeeded' END \
         WHERE id = $1 AND state = 'running'",
        [run_id.into()],
    ))
    .await?;
    tracing::info!(run = %run_id, "migration run finished");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max_failures: Option<i64>, ratio: Option<f64>) -> Run {
        Run {
            id: Uuid::nil(),
            state: "running".into(),
            target_version: String::new(),
            max_per_server: 4,
            max_failures,
            max_failure_ratio: ratio,
            lock_timeout: Duration::from_secs(1),
            total: 100,
        }
    }

    #[test]
    fn any_canary_failure_halts_and_the_rest_halt_past_a_count_or_a_ratio() {
        assert!(threshold_passed(&run(None, None), 0, 1).is_some());
        assert!(threshold_passed(&run(None, None), 1, 50).is_none());
        assert!(threshold_passed(&run(Some(3), None), 1, 3).is_none());
        assert!(threshold_passed(&run(Some(3), None), 1, 4).is_some());
        assert!(threshold_passed(&run(None, Some(0.1)), 1, 10).is_none());
        assert!(threshold_passed(&run(None, Some(0.1)), 1, 11).is_some());
    }

    #[test]
    fn waiting_backs_off_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}

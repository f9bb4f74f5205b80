//! The job queue in the control database. Workers claim with `FOR UPDATE SKIP LOCKED` and
//! hold a lease; a worker that dies loses its lease when it expires and another worker
//! picks the job up again. Each finished step is recorded, so a resumed job skips it.
//! Every job carries the trace context of the request that queued it
//! ([`common::trace_context`]), which the job's span continues.

use common::entities::jobs;
use common::trace_context;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, Statement, Value};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Provision,
    Delete,
    /// Makes the tenant's Stripe customer (retried while Stripe is down).
    StripeCustomer,
    /// Runs a fleet migration run (no tenant: the run names its tenants).
    MigrationRun,
    /// Applies the tenant's plan's `max_db_connections` to its role (deduplicated).
    RoleLimits,
    /// Re-seals every secret still under a previous key (no tenant; deduplicated).
    Reseal,
    /// Takes one backup (`payload.backup_id`).
    Backup,
    /// Restores a backup (`payload.backup_id`) into a new database and switches to it.
    Restore,
    /// Moves the tenant to another server (`payload.target_server`).
    Relocate,
}

impl JobKind {
    /// Every kind (a lane's list of kinds is read from it, so a new kind cannot be missed).
    pub const ALL: [Self; 9] = [
        Self::Provision,
        Self::Delete,
        Self::StripeCustomer,
        Self::MigrationRun,
        Self::RoleLimits,
        Self::Reseal,
        Self::Backup,
        Self::Restore,
        Self::Relocate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provision => "provision",
            Self::Delete => "delete",
            Self::StripeCustomer => "stripe_customer",
            Self::MigrationRun => "migration_run",
            Self::RoleLimits => "role_limits",
            Self::Reseal => "reseal",
            Self::Backup => "backup",
            Self::Restore => "restore",
            Self::Relocate => "relocate",
        }
    }

    /// The lane a job of this kind runs in.
    pub fn lane(self) -> Lane {
        match self {
            Self::MigrationRun => Lane::Fleet,
            Self::Provision
            | Self::Delete
            | Self::StripeCustomer
            | Self::RoleLimits
            | Self::Reseal
            | Self::Backup
            | Self::Restore
            | Self::Relocate => Lane::Sagas,
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "provision" => Some(Self::Provision),
            "delete" => Some(Self::Delete),
            "stripe_customer" => Some(Self::StripeCustomer),
            "migration_run" => Some(Self::MigrationRun),
            "role_limits" => Some(Self::RoleLimits),
            "reseal" => Some(Self::Reseal),
            "backup" => Some(Self::Backup),
            "restore" => Some(Self::Restore),
            "relocate" => Some(Self::Relocate),
            _ => None,
        }
    }
}

/// Which jobs a claimer takes. A worker runs each lane in its own loop, so a fleet run
/// that takes minutes never holds up a signup's provisioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Sagas and short fleet jobs: provision, delete, Stripe customer, role limits, reseal,
    /// backup, restore, relocate.
    Sagas,
    /// Fleet-wide work: migration runs.
    Fleet,
}

impl Lane {
    /// The job kinds of the lane, as stored.
    fn kinds(self) -> Vec<&'static str> {
        JobKind::ALL
            .into_iter()
            .filter(|kind| kind.lane() == self)
            .map(JobKind::as_str)
            .collect()
    }
}

/// The channel [`enqueue`] notifies (payload: the job id) so idle workers wake at once
/// instead of at their next poll.
pub const CHANNEL: &str = "jobs_queued";

/// Adds a job, runnable now, and wakes the workers (the notification is delivered when the
/// caller's transaction commits, so no worker looks before the job is visible). Returns
/// its id.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    kind: JobKind,
    tenant_id: Uuid,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH queued AS (INSERT INTO jobs (id, tenant_id, kind, traceparent) \
           VALUES ($1, $2, $3, $5) RETURNING id) \
         SELECT pg_notify($4, id::text) FROM queued",
        [
            id.into(),
            tenant_id.into(),
            kind.as_str().into(),
            CHANNEL.into(),
            trace_context::current().into(),
        ],
    ))
    .await?;
    Ok(id)
}

/// Adds a fleet job (no tenant) carrying `payload`, runnable now, and wakes the workers
/// when the caller's transaction commits. Returns its id.
pub async fn enqueue_fleet(
    db: &impl ConnectionTrait,
    kind: JobKind,
    payload: &[(PayloadKey, serde_json::Value)],
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    let payload: serde_json::Map<String, serde_json::Value> = payload
        .iter()
        .map(|(key, value)| (key.as_str().to_owned(), value.clone()))
        .collect();
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH queued AS (INSERT INTO jobs (id, kind, payload, traceparent) \
           VALUES ($1, $2, $3, $5) RETURNING id) \
         SELECT pg_notify($4, id::text) FROM queued",
        [
            id.into(),
            kind.as_str().into(),
            serde_json::Value::Object(payload).into(),
            CHANNEL.into(),
            trace_context::current().into(),
        ],
    ))
    .await?;
    Ok(id)
}

/// Adds a job of a deduplicated kind (`role_limits`, `reseal`: the kinds the unique index
/// `jobs_one_queued_fleet_job` covers) unless one for the same tenant (or none) is
/// already queued: the queued one has not started, so it will see whatever changed. A
/// running one does not count, since it may have read the state before the change.
/// Returns the new job's id, `None` when one was already queued.
pub async fn enqueue_once(
    db: &impl ConnectionTrait,
    kind: JobKind,
    tenant_id: Option<Uuid>,
) -> Result<Option<Uuid>, DbErr> {
    let id = Uuid::now_v7();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH queued AS (INSERT INTO jobs (id, tenant_id, kind, traceparent) \
               VALUES ($1, $2, $3, $5) ON CONFLICT DO NOTHING RETURNING id) \
             SELECT pg_notify($4, id::text) FROM queued",
            [
                id.into(),
                tenant_id.into(),
                kind.as_str().into(),
                CHANNEL.into(),
                trace_context::current().into(),
            ],
        ))
        .await?;
    Ok(row.map(|_| id))
}

/// Queues a `role_limits` job (deduplicated) for every tenant on plan `code` that has, or
/// may soon have, a role: after the plan's `max_db_connections` changed. Returns how many
/// were queued.
pub async fn enqueue_role_limits_of_plan(
    db: &impl ConnectionTrait,
    code: &str,
) -> Result<u64, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH queued AS (INSERT INTO jobs (id, tenant_id, kind, traceparent) \
               SELECT gen_random_uuid(), id, $2, $4 FROM tenants \
               WHERE plan_code = $1 AND status IN ('pending', 'provisioning', 'active', 'suspended') \
               ON CONFLICT DO NOTHING RETURNING id) \
             SELECT pg_notify($3, id::text) FROM queued",
            [
                code.into(),
                JobKind::RoleLimits.as_str().into(),
                CHANNEL.into(),
                trace_context::current().into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected())
}

/// [`enqueue`] with a payload (inside the caller's transaction, if `db` is one).
pub async fn enqueue_with(
    db: &impl ConnectionTrait,
    kind: JobKind,
    tenant_id: Uuid,
    payload: &[(PayloadKey, serde_json::Value)],
) -> Result<Uuid, DbErr> {
    let id = enqueue(db, kind, tenant_id).await?;
    for (key, value) in payload {
        set_in_payload(db, id, *key, value.clone()).await?;
    }
    Ok(id)
}

/// The uuid under `key` in the job's payload, if it holds one.
pub fn payload_uuid(job: &jobs::Model, key: PayloadKey) -> Option<Uuid> {
    payload_value(job, key).as_str()?.parse().ok()
}

/// How long until the earliest queued job is due (zero when one is due now); `None` when
/// nothing is queued. Lets an idle worker sleep exactly until a retry's backoff ends.
pub async fn next_due_in(db: &impl ConnectionTrait) -> Result<Option<Duration>, DbErr> {
    // No `GREATEST(.., 0)`: it ignores NULL, so "nothing queued" would read as "due now".
    seconds_until(
        db,
        "SELECT EXTRACT(EPOCH FROM min(run_after) - now())::float8 AS secs \
         FROM jobs WHERE state = 'queued'",
    )
    .await
}

/// The `secs` a query answers (how long until something is due; negative is now) as a
/// duration, `None` when it answers NULL (nothing is waiting).
pub(crate) async fn seconds_until(
    db: &impl ConnectionTrait,
    sql: &str,
) -> Result<Option<Duration>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?;
    let secs: Option<f64> = match row {
        Some(row) => row.try_get("", "secs")?,
        None => None,
    };
    Ok(secs.map(|secs| Duration::from_secs_f64(secs.max(0.0))))
}

/// The keys a job's JSON payload may hold, named here only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKey {
    /// The first admin's argon2id hash, when they chose a password at signup; removed
    /// when the tenant becomes active.
    AdminPasswordHash,
    /// The first admin's set-password token, sealed, until the invitation is sent.
    AdminInvite,
    /// The backup a backup job takes or a restore job restores.
    BackupId,
    /// The server a relocation moves the tenant to.
    TargetServer,
    /// The server a relocation moves the tenant from.
    SourceServer,
    /// The database a restore or relocation builds (the tenant's next `db_name`).
    TargetDatabase,
    /// How long the tenant's writes were frozen, in milliseconds (set at the switch).
    FreezeMs,
    /// The migration run a `migration_run` job runs.
    RunId,
}

impl PayloadKey {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdminPasswordHash => "admin_password_hash",
            Self::AdminInvite => "admin_invite",
            Self::BackupId => "backup_id",
            Self::TargetServer => "target_server",
            Self::SourceServer => "source_server",
            Self::TargetDatabase => "target_database",
            Self::FreezeMs => "freeze_ms",
            Self::RunId => "run_id",
        }
    }
}

/// The value under `key` in the job's payload (`Null` when absent).
pub fn payload_value(job: &jobs::Model, key: PayloadKey) -> &serde_json::Value {
    &job.payload[key.as_str()]
}

/// Sets `key` in the job's payload.
pub async fn set_in_payload(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    key: PayloadKey,
    value: serde_json::Value,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE jobs SET payload = payload || jsonb_build_object($2::text, $3::jsonb) \
         WHERE id = $1",
        [job_id.into(), key.as_str().into(), value.into()],
    ))
    .await?;
    Ok(())
}

/// Removes `key` from the job's payload.
pub async fn remove_from_payload(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    key: PayloadKey,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE jobs SET payload = payload - $2::text WHERE id = $1",
        [job_id.into(), key.as_str().into()],
    ))
    .await?;
    Ok(())
}

/// Claims the oldest runnable job of `lane`: queued and due, or running with an expired
/// lease (its worker died). Skips rows other workers hold, so many workers never block
/// each other.
pub async fn claim(
    db: &impl ConnectionTrait,
    worker: &str,
    lease: Duration,
    lane: Lane,
) -> Result<Option<jobs::Model>, DbErr> {
    let sql = "UPDATE jobs SET state = 'running', lease_owner = $1, \
               lease_expires_at = now() + make_interval(secs => $2), \
               attempts = attempts + 1, updated_at = now() \
               WHERE id = (SELECT id FROM jobs \
                 WHERE ((state = 'queued' AND run_after <= now()) \
                    OR (state = 'running' AND lease_expires_at < now())) \
                   AND kind IN (SELECT unnest(string_to_array($3, ','))) \
                 ORDER BY run_after LIMIT 1 FOR UPDATE SKIP LOCKED) \
               RETURNING *";
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [
            worker.into(),
            lease.as_secs_f64().into(),
            lane.kinds().join(",").into(),
        ],
    );
    jobs::Entity::find().from_raw_sql(statement).one(db).await
}

/// Records `step` as done and renews the lease. `false` means the lease was lost (another
/// worker took the job over): the caller must stop at once.
pub async fn complete_step(
    db: &impl ConnectionTrait,
    job: &jobs::Model,
    worker: &str,
    step: &str,
    lease: Duration,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE jobs SET completed_steps = completed_steps || $3::jsonb, current_step = $4, \
             lease_expires_at = now() + make_interval(secs => $5), updated_at = now() \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
            [
                job.id.into(),
                worker.into(),
                json!([step]).into(),
                step.into(),
                lease.as_secs_f64().into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Renews the lease of a job we hold that runs long between two recorded steps (a
/// migration run, a re-seal). `false` means the lease was lost (another worker took the
/// job over): the caller must stop at once.
pub async fn renew_lease(
    db: &impl ConnectionTrait,
    job: &jobs::Model,
    worker: &str,
    lease: Duration,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3), \
             updated_at = now() WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
            [job.id.into(), worker.into(), lease.as_secs_f64().into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Whether a step is already recorded as done for this job.
pub fn step_done(job: &jobs::Model, step: &str) -> bool {
    job.completed_steps
        .as_array()
        .is_some_and(|steps| steps.iter().any(|done| done == step))
}

/// Ends the job in `state` (`succeeded`, `failed` or `cancelled`), if we still hold it.
pub async fn finish(
    db: &impl ConnectionTrait,
    job: &jobs::Model,
    worker: &str,
    state: &str,
    error: Option<&str>,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE jobs SET state = $3, last_error = COALESCE($4, last_error), \
             lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now() \
             WHERE id = $1 AND lease_owner = $2",
            [
                job.id.into(),
                worker.into(),
                state.into(),
                Value::String(error.map(str::to_owned)),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Puts the job back in the queue, runnable after `delay`, remembering the error. A job of
/// a deduplicated kind for which another was queued meanwhile cannot go back (the unique
/// index says so): it ends `cancelled` instead, the queued one doing the same work.
pub async fn retry_later(
    db: &impl ConnectionTrait,
    job: &jobs::Model,
    worker: &str,
    error: &str,
    delay: Duration,
) -> Result<(), DbErr> {
    let retried = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE jobs SET state = 'queued', last_error = $3, lease_owner = NULL, \
         lease_expires_at = NULL, run_after = now() + make_interval(secs => $4), \
         updated_at = now() WHERE id = $1 AND lease_owner = $2",
            [
                job.id.into(),
                worker.into(),
                error.into(),
                delay.as_secs_f64().into(),
            ],
        ))
        .await;
    match retried {
        Err(failure) if common::db::is_unique_violation(&failure) => {
            let superseded = format!("{error} (superseded by a job queued meanwhile)");
            finish(db, job, worker, "cancelled", Some(&superseded)).await?;
            Ok(())
        }
        other => other.map(drop),
    }
}

/// Cancels the tenant's jobs nobody is running: queued ones, and running ones whose lease
/// expired (their worker died). A live worker's job is left to notice by itself.
pub async fn cancel_idle_jobs_of(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    reason: &str,
) -> Result<u64, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE jobs SET state = 'cancelled', last_error = $2, lease_owner = NULL, \
             lease_expires_at = NULL, finished_at = now(), updated_at = now() \
             WHERE tenant_id = $1 AND (state = 'queued' \
                OR (state = 'running' AND lease_expires_at < now()))",
            [tenant_id.into(), reason.into()],
        ))
        .await?;
    Ok(result.rows_affected())
}

/// Exponential backoff for the `attempt`-th try (1-based): 1 s, 2 s, 4 s ... capped at 5 min.
pub fn backoff(attempt: i32) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(9);
    Duration::from_secs(1 << exponent).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(50), Duration::from_secs(300));
        assert_eq!(backoff(0), Duration::from_secs(1));
    }

    #[test]
    fn every_kind_is_in_exactly_one_lane() {
        let sagas = Lane::Sagas.kinds();
        let fleet = Lane::Fleet.kinds();
        assert_eq!(fleet, ["migration_run"]);
        assert!(sagas.contains(&"provision") && !sagas.contains(&"migration_run"));
    }

    #[test]
    fn job_kinds_round_trip_through_their_names() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(JobKind::parse("bake"), None);
    }
}

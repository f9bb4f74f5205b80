//! Moving a tenant to another server, and emptying a server.
//!
//! The saga is `prepare_target -> freeze -> copy -> switch`. Before the freeze the target
//! gets the tenant's role (same password, same connection limit) and an empty database;
//! under the freeze the live database is piped from `pg_dump` into `pg_restore` on the
//! target (row counts from the dump's snapshot), granted as a provisioned database is, and
//! its row counts checked; the switch then points the tenant at the target (see [`crate::copies`]). The
//! source database is kept, closed, for `retired_keep` and then dropped with its role.
//!
//! **Why the whole dump under the freeze** rather than a copy followed by a catch-up of what
//! changed: Postgres can only tell what changed through logical replication, which needs
//! `wal_level = logical` and a restart of the source server, a publication per tenant and a
//! subscription the target's superuser may open; a tenant database of 100,000 rows dumps and
//! restores within the freeze budget (see the README's figures), and the freeze grows with
//! the tenant's size, which the figures let an operator judge.
//!
//! Refused at the request (409): a draining target (`target_draining`), a full one
//! (`target_full`, counting relocations already headed there), the tenant's own server
//! (`same_server`), a tenant already being moved (`tenant_busy`).
//!
//! **Evacuation** ([`evacuate`]): marks a server draining and records how many of its
//! tenants may be relocated at once; [`Provisioner::evacuate_servers`] (every maintenance
//! pass and after each job) keeps that many relocations in flight, each to the active
//! server with the most room, until nothing lives there.

use crate::copies::{Switch, copy_name, create_empty, grant_copy, is_empty, role_of};
use crate::dump;
use crate::error::ProvisionError;
use crate::jobs::{self, JobKind, PayloadKey};
use crate::provision::ensure_role;
use crate::provisioner::Provisioner;
use crate::restore::{movable, target_database};
use crate::servers::{self, PLACEMENT_LOCK};
use crate::steps::StepError;
use crate::tenants::{self, find_locked};
use common::entities::{ServerState, jobs as job_rows, tenants as tenant_rows};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

/// A server with its room for more tenants (live tenants and relocations headed there
/// both count).
struct Room {
    id: Uuid,
    name: String,
    state: String,
    free: i64,
}

const ROOM: &str = "SELECT s.id, s.name, s.state, s.capacity \
       - (SELECT count(*) FROM tenants t WHERE t.server_id = s.id \
            AND t.status NOT IN ('deleted', 'failed')) \
       - (SELECT count(*) FROM jobs j WHERE j.kind = 'relocate' \
            AND j.state IN ('queued', 'running') AND j.payload->>'target_server' = s.id::text) \
       AS free FROM database_servers s";

/// Queues the relocation of an active or suspended tenant to `target` (or, with `None`,
/// to the active server with the most room). Returns the job.
pub async fn request(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    tenant_id: Uuid,
    target: Option<Uuid>,
) -> Result<Uuid, ProvisionError> {
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [PLACEMENT_LOCK.into()],
    ))
    .await?;
    let tenant = find_locked(&txn, tenant_id).await?;
    movable(&txn, &tenant).await?;
    let source = tenant.server_id.unwrap_or_default();
    let target = match target {
        Some(target) => checked_target(&txn, target, source).await?,
        None => roomiest(&txn, source).await?,
    };
    let job_id = queue(&txn, &tenant, source, target).await?;
    txn.commit().await?;
    Ok(job_id)
}

async fn queue(
    txn: &DatabaseTransaction,
    tenant: &tenant_rows::Model,
    source: Uuid,
    target: Uuid,
) -> Result<Uuid, ProvisionError> {
    let payload = [
        (PayloadKey::SourceServer, json!(source)),
        (PayloadKey::TargetServer, json!(target)),
    ];
    let job_id = jobs::enqueue_with(txn, JobKind::Relocate, tenant.id, &payload).await?;
    let database = json!(copy_name(tenant.id, job_id));
    jobs::set_in_payload(txn, job_id, PayloadKey::TargetDatabase, database).await?;
    Ok(job_id)
}

async fn rooms(txn: &DatabaseTransaction, only: Option<Uuid>) -> Result<Vec<Room>, ProvisionError> {
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("{ROOM} WHERE $1::uuid IS NULL OR s.id = $1 ORDER BY free DESC, s.name"),
            [only.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Room {
                id: row.try_get("", "id")?,
                name: row.try_get("", "name")?,
                state: row.try_get("", "state")?,
                free: row.try_get("", "free")?,
            })
        })
        .collect()
}

async fn checked_target(
    txn: &DatabaseTransaction,
    target: Uuid,
    source: Uuid,
) -> Result<Uuid, ProvisionError> {
    let room = rooms(txn, Some(target))
        .await?
        .into_iter()
        .next()
        .ok_or(ProvisionError::ServerNotFound(target))?;
    if room.id == source {
        return Err(ProvisionError::SameServer(room.name));
    }
    if room.state != ServerState::Active.as_str() {
        return Err(ProvisionError::TargetDraining(room.name));
    }
    if room.free <= 0 {
        return Err(ProvisionError::TargetFull(room.name));
    }
    Ok(room.id)
}

async fn roomiest(txn: &DatabaseTransaction, source: Uuid) -> Result<Uuid, ProvisionError> {
    rooms(txn, None)
        .await?
        .into_iter()
        .find(|room| {
            room.id != source && room.state == ServerState::Active.as_str() && room.free > 0
        })
        .map(|room| room.id)
        .ok_or(ProvisionError::NoCapacity)
}

/// Empties a server: it takes no new tenants (`draining`) and its tenants are relocated,
/// `concurrency` (1 to 16) at a time: the first ones queued here, the rest by the workers
/// as relocations end (and at every maintenance interval).
pub async fn evacuate(
    db: &(impl ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>),
    server_id: Uuid,
    concurrency: i32,
) -> Result<(), ProvisionError> {
    if !(1..=16).contains(&concurrency) {
        return Err(ProvisionError::Invalid {
            field: "concurrency",
            message: "must be between 1 and 16".into(),
        });
    }
    servers::set_draining(db, server_id, true).await?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE database_servers SET evacuation_concurrency = $2 WHERE id = $1",
        [server_id.into(), concurrency.into()],
    ))
    .await?;
    keep_evacuating(db, server_id, concurrency).await?;
    Ok(())
}

impl Provisioner {
    pub(crate) async fn relocate(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
    ) -> Result<(), StepError> {
        let target = jobs::payload_uuid(job, PayloadKey::TargetServer)
            .ok_or_else(|| StepError::Permanent("the job names no target server".into()))?;
        let database = target_database(job)?;
        let place = (target, database.as_str());
        self.step(job, "prepare_target", || {
            self.prepare_target(job, tenant_id, place)
        })
        .await?;
        self.step(job, "freeze", || async {
            self.movable_tenant(tenant_id).await?;
            self.freeze(tenant_id, "relocation").await
        })
        .await?;
        self.step(job, "copy", || self.copy_to_target(tenant_id, place))
            .await?;
        self.step(job, "switch", || {
            let switch = Switch {
                tenant_id,
                job_id: job.id,
                server_id: target,
                database: database.clone(),
                schema_version: None,
                purpose: "relocation",
            };
            async move {
                self.open_role_on(target, tenant_id).await?;
                self.switch_to(&switch).await
            }
        })
        .await
    }

    /// `LOGIN` for the tenant's role on the target, right before the switch. A no-op when
    /// the target is another cluster (its role was made with `LOGIN`); when the old and new
    /// server are one cluster registered twice, the freeze's `NOLOGIN` on the source hit
    /// this very role, and the moved tenant could not log in again without this.
    async fn open_role_on(&self, target: Uuid, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        let (_, admin) = self.admin_of_server(target).await?;
        admin
            .batch_execute(&format!("ALTER ROLE \"{}\" LOGIN", role_of(&tenant)))
            .await?;
        Ok(())
    }

    /// The tenant's role on the target (same password and connection limit, so the
    /// runtime's credentials keep working) and the target recorded as building.
    async fn prepare_target(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
        (target, database): (Uuid, &str),
    ) -> Result<(), StepError> {
        let tenant = self.movable_tenant(tenant_id).await?;
        let password = crate::provision::stored_role_password(&self.keyring, &tenant)
            .map_err(ProvisionError::from)?
            .ok_or_else(|| StepError::Permanent("the tenant has no role password".into()))?;
        let limit = self.plan_connection_limit(&tenant.plan_code).await?;
        self.record_building(job.id, tenant_id, target, database, "relocation")
            .await?;
        let (_, admin) = self.admin_of_server(target).await?;
        let role = role_of(&tenant);
        ensure_role(&admin, &role, &password, limit).await?;
        // Made now, so that the freeze does not wait for `CREATE DATABASE`.
        create_empty(&admin, database, &role).await
    }

    /// Under the freeze: the live database piped from `pg_dump` into `pg_restore` on the
    /// target (made empty before the freeze; made again if a previous attempt filled it),
    /// granted, and its row counts checked against those of the dump's snapshot.
    async fn copy_to_target(
        &self,
        tenant_id: Uuid,
        (target, database): (Uuid, &str),
    ) -> Result<(), StepError> {
        let tenant = self.movable_tenant(tenant_id).await?;
        let live = tenant
            .db_name
            .clone()
            .ok_or_else(|| StepError::Permanent("the tenant has no database".into()))?;
        let (source_url, _) = self.server_admin(&tenant).await?;
        let (target_url, admin) = self.admin_of_server(target).await?;
        let role = role_of(&tenant);
        if !is_empty(target_url.expose(), &admin, database).await? {
            create_empty(&admin, database, &role).await?;
        }
        let counts =
            dump::stream_database(source_url.expose(), &live, target_url.expose(), database)
                .await?;
        grant_copy(target_url.expose(), database, &role).await?;
        dump::verify_counts(target_url.expose(), database, &counts).await
    }

    /// Keeps each evacuating server's relocations in flight up to its concurrency, and
    /// ends the evacuation once nothing lives there. Returns the relocation jobs queued.
    pub async fn evacuate_servers(&self) -> Result<Vec<Uuid>, ProvisionError> {
        let evacuating = self
            .control_db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT id, evacuation_concurrency FROM database_servers \
                 WHERE evacuation_concurrency IS NOT NULL ORDER BY name",
            ))
            .await?;
        let mut queued = Vec::new();
        for row in evacuating {
            let server: Uuid = row.try_get("", "id")?;
            let concurrency: i32 = row.try_get("", "evacuation_concurrency")?;
            queued.extend(keep_evacuating(&self.control_db, server, concurrency).await?);
        }
        Ok(queued)
    }
}

/// Queues relocations from an evacuating server up to its concurrency (none when enough
/// are in flight), or ends the evacuation once nothing lives there. Returns the jobs
/// queued. Run when the evacuation is asked for (so the first moves start at once), after
/// every job a worker finishes, and every maintenance interval.
pub(crate) async fn keep_evacuating(
    db: &(impl ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>),
    server: Uuid,
    concurrency: i32,
) -> Result<Vec<Uuid>, ProvisionError> {
    let (in_flight, waiting, living) = evacuation_state(db, server).await?;
    if living == 0 {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE database_servers SET evacuation_concurrency = NULL WHERE id = $1",
            [server.into()],
        ))
        .await?;
        tracing::info!(%server, "server evacuated");
        return Ok(Vec::new());
    }
    let room = usize::try_from(i64::from(concurrency) - in_flight).unwrap_or(0);
    let mut queued = Vec::new();
    for tenant in waiting.into_iter().take(room) {
        match request(db, tenant, None).await {
            Ok(job) => queued.push(job),
            // Changed meanwhile (deleted, moved by hand): the next pass looks again.
            Err(ProvisionError::TenantBusy(_) | ProvisionError::TenantNotActive { .. }) => {}
            Err(ProvisionError::NoCapacity) => {
                tracing::warn!(%server, "evacuation waits: no other server has room");
                break;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(queued)
}

/// Relocations from the server in flight, its movable tenants not yet being moved, and
/// how many tenants still live there.
async fn evacuation_state(
    db: &impl ConnectionTrait,
    server: Uuid,
) -> Result<(i64, Vec<Uuid>, i64), ProvisionError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT (SELECT count(*) FROM jobs WHERE kind = 'relocate' \
                   AND state IN ('queued', 'running') AND payload->>'source_server' = $1::text) \
                   AS in_flight, \
                 (SELECT count(*) FROM tenants WHERE server_id = $1 \
                   AND status NOT IN ('deleted', 'failed')) AS living",
            [server.into()],
        ))
        .await?
        .ok_or(ProvisionError::ServerNotFound(server))?;
    let waiting = tenants_to_move(db, server).await?;
    Ok((
        row.try_get("", "in_flight")?,
        waiting,
        row.try_get("", "living")?,
    ))
}

async fn tenants_to_move(
    db: &impl ConnectionTrait,
    server: Uuid,
) -> Result<Vec<Uuid>, ProvisionError> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT t.id FROM tenants t WHERE t.server_id = $1 \
               AND t.status IN ('active', 'suspended') AND NOT EXISTS (SELECT 1 FROM jobs j \
                 WHERE j.tenant_id = t.id AND j.kind IN ('restore', 'relocate') \
                   AND j.state IN ('queued', 'running')) ORDER BY t.id",
            [server.into()],
        ))
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| row.try_get::<Uuid>("", "id").ok())
        .collect())
}

/// The tenant's current row (for the admin API's answers).
pub async fn tenant(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<tenant_rows::Model, ProvisionError> {
    tenants::find(db, id).await
}

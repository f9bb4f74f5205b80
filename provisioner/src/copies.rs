//! A tenant's databases besides its live one, and write freezes: what a restore and a
//! relocation share.
//!
//! - **Copies** (`tenant_db_copies`): a target is recorded `building` before it is made, so
//!   the reconciler never takes it for an orphan; the switch turns the replaced database
//!   into a `retired` copy (closed to the role, kept `retired_keep`), and
//!   [`Provisioner::drop_due_copies`] drops retired copies when their time is up and
//!   building ones whose job ended without switching (with the role, on a server where the
//!   tenant no longer lives).
//! - **Freeze**: `tenants.frozen_at` (announced, so every runtime answers 503
//!   `tenant_maintenance` for that tenant), then the role is made `NOLOGIN` on the live
//!   database's server and its sessions are ended, so no write can slip through a runtime
//!   that has not heard yet. The switch ends the freeze in the transaction that points the
//!   tenant at its new database; a job that gives up thaws it (LOGIN back, row cleared);
//!   [`Provisioner::thaw_abandoned`] thaws any freeze whose job is gone, so a crash never
//!   leaves a tenant frozen for good.

use crate::dump;
use crate::error::ProvisionError;
use crate::jobs::{self, PayloadKey};
use crate::provision::grant_statements;
use crate::provisioner::Provisioner;
use crate::servers::{self, connect_admin};
use crate::steps::StepError;
use crate::tenants::{self, find_locked, notify_changed};
use common::Secret;
use common::entities::{TenantStatus, jobs as job_rows, tenant_db_copies, tenants as tenant_rows};
use common::ids::TenantId;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement, TransactionTrait,
};
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use tokio_postgres::Client;
use uuid::Uuid;

/// How long ending a frozen role's sessions may take before the step is retried.
const SESSION_STOP_BOUND: Duration = Duration::from_secs(10);

/// Where a restore or relocation points the tenant at its switch.
pub(crate) struct Switch {
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub server_id: Uuid,
    pub database: String,
    /// The restored backup's schema version (a relocation keeps the tenant's).
    pub schema_version: Option<String>,
    /// `restore` or `relocation`.
    pub purpose: &'static str,
}

/// The name of a database a restore or relocation builds: the tenant's base name and 12
/// hex digits of the job's id, so each attempt at a move has its own and the reconciler
/// still knows whose it is.
pub(crate) fn copy_name(tenant_id: Uuid, job_id: Uuid) -> String {
    let job = job_id.simple().to_string();
    format!("{}_{}", TenantId(tenant_id).database_name(), &job[20..])
}

impl Provisioner {
    /// A server's admin URL and an admin connection to it.
    pub(crate) async fn admin_of_server(
        &self,
        server_id: Uuid,
    ) -> Result<(Secret, Client), StepError> {
        let server = servers::find(&self.control_db, server_id).await?;
        let url = servers::admin_url(&self.keyring, &server)?;
        let client = connect_admin(url.expose()).await.map_err(|error| {
            StepError::Transient(format!("server `{}` unreachable: {error}", server.name))
        })?;
        Ok((url, client))
    }

    /// Records the database a job is about to build (before it exists).
    pub(crate) async fn record_building(
        &self,
        job_id: Uuid,
        tenant_id: Uuid,
        server_id: Uuid,
        database: &str,
        purpose: &str,
    ) -> Result<(), StepError> {
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO tenant_db_copies (id, tenant_id, server_id, db_name, state, purpose, job_id) \
                 VALUES ($1, $2, $3, $4, 'building', $5, $6) ON CONFLICT (server_id, db_name) DO NOTHING",
                [
                    Uuid::now_v7().into(),
                    tenant_id.into(),
                    server_id.into(),
                    database.into(),
                    purpose.into(),
                    job_id.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Freezes the tenant's writes: the row (announced), then its role on the live
    /// database's server. Idempotent: a rerun keeps the first `frozen_at`.
    pub(crate) async fn freeze(&self, tenant_id: Uuid, reason: &str) -> Result<(), StepError> {
        let txn = self.control_db.begin().await?;
        let tenant = find_locked(&txn, tenant_id).await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE tenants SET frozen_at = coalesce(frozen_at, now()), \
             freeze_reason = coalesce(freeze_reason, $2), row_version = row_version + 1, \
             updated_at = now() WHERE id = $1",
            [tenant_id.into(), reason.into()],
        ))
        .await?;
        notify_changed(&txn, tenant_id).await?;
        txn.commit().await?;
        let (_, admin) = self.server_admin(&tenant).await?;
        stop_role_sessions(&admin, &role_of(&tenant)).await
    }

    /// Ends a freeze that did not switch: LOGIN back on the live server, then the row.
    pub(crate) async fn thaw(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        if tenant.frozen_at.is_none() {
            return Ok(());
        }
        if tenant.server_id.is_some() {
            let (_, admin) = self.server_admin(&tenant).await?;
            let role = role_of(&tenant);
            admin
                .batch_execute(&format!("ALTER ROLE \"{role}\" LOGIN"))
                .await?;
        }
        let txn = self.control_db.begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE tenants SET frozen_at = NULL, freeze_reason = NULL, \
             row_version = row_version + 1, updated_at = now() WHERE id = $1",
            [tenant_id.into()],
        ))
        .await?;
        notify_changed(&txn, tenant_id).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Makes `database` afresh on a server (dropping what a previous attempt left), owned
    /// by the role and closed to `PUBLIC`, fills it from the dump at `file` and grants the
    /// role what a provisioned database grants.
    pub(crate) async fn build_copy(
        &self,
        admin_url: &str,
        admin: &Client,
        database: &str,
        role: &str,
        file: &Path,
    ) -> Result<(), StepError> {
        create_empty(admin, database, role).await?;
        dump::restore_dump(admin_url, database, file).await?;
        grant_copy(admin_url, database, role).await
    }

    /// Points the tenant at its new database in one transaction: the row (server, name,
    /// schema version), the end of the freeze, the replaced database recorded as retired,
    /// the target's building record gone, how long the freeze lasted on the job, and the
    /// announcement. A rerun after it committed finds the tenant already there.
    pub(crate) async fn switch_to(&self, switch: &Switch) -> Result<(), StepError> {
        let txn = self.control_db.begin().await?;
        let tenant = find_locked(&txn, switch.tenant_id).await?;
        if tenant.server_id == Some(switch.server_id)
            && tenant.db_name.as_deref() == Some(&switch.database)
        {
            return Ok(());
        }
        let now = self.clock.now();
        let freeze_ms = freeze_ms(&txn, switch.tenant_id).await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE tenants SET server_id = $2, db_name = $3, \
             schema_version = coalesce($4, schema_version), frozen_at = NULL, \
             freeze_reason = NULL, row_version = row_version + 1, updated_at = now() \
             WHERE id = $1",
            [
                switch.tenant_id.into(),
                switch.server_id.into(),
                switch.database.clone().into(),
                switch.schema_version.clone().into(),
            ],
        ))
        .await?;
        if let (Some(server), Some(database)) = (tenant.server_id, &tenant.db_name) {
            let drop_after =
                now + chrono::Duration::from_std(self.retired_keep).unwrap_or_default();
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO tenant_db_copies \
                   (id, tenant_id, server_id, db_name, state, purpose, job_id, drop_after) \
                 VALUES ($1, $2, $3, $4, 'retired', $5, $6, $7) \
                 ON CONFLICT (server_id, db_name) DO UPDATE SET state = 'retired', \
                   drop_after = EXCLUDED.drop_after",
                [
                    Uuid::now_v7().into(),
                    switch.tenant_id.into(),
                    server.into(),
                    database.clone().into(),
                    switch.purpose.into(),
                    switch.job_id.into(),
                    drop_after.into(),
                ],
            ))
            .await?;
        }
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM tenant_db_copies WHERE server_id = $1 AND db_name = $2",
            [switch.server_id.into(), switch.database.clone().into()],
        ))
        .await?;
        jobs::set_in_payload(&txn, switch.job_id, PayloadKey::FreezeMs, json!(freeze_ms)).await?;
        notify_changed(&txn, switch.tenant_id).await?;
        txn.commit().await?;
        tracing::info!(tenant = %switch.tenant_id, freeze_ms, purpose = switch.purpose, "switched");
        Ok(())
    }

    /// Compensation of a restore or relocation that gave up (or was cancelled): unless it
    /// switched, its target goes and the tenant is thawed. What cannot be reached now is
    /// left to the sweeps ([`Self::drop_due_copies`], [`Self::thaw_abandoned`]).
    pub(crate) async fn abandon_move(&self, job: &job_rows::Model) -> Result<(), sea_orm::DbErr> {
        let Some(tenant_id) = job.tenant_id else {
            return Ok(());
        };
        let Ok(tenant) = tenants::find(&self.control_db, tenant_id).await else {
            return Ok(());
        };
        let target = jobs::payload_value(job, PayloadKey::TargetDatabase).as_str();
        if target.is_some() && tenant.db_name.as_deref() == target {
            return Ok(());
        }
        let building = tenant_db_copies::Entity::find()
            .filter(tenant_db_copies::Column::JobId.eq(job.id))
            .filter(tenant_db_copies::Column::State.eq("building"))
            .all(&self.control_db)
            .await?;
        for copy in building {
            if let Err(error) = self.drop_copy(&copy).await {
                tracing::warn!(copy = copy.db_name, "target not dropped yet: {error}");
            }
        }
        if let Err(error) = self.thaw(tenant_id).await {
            tracing::warn!(tenant = %tenant_id, "tenant not thawed yet: {error}");
        }
        Ok(())
    }

    /// Drops retired copies whose time is up and building ones whose job ended without
    /// switching. Returns the databases dropped; one that cannot be reached now is tried
    /// again next time.
    pub async fn drop_due_copies(&self) -> Result<Vec<String>, ProvisionError> {
        let due = tenant_db_copies::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT c.* FROM tenant_db_copies c WHERE \
                   (c.state = 'retired' AND c.drop_after <= $1) \
                   OR (c.state = 'building' AND NOT EXISTS (SELECT 1 FROM jobs j \
                       WHERE j.id = c.job_id AND j.state IN ('queued', 'running'))) \
                 ORDER BY c.created_at",
                [self.clock.now().into()],
            ))
            .all(&self.control_db)
            .await?;
        let mut dropped = Vec::new();
        for copy in due {
            match self.drop_copy(&copy).await {
                Ok(()) => dropped.push(copy.db_name),
                Err(error) => tracing::warn!(copy = copy.db_name, "copy not dropped: {error}"),
            }
        }
        Ok(dropped)
    }

    /// Every copy of a tenant dropped now (the delete saga).
    pub(crate) async fn drop_all_copies(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let copies = tenant_db_copies::Entity::find()
            .filter(tenant_db_copies::Column::TenantId.eq(tenant_id))
            .all(&self.control_db)
            .await?;
        for copy in copies {
            self.drop_copy(&copy).await?;
        }
        Ok(())
    }

    /// Drops one copy, and the tenant's role on that server when nothing of the tenant
    /// remains there, then forgets it.
    async fn drop_copy(&self, copy: &tenant_db_copies::Model) -> Result<(), StepError> {
        let (_, admin) = self.admin_of_server(copy.server_id).await?;
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                copy.db_name
            ))
            .await?;
        let tenant = tenants::find(&self.control_db, copy.tenant_id).await?;
        if !self.has_other_presence(&tenant, copy).await? {
            admin
                .batch_execute(&format!("DROP ROLE IF EXISTS \"{}\"", role_of(&tenant)))
                .await?;
        }
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM tenant_db_copies WHERE id = $1",
                [copy.id.into()],
            ))
            .await?;
        Ok(())
    }

    /// Whether the tenant lives on the copy's server or has another copy there (then its
    /// role must stay).
    async fn has_other_presence(
        &self,
        tenant: &tenant_rows::Model,
        copy: &tenant_db_copies::Model,
    ) -> Result<bool, StepError> {
        let alive = !matches!(tenant.status, TenantStatus::Deleted | TenantStatus::Failed);
        if let (true, Some(current)) = (alive, tenant.server_id)
            && self.same_cluster(current, copy.server_id).await?
        {
            return Ok(true);
        }
        let others = tenant_db_copies::Entity::find()
            .filter(tenant_db_copies::Column::TenantId.eq(tenant.id))
            .filter(tenant_db_copies::Column::ServerId.eq(copy.server_id))
            .filter(tenant_db_copies::Column::Id.ne(copy.id))
            .all(&self.control_db)
            .await?;
        Ok(!others.is_empty())
    }

    /// Whether two registered servers are one Postgres cluster (registered twice, as the
    /// contract check and a careless operator may): the tenant's role is shared then, and
    /// dropping it with the old copy would lock the tenant out of its new one. Compared by
    /// the address and port each connection landed on, which needs no privilege.
    async fn same_cluster(&self, first: Uuid, second: Uuid) -> Result<bool, StepError> {
        if first == second {
            return Ok(true);
        }
        const WHERE: &str = "SELECT coalesce(host(inet_server_addr()), 'local') \
             || ':' || coalesce(inet_server_port(), 0)::text";
        let (_, one) = self.admin_of_server(first).await?;
        let (_, other) = self.admin_of_server(second).await?;
        let here: String = one.query_one(WHERE, &[]).await?.get(0);
        let there: String = other.query_one(WHERE, &[]).await?.get(0);
        Ok(here == there)
    }

    /// Thaws every frozen tenant that no queued or running restore or relocation holds
    /// (its worker crashed for good, or its compensation could not reach the server).
    /// Returns the tenants thawed.
    pub async fn thaw_abandoned(&self) -> Result<Vec<Uuid>, ProvisionError> {
        let rows = self
            .control_db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT t.id FROM tenants t WHERE t.frozen_at IS NOT NULL AND NOT EXISTS \
                   (SELECT 1 FROM jobs j WHERE j.tenant_id = t.id \
                      AND j.kind IN ('restore', 'relocate') AND j.state IN ('queued', 'running'))",
            ))
            .await?;
        let mut thawed = Vec::new();
        for row in rows {
            let id: Uuid = row.try_get("", "id")?;
            match self.thaw(id).await {
                Ok(()) => thawed.push(id),
                Err(error) => tracing::warn!(tenant = %id, "frozen tenant not thawed: {error}"),
            }
        }
        Ok(thawed)
    }
}

/// `database` made afresh (dropping what a previous attempt left), empty, owned by the
/// role and closed to `PUBLIC`.
pub(crate) async fn create_empty(
    admin: &Client,
    database: &str,
    role: &str,
) -> Result<(), StepError> {
    let statements = [
        format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
        format!("CREATE DATABASE \"{database}\" OWNER \"{role}\" TEMPLATE template0"),
        servers::close_to_public(database),
    ];
    servers::run_each(admin, &statements).await?;
    Ok(())
}

/// Whether `database` exists and holds no table yet (what [`create_empty`] made).
pub(crate) async fn is_empty(
    admin_url: &str,
    admin: &Client,
    database: &str,
) -> Result<bool, StepError> {
    if !crate::template::database_exists(admin, database).await? {
        return Ok(false);
    }
    let copy = connect_admin(&servers::url_for_database(admin_url, database)).await?;
    let tables: i64 = copy
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public'",
            &[],
        )
        .await?
        .get(0);
    Ok(tables == 0)
}

/// Grants the role what a provisioned database grants, in the filled copy.
pub(crate) async fn grant_copy(
    admin_url: &str,
    database: &str,
    role: &str,
) -> Result<(), StepError> {
    let copy = connect_admin(&servers::url_for_database(admin_url, database)).await?;
    copy.batch_execute(&grant_statements(database, role))
        .await?;
    Ok(())
}

/// How long the tenant has been frozen, by the control database's own clock (the one
/// that set `frozen_at`), in milliseconds; 0 when it is not frozen.
async fn freeze_ms(txn: &impl ConnectionTrait, tenant_id: Uuid) -> Result<i64, StepError> {
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT coalesce((EXTRACT(EPOCH FROM clock_timestamp() - frozen_at) * 1000)::bigint, 0) \
             AS ms FROM tenants WHERE id = $1",
            [tenant_id.into()],
        ))
        .await?;
    Ok(row.map_or(Ok(0), |row| row.try_get::<i64>("", "ms"))?)
}

/// The tenant's role name (set at placement; derived for rows made before).
pub(crate) fn role_of(tenant: &tenant_rows::Model) -> String {
    tenant
        .db_role
        .clone()
        .unwrap_or_else(|| TenantId(tenant.id).database_name())
}

/// `NOLOGIN`, then ends every session of the role and waits until they are gone: a
/// session ended mid-transaction rolls back, so nothing it wrote survives.
async fn stop_role_sessions(admin: &Client, role: &str) -> Result<(), StepError> {
    admin
        .batch_execute(&format!("ALTER ROLE \"{role}\" NOLOGIN"))
        .await?;
    let started = std::time::Instant::now();
    while started.elapsed() < SESSION_STOP_BOUND {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE usename = $1 AND pid <> pg_backend_pid()) ended",
                &[&role],
            )
            .await?
            .get(0);
        if left == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(StepError::Transient(format!(
        "sessions of {role} did not end within {SESSION_STOP_BOUND:?}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_named_after_its_tenant_and_job() {
        let tenant = Uuid::now_v7();
        let job = Uuid::now_v7();
        let name = copy_name(tenant, job);
        assert!(name.starts_with(&TenantId(tenant).database_name()));
        assert_eq!(name.len(), 2 + 32 + 1 + 12);
        assert!(name.len() <= 63, "a Postgres identifier");
        assert_ne!(name, copy_name(tenant, Uuid::now_v7()));
    }
}

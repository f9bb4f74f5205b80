//! The reconciler: compares what the control database says each server holds with what the
//! server really holds (`pg_database`, `pg_roles`), and reports or repairs the drift.
//!
//! - an **orphan** is a tenant database or role (`t_<32 hex>`, and for databases a restore
//!   or relocation made, `t_<32 hex>_<12 hex>`) named after one of *our* tenants, on a
//!   server where it does not belong: not the tenant's live database there, nor one of its
//!   recorded copies (`tenant_db_copies`: a target being built, a database retired by a
//!   switch); left by a crash, a compensation that could not reach the server, a delete cut
//!   short. Repair drops it.
//! - an **unknown** object is a `t_<32 hex>` name that matches none of our tenants. A
//!   server may be shared by several fleets (staging and production on one managed
//!   Postgres; concurrent test runs), and our tenant rows are never deleted, so such an
//!   object is not provably ours: it is reported, never dropped.
//! - a **missing** database belongs to an active or suspended tenant but is not on its
//!   server. Repair cannot invent data: it is reported for a super-admin (restore from a
//!   backup).
//! - an **open** database is any database on the server, ours or not, that accepts
//!   connections and still grants `CONNECT` to `PUBLIC` (a NULL `datacl` does, as does
//!   `postgres` as `initdb` makes it): every tenant role on that server can log in there,
//!   create temporary tables and `LISTEN`/`NOTIFY`. Ours never are; on a shared server the
//!   operator must close the others (`REVOKE CONNECT, TEMPORARY ON DATABASE ... FROM
//!   PUBLIC`). They are reported, never changed: they may not be ours. A database that
//!   accepts no connections (`template0`, our templates) is closed to everyone and left out.
//!
//! The server's catalogue is read *before* the tenants, so a tenant that is being
//! provisioned right now is never mistaken for an orphan: its row (and placement) exists
//! before its database does.

use crate::error::ProvisionError;
use crate::provisioner::Provisioner;
use crate::servers::{self, connect_admin};
use common::entities::database_servers;
use common::ids::TenantId;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Tenant role names: `t_` and a UUID's 32 hex digits (see `TenantId::database_name`).
const TENANT_ROLE_PATTERN: &str = "^t_[0-9a-f]{32}$";
/// Tenant database names: the role's name, or (a restore's or relocation's database) that
/// and `_` and 12 hex digits of the job that made it.
const TENANT_DATABASE_PATTERN: &str = "^t_[0-9a-f]{32}(_[0-9a-f]{12})?$";
/// `t_` and 32 hex digits: the part of a database name that names its tenant.
const TENANT_PREFIX_LEN: usize = 34;

/// One object on one server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerObject {
    pub server: String,
    pub name: String,
}

/// What a pass found (and, when repairing, dropped).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    pub orphan_databases: Vec<ServerObject>,
    pub orphan_roles: Vec<ServerObject>,
    /// Active or suspended tenants whose database is not on their server.
    pub missing_databases: Vec<Uuid>,
    /// Tenant-shaped objects that belong to no tenant of ours (reported, never dropped).
    pub unknown_objects: Vec<ServerObject>,
    /// Databases any role on the server may connect to (reported, never changed).
    pub open_databases: Vec<ServerObject>,
    /// Servers that could not be reached (nothing about them is known).
    pub unreachable_servers: Vec<String>,
}

impl ReconcileReport {
    /// No drift between the control database and the servers (open databases are not
    /// drift: they are a server's configuration, which may not be ours to change).
    pub fn is_clean(&self) -> bool {
        self.orphan_databases.is_empty()
            && self.orphan_roles.is_empty()
            && self.missing_databases.is_empty()
    }

    /// Logs what an operator must act on: drift, and databases open to every role.
    pub fn log(&self) {
        if !self.is_clean() {
            tracing::warn!(report = ?self, "drift between the control database and servers");
        }
        if !self.open_databases.is_empty() {
            tracing::warn!(
                databases = ?self.open_databases,
                "databases open to every role on their server (tenant roles included): \
                 REVOKE CONNECT, TEMPORARY ON DATABASE ... FROM PUBLIC"
            );
        }
    }
}

/// What a server holds, by name.
struct Catalogue {
    databases: HashSet<String>,
    roles: HashSet<String>,
    /// Databases that accept connections from every role.
    open: Vec<String>,
}

/// Databases that accept connections and whose ACL lets `PUBLIC` connect.
const OPEN_DATABASES: &str = "SELECT datname FROM pg_database \
     WHERE datallowconn AND has_database_privilege('public', oid, 'CONNECT') \
     ORDER BY datname";

impl Provisioner {
    /// One pass over every registered server. With `repair`, orphans are dropped.
    pub async fn reconcile(&self, repair: bool) -> Result<ReconcileReport, ProvisionError> {
        let mut report = ReconcileReport::default();
        for server in database_servers::Entity::find()
            .all(&self.control_db)
            .await?
        {
            let Some((admin, catalogue)) = self.read_catalogue(&server).await else {
                report.unreachable_servers.push(server.name.clone());
                continue;
            };
            let ours = self.our_tenants().await?;
            compare(&server, &catalogue, &ours, &mut report);
            if repair {
                drop_orphans(&admin, &server.name, &report).await;
                self.forget_dropped_leftovers(server.id).await?;
            }
        }
        report.orphan_databases.sort();
        report.orphan_roles.sort();
        report.missing_databases.sort();
        report.open_databases.sort();
        Ok(report)
    }

    async fn read_catalogue(
        &self,
        server: &database_servers::Model,
    ) -> Option<(tokio_postgres::Client, Catalogue)> {
        let url = servers::admin_url(&self.keyring, server).ok()?;
        let admin = connect_admin(url.expose()).await.ok()?;
        let names = |sql: &'static str, pattern: &'static str| {
            let admin = &admin;
            async move {
                let rows = admin.query(sql, &[&pattern]).await.ok()?;
                Some(
                    rows.iter()
                        .map(|row| row.get::<_, String>(0))
                        .collect::<HashSet<_>>(),
                )
            }
        };
        let databases = names(
            "SELECT datname FROM pg_database WHERE datname ~ $1",
            TENANT_DATABASE_PATTERN,
        )
        .await?;
        let roles = names(
            "SELECT rolname FROM pg_roles WHERE rolname ~ $1",
            TENANT_ROLE_PATTERN,
        )
        .await?;
        let open = admin.query(OPEN_DATABASES, &[]).await.ok()?;
        let open = open.iter().map(|row| row.get(0)).collect();
        let catalogue = Catalogue {
            databases,
            roles,
            open,
        };
        Some((admin, catalogue))
    }

    /// Every tenant of ours by role name: where it should live (if anywhere), its live
    /// database's name, whether that must exist, and its other databases (a restore's or
    /// relocation's, building or retired) by server.
    async fn our_tenants(&self) -> Result<HashMap<String, Placement>, ProvisionError> {
        let rows = self
            .control_db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT t.id, t.server_id, t.db_name, \
                        t.db_name IS NOT NULL AND t.status IN \
                          ('pending', 'provisioning', 'active', 'suspended', 'deleting') AS lives, \
                        t.status IN ('active', 'suspended') AS required, \
                        coalesce((SELECT jsonb_agg(jsonb_build_array(c.server_id, c.db_name)) \
                          FROM tenant_db_copies c WHERE c.tenant_id = t.id), '[]') AS copies \
                 FROM tenants t",
            ))
            .await?;
        let mut tenants = HashMap::with_capacity(rows.len());
        for row in rows {
            let id: Uuid = row.try_get("", "id")?;
            let copies: serde_json::Value = row.try_get("", "copies")?;
            let placement = Placement {
                tenant_id: id,
                server_id: row.try_get("", "server_id")?,
                database: row.try_get("", "db_name")?,
                lives: row.try_get("", "lives")?,
                required: row.try_get("", "required")?,
                copies: serde_json::from_value(copies).unwrap_or_default(),
            };
            tenants.insert(TenantId(id).database_name(), placement);
        }
        Ok(tenants)
    }

    /// Failed tenants keep their names when compensation could not reach the server; once
    /// the reconciler has dropped those objects, the names go too.
    async fn forget_dropped_leftovers(&self, server_id: Uuid) -> Result<(), ProvisionError> {
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE tenants SET server_id = NULL, db_name = NULL, db_role = NULL, \
                 db_password_ciphertext = NULL, db_password_key_id = NULL, updated_at = now() \
                 WHERE status = 'failed' AND server_id = $1",
                [server_id.into()],
            ))
            .await?;
        Ok(())
    }
}

/// Where one of our tenants should live.
struct Placement {
    tenant_id: Uuid,
    server_id: Option<Uuid>,
    /// Its live database's name.
    database: Option<String>,
    /// Placed, named and not failed or deleted: its objects belong on `server_id`.
    lives: bool,
    /// Active or suspended: its database must exist.
    required: bool,
    /// Its other databases (server, name): building targets and retired sources.
    copies: Vec<(Uuid, String)>,
}

impl Placement {
    fn lives_on(&self, server: Uuid) -> bool {
        self.lives && self.server_id == Some(server)
    }

    /// Whether its role belongs on `server`: it lives there or has a copy there.
    fn role_belongs_on(&self, server: Uuid) -> bool {
        self.lives_on(server) || self.copies.iter().any(|(on, _)| *on == server)
    }

    /// Whether the database `name` belongs on `server`: its live one, or a copy.
    fn database_belongs_on(&self, server: Uuid, name: &str) -> bool {
        (self.lives_on(server) && self.database.as_deref() == Some(name))
            || self
                .copies
                .iter()
                .any(|(on, copy)| *on == server && copy == name)
    }

    /// The live database's name (the role's name for rows made before names could differ).
    fn database_name(&self, role: &str) -> String {
        self.database.clone().unwrap_or_else(|| role.to_owned())
    }
}

/// Sorts this server's tenant-shaped objects into expected, orphan and unknown, and finds
/// the databases that should be here and are not.
fn compare(
    server: &database_servers::Model,
    catalogue: &Catalogue,
    ours: &HashMap<String, Placement>,
    report: &mut ReconcileReport,
) {
    let object = |name: &String| ServerObject {
        server: server.name.clone(),
        name: name.clone(),
    };
    for name in &catalogue.databases {
        match ours.get(name.get(..TENANT_PREFIX_LEN).unwrap_or(name)) {
            None => report.unknown_objects.push(object(name)),
            Some(tenant) if !tenant.database_belongs_on(server.id, name) => {
                report.orphan_databases.push(object(name));
            }
            Some(_) => {}
        }
    }
    for name in &catalogue.roles {
        match ours.get(name) {
            None => report.unknown_objects.push(object(name)),
            Some(tenant) if !tenant.role_belongs_on(server.id) => {
                report.orphan_roles.push(object(name));
            }
            Some(_) => {}
        }
    }
    report
        .open_databases
        .extend(catalogue.open.iter().map(object));
    report.missing_databases.extend(
        ours.iter()
            .filter(|(role, tenant)| {
                tenant.required
                    && tenant.server_id == Some(server.id)
                    && !catalogue.databases.contains(&tenant.database_name(role))
            })
            .map(|(_, tenant)| tenant.tenant_id),
    );
}

/// Drops this server's orphans; a failure is logged and left for the next pass.
async fn drop_orphans(admin: &tokio_postgres::Client, server: &str, report: &ReconcileReport) {
    let on_this_server = |objects: &[ServerObject]| -> Vec<String> {
        objects
            .iter()
            .filter(|object| object.server == server)
            .map(|object| object.name.clone())
            .collect()
    };
    for name in on_this_server(&report.orphan_databases) {
        run_logged(
            admin,
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        )
        .await;
    }
    for name in on_this_server(&report.orphan_roles) {
        run_logged(admin, &format!("DROP ROLE IF EXISTS \"{name}\"")).await;
    }
}

async fn run_logged(admin: &tokio_postgres::Client, sql: &str) {
    match admin.batch_execute(sql).await {
        Ok(()) => tracing::warn!("reconciler: {sql}"),
        Err(error) => tracing::error!("reconciler could not run `{sql}`: {error}"),
    }
}

//! The registry of tenant database servers and placement: which server a new tenant goes
//! to. Admin URLs are stored sealed (AES-256-GCM, bound to the server's id) and never
//! logged; only `host:port` is kept in clear for display.

use crate::error::ProvisionError;
use common::Secret;
use common::crypto::{Keyring, Sealed};
use common::db::is_unique_violation;
use common::entities::database_servers;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement, TransactionTrait,
};
use std::time::Duration;
use uuid::Uuid;

/// Serialises placement decisions so two provisions never take the same last slot.
pub(crate) const PLACEMENT_LOCK: i64 = 0x6572_705f_706c_6163;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A server to register.
#[derive(Debug, Clone)]
pub struct NewServer {
    pub name: String,
    /// A superuser (or CREATEROLE + CREATEDB) URL of the server's `postgres` database.
    pub admin_url: Secret,
    /// How many tenants it may hold.
    pub capacity: i32,
}

/// Registers a server after checking that its admin URL connects.
pub async fn register(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    server: NewServer,
) -> Result<Uuid, ProvisionError> {
    validate(&server)?;
    connect_admin(server.admin_url.expose())
        .await
        .map_err(|error| ProvisionError::ServerUnreachable {
            name: server.name.clone(),
            reason: error.to_string(),
        })?;
    let id = Uuid::now_v7();
    let sealed = keyring.seal_str(server.admin_url.expose(), id.as_bytes())?;
    let host = common::db::describe_url(server.admin_url.expose());
    let host = host.split('/').next().unwrap_or_default().to_owned();
    let inserted = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO database_servers (id, name, host, admin_url_ciphertext, admin_url_key_id, capacity) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            [
                id.into(),
                server.name.clone().into(),
                host.into(),
                sealed.ciphertext.into(),
                sealed.key_id.into(),
                server.capacity.into(),
            ],
        ))
        .await;
    match inserted {
        Ok(_) => Ok(id),
        Err(error) if is_unique_violation(&error) => {
            Err(ProvisionError::ServerNameTaken(server.name))
        }
        Err(error) => Err(error.into()),
    }
}

fn validate(server: &NewServer) -> Result<(), ProvisionError> {
    let name_ok = !server.name.is_empty()
        && server.name.len() <= 63
        && server
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(ProvisionError::Invalid {
            field: "name",
            message: "1-63 characters of [A-Za-z0-9_-]".into(),
        });
    }
    if server.capacity < 0 {
        return Err(ProvisionError::Invalid {
            field: "capacity",
            message: "must not be negative".into(),
        });
    }
    Ok(())
}

/// Changes how many tenants a server may hold (existing tenants stay where they are).
pub async fn set_capacity(
    db: &impl ConnectionTrait,
    id: Uuid,
    capacity: i32,
) -> Result<(), ProvisionError> {
    if capacity < 0 {
        return Err(ProvisionError::Invalid {
            field: "capacity",
            message: "must not be negative".into(),
        });
    }
    update_server(db, id, "capacity = $2", capacity.into()).await
}

/// Stops placing new tenants on a server (`draining`) or starts again (`active`).
pub async fn set_draining(
    db: &impl ConnectionTrait,
    id: Uuid,
    draining: bool,
) -> Result<(), ProvisionError> {
    let state = if draining { "draining" } else { "active" };
    update_server(db, id, "state = $2", state.into()).await
}

async fn update_server(
    db: &impl ConnectionTrait,
    id: Uuid,
    assignment: &str,
    value: sea_orm::Value,
) -> Result<(), ProvisionError> {
    let sql = format!("UPDATE database_servers SET {assignment}, updated_at = now() WHERE id = $1");
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [id.into(), value],
        ))
        .await?;
    if result.rows_affected() == 0 {
        return Err(ProvisionError::ServerNotFound(id));
    }
    Ok(())
}

/// Changes how many connections the runtimes together may open on the server; every
/// runtime resizes its budget when the change is announced (in this transaction).
pub async fn set_connection_budget(
    db: &impl ConnectionTrait,
    id: Uuid,
    budget: i32,
) -> Result<(), ProvisionError> {
    if !(1..=100_000).contains(&budget) {
        return Err(ProvisionError::Invalid {
            field: "connection_budget",
            message: "must be between 1 and 100000".into(),
        });
    }
    update_server(db, id, "connection_budget = $2", budget.into()).await?;
    crate::tenants::notify_server_changed(db, id).await?;
    Ok(())
}

/// Points the server's record at a new address (a failover, a moved instance holding the
/// same databases), after checking that the URL connects; every runtime rebuilds its pools
/// to the server when the change is announced (in this transaction).
pub async fn set_admin_url(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    id: Uuid,
    admin_url: &Secret,
) -> Result<(), ProvisionError> {
    let server = find(db, id).await?;
    connect_admin(admin_url.expose())
        .await
        .map_err(|error| ProvisionError::ServerUnreachable {
            name: server.name.clone(),
            reason: error.to_string(),
        })?;
    let sealed = keyring.seal_str(admin_url.expose(), id.as_bytes())?;
    let host = common::db::describe_url(admin_url.expose());
    let host = host.split('/').next().unwrap_or_default().to_owned();
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE database_servers SET admin_url_ciphertext = $2, admin_url_key_id = $3, \
           host = $4, updated_at = now() WHERE id = $1",
        [
            id.into(),
            sealed.ciphertext.into(),
            sealed.key_id.into(),
            host.into(),
        ],
    ))
    .await?;
    crate::tenants::notify_server_changed(db, id).await?;
    Ok(())
}

/// How many spare databases to keep ready on the server (0: none).
pub async fn set_spare_target(
    db: &impl ConnectionTrait,
    id: Uuid,
    spares: i32,
) -> Result<(), ProvisionError> {
    if !(0..=100).contains(&spares) {
        return Err(ProvisionError::Invalid {
            field: "spare_target",
            message: "must be between 0 and 100".into(),
        });
    }
    update_server(db, id, "spare_target = $2", spares.into()).await
}

/// Whether any active server has room for one more tenant (placement makes the binding
/// decision later, under its lock; this only refuses early when there is clearly none).
pub(crate) async fn has_free_capacity(db: &impl ConnectionTrait) -> Result<bool, ProvisionError> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT EXISTS ({FREE_SERVERS}) AS free"),
        ))
        .await?;
    Ok(row.is_some_and(|row| row.try_get::<bool>("", "free").unwrap_or(false)))
}

/// Active servers with room, most free capacity first. A relocation headed to a server
/// holds its slot already.
const FREE_SERVERS: &str = "SELECT s.* FROM database_servers s \
     LEFT JOIN tenants t ON t.server_id = s.id AND t.status NOT IN ('deleted', 'failed') \
     WHERE s.state = 'active' GROUP BY s.id \
     HAVING s.capacity - count(t.id) - (SELECT count(*) FROM jobs j WHERE j.kind = 'relocate' \
       AND j.state IN ('queued', 'running') AND j.payload->>'target_server' = s.id::text) > 0 \
     ORDER BY s.capacity - count(t.id) DESC, s.name";

/// The server's admin URL, unsealed.
pub fn admin_url(
    keyring: &Keyring,
    server: &database_servers::Model,
) -> Result<Secret, ProvisionError> {
    let sealed = Sealed {
        key_id: server.admin_url_key_id.clone(),
        ciphertext: server.admin_url_ciphertext.clone(),
    };
    Ok(keyring.open_str(&sealed, server.id.as_bytes())?)
}

pub async fn find(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<database_servers::Model, ProvisionError> {
    database_servers::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ProvisionError::ServerNotFound(id))
}

/// Picks the active server with the most free capacity and assigns the tenant to it, in one
/// transaction under a lock, so concurrent placements never overfill a server.
pub(crate) async fn place_tenant(
    db: &DatabaseConnection,
    tenant_id: Uuid,
) -> Result<database_servers::Model, ProvisionError> {
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [PLACEMENT_LOCK.into()],
    ))
    .await?;
    let chosen = database_servers::Entity::find()
        .from_raw_sql(Statement::from_string(
            DbBackend::Postgres,
            format!("{FREE_SERVERS} LIMIT 1"),
        ))
        .one(&txn)
        .await?
        .ok_or(ProvisionError::NoCapacity)?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE tenants SET server_id = $2, updated_at = now() WHERE id = $1",
        [tenant_id.into(), chosen.id.into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(chosen)
}

/// Why an admin connection could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("{}", crate::steps::describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The server took the TCP connection but did not finish the handshake in time (a
    /// hung server, a half-open proxy): without this bound a worker would wait forever.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

/// A connection to a server (or one of its databases) as its admin (see [`connect`]).
pub(crate) async fn connect_admin(url: &str) -> Result<tokio_postgres::Client, ConnectError> {
    connect(url.parse()?).await
}

/// A connection made with `config`, the whole handshake bounded by a timeout; the
/// connection task runs until the client is dropped.
pub(crate) async fn connect(
    mut config: tokio_postgres::Config,
) -> Result<tokio_postgres::Client, ConnectError> {
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("erp-provisioner");
    let (client, connection) =
        tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tokio_postgres::NoTls))
            .await
            .map_err(|_| ConnectError::TimedOut(CONNECT_TIMEOUT))??;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!("provisioner connection closed: {error}");
        }
    });
    Ok(client)
}

/// Runs statements one at a time: `CREATE`/`DROP DATABASE` refuse to share a
/// multi-statement query string, which Postgres runs as one implicit transaction.
pub(crate) async fn run_each(
    client: &tokio_postgres::Client,
    statements: &[String],
) -> Result<(), tokio_postgres::Error> {
    for sql in statements {
        client.batch_execute(sql).await?;
    }
    Ok(())
}

/// The statement that closes a database to `PUBLIC`: afterwards only its owner, roles
/// granted `CONNECT` and superusers may connect. Every database the provisioner makes
/// (template, spare, tenant) gets it right after `CREATE DATABASE`, which never copies the
/// template's ACL: a fresh database lets every role on the server connect and create
/// temporary tables, and a tenant role could then `LISTEN`/`NOTIFY` in it or hold a session
/// that makes a clone of it fail.
pub fn close_to_public(database: &str) -> String {
    format!("REVOKE ALL ON DATABASE \"{database}\" FROM PUBLIC")
}

/// Drops a tenant's database (closing its sessions) and then its role, if they exist.
pub async fn drop_database_and_role(
    admin: &tokio_postgres::Client,
    name: &str,
) -> Result<(), tokio_postgres::Error> {
    let statements = [
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        format!("DROP ROLE IF EXISTS \"{name}\""),
    ];
    run_each(admin, &statements).await
}

/// The same server URL pointing at another database.
pub fn url_for_database(admin_url: &str, database: &str) -> String {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_pointed_at_another_database() {
        assert_eq!(
            url_for_database("postgres://a:b@h:1/postgres?sslmode=disable", "t_1"),
            "postgres://a:b@h:1/t_1?sslmode=disable"
        );
        assert_eq!(url_for_database("postgres://h:1", "x"), "postgres://h:1/x");
    }

    #[test]
    fn server_names_and_capacities_are_checked() {
        let server = |name: &str, capacity| NewServer {
            name: name.into(),
            admin_url: Secret::new("postgres://h/postgres"),
            capacity,
        };
        assert!(validate(&server("pg-1", 10)).is_ok());
        assert!(validate(&server("", 10)).is_err());
        assert!(validate(&server("bad name", 10)).is_err());
        assert!(validate(&server("pg-1", -1)).is_err());
    }
}

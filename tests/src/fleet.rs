//! A provisioning fleet for tests: a fresh control database with the default plans,
//! Postgres servers registered in it, workers (provisioners) over it, and helpers to
//! inspect what they made. Dropping it removes every tenant database, role and spare the
//! fleet made on every server it registered, so tests sharing a server leave it clean.

use crate::postgres::TestDb;
use common::Secret;
use common::crypto::{Keyring, Sealed};
use common::entities::{jobs, tenants};
use common::ids::TenantId;
use provisioner::servers::{self, NewServer};
use provisioner::tenants::{Created, NewTenant};
use provisioner::{Executed, ProvisionError, Provisioner};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

/// The key the fleet seals secrets with (the same one the platform tests use).
pub fn test_keyring() -> Keyring {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(crate::app::TEST_ENCRYPTION_KEY)
        .expect("test key is base64");
    Keyring::new("test", bytes.try_into().expect("32 bytes"))
}

pub struct Fleet {
    pub control: DatabaseConnection,
    pub keyring: Keyring,
    pub backup_dir: PathBuf,
    /// Admin URLs of every server registered, for clean-up.
    server_urls: Mutex<Vec<(Uuid, String)>>,
    /// Kept last: the control database outlives everything above.
    pub db: TestDb,
}

impl Fleet {
    /// A control database (migrated, default plans seeded) and no servers yet.
    pub async fn new() -> Fleet {
        crate::init();
        let db = TestDb::control().await;
        let control = db.connect().await;
        control_plane::bootstrap::seed_plans(&control)
            .await
            .expect("seed plans");
        let backup_dir = std::env::temp_dir().join(format!("erp-test-backups-{}", db.name()));
        Fleet {
            control,
            keyring: test_keyring(),
            backup_dir,
            server_urls: Mutex::new(Vec::new()),
            db,
        }
    }

    /// A fleet with the primary test server registered as `pg-1`.
    pub async fn on_primary(capacity: i32) -> Fleet {
        let fleet = Fleet::new().await;
        fleet
            .register("pg-1", crate::Server::primary().admin_url(), capacity)
            .await;
        fleet
    }

    /// A worker named `name` over this fleet's control database.
    pub fn worker(&self, name: &str) -> Provisioner {
        Provisioner::new(self.control.clone(), self.keyring.clone(), name)
            .with_backup_dir(self.backup_dir.clone())
    }

    /// Registers a server by its superuser URL.
    pub async fn register(&self, name: &str, admin_url: &str, capacity: i32) -> Uuid {
        self.register_behind(name, admin_url, admin_url, capacity)
            .await
    }

    /// Registers a server reached through `admin_url` (a proxy, say) whose real address,
    /// used for clean-up, is `real_url`.
    pub async fn register_behind(
        &self,
        name: &str,
        admin_url: &str,
        real_url: &str,
        capacity: i32,
    ) -> Uuid {
        let server = NewServer {
            name: name.into(),
            admin_url: Secret::new(admin_url),
            capacity,
        };
        sweep_stale_tenant_objects(real_url).await;
        let id = servers::register(&self.control, &self.keyring, server)
            .await
            .expect("server registers");
        self.server_urls
            .lock()
            .expect("server list")
            .push((id, real_url.to_owned()));
        id
    }

    /// The id of the server registered as `name`.
    pub async fn server_id(&self, name: &str) -> Uuid {
        let row = self
            .control
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id FROM database_servers WHERE name = $1",
                [name.into()],
            ))
            .await
            .expect("read servers")
            .expect("the server is registered");
        row.try_get("", "id").expect("an id")
    }

    /// Creates a tenant on the `trial` plan with an admin at `admin@<slug>.example`.
    pub async fn create_tenant(&self, slug: &str) -> Result<Created, ProvisionError> {
        self.create_tenant_on(slug, "trial").await
    }

    pub async fn create_tenant_on(
        &self,
        slug: &str,
        plan: &str,
    ) -> Result<Created, ProvisionError> {
        provisioner::tenants::create(
            &self.control,
            NewTenant {
                slug: slug.into(),
                name: format!("{slug} Ltd"),
                plan: plan.into(),
                admin_email: format!("admin@{slug}.example"),
                admin_password_hash: None,
            },
        )
        .await
    }

    /// Runs jobs on `worker` until none is due; returns what each call did (not the final
    /// `Idle`). Gives up after 50 calls, which no test needs.
    pub async fn run_jobs(&self, worker: &Provisioner) -> Vec<Executed> {
        let mut outcomes = Vec::new();
        for _ in 0..50 {
            match worker.try_execute_job().await.expect("job queue reachable") {
                Executed::Idle => return outcomes,
                outcome => outcomes.push(outcome),
            }
        }
        panic!("jobs never ran out: {outcomes:?}");
    }

    /// Runs jobs on `worker` until none is due, however many that takes; returns how many
    /// ran. For bulk runs, where several workers share the queue.
    pub async fn run_jobs_to_end(&self, worker: &Provisioner) -> usize {
        let mut ran = 0;
        while worker.try_execute_job().await.expect("job queue reachable") != Executed::Idle {
            ran += 1;
        }
        ran
    }

    /// Creates a tenant and provisions it to `active` with a fresh worker.
    pub async fn active_tenant(&self, slug: &str) -> tenants::Model {
        let created = self.create_tenant(slug).await.expect("tenant created");
        self.run_jobs(&self.worker("setup")).await;
        let tenant = self.tenant(created.tenant_id).await;
        assert_eq!(
            tenant.status.as_str(),
            "active",
            "{slug}: {:?}",
            tenant.failure_reason
        );
        tenant
    }

    pub async fn tenant(&self, id: Uuid) -> tenants::Model {
        tenants::Entity::find_by_id(id)
            .one(&self.control)
            .await
            .expect("read tenant")
            .expect("tenant exists")
    }

    pub async fn job(&self, id: Uuid) -> jobs::Model {
        jobs::Entity::find_by_id(id)
            .one(&self.control)
            .await
            .expect("read job")
            .expect("job exists")
    }

    /// As if every lease had run out: crashed workers' jobs become claimable.
    pub async fn expire_leases(&self) {
        self.exec(
            "UPDATE jobs SET lease_expires_at = now() - interval '1 second' \
                   WHERE state = 'running'",
        )
        .await;
    }

    /// As if every backoff had passed: queued jobs become due.
    pub async fn make_jobs_due(&self) {
        self.exec("UPDATE jobs SET run_after = now() WHERE state = 'queued'")
            .await;
    }

    pub async fn exec(&self, sql: &str) {
        self.control
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let row = self
            .control
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get_by_index(0).expect("a count")
    }

    /// A superuser connection to the tenant's live database (its current `db_name`) on the
    /// server at `server_url`.
    pub async fn live_db(&self, tenant_id: Uuid, server_url: &str) -> tokio_postgres::Client {
        let tenant = self.tenant(tenant_id).await;
        let database = tenant.db_name.expect("the tenant has a database");
        connect(&crate::postgres::with_database(server_url, &database)).await
    }

    /// The tenant role's password, opened from the control database.
    pub fn role_password(&self, tenant: &tenants::Model) -> Secret {
        let sealed = Sealed {
            key_id: tenant.db_password_key_id.clone().expect("password stored"),
            ciphertext: tenant
                .db_password_ciphertext
                .clone()
                .expect("password stored"),
        };
        self.keyring
            .open_str(&sealed, tenant.id.as_bytes())
            .expect("password opens")
    }

    /// The URL a tenant's own role uses for `database` on the server at `server_url`.
    pub fn tenant_url(&self, tenant: &tenants::Model, server_url: &str, database: &str) -> String {
        let role = TenantId(tenant.id).database_name();
        role_url(server_url, &role, &self.role_password(tenant), database)
    }
}

/// The URL `role` with `password` uses for `database` on the server at `server_url` (a
/// superuser URL: its host and port are kept, its credentials replaced).
pub fn role_url(server_url: &str, role: &str, password: &Secret, database: &str) -> String {
    let (scheme, rest) = server_url.split_once("://").expect("a URL");
    let host_and_path = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = host_and_path.split('/').next().unwrap_or_default();
    format!("{scheme}://{role}:{}@{host}/{database}", password.expose())
}

/// A superuser connection (tokio-postgres) to a server's maintenance database.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    try_connect(url)
        .await
        .unwrap_or_else(|error| panic!("connect: {error}"))
}

pub async fn try_connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Adds `rows` settings (`bulk-<n>`, each about 100 bytes of hardly compressible JSON) to
/// a tenant database.
pub async fn fill_settings(db: &tokio_postgres::Client, rows: i64) {
    db.execute(
        "INSERT INTO settings (key, value) SELECT 'bulk-' || g, \
           jsonb_build_object('n', g, 'note', md5(g::text) || md5((g * 7)::text)) \
         FROM generate_series((SELECT count(*) FROM settings) + 1, \
                              (SELECT count(*) FROM settings) + $1) g",
        &[&rows],
    )
    .await
    .expect("settings inserted");
}

/// The rows of `table` in a tenant database.
pub async fn rows_of(db: &tokio_postgres::Client, table: &str) -> i64 {
    db.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0)
}

/// Asserts that the tenant's database and role are both gone from the server.
pub async fn assert_dropped(admin: &tokio_postgres::Client, tenant: Uuid) {
    let name = TenantId(tenant).database_name();
    assert!(
        !exists(admin, "database", &name).await,
        "database {name} remains"
    );
    assert!(!exists(admin, "role", &name).await, "role {name} remains");
}

/// Whether a database / role exists on the server.
pub async fn exists(admin: &tokio_postgres::Client, catalogue: &str, name: &str) -> bool {
    let sql = match catalogue {
        "database" => "SELECT 1 FROM pg_database WHERE datname = $1",
        _ => "SELECT 1 FROM pg_roles WHERE rolname = $1",
    };
    admin
        .query_opt(sql, &[&name])
        .await
        .expect("catalogue query")
        .is_some()
}

impl Drop for Fleet {
    /// Drops every tenant database and role named after this fleet's tenants, and this
    /// fleet's spares, on every server it registered.
    fn drop(&mut self) {
        let servers = self
            .server_urls
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        if servers.is_empty() {
            return;
        }
        let control_url = self.db.url();
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(clean_servers(control_url, servers))
        })
        .join();
        if !matches!(cleaned, Ok(Some(()))) {
            eprintln!("a fleet's tenant databases were not all dropped");
        }
    }
}

/// Drops the tenant databases, roles and spares that the platform's own `default` server
/// (registered from `provisioner.default_server_url` = the primary test server) holds for
/// the control database at `control_url`. Call it once the worker has stopped.
pub async fn clean_default_server(control_url: &str) {
    let primary = crate::Server::primary().admin_url().to_owned();
    let servers = default_server_id(control_url)
        .await
        .map(|id| (id, primary))
        .into_iter()
        .collect();
    if clean_servers(control_url.to_owned(), servers)
        .await
        .is_none()
    {
        eprintln!("the default server's tenant databases were not all dropped");
    }
}

/// The id of server `default` in the control database at `control_url`, once registered.
pub async fn default_server_id(control_url: &str) -> Option<Uuid> {
    let control = try_connect(control_url).await.expect("control database");
    let rows = control
        .query(
            "SELECT id FROM database_servers WHERE name = 'default'",
            &[],
        )
        .await
        .expect("servers");
    rows.first().map(|row| row.get(0))
}

pub(crate) async fn clean_servers(control_url: String, servers: Vec<(Uuid, String)>) -> Option<()> {
    let control = try_connect(&control_url).await.ok()?;
    let rows = control.query("SELECT id FROM tenants", &[]).await.ok()?;
    let names: Vec<String> = rows
        .iter()
        .map(|row| TenantId(row.get(0)).database_name())
        .collect();
    // Databases a restore or relocation made have names of their own (`t_<id>_<job>`);
    // they go before the roles, which hold grants in them.
    let copies = control
        .query(
            "SELECT db_name FROM tenants WHERE db_name IS NOT NULL \
             UNION SELECT db_name FROM tenant_db_copies",
            &[],
        )
        .await
        .ok()?;
    let copies: Vec<String> = copies.iter().map(|row| row.get(0)).collect();
    for (server_id, url) in servers {
        let connecting = tokio::time::timeout(Duration::from_secs(10), try_connect(&url));
        let Ok(Ok(admin)) = connecting.await else {
            continue;
        };
        for name in &copies {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            admin.batch_execute(&sql).await.ok()?;
        }
        let spares = provisioner::list_spares(&admin, server_id)
            .await
            .unwrap_or_default();
        for name in names.iter().chain(&spares) {
            provisioner::servers::drop_database_and_role(&admin, name)
                .await
                .ok()?;
        }
    }
    Some(())
}

/// Listens on `channel` of the database at `url`; payloads arrive on the receiver.
pub async fn listen(url: &str, channel: &str) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use futures_util::StreamExt as _;
    let config: tokio_postgres::Config = url.parse().expect("a URL");
    let (client, mut connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(note) = message {
                let _ = sender.send(note.payload().to_owned());
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .expect("listen");
    // The client must live as long as the connection task is wanted.
    std::mem::forget(client);
    receiver
}

/// Tenant objects older than this were left by a killed test run (no test runs so long).
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Once per process and server: drops tenant databases and roles that a killed earlier run
/// left behind. Tenant ids are UUIDv7, so a name tells when its tenant was created.
async fn sweep_stale_tenant_objects(server_url: &str) {
    static SWEPT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    {
        let Ok(mut swept) = SWEPT.lock() else { return };
        if swept.iter().any(|url| url == server_url) {
            return;
        }
        swept.push(server_url.to_owned());
    }
    let Ok(admin) = try_connect(server_url).await else {
        return;
    };
    let sql = "SELECT datname FROM pg_database WHERE datname ~ '^t_[0-9a-f]{32}(_[0-9a-f]{12})?$' \
               UNION SELECT rolname FROM pg_roles WHERE rolname ~ '^t_[0-9a-f]{32}$'";
    let Ok(rows) = admin.query(sql, &[]).await else {
        return;
    };
    let stale = rows
        .iter()
        .map(|row| row.get::<_, String>(0))
        .filter(|name| is_stale(name));
    for name in stale {
        if let Err(error) = provisioner::servers::drop_database_and_role(&admin, &name).await {
            eprintln!("could not sweep {name}: {error}");
        }
    }
}

fn is_stale(name: &str) -> bool {
    let created = name
        .strip_prefix("t_")
        .and_then(|hex| Uuid::try_parse(hex.get(..32)?).ok())
        .and_then(|id| id.get_timestamp())
        .map(|stamp| {
            let (secs, nanos) = stamp.to_unix();
            std::time::UNIX_EPOCH + Duration::new(secs, nanos)
        });
    created.is_some_and(|at| at.elapsed().is_ok_and(|age| age > STALE_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tenant_objects_older_than_an_hour_are_stale() {
        let fresh = TenantId(Uuid::now_v7()).database_name();
        assert!(!is_stale(&fresh));
        let old = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            1_600_000_000,
            0,
        ));
        assert!(is_stale(&TenantId(old).database_name()));
        assert!(!is_stale("t_not-a-uuid"));
        assert!(!is_stale("erp_control"));
    }
}

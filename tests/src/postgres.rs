//! Real Postgres for tests: which servers to use, template databases, and a database per
//! test that is dropped when the test ends.
//!
//! The primary server is `TEST_DATABASE_URL` when set, else the local server at
//! 127.0.0.1:5432 when it answers, else a private cluster this harness starts. The second
//! server (for multi-server tests) is `TEST_SECOND_DATABASE_URL` when set, else a private
//! cluster started once per run (shared by every test process through a lock in
//! `scripts/pg-cluster`) and stopped by `scripts/test` at the end.
//!
//! Environment variables read here: `TEST_DATABASE_URL`, `TEST_SECOND_DATABASE_URL`,
//! `TEST_PG_DIR` (where private clusters live; default `$TMPDIR/erp-test-pg-$USER`).

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement};
use sea_orm_migration::MigratorTrait;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// Every database this harness creates starts with this; the sweep relies on it.
const TEST_DB_PREFIX: &str = "erp_test_";
const TEMPLATE_LOCK: i64 = 0x6572_705f_746d_706c;

/// A Postgres server the tests may use, named by its superuser URL.
#[derive(Debug, Clone)]
pub struct Server {
    admin_url: String,
}

static PRIMARY: OnceLock<Server> = OnceLock::new();
static SECOND: OnceLock<Server> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Server {
    /// The primary server (see the module docs for how it is chosen).
    pub fn primary() -> &'static Server {
        PRIMARY.get_or_init(|| {
            let url = std::env::var("TEST_DATABASE_URL")
                .ok()
                .or_else(local_server_url)
                .unwrap_or_else(|| start_private_cluster("primary"));
            Server { admin_url: url }
        })
    }

    /// A second, independent server, started once per run when not given.
    pub fn second() -> &'static Server {
        SECOND.get_or_init(|| {
            let url = std::env::var("TEST_SECOND_DATABASE_URL")
                .unwrap_or_else(|_| start_private_cluster("second"));
            Server { admin_url: url }
        })
    }

    /// The superuser URL of the `postgres` maintenance database.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The URL of another database on this server, same credentials.
    pub fn url_for(&self, database: &str) -> String {
        with_database(&self.admin_url, database)
    }

    /// A superuser connection to the maintenance database.
    pub async fn connect_admin(&self) -> Result<DatabaseConnection, DbErr> {
        Database::connect(self.admin_url.clone()).await
    }

    /// A fresh database cloned from the template of `M` (migrated once per run and server).
    pub async fn fresh_database<M: MigratorTrait>(&self, kind: &str) -> TestDb {
        let admin = self.connect_admin().await.expect("connect as superuser");
        sweep_leftovers(self, &admin).await;
        let template = ensure_template::<M>(self, &admin, kind).await;
        let name = next_name();
        clone_database(&admin, &template, &name).await;
        let _ = admin.close().await;
        TestDb {
            server: self.clone(),
            name,
        }
    }

    /// An empty database (no schema), for tests that migrate it themselves.
    pub async fn empty_database(&self) -> TestDb {
        let admin = self.connect_admin().await.expect("connect as superuser");
        let name = next_name();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        close_to_public(&admin, &name).await;
        let _ = admin.close().await;
        TestDb {
            server: self.clone(),
            name,
        }
    }
}

/// One test's database: dropped (connections and all) when this value is dropped.
#[derive(Debug)]
pub struct TestDb {
    server: Server,
    name: String,
}

impl TestDb {
    /// A fresh control database (migrated) on the primary server.
    pub async fn control() -> TestDb {
        Server::primary()
            .fresh_database::<migrations::control::Migrator>("control")
            .await
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> String {
        self.server.url_for(&self.name)
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(self.url())
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, name) = (self.server.admin_url.clone(), self.name.clone());
        // Drop runs outside async; a short-lived runtime on its own thread does the work.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let admin = Database::connect(url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                admin.execute_unprepared(&sql).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!(
                "test database {} was not dropped; the next run sweeps it",
                self.name
            );
        }
    }
}

/// `erp_test_<pid>_<n>`: the pid lets a later run tell leftovers from live databases.
fn next_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TEST_DB_PREFIX}{}_{n}", std::process::id())
}

pub fn with_database(url: &str, database: &str) -> String {
    provisioner::servers::url_for_database(url, database)
}

/// The local server, when it answers as superuser `postgres` without a password.
fn local_server_url() -> Option<String> {
    let url = "postgres://postgres@127.0.0.1:5432/postgres".to_owned();
    let address = "127.0.0.1:5432".parse().ok()?;
    std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_millis(300)).ok()?;
    Some(url)
}

fn private_cluster_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("TEST_PG_DIR") {
        return PathBuf::from(dir);
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    std::env::temp_dir().join(format!("erp-test-pg-{user}"))
}

/// Starts (or finds running) a private cluster through `scripts/pg-cluster`, tuned for
/// tests (no fsync: a crash loses nothing a test needs).
fn start_private_cluster(name: &str) -> String {
    start_private_cluster_with(name, "")
}

/// Like the private clusters above, under `$TEST_PG_DIR/<name>`, with `extra_options`
/// (postgres `-c` options) added: for a test that owns a server, to stop and start it.
/// Blocks while `scripts/pg-cluster` runs; answers the superuser URL.
pub fn start_private_cluster_with(name: &str, extra_options: &str) -> String {
    let dir = private_cluster_root().join(name);
    let output = Command::new(pg_cluster_script())
        .arg("start")
        .arg(&dir)
        .env("PG_EXTRA_OPTS", extra_options)
        .env("PG_FSYNC", "off")
        .env("PG_SYNCHRONOUS_COMMIT", "off")
        .env("PG_FULL_PAGE_WRITES", "off")
        .output()
        .expect("run scripts/pg-cluster");
    assert!(
        output.status.success(),
        "scripts/pg-cluster start {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Stops (fast shutdown: sessions are ended) the private cluster `name`, if running.
pub fn stop_private_cluster(name: &str) {
    let dir = private_cluster_root().join(name);
    let output = Command::new(pg_cluster_script())
        .arg("stop")
        .arg(&dir)
        .output()
        .expect("run scripts/pg-cluster");
    assert!(
        output.status.success(),
        "scripts/pg-cluster stop {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn pg_cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster")
}

/// Builds `erp_test_tmpl_<kind>_<newest migration>` once per server: migrated under an
/// advisory lock (several test processes may race), then frozen as a template that accepts
/// no connections, so cloning it never fails on a stray session.
async fn ensure_template<M: MigratorTrait>(
    server: &Server,
    admin: &DatabaseConnection,
    kind: &str,
) -> String {
    let newest = M::migrations()
        .last()
        .map(|m| m.name().to_owned())
        .unwrap_or_default();
    let template = format!(
        "{TEST_DB_PREFIX}tmpl_{kind}_{}",
        short_hash(&newest, M::migrations().len())
    );
    lock(admin, true).await;
    if !database_exists(admin, &template).await {
        let building = format!("{template}_building");
        let sql = format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)");
        admin
            .execute_unprepared(&sql)
            .await
            .expect("drop stale build");
        let sql = format!("CREATE DATABASE {building}");
        admin
            .execute_unprepared(&sql)
            .await
            .expect("create template");
        let db = Database::connect(server.url_for(&building))
            .await
            .expect("connect to template");
        M::up(&db, None).await.expect("migrate template");
        db.close().await.expect("close template connection");
        for sql in [
            format!("ALTER DATABASE {building} RENAME TO {template}"),
            format!("ALTER DATABASE {template} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"),
        ] {
            admin
                .execute_unprepared(&sql)
                .await
                .expect("freeze template");
        }
    }
    lock(admin, false).await;
    template
}

fn short_hash(newest: &str, count: usize) -> String {
    let digest = newest.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{count}_{:08x}", digest as u32)
}

async fn lock(admin: &DatabaseConnection, take: bool) {
    let function = if take {
        "pg_advisory_lock"
    } else {
        "pg_advisory_unlock"
    };
    admin
        .execute_unprepared(&format!("SELECT {function}({TEMPLATE_LOCK})"))
        .await
        .expect("template lock");
}

async fn database_exists(admin: &DatabaseConnection, name: &str) -> bool {
    let sql = format!("SELECT 1 AS one FROM pg_database WHERE datname = '{name}'");
    let row = admin
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("look up database");
    row.is_some()
}

async fn clone_database(admin: &DatabaseConnection, template: &str, name: &str) {
    let sql = format!("CREATE DATABASE {name} TEMPLATE {template}");
    admin
        .execute_unprepared(&sql)
        .await
        .expect("clone template");
    close_to_public(admin, name).await;
}

/// Closes a test database to `PUBLIC`, as the platform closes its own: `CREATE DATABASE`
/// never copies the template's ACL, so a clone of the migrated control template would
/// otherwise be open to every role, unlike the migrated control database it stands for.
async fn close_to_public(admin: &DatabaseConnection, name: &str) {
    admin
        .execute_unprepared(&provisioner::servers::close_to_public(name))
        .await
        .expect("close the test database to PUBLIC");
}

/// Drops test databases whose creating process is gone (a crashed or killed earlier run).
/// Runs once per process and server.
async fn sweep_leftovers(server: &Server, admin: &DatabaseConnection) {
    static SWEPT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    {
        let Ok(mut swept) = SWEPT.lock() else { return };
        if swept.contains(&server.admin_url) {
            return;
        }
        swept.push(server.admin_url.clone());
    }
    let sql = format!("SELECT datname FROM pg_database WHERE datname LIKE '{TEST_DB_PREFIX}%'");
    let rows = admin
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap_or_default();
    let leftovers = rows
        .iter()
        .filter_map(|row| row.try_get::<String>("", "datname").ok())
        .filter(|name| is_leftover(name));
    for name in leftovers {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        if let Err(error) = admin.execute_unprepared(&sql).await {
            eprintln!("could not sweep {name}: {error}");
        }
    }
}

/// A per-test database whose pid is no longer running.
fn is_leftover(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TEST_DB_PREFIX) else {
        return false;
    };
    let Some((pid, _)) = rest.split_once('_') else {
        return false;
    };
    match pid.parse::<u32>() {
        Ok(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gets_another_database_and_keeps_its_options() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }

    #[test]
    fn only_databases_of_dead_processes_are_leftovers() {
        let mine = format!("{TEST_DB_PREFIX}{}_0", std::process::id());
        assert!(!is_leftover(&mine));
        assert!(is_leftover(&format!("{TEST_DB_PREFIX}4000000000_3")));
        assert!(!is_leftover(&format!("{TEST_DB_PREFIX}tmpl_control_7_abc")));
        assert!(!is_leftover("erp_control"));
    }
}

//! A tenant role as an attacker would use it: logged in with its own password (opened from
//! the control database as the runtime does), it tries every other database on its server,
//! on both servers of the two-server harness. The platform's own databases refuse it; the
//! only ones it reaches are those someone else left open, and those are exactly the ones
//! the reconciler reports. Notifications stay inside the database they are sent in, and
//! the control migration closes the control database.

use common::entities::tenants::Model as Tenant;
use common::ids::TenantId;
use provisioner::ReconcileReport;
use provisioner::servers;
use std::collections::BTreeSet;
use std::time::Duration;
use system_tests::fleet::{self, Fleet};
use system_tests::{Server, TestDb};
use uuid::Uuid;

/// What happened when the tenant role tried to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Connected,
    /// Refused, with the SQLSTATE (`42501`: no CONNECT privilege; `55000`: the database
    /// accepts no connections; `3D000`: dropped meanwhile by someone else).
    Refused(String),
}

/// One registered server of the fleet under attack.
struct Target {
    name: &'static str,
    id: Uuid,
    admin_url: &'static str,
}

#[tokio::test]
async fn a_tenant_role_reaches_its_own_database_and_nothing_else_on_either_server() {
    let fleet = Fleet::new().await;
    let targets = [
        target(&fleet, "pg-1", Server::primary()).await,
        target(&fleet, "pg-2", Server::second()).await,
    ];
    // A database someone else made on each server and left open (as CREATE DATABASE does).
    let strangers = [
        left_open(Server::primary()).await,
        left_open(Server::second()).await,
    ];
    // Equal free capacity alternates placement: two tenants on each server.
    let mut tenants = Vec::new();
    for slug in ["iso-a", "iso-b", "iso-c", "iso-d"] {
        tenants.push(fleet.active_tenant(slug).await);
    }
    for target in &targets {
        servers::set_spare_target(&fleet.control, target.id, 1)
            .await
            .unwrap();
    }
    let auditor = fleet.worker("auditor");
    auditor.refill_spares().await.unwrap();

    let mut existing = Vec::new();
    for target in &targets {
        let admin = fleet::connect(target.admin_url).await;
        let names = every_database(&admin)
            .await
            .into_iter()
            .map(|(name, _)| name);
        existing.push(names.collect::<BTreeSet<_>>());
    }
    let before = auditor.reconcile(false).await.unwrap();
    let mut tried = Vec::new();
    for target in &targets {
        let on_it: Vec<&Tenant> = tenants
            .iter()
            .filter(|tenant| tenant.server_id == Some(target.id))
            .collect();
        assert_eq!(on_it.len(), 2, "two tenants on {}", target.name);
        for tenant in &on_it {
            tried.push((target, attack(&fleet, target, tenant, &on_it).await));
        }
    }
    // With repair the reconciler still changes nothing it reports as open.
    let after = auditor.reconcile(true).await.unwrap();

    for (target, stranger) in targets.iter().zip(&strangers) {
        assert!(
            open_on(&after, target.name).contains(stranger.name()),
            "{} reported open on {}: {:?}",
            stranger.name(),
            target.name,
            after.open_databases
        );
    }
    let strangers: BTreeSet<&str> = strangers.iter().map(TestDb::name).collect();
    for (target, foreign) in &tried {
        let index = targets.iter().position(|t| t.id == target.id).unwrap();
        let comparable = foreign.iter().filter(|(name, _)| {
            existing[index].contains(name) && (strangers.contains(name.as_str()) || !ours(name))
        });
        assert_matches_report(target, comparable, &before, &after);
    }
    if std::env::var_os("TEST_SECOND_DATABASE_URL").is_none() {
        // The second server is a cluster the platform runs itself (scripts/pg-cluster).
        let second = open_on(&after, "pg-2");
        for builtin in ["postgres", "template1"] {
            assert!(!second.contains(builtin), "{builtin} is open: {second:?}");
        }
    }
}

/// Registers `server` with room for two tenants.
async fn target(fleet: &Fleet, name: &'static str, server: &'static Server) -> Target {
    let admin_url = server.admin_url();
    let id = fleet.register(name, admin_url, 2).await;
    Target {
        name,
        id,
        admin_url,
    }
}

/// A database open to `PUBLIC`, as one made by someone else with a plain `CREATE DATABASE`.
async fn left_open(server: &Server) -> TestDb {
    let db = server.empty_database().await;
    let admin = fleet::connect(server.admin_url()).await;
    admin
        .batch_execute(&format!(
            "GRANT CONNECT, TEMPORARY ON DATABASE {} TO PUBLIC",
            db.name()
        ))
        .await
        .unwrap();
    db
}

/// Logs in as `tenant`'s role to every database of the server. Its own database lets it in;
/// the platform's (the control database, templates, spares, the neighbour) refuse it.
/// Returns what the others (not the platform's) answered, by name.
async fn attack(
    fleet: &Fleet,
    target: &Target,
    tenant: &Tenant,
    neighbours: &[&Tenant],
) -> Vec<(String, Outcome)> {
    let admin = fleet::connect(target.admin_url).await;
    let own = TenantId(tenant.id).database_name();
    let ours = platform_databases(fleet, &admin, target, neighbours).await;
    let mut foreign = Vec::new();
    for (database, accepts_connections) in every_database(&admin).await {
        let outcome = try_as(fleet, tenant, target, &database).await;
        if database == own {
            assert_eq!(outcome, Outcome::Connected, "{own} lets its own role in");
        } else if ours.contains(&database) {
            // A template accepts no connections at all, which Postgres checks first.
            let refusal = if accepts_connections {
                "42501"
            } else {
                "55000"
            };
            assert_eq!(
                outcome,
                Outcome::Refused(refusal.into()),
                "{own} tried {database} on {}",
                target.name
            );
        } else {
            foreign.push((database, outcome));
        }
    }
    foreign
}

/// The databases of this fleet on the server, besides `tenant`'s own: the control database
/// (on the primary), the template, this registration's spares and the other tenants.
async fn platform_databases(
    fleet: &Fleet,
    admin: &tokio_postgres::Client,
    target: &Target,
    neighbours: &[&Tenant],
) -> BTreeSet<String> {
    let mut ours: BTreeSet<String> = neighbours
        .iter()
        .map(|tenant| TenantId(tenant.id).database_name())
        .collect();
    ours.insert(provisioner::template_name());
    let spares = provisioner::list_spares(admin, target.id).await.unwrap();
    assert!(!spares.is_empty(), "a spare waits on {}", target.name);
    ours.extend(spares);
    if target.admin_url == Server::primary().admin_url() {
        ours.insert(fleet.db.name().to_owned());
    }
    ours
}

async fn every_database(admin: &tokio_postgres::Client) -> Vec<(String, bool)> {
    let rows = admin
        .query("SELECT datname, datallowconn FROM pg_database", &[])
        .await
        .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

/// Connects as the tenant's role, retrying while its connection limit is still taken by
/// the previous attempt's backend (which exits a moment after the client goes).
async fn try_as(fleet: &Fleet, tenant: &Tenant, target: &Target, database: &str) -> Outcome {
    let url = fleet.tenant_url(tenant, target.admin_url, database);
    for _ in 0..50 {
        match fleet::try_connect(&url).await {
            Ok(_client) => return Outcome::Connected,
            Err(error) => {
                let code = error.code().map(|state| state.code().to_owned());
                match code.as_deref() {
                    Some("53300") => tokio::time::sleep(Duration::from_millis(50)).await,
                    Some(code) => return Outcome::Refused(code.to_owned()),
                    None => panic!("{database}: {error}"),
                }
            }
        }
    }
    panic!("{database}: the role's connection limit never freed up");
}

fn open_on(report: &ReconcileReport, server: &str) -> BTreeSet<String> {
    report
        .open_databases
        .iter()
        .filter(|object| object.server == server)
        .map(|object| object.name.clone())
        .collect()
}

/// Databases this test process made (other tests in it open and close theirs at will).
fn ours(name: &str) -> bool {
    name.starts_with(&format!("erp_test_{}_", std::process::id()))
}

/// The databases the tenant role reached are exactly the ones reported open. Other test
/// runs share the server and make and drop databases meanwhile; theirs are made open or
/// closed and only ever go from open to closed or away, never back. So of the databases
/// that existed before the pass `before`, one the role reached was open at that pass, and
/// one still open at the pass `after` was open when it was tried.
fn assert_matches_report<'a>(
    target: &Target,
    foreign: impl Iterator<Item = &'a (String, Outcome)>,
    before: &ReconcileReport,
    after: &ReconcileReport,
) {
    let (open_before, open_after) = (open_on(before, target.name), open_on(after, target.name));
    for (database, outcome) in foreign {
        if *outcome == Outcome::Connected {
            assert!(
                open_before.contains(database),
                "reached {database} on {}, not reported: {open_before:?}",
                target.name
            );
        } else if open_after.contains(database) {
            panic!(
                "{database} on {} reported open but refused: {outcome:?}",
                target.name
            );
        }
    }
}

#[tokio::test]
async fn a_notify_in_a_tenant_database_never_reaches_the_control_databases_listeners() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("iso-notify").await;
    let own = fleet.tenant_url(
        &tenant,
        Server::primary().admin_url(),
        &TenantId(tenant.id).database_name(),
    );
    let mut runtimes = fleet::listen(&fleet.db.url(), "tenant_changed").await;
    let mut in_its_own = fleet::listen(&own, "tenant_changed").await;

    let role = fleet::connect(&own).await;
    role.batch_execute("SELECT pg_notify('tenant_changed', '*')")
        .await
        .unwrap();
    assert_eq!(
        recv(&mut in_its_own).await,
        "*",
        "heard in its own database"
    );
    let leaked = tokio::time::timeout(Duration::from_millis(500), runtimes.recv()).await;
    assert!(leaked.is_err(), "reached the control database: {leaked:?}");

    fleet.exec("NOTIFY tenant_changed, 'from-control'").await;
    assert_eq!(
        recv(&mut runtimes).await,
        "from-control",
        "the control listener hears its own database"
    );
}

async fn recv(changes: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("a notification within 5 s")
        .expect("the listener is alive")
}

#[tokio::test]
async fn starting_the_platform_closes_its_control_database_to_public() {
    system_tests::init();
    let server = Server::primary();
    let db = left_open(server).await;
    let admin = fleet::connect(server.admin_url()).await;
    assert_eq!(public_may(&admin, db.name()).await, (true, true));

    // Bootstrap migrates (migration 000009 revokes) and then checks that it held, revoking
    // again if not: under load a REVOKE on `pg_database` was once seen not to stick.
    let control = db.connect().await;
    let settings = system_tests::app::test_settings(&db);
    control_plane::bootstrap::bootstrap_once(&control, &settings)
        .await
        .unwrap();
    let acl = admin
        .query_one(
            "SELECT datacl::text FROM pg_database WHERE datname = $1",
            &[&db.name()],
        )
        .await
        .unwrap();
    assert_eq!(
        public_may(&admin, db.name()).await,
        (false, false),
        "neither CONNECT nor TEMPORARY: {:?}",
        acl.get::<_, Option<String>>(0)
    );
}

/// Whether `PUBLIC` may connect to / make temporary tables in `database`.
async fn public_may(admin: &tokio_postgres::Client, database: &str) -> (bool, bool) {
    let row = admin
        .query_one(
            "SELECT has_database_privilege('public', $1, 'CONNECT'), \
                    has_database_privilege('public', $1, 'TEMPORARY')",
            &[&database],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

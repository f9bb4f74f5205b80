//! Operating the fleet: deletion with a verified final backup, the trial sweeper and
//! purge on a moved clock, the reconciler's findings, spare databases, and placement
//! across two real servers.

use common::entities::{SuspensionKind, TenantStatus};
use common::ids::TenantId;
use provisioner::ManualClock;
use provisioner::{Executed, list_spares, servers, tenants};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use system_tests::Server;
use system_tests::fleet::{self, Fleet};

#[tokio::test]
async fn deleting_a_tenant_keeps_a_verified_final_backup_then_drops_everything() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("leaving").await;
    let name = TenantId(tenant.id).database_name();
    let own =
        fleet::connect(&fleet.tenant_url(&tenant, Server::primary().admin_url(), &name)).await;
    own.execute(
        "INSERT INTO settings (key, value) VALUES ('currency', '\"EUR\"')",
        &[],
    )
    .await
    .unwrap();
    drop(own);

    let job = tenants::delete(&fleet.control, tenant.id, "contract ended")
        .await
        .unwrap();
    let outcomes = fleet.run_jobs(&fleet.worker("w")).await;
    assert_eq!(
        outcomes,
        [Executed::Finished {
            job_id: job,
            state: "succeeded"
        }]
    );
    let deleted = fleet.tenant(tenant.id).await;
    assert_eq!(deleted.status, TenantStatus::Deleted);
    assert_eq!(
        deleted.db_password_ciphertext, None,
        "credentials forgotten"
    );
    let retention = deleted.purge_after.unwrap() - deleted.deleted_at.unwrap();
    assert_eq!(retention.num_days(), 30);

    let path = deleted.backup_path.expect("a backup was recorded");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(deleted.backup_size_bytes, Some(bytes.len() as i64));
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(deleted.backup_sha256, Some(digest));
    let restore = std::process::Command::new(provisioner::pg_binary("pg_restore"))
        .args(["--data-only", "--table=settings", "--file=-", &path])
        .output()
        .unwrap();
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    assert!(
        String::from_utf8_lossy(&restore.stdout).contains("currency"),
        "the data is in it"
    );

    let admin = fleet::connect(Server::primary().admin_url()).await;
    assert!(!fleet::exists(&admin, "database", &name).await);
    assert!(!fleet::exists(&admin, "role", &name).await);
    let again = tenants::delete(&fleet.control, tenant.id, "twice")
        .await
        .unwrap_err();
    assert_eq!(again.code(), "invalid_transition");
}

#[tokio::test]
async fn an_expired_trial_is_suspended_then_deleted_after_its_grace_then_purged() {
    let fleet = Fleet::on_primary(10).await;
    let trial = fleet.active_tenant("trying").await;
    let paying = fleet.active_tenant("paying").await;
    fleet
        .exec(&format!(
            "UPDATE tenants SET billing_state = 'active' WHERE id = '{}'",
            paying.id
        ))
        .await;
    let clock = ManualClock::starting_now();
    let worker = fleet.worker("sweeper").with_clock(Arc::new(clock.clone()));

    assert_eq!(
        worker.sweep().await.unwrap(),
        Default::default(),
        "the trial runs 14 days"
    );
    clock.advance(chrono::Duration::days(15));
    let report = worker.sweep().await.unwrap();
    assert_eq!(
        report.suspended,
        [trial.id],
        "the paying tenant is left alone"
    );
    let suspended = fleet.tenant(trial.id).await;
    assert_eq!(
        suspended.suspension_kind,
        Some(SuspensionKind::TrialExpired)
    );
    assert_eq!(
        worker.sweep().await.unwrap(),
        Default::default(),
        "idempotent"
    );

    clock.advance(chrono::Duration::days(13));
    assert_eq!(
        worker.sweep().await.unwrap().deleting,
        Vec::<uuid::Uuid>::new(),
        "still in its 14-day grace"
    );
    clock.advance(chrono::Duration::days(2));
    assert_eq!(worker.sweep().await.unwrap().deleting, [trial.id]);
    fleet.run_jobs(&worker).await;
    let deleted = fleet.tenant(trial.id).await;
    assert_eq!(deleted.status, TenantStatus::Deleted);
    let backup = std::path::PathBuf::from(deleted.backup_path.unwrap());
    assert!(backup.exists());

    clock.advance(chrono::Duration::days(29));
    assert_eq!(
        worker.sweep().await.unwrap().purged,
        Vec::<uuid::Uuid>::new(),
        "kept for 30 days"
    );
    clock.advance(chrono::Duration::days(2));
    assert_eq!(worker.sweep().await.unwrap().purged, [trial.id]);
    assert!(!backup.exists(), "the backup file is gone");
    let purged = fleet.tenant(trial.id).await;
    assert_eq!(
        (purged.backup_path, purged.status_reason.as_deref()),
        (None, Some("purged"))
    );
    assert_eq!(fleet.tenant(paying.id).await.status, TenantStatus::Active);
}

#[tokio::test]
async fn the_reconciler_reports_a_missing_database_and_never_touches_unknown_ones() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("fragile").await;
    let name = TenantId(tenant.id).database_name();
    let admin = fleet::connect(Server::primary().admin_url()).await;
    // Someone else's tenant-shaped database (another fleet on the same server).
    let stranger = TenantId::new().database_name();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{stranger}\""))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();

    let auditor = fleet.worker("auditor");
    let report = auditor.reconcile(true).await.unwrap();
    assert_eq!(report.missing_databases, [tenant.id]);
    assert!(
        report
            .unknown_objects
            .iter()
            .any(|object| object.name == stranger)
    );
    assert!(report.orphan_databases.is_empty(), "{report:?}");
    assert!(
        fleet::exists(&admin, "database", &stranger).await,
        "not ours: never dropped"
    );
    assert!(
        fleet::exists(&admin, "role", &name).await,
        "a live tenant's role stays"
    );
    admin
        .batch_execute(&format!("DROP DATABASE \"{stranger}\""))
        .await
        .unwrap();
}

#[tokio::test]
async fn spare_databases_turn_provisioning_into_a_rename() {
    let fleet = Fleet::new().await;
    let server = fleet
        .register("pg-1", Server::primary().admin_url(), 10)
        .await;
    let admin = fleet::connect(Server::primary().admin_url()).await;
    let worker = fleet.worker("w");
    servers::set_spare_target(&fleet.control, server, 2)
        .await
        .unwrap();
    let refused = servers::set_spare_target(&fleet.control, server, -1)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "validation_failed");

    assert_eq!(worker.refill_spares().await.unwrap(), 2);
    assert_eq!(worker.refill_spares().await.unwrap(), 0, "already full");
    let before = list_spares(&admin, server).await.unwrap();
    assert_eq!(before.len(), 2);

    let tenant = fleet.active_tenant("instant").await;
    let after = list_spares(&admin, server).await.unwrap();
    assert_eq!(after.len(), 1, "one spare was claimed");
    assert!(before.contains(&after[0]));
    let name = TenantId(tenant.id).database_name();
    let own =
        fleet::connect(&fleet.tenant_url(&tenant, Server::primary().admin_url(), &name)).await;
    let users: i64 = own
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 1, "the spare had the schema; the seed ran on it");
    let spare_url = fleet.tenant_url(&tenant, Server::primary().admin_url(), &after[0]);
    assert!(
        fleet::try_connect(&spare_url).await.is_err(),
        "spares are closed to tenants"
    );

    assert_eq!(worker.refill_spares().await.unwrap(), 1);
    servers::set_draining(&fleet.control, server, true)
        .await
        .unwrap();
    assert_eq!(
        worker.refill_spares().await.unwrap(),
        0,
        "a draining server gets none"
    );
}

#[tokio::test]
async fn placement_spreads_tenants_over_two_servers_by_free_capacity() {
    let fleet = Fleet::new().await;
    let first = fleet
        .register("pg-1", Server::primary().admin_url(), 2)
        .await;
    let second = fleet
        .register("pg-2", Server::second().admin_url(), 3)
        .await;
    let on = |tenant: &common::entities::tenants::Model| tenant.server_id;

    let a = fleet.active_tenant("spread-a").await;
    assert_eq!(on(&a), Some(second), "3 free beats 2 free");
    servers::set_draining(&fleet.control, second, true)
        .await
        .unwrap();
    let b = fleet.active_tenant("spread-b").await;
    assert_eq!(on(&b), Some(first), "a draining server takes no one");
    servers::set_draining(&fleet.control, second, false)
        .await
        .unwrap();
    servers::set_capacity(&fleet.control, second, 1)
        .await
        .unwrap();
    let c = fleet.active_tenant("spread-c").await;
    assert_eq!(on(&c), Some(first), "the second server is full");
    assert_eq!(
        fleet.create_tenant("spread-d").await.unwrap_err().code(),
        "no_capacity"
    );

    let primary = fleet::connect(Server::primary().admin_url()).await;
    let secondary = fleet::connect(Server::second().admin_url()).await;
    let name = |tenant: &common::entities::tenants::Model| TenantId(tenant.id).database_name();
    assert!(fleet::exists(&secondary, "database", &name(&a)).await);
    assert!(!fleet::exists(&primary, "database", &name(&a)).await);
    assert!(fleet::exists(&primary, "database", &name(&b)).await);
    assert!(!fleet::exists(&secondary, "database", &name(&b)).await);
    let report = fleet.worker("auditor").reconcile(false).await.unwrap();
    assert!(report.orphan_databases.is_empty() && report.missing_databases.is_empty());
}

#[tokio::test]
async fn the_provisioning_benchmark_runs_every_way_end_to_end() {
    let results = system_tests::bench::run(2).await;
    let ways: Vec<&str> = results.iter().map(|r| r.way).collect();
    assert_eq!(ways, system_tests::bench::WAYS);
    assert!(results.iter().all(|r| r.sorted.len() == 2));
    assert!(system_tests::bench::report(&results).contains("p50 migrate / clone"));
}

#[tokio::test]
async fn the_bulk_benchmark_spreads_tenants_over_both_servers() {
    let bulk = system_tests::bench::bulk(4, 2).await;
    assert_eq!(bulk.servers.iter().map(|s| s.tenants).sum::<i64>(), 4);
    assert!(bulk.servers.iter().all(|s| s.tenants == 2), "{bulk:?}");
    assert!(system_tests::bench::bulk_report(&bulk).contains("tenants/s"));
}

#[tokio::test]
async fn the_signup_benchmark_runs_end_to_end() {
    let run = system_tests::signup_bench::run(2).await;
    assert_eq!(run.signup_to_me.sorted.len(), 2);
    assert_eq!(run.job.sorted.len(), 2);
    // A signup cannot be answered before its own job has finished.
    assert!(
        run.signup_to_me.quantile(0.5) >= run.job.sorted[0],
        "{run:?}"
    );
    assert!(system_tests::signup_bench::report(&run).contains("signup -> /me"));
}

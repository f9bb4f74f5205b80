//! Backups and restores through the provisioner: what a backup records (size, SHA-256,
//! schema version, row counts of its own snapshot), a restore into a new database switched
//! in under a freeze, a corrupt or truncated backup refused with the live database
//! untouched, the schedule and retention per plan, the delete saga's final backup, and the
//! retired database dropped when its time is up.

use common::entities::{BackupState, JobState, TenantStatus};
use provisioner::{Executed, ManualClock, backups, restore, tenants};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use system_tests::Server;
use system_tests::fleet::{self, Fleet};
use uuid::Uuid;

/// Takes a manual backup of the tenant and runs its job; returns the backup's id.
async fn backed_up(fleet: &Fleet, tenant: Uuid) -> Uuid {
    let backup = backups::request(&fleet.control, tenant).await.unwrap();
    assert_eq!(backup.state, BackupState::Pending);
    let outcomes = fleet.run_jobs(&fleet.worker("backer")).await;
    assert_eq!(
        outcomes,
        [Executed::Finished {
            job_id: backup.job_id.unwrap(),
            state: "succeeded"
        }]
    );
    backup.id
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_backup_records_its_size_checksum_schema_version_and_row_counts() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("kept").await;
    let db = fleet
        .live_db(tenant.id, Server::primary().admin_url())
        .await;
    fleet::fill_settings(&db, 250).await;

    let id = backed_up(&fleet, tenant.id).await;
    let backup = backups::find(&fleet.control, tenant.id, id).await.unwrap();
    assert_eq!(backup.state, BackupState::Completed);
    assert_eq!(
        backup.schema_version,
        Some(migrations::latest_tenant_version())
    );
    let counts = backup.row_counts.clone().unwrap();
    assert_eq!(counts["public.settings"], 250);
    assert_eq!(counts["public.users"], 1, "the first admin");
    let key = backup.storage_key.clone().unwrap();
    let bytes = std::fs::read(fleet.backup_dir.join(&key)).unwrap();
    assert_eq!(backup.size_bytes, Some(bytes.len() as i64));
    assert_eq!(backup.sha256, Some(sha256_hex(&bytes)));
    let listed = backups::list(&fleet.control, tenant.id).await.unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_restore_switches_the_tenant_to_a_new_verified_database_and_retires_the_old() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("rewind").await;
    let url = Server::primary().admin_url();
    fleet::fill_settings(&fleet.live_db(tenant.id, url).await, 100).await;
    let database = tenant.db_name.clone().unwrap();
    let own = fleet::connect(&fleet.tenant_url(&tenant, url, &database)).await;
    // Through `pg_database_owner` (the owner of `public`, which the role may become) the
    // role can make a function; a restore must not hand it to the admin (a `SECURITY
    // DEFINER` one would then run as the admin).
    own.batch_execute(
        "SET ROLE pg_database_owner; \
         CREATE FUNCTION whoami() RETURNS text SECURITY DEFINER LANGUAGE sql \
         AS 'SELECT current_user::text'; RESET ROLE",
    )
    .await
    .unwrap();
    let definer: String = own.query_one("SELECT whoami()", &[]).await.unwrap().get(0);
    drop(own);
    let backup = backed_up(&fleet, tenant.id).await;
    fleet::fill_settings(&fleet.live_db(tenant.id, url).await, 40).await;

    let job = restore::request(&fleet.control, tenant.id, backup)
        .await
        .unwrap();
    let busy = restore::request(&fleet.control, tenant.id, backup)
        .await
        .unwrap_err();
    assert_eq!(busy.code(), "tenant_busy");
    let clock = ManualClock::starting_now();
    let worker = fleet.worker("restorer").with_clock(Arc::new(clock.clone()));
    assert_eq!(
        fleet.run_jobs(&worker).await,
        [Executed::Finished {
            job_id: job,
            state: "succeeded"
        }]
    );
    let restored = fleet.tenant(tenant.id).await;
    assert_ne!(restored.db_name, tenant.db_name, "a new database");
    assert_eq!(restored.frozen_at, None, "the freeze ended");
    assert_eq!(restored.status, TenantStatus::Active);
    let freeze_ms = fleet.job(job).await.payload["freeze_ms"].as_i64().unwrap();
    println!("restore freeze: {freeze_ms} ms");
    let live = fleet.live_db(tenant.id, url).await;
    assert_eq!(fleet::rows_of(&live, "settings").await, 100, "as backed up");

    let own =
        fleet::connect(&fleet.tenant_url(&restored, url, restored.db_name.as_deref().unwrap()))
            .await;
    own.execute(
        "INSERT INTO settings (key, value) VALUES ('after', '1')",
        &[],
    )
    .await
    .expect("the tenant role writes to its restored database");
    let after: String = own.query_one("SELECT whoami()", &[]).await.unwrap().get(0);
    assert_eq!(
        after, definer,
        "the function keeps its owner, not the admin"
    );
    let old = tenant.db_name.clone().unwrap();
    let refused = fleet::try_connect(&fleet.tenant_url(&restored, url, &old)).await;
    assert!(
        refused.is_err(),
        "the retired database is closed to the role"
    );
    let report = worker.reconcile(false).await.unwrap();
    assert!(report.is_clean(), "copies are not orphans: {report:?}");

    let admin = fleet::connect(url).await;
    assert!(
        worker.drop_due_copies().await.unwrap().is_empty(),
        "kept a day"
    );
    clock.advance(chrono::Duration::hours(25));
    assert_eq!(worker.drop_due_copies().await.unwrap(), [old.as_str()]);
    assert!(!fleet::exists(&admin, "database", &old).await);
    assert!(fleet::exists(&admin, "role", restored.db_role.as_deref().unwrap()).await);
}

/// Damages the stored file of a backup with `damage` and checks that its restore fails
/// before anything is touched.
async fn refused_restore(fleet: &Fleet, tenant: Uuid, damage: impl FnOnce(&mut Vec<u8>)) {
    let backup = backed_up(fleet, tenant).await;
    let stored = backups::find(&fleet.control, tenant, backup).await.unwrap();
    let path = fleet.backup_dir.join(stored.storage_key.unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    damage(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
    let before = fleet.tenant(tenant).await;

    let job = restore::request(&fleet.control, tenant, backup)
        .await
        .unwrap();
    fleet.run_jobs(&fleet.worker("restorer")).await;
    let failed = fleet.job(job).await;
    assert_eq!(failed.state, JobState::Failed);
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("corrupt"),
        "{:?}",
        failed.last_error
    );
    assert_eq!(
        failed.completed_steps,
        serde_json::json!([]),
        "nothing done"
    );
    let after = fleet.tenant(tenant).await;
    assert_eq!(after.db_name, before.db_name, "the live database stays");
    assert_eq!(after.frozen_at, None, "never frozen");
}

#[tokio::test]
async fn a_corrupt_or_truncated_backup_is_refused_and_the_live_database_is_untouched() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("fragile").await;
    let url = Server::primary().admin_url();
    fleet::fill_settings(&fleet.live_db(tenant.id, url).await, 30).await;

    refused_restore(&fleet, tenant.id, |bytes| {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
    })
    .await;
    refused_restore(&fleet, tenant.id, |bytes| bytes.truncate(bytes.len() / 3)).await;

    let live = fleet.live_db(tenant.id, url).await;
    assert_eq!(fleet::rows_of(&live, "settings").await, 30);
    let copies = fleet.count("SELECT count(*) FROM tenant_db_copies").await;
    assert_eq!(copies, 0, "no database was made");
}

#[tokio::test]
async fn backups_follow_the_plans_schedule_and_retention() {
    let fleet = Fleet::on_primary(10).await;
    fleet
        .exec("UPDATE plans SET backup_interval_hours = 6, backup_retention_count = 2 WHERE code = 'trial'")
        .await;
    let tenant = fleet.active_tenant("scheduled").await;
    let clock = ManualClock::starting_now();
    let worker = fleet.worker("sweeper").with_clock(Arc::new(clock.clone()));

    for round in 0..4 {
        assert_eq!(
            worker.schedule_backups().await.unwrap(),
            [tenant.id],
            "round {round}"
        );
        assert!(
            worker.schedule_backups().await.unwrap().is_empty(),
            "once per interval"
        );
        fleet.run_jobs(&worker).await;
        clock.advance(chrono::Duration::hours(7));
    }
    let pruned = worker.prune_backups().await.unwrap();
    assert_eq!(pruned.len(), 2, "four taken, two kept");
    let all = backups::list(&fleet.control, tenant.id).await.unwrap();
    let kept: Vec<_> = all
        .iter()
        .filter(|backup| backup.state == BackupState::Completed)
        .collect();
    assert_eq!(kept.len(), 2);
    for backup in &all {
        let path = fleet.backup_dir.join(backup.storage_key.clone().unwrap());
        assert_eq!(
            path.exists(),
            backup.state == BackupState::Completed,
            "{:?}",
            backup.state
        );
    }
    assert!(
        worker.prune_backups().await.unwrap().is_empty(),
        "idempotent"
    );
}

#[tokio::test]
async fn the_delete_sagas_final_backup_is_a_backup_like_any_other() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("final").await;
    tenants::delete(&fleet.control, tenant.id, "leaving")
        .await
        .unwrap();
    fleet.run_jobs(&fleet.worker("deleter")).await;
    let deleted = fleet.tenant(tenant.id).await;
    assert_eq!(deleted.status, TenantStatus::Deleted);
    let all = backups::list(&fleet.control, tenant.id).await.unwrap();
    assert_eq!(all.len(), 1);
    let last = &all[0];
    assert_eq!(last.kind.as_str(), "final");
    assert_eq!(last.state, BackupState::Completed);
    assert_eq!(last.sha256, deleted.backup_sha256);
    assert_eq!(last.size_bytes, deleted.backup_size_bytes);
    let path = deleted.backup_path.unwrap();
    assert!(path.ends_with(last.storage_key.as_deref().unwrap()));
}

#[tokio::test]
async fn a_freeze_whose_job_is_gone_is_thawed_by_the_sweep() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("stuck").await;
    let backup = backed_up(&fleet, tenant.id).await;
    let job = restore::request(&fleet.control, tenant.id, backup)
        .await
        .unwrap();
    let doomed = fleet.worker("doomed");
    doomed.crash_at("freeze");
    doomed.try_execute_job().await.unwrap();
    let url = Server::primary().admin_url();
    let database = tenant.db_name.clone().unwrap();
    assert!(fleet.tenant(tenant.id).await.frozen_at.is_some());
    assert!(
        fleet::try_connect(&fleet.tenant_url(&tenant, url, &database))
            .await
            .is_err(),
        "the role may not log in while frozen"
    );
    let sweeper = fleet.worker("sweeper");
    assert!(
        sweeper.thaw_abandoned().await.unwrap().is_empty(),
        "its job still holds it"
    );

    // The job is abandoned (as if an operator gave up on it).
    fleet
        .exec(&format!(
            "UPDATE jobs SET state = 'failed' WHERE id = '{job}'"
        ))
        .await;
    assert_eq!(sweeper.thaw_abandoned().await.unwrap(), [tenant.id]);
    assert_eq!(fleet.tenant(tenant.id).await.frozen_at, None);
    let own = fleet::connect(&fleet.tenant_url(&tenant, url, &database)).await;
    assert_eq!(
        fleet::rows_of(&own, "users").await,
        1,
        "the live database, as it was"
    );
    assert_eq!(
        sweeper.drop_due_copies().await.unwrap().len(),
        1,
        "its target went too"
    );
}

//! Backups in object storage, against a real S3-compatible server (moto's standalone server
//! on loopback, see `system_tests::moto`): a backup (the delete saga's final one too) lands
//! in the bucket with its SHA-256, is listed, pruned by retention, restored into the tenant; a corrupted object is refused
//! on restore with the live database untouched; a dump larger than a part goes up in parts
//! and comes back whole. Each test skips, saying why, only when moto cannot be started.

use common::entities::{BackupState, JobState};
use provisioner::{BackupStore, Executed, Provisioner, S3Store, backups, restore, tenants};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use system_tests::Server;
use system_tests::fleet::{self, Fleet};
use system_tests::moto::{Moto, start_or_skip};
use uuid::Uuid;

const BUCKET: &str = "erp-backups";

/// A worker of `fleet` whose backups go to moto's bucket.
async fn s3_worker(fleet: &Fleet, moto: &Moto, name: &str) -> (Provisioner, S3Store) {
    let store = S3Store::from_settings(&moto.bucket(BUCKET).await).expect("store");
    let staging = fleet.backup_dir.join(".staging");
    let worker = fleet
        .worker(name)
        .with_store(Arc::new(store.clone()), staging);
    (worker, store)
}

/// Takes a manual backup with `worker`; returns its completed row.
async fn backed_up(
    fleet: &Fleet,
    worker: &Provisioner,
    tenant: Uuid,
) -> common::entities::tenant_backups::Model {
    let backup = backups::request(&fleet.control, tenant).await.unwrap();
    let outcomes = fleet.run_jobs(worker).await;
    assert_eq!(
        outcomes,
        [Executed::Finished {
            job_id: backup.job_id.unwrap(),
            state: "succeeded"
        }]
    );
    let done = backups::find(&fleet.control, tenant, backup.id)
        .await
        .unwrap();
    assert_eq!(done.state, BackupState::Completed);
    done
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_backup_goes_to_the_bucket_with_its_checksum_and_is_listed() {
    let Some(moto) = start_or_skip("backup to S3").await else {
        return;
    };
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("to-s3").await;
    let url = Server::primary().admin_url();
    fleet::fill_settings(&fleet.live_db(tenant.id, url).await, 120).await;
    let (worker, store) = s3_worker(&fleet, &moto, "s3-backer").await;

    let backup = backed_up(&fleet, &worker, tenant.id).await;
    let key = backup.storage_key.clone().unwrap();
    let (status, stored_sha, body) = moto.object(BUCKET, &key).await;
    assert_eq!(status, 200, "the object is in the bucket");
    assert_eq!(Some(body.len() as i64), backup.size_bytes);
    assert_eq!(Some(sha256_hex(&body)), backup.sha256, "the bytes dumped");
    assert_eq!(stored_sha, backup.sha256, "the checksum is stored with it");
    assert!(
        !fleet.backup_dir.join(&key).exists(),
        "nothing kept on local disk"
    );
    let staged = std::fs::read_dir(fleet.backup_dir.join(".staging"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "the scratch file is gone");
    assert_eq!(store.list(&format!("{}/", tenant.id)).await.unwrap(), [key]);
    assert!(store.list("0000").await.unwrap().is_empty());
}

#[tokio::test]
async fn the_delete_sagas_final_backup_goes_to_the_bucket_and_is_named_by_its_url() {
    let Some(moto) = start_or_skip("final backup to S3").await else {
        return;
    };
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("s3-leaving").await;
    let (worker, _) = s3_worker(&fleet, &moto, "s3-deleter").await;
    tenants::delete(&fleet.control, tenant.id, "leaving")
        .await
        .unwrap();
    fleet.run_jobs(&worker).await;
    let deleted = fleet.tenant(tenant.id).await;
    let last = &backups::list(&fleet.control, tenant.id).await.unwrap()[0];
    let key = last.storage_key.clone().unwrap();
    assert_eq!(
        deleted.backup_path,
        Some(format!("s3://{BUCKET}/{key}")),
        "where an operator finds it"
    );
    let (status, stored_sha, _) = moto.object(BUCKET, &key).await;
    assert_eq!(status, 200);
    assert_eq!(stored_sha, deleted.backup_sha256);
}

#[tokio::test]
async fn retention_deletes_the_pruned_backups_object_from_the_bucket() {
    let Some(moto) = start_or_skip("S3 retention").await else {
        return;
    };
    let fleet = Fleet::on_primary(10).await;
    fleet
        .exec("UPDATE plans SET backup_retention_count = 1 WHERE code = 'trial'")
        .await;
    let tenant = fleet.active_tenant("s3-kept").await;
    let (worker, store) = s3_worker(&fleet, &moto, "s3-pruner").await;
    let older = backed_up(&fleet, &worker, tenant.id).await;
    let newer = backed_up(&fleet, &worker, tenant.id).await;

    assert_eq!(worker.prune_backups().await.unwrap(), [older.id]);
    let older_key = older.storage_key.unwrap();
    let newer_key = newer.storage_key.unwrap();
    assert_eq!(moto.object(BUCKET, &older_key).await.0, 404, "deleted");
    assert_eq!(moto.object(BUCKET, &newer_key).await.0, 200, "kept");
    assert_eq!(
        store.list(&tenant.id.to_string()).await.unwrap(),
        [newer_key]
    );
    assert!(worker.prune_backups().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_backup_in_the_bucket_is_restored_into_the_tenant() {
    let Some(moto) = start_or_skip("restore from S3").await else {
        return;
    };
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("from-s3").await;
    let url = Server::primary().admin_url();
    fleet::fill_settings(&fleet.live_db(tenant.id, url).await, 80).await;
    let (worker, _) = s3_worker(&fleet, &moto, "s3-restorer").await;
    let backup = backed_up(&fleet, &worker, tenant.id).await;
    fleet::fill_settings(&fleet.live_db(tenant.id, url).await, 25).await;

    let job = restore::request(&fleet.control, tenant.id, backup.id)
        .await
        .unwrap();
    assert_eq!(
        fleet.run_jobs(&worker).await,
        [Executed::Finished {
            job_id: job,
            state: "succeeded"
        }]
    );
    let restored = fleet.tenant(tenant.id).await;
    assert_ne!(restored.db_name, tenant.db_name, "a new database");
    let live = fleet.live_db(tenant.id, url).await;
    assert_eq!(fleet::rows_of(&live, "settings").await, 80, "as backed up");
}

#[tokio::test]
async fn a_corrupted_object_is_refused_on_restore_and_the_tenant_is_untouched() {
    let Some(moto) = start_or_skip("corrupt S3 object").await else {
        return;
    };
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("s3-rot").await;
    let url = Server::primary().admin_url();
    fleet::fill_settings(&fleet.live_db(tenant.id, url).await, 30).await;
    let (worker, _) = s3_worker(&fleet, &moto, "s3-victim").await;
    let backup = backed_up(&fleet, &worker, tenant.id).await;
    let key = backup.storage_key.clone().unwrap();
    let (_, stored_sha, mut bytes) = moto.object(BUCKET, &key).await;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    moto.overwrite(BUCKET, &key, bytes, &stored_sha.unwrap())
        .await;

    let job = restore::request(&fleet.control, tenant.id, backup.id)
        .await
        .unwrap();
    fleet.run_jobs(&worker).await;
    let failed = fleet.job(job).await;
    assert_eq!(failed.state, JobState::Failed, "refused at once, no retry");
    let error = failed.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("is corrupt") && error.contains("SHA-256"),
        "a clear error: {error}"
    );
    assert_eq!(failed.completed_steps, serde_json::json!([]));
    let after = fleet.tenant(tenant.id).await;
    assert_eq!(after.db_name, tenant.db_name, "the live database stays");
    assert_eq!(after.frozen_at, None, "never frozen");
    let live = fleet.live_db(tenant.id, url).await;
    assert_eq!(fleet::rows_of(&live, "settings").await, 30);
}

#[tokio::test]
async fn a_dump_larger_than_a_part_goes_up_in_parts_under_the_prefix_and_comes_back_whole() {
    let Some(moto) = start_or_skip("S3 multipart").await else {
        return;
    };
    let mut settings = moto.bucket(BUCKET).await;
    settings.prefix = "fleet-a/backups".into();
    let store = S3Store::from_settings(&settings).unwrap();
    let dir = std::env::temp_dir().join(format!("erp-s3-parts-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    // 11 MiB of bytes that do not repeat: three 5 MiB parts.
    let bytes: Vec<u8> = (0..11 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sha = sha256_hex(&bytes);
    let file = dir.join("big.dump");
    std::fs::write(&file, &bytes).unwrap();

    store.put("t1/big.dump", &file, &sha).await.unwrap();
    assert!(!file.exists(), "the file is consumed");
    let (status, stored_sha, body) = moto.object(BUCKET, "fleet-a/backups/t1/big.dump").await;
    assert_eq!(status, 200, "under the prefix");
    assert_eq!(stored_sha.as_deref(), Some(sha.as_str()));
    assert_eq!(body.len(), bytes.len());
    let etag = moto.etag(BUCKET, "fleet-a/backups/t1/big.dump").await;
    assert!(etag.ends_with("-3"), "three parts: {etag}");
    assert_eq!(store.list("t1").await.unwrap(), ["t1/big.dump"]);

    let back = dir.join("back.dump");
    store.fetch("t1/big.dump", &back).await.unwrap();
    assert_eq!(sha256_hex(&std::fs::read(&back).unwrap()), sha);
    store.delete("t1/big.dump").await.unwrap();
    store.delete("t1/big.dump").await.unwrap();
    assert!(store.list("t1").await.unwrap().is_empty());
    let missing = store.fetch("t1/big.dump", &back).await.unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    std::fs::remove_dir_all(&dir).unwrap();
}

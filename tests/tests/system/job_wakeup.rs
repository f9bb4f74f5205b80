//! Workers wake the moment a job is queued (`NOTIFY jobs_queued`), fall back to polling when
//! a notification is lost, and, however many are woken at once, run every job once.

use common::entities::TenantStatus;
use provisioner::Worker;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::time::{Duration, Instant};
use system_tests::Fleet;
use system_tests::app::test_settings;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Workers on `fleet`'s control database that poll only every `poll`, started now.
fn start_workers(fleet: &Fleet, count: usize, poll: Duration) -> CancellationToken {
    let mut settings = test_settings(&fleet.db);
    settings.provisioner.poll_interval_ms = u64::try_from(poll.as_millis()).unwrap();
    settings.provisioner.maintenance_interval_secs = 3600;
    // The fleet sealed its servers' admin URLs under this key id.
    settings.secrets.encryption_key_id = "test".into();
    let stop = CancellationToken::new();
    for n in 0..count {
        settings.provisioner.worker_id = Some(format!("waker-{n}"));
        let worker = Worker::new(&settings, fleet.control.clone()).expect("worker");
        tokio::spawn(worker.run(stop.clone()));
    }
    stop
}

/// Waits until the worker(s) listen on `jobs_queued` (a job queued before would be found by
/// the first look anyway, but the test is about the wake-up).
async fn wait_until_listening(fleet: &Fleet, workers: i64) {
    let sql = "SELECT count(*) AS n FROM pg_stat_activity \
               WHERE application_name = 'provisioner-worker' AND datname = current_database() \
               AND query LIKE 'LISTEN%'";
    for _ in 0..200 {
        let row = fleet
            .control
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "n").unwrap() >= workers {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the workers never listened on jobs_queued");
}

async fn wait_active(fleet: &Fleet, tenant: Uuid, within: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        if fleet.tenant(tenant).await.status == TenantStatus::Active {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("tenant {tenant} not active within {within:?}");
}

/// Waits until no job is queued or running (the workers have recorded every ending).
async fn wait_until_no_job_runs(fleet: &Fleet, within: Duration) {
    let started = Instant::now();
    let busy = "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')";
    while fleet.count(busy).await > 0 {
        assert!(
            started.elapsed() < within,
            "jobs still running after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_idle_worker_starts_a_queued_job_at_once_not_at_its_next_poll() {
    let fleet = Fleet::on_primary(10).await;
    let stop = start_workers(&fleet, 1, Duration::from_secs(120));
    wait_until_listening(&fleet, 1).await;
    // A first job (it also builds the template), then a moment for the worker to finish
    // its round and go to sleep: from then on only a notification can wake it before
    // two minutes have passed.
    let first = fleet.create_tenant("early").await.unwrap();
    wait_active(&fleet, first.tenant_id, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let created = fleet.create_tenant("woken").await.unwrap();
    wait_active(&fleet, created.tenant_id, Duration::from_secs(30)).await;
    stop.cancel();
}

#[tokio::test]
async fn a_job_queued_without_a_notification_is_found_by_the_poll() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.create_tenant("unannounced").await.unwrap();
    // Its job is taken out of the queue and put back below with no NOTIFY: what a worker
    // sees when the notification was lost (say, its listener was reconnecting).
    let run = |sql: &'static str, id: Uuid| {
        let control = fleet.control.clone();
        async move {
            control
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    [id.into(), tenant.tenant_id.into()],
                ))
                .await
                .unwrap();
        }
    };
    run(
        "UPDATE jobs SET state = 'cancelled' WHERE id = $1 AND tenant_id = $2",
        tenant.job_id,
    )
    .await;
    let stop = start_workers(&fleet, 1, Duration::from_millis(300));
    wait_until_listening(&fleet, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    run(
        "INSERT INTO jobs (id, tenant_id, kind) VALUES ($1, $2, 'provision')",
        Uuid::now_v7(),
    )
    .await;
    wait_active(&fleet, tenant.tenant_id, Duration::from_secs(30)).await;
    stop.cancel();
}

#[tokio::test]
async fn many_workers_woken_together_run_every_job_exactly_once() {
    let fleet = Fleet::on_primary(20).await;
    fleet.active_tenant("warm-up").await;
    let stop = start_workers(&fleet, 4, Duration::from_secs(120));
    wait_until_listening(&fleet, 4).await;
    let mut created = Vec::new();
    for n in 0..8 {
        created.push(fleet.create_tenant(&format!("crowd-{n}")).await.unwrap());
    }
    for tenant in &created {
        wait_active(&fleet, tenant.tenant_id, Duration::from_secs(60)).await;
    }
    // A tenant is active a moment before its job is recorded as finished.
    wait_until_no_job_runs(&fleet, Duration::from_secs(30)).await;
    stop.cancel();
    let rows = fleet
        .control
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT attempts, state, lease_owner IS NULL AS released, \
                    jsonb_array_length(completed_steps) AS steps \
             FROM jobs WHERE tenant_id IN (SELECT id FROM tenants WHERE slug LIKE 'crowd-%')",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 8);
    let steps = provisioner::PROVISION_STEPS.len() as i32;
    for row in rows {
        assert_eq!(
            row.try_get::<i32>("", "attempts").unwrap(),
            1,
            "claimed once"
        );
        assert_eq!(row.try_get::<String>("", "state").unwrap(), "succeeded");
        assert!(row.try_get::<bool>("", "released").unwrap());
        assert_eq!(
            row.try_get::<i32>("", "steps").unwrap(),
            steps,
            "each step once"
        );
    }
}

//! Fleet migration runs against real tenant databases: the canary wave first, the ledger
//! and grants after, a halt at the failure threshold (and in the canary wave) with the
//! others untouched, resume after the fix, a tenant locked by a long transaction, a worker
//! killed mid-run, a server down during a run, and the run a worker starts at boot.

use common::fleet::RunView;
use provisioner::Executed;
use provisioner::Provisioner;
use provisioner::fleet::{self, Canary, RunRequest, TenantSchema};
use sea_orm::TransactionTrait;
use std::time::Duration;
use system_tests::fleet::{self as harness, Fleet};
use system_tests::postgres::with_database;
use system_tests::upgrade::{BAD_KEY, UPGRADE_VERSION, upgraded};
use system_tests::{Proxy, Server};
use uuid::Uuid;

/// Sequential, no canary, no threshold unless a test sets one.
fn request() -> RunRequest {
    RunRequest {
        canary: Canary::Count(0),
        max_per_server: 1,
        max_failure_ratio: None,
        lock_timeout: Duration::from_millis(200),
        ..RunRequest::default()
    }
}

async fn start(fleet: &Fleet, request: &RunRequest) -> RunView {
    let txn = fleet.control.begin().await.unwrap();
    let run = fleet::start(&txn, &upgraded(), request, "test")
        .await
        .unwrap();
    txn.commit().await.unwrap();
    run
}

fn upgrading_worker(fleet: &Fleet, name: &str) -> Provisioner {
    fleet.worker(name).with_tenant_schema(upgraded())
}

/// Runs the fleet job to its end on `worker`.
async fn execute(worker: &Provisioner) -> Executed {
    worker
        .try_execute_fleet_job()
        .await
        .expect("job queue reachable")
}

async fn run_state(fleet: &Fleet, id: Uuid) -> RunView {
    fleet::get(&fleet.control, id).await.unwrap()
}

/// The admin URL of the server a tenant is on, from the test's own knowledge.
async fn tenant_admin(fleet: &Fleet, tenant: Uuid, server_url: &str) -> tokio_postgres::Client {
    let database = fleet.tenant(tenant).await.db_name.expect("a database");
    harness::connect(&with_database(server_url, &database)).await
}

async fn has_note(client: &tokio_postgres::Client) -> bool {
    client
        .query_opt(
            "SELECT 1 FROM information_schema.columns \
             WHERE table_name = 'settings' AND column_name = 'note'",
            &[],
        )
        .await
        .unwrap()
        .is_some()
}

async fn make_bad(fleet: &Fleet, tenant: Uuid) {
    let client = tenant_admin(fleet, tenant, Server::primary().admin_url()).await;
    client
        .execute(
            "INSERT INTO settings (key, value) VALUES ($1, '1'::jsonb)",
            &[&BAD_KEY],
        )
        .await
        .unwrap();
}

/// `n` active tenants on the primary server, in id order.
async fn tenants(fleet: &Fleet, prefix: &str, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(fleet.active_tenant(&format!("{prefix}-{i}")).await.id);
    }
    ids.sort();
    ids
}

#[tokio::test]
async fn a_run_migrates_every_tenant_canary_first_and_records_versions_and_grants() {
    let fleet = Fleet::on_primary(10).await;
    let ids = tenants(&fleet, "mig", 4).await;
    let dry = fleet::plan(&fleet.control, &upgraded(), &request())
        .await
        .unwrap();
    assert_eq!(dry.tenants_behind, 4);
    assert_eq!(dry.target_version, UPGRADE_VERSION);

    let run = start(
        &fleet,
        &RunRequest {
            canary: Canary::Count(1),
            max_per_server: 2,
            ..request()
        },
    )
    .await;
    assert_eq!(
        (run.state.as_str(), run.canary_size, run.counts.total),
        ("queued", 1, 4)
    );
    assert!(matches!(
        execute(&upgrading_worker(&fleet, "w")).await,
        Executed::Finished {
            state: "succeeded",
            ..
        }
    ));

    let done = run_state(&fleet, run.id).await;
    assert_eq!(done.state, "succeeded");
    assert_eq!((done.counts.succeeded, done.counts.failed), (4, 0));
    let canary_finished = fleet
        .count(&format!(
            "SELECT (extract(epoch FROM max(finished_at)) * 1e6)::bigint FROM migration_run_tenants \
             WHERE run_id = '{}' AND wave = 0",
            run.id
        ))
        .await;
    let rest_started = fleet
        .count(&format!(
            "SELECT (extract(epoch FROM min(started_at)) * 1e6)::bigint FROM migration_run_tenants \
             WHERE run_id = '{}' AND wave = 1",
            run.id
        ))
        .await;
    assert!(
        canary_finished <= rest_started,
        "the canary wave ends before the rest start"
    );
    for id in &ids {
        let tenant = fleet.tenant(*id).await;
        assert_eq!(tenant.schema_version.as_deref(), Some(UPGRADE_VERSION));
        let ledger = fleet
            .count(&format!(
                "SELECT count(*) FROM tenant_schema_ledger WHERE tenant_id = '{id}' \
                 AND version = '{UPGRADE_VERSION}' AND run_id = '{}'",
                run.id
            ))
            .await;
        assert_eq!(ledger, 1, "the ledger records the run's migration");
        // The tenant's own role may use what the migration made.
        let database = tenant.db_name.clone().unwrap();
        let own =
            harness::connect(&fleet.tenant_url(&tenant, Server::primary().admin_url(), &database))
                .await;
        own.execute(
            "INSERT INTO settings (key, value, note) VALUES ('k', '1', 'hello')",
            &[],
        )
        .await
        .expect("the tenant role writes the new column");
    }
    let behind = fleet::tenants_behind(&fleet.control, &upgraded())
        .await
        .unwrap();
    assert_eq!(behind, 0);
    let template = fleet
        .count("SELECT count(*) FROM database_servers WHERE template_version IS NOT NULL")
        .await;
    assert_eq!(template, 1, "the server's template version is recorded");
}

#[tokio::test]
async fn failures_past_the_threshold_halt_the_run_and_a_resume_after_the_fix_completes_it() {
    let fleet = Fleet::on_primary(10).await;
    let ids = tenants(&fleet, "halt", 5).await;
    // The first two in run order have data the migration refuses.
    for id in &ids[..2] {
        make_bad(&fleet, *id).await;
    }
    let run = start(
        &fleet,
        &RunRequest {
            max_failures: Some(1),
            ..request()
        },
    )
    .await;
    execute(&upgrading_worker(&fleet, "w")).await;

    let halted = run_state(&fleet, run.id).await;
    assert_eq!(halted.state, "halted");
    assert!(
        halted
            .halted_reason
            .as_deref()
            .unwrap()
            .contains("more than the 1 allowed")
    );
    assert_eq!(
        (
            halted.counts.failed,
            halted.counts.pending,
            halted.counts.succeeded
        ),
        (2, 3, 0)
    );
    let failed = fleet::run_tenants(&fleet.control, run.id, Some("failed"), None, 10)
        .await
        .unwrap();
    assert!(
        failed
            .iter()
            .all(|t| t.error.as_deref().unwrap().contains("settings_no_bad_key")),
        "{failed:?}"
    );
    for id in &ids {
        let client = tenant_admin(&fleet, *id, Server::primary().admin_url()).await;
        assert!(
            !has_note(&client).await,
            "no tenant is half-migrated or touched after the halt"
        );
        assert_ne!(
            fleet.tenant(*id).await.schema_version.as_deref(),
            Some(UPGRADE_VERSION)
        );
    }

    for id in &ids[..2] {
        let client = tenant_admin(&fleet, *id, Server::primary().admin_url()).await;
        client
            .execute("DELETE FROM settings WHERE key = $1", &[&BAD_KEY])
            .await
            .unwrap();
    }
    let txn = fleet.control.begin().await.unwrap();
    let resumed = fleet::resume(&txn, run.id).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(resumed.state, "queued");
    execute(&upgrading_worker(&fleet, "w2")).await;
    let done = run_state(&fleet, run.id).await;
    assert_eq!(
        (done.state.as_str(), done.counts.succeeded),
        ("succeeded", 5)
    );
    for id in &ids {
        let client = tenant_admin(&fleet, *id, Server::primary().admin_url()).await;
        assert!(has_note(&client).await);
    }
}

#[tokio::test]
async fn a_failure_in_the_canary_wave_halts_before_the_rest_start() {
    let fleet = Fleet::on_primary(10).await;
    let ids = tenants(&fleet, "canary", 3).await;
    for id in &ids {
        make_bad(&fleet, *id).await;
    }
    let run = start(
        &fleet,
        &RunRequest {
            canary: Canary::Count(1),
            max_per_server: 4,
            max_failures: Some(100),
            ..request()
        },
    )
    .await;
    execute(&upgrading_worker(&fleet, "w")).await;
    let halted = run_state(&fleet, run.id).await;
    assert_eq!(halted.state, "halted");
    assert!(halted.halted_reason.as_deref().unwrap().contains("canary"));
    assert_eq!(
        (halted.counts.failed, halted.counts.pending),
        (1, 2),
        "the rest never started"
    );
    let started = fleet
        .count(&format!(
            "SELECT count(*) FROM migration_run_tenants WHERE run_id = '{}' AND wave = 1 \
             AND started_at IS NOT NULL",
            run.id
        ))
        .await;
    assert_eq!(started, 0);
}

#[tokio::test]
async fn a_tenant_locked_by_a_long_transaction_waits_and_is_migrated_once_it_ends() {
    let fleet = Fleet::on_primary(10).await;
    let ids = tenants(&fleet, "locked", 2).await;
    let holder = tenant_admin(&fleet, ids[0], Server::primary().admin_url()).await;
    holder
        .batch_execute("BEGIN; SELECT count(*) FROM settings")
        .await
        .unwrap();

    let run = start(&fleet, &request()).await;
    let worker = upgrading_worker(&fleet, "w");
    let running = tokio::spawn(async move { execute(&worker).await });
    let control = fleet.control.clone();
    let waited = eventually(|| async {
        let row = fleet::run_tenants(&control, run.id, None, None, 10)
            .await
            .unwrap();
        let locked = row.iter().find(|t| t.tenant_id == ids[0]).unwrap();
        let other = row.iter().find(|t| t.tenant_id == ids[1]).unwrap();
        locked.waits >= 1 && other.state == "succeeded"
    })
    .await;
    assert!(
        waited,
        "the locked tenant waits while the other is migrated"
    );
    assert_eq!(run_state(&fleet, run.id).await.state, "running");
    holder.batch_execute("COMMIT").await.unwrap();
    running.await.unwrap();
    let done = run_state(&fleet, run.id).await;
    assert_eq!(
        (done.state.as_str(), done.counts.succeeded),
        ("succeeded", 2)
    );
    assert!(has_note(&holder).await);
}

#[tokio::test]
async fn a_worker_killed_mid_run_is_taken_over_through_the_job_lease() {
    let fleet = Fleet::on_primary(10).await;
    let ids = tenants(&fleet, "takeover", 3).await;
    // The last tenant is locked, so the first worker is still running when it dies.
    let holder = tenant_admin(&fleet, ids[2], Server::primary().admin_url()).await;
    holder
        .batch_execute("BEGIN; SELECT count(*) FROM settings")
        .await
        .unwrap();
    let run = start(&fleet, &request()).await;
    let first = upgrading_worker(&fleet, "doomed");
    let dying = tokio::spawn(async move { execute(&first).await });
    let control = fleet.control.clone();
    assert!(
        eventually(|| async { fleet::get(&control, run.id).await.unwrap().counts.succeeded == 2 })
            .await
    );
    dying.abort();
    let _ = dying.await;
    holder.batch_execute("COMMIT").await.unwrap();

    let second = upgrading_worker(&fleet, "heir");
    assert_eq!(
        execute(&second).await,
        Executed::Idle,
        "the dead worker's lease still holds"
    );
    fleet.expire_leases().await;
    assert!(matches!(
        execute(&second).await,
        Executed::Finished {
            state: "succeeded",
            ..
        }
    ));
    let done = run_state(&fleet, run.id).await;
    assert_eq!(
        (done.state.as_str(), done.counts.succeeded),
        ("succeeded", 3)
    );
    let owner = fleet
        .count(&format!(
            "SELECT count(*) FROM jobs WHERE id = (SELECT job_id FROM migration_runs WHERE id = '{}') \
             AND attempts = 2",
            run.id
        ))
        .await;
    assert_eq!(owner, 1, "the second worker took the same job over");
}

#[tokio::test]
async fn a_server_down_during_a_run_makes_its_tenants_wait_while_the_rest_finish() {
    let fleet = Fleet::new().await;
    let (proxy, behind) = Proxy::in_front_of(Server::second().admin_url()).await;
    fleet
        .register("pg-1", Server::primary().admin_url(), 0)
        .await;
    fleet
        .register_behind("pg-2", &behind, Server::second().admin_url(), 10)
        .await;
    let far = fleet.active_tenant("far").await.id;
    fleet
        .exec("UPDATE database_servers SET capacity = 10 WHERE name = 'pg-1'")
        .await;
    fleet
        .exec("UPDATE database_servers SET capacity = 0 WHERE name = 'pg-2'")
        .await;
    let near = fleet.active_tenant("near").await.id;

    proxy.cut();
    let run = start(&fleet, &request()).await;
    let worker = upgrading_worker(&fleet, "w");
    let running = tokio::spawn(async move { execute(&worker).await });
    let control = fleet.control.clone();
    assert!(
        eventually(|| async {
            let rows = fleet::run_tenants(&control, run.id, None, None, 10)
                .await
                .unwrap();
            let state = |id| {
                rows.iter()
                    .find(|t| t.tenant_id == id)
                    .map(|t| (t.state.clone(), t.waits))
            };
            state(near).is_some_and(|(s, _)| s == "succeeded")
                && state(far).is_some_and(|(s, waits)| s != "failed" && waits >= 1)
        })
        .await,
        "the reachable tenant finishes while the other waits"
    );
    proxy.restore();
    running.await.unwrap();
    let done = run_state(&fleet, run.id).await;
    assert_eq!(
        (done.state.as_str(), done.counts.succeeded),
        ("succeeded", 2)
    );
}

#[tokio::test]
async fn a_worker_starts_a_run_at_boot_when_tenants_are_behind_and_only_one() {
    let fleet = Fleet::on_primary(10).await;
    tenants(&fleet, "boot", 2).await;
    let current = TenantSchema::current();
    assert!(
        fleet::start_if_behind(&fleet.control, &current)
            .await
            .unwrap()
            .is_none(),
        "nobody is behind this build"
    );
    let started = fleet::start_if_behind(&fleet.control, &upgraded())
        .await
        .unwrap()
        .expect("a run");
    assert_eq!(
        (started.started_by.as_str(), started.counts.total),
        ("boot", 2)
    );
    assert!(
        fleet::start_if_behind(&fleet.control, &upgraded())
            .await
            .unwrap()
            .is_none(),
        "one run at a time"
    );
    execute(&upgrading_worker(&fleet, "w")).await;
    assert_eq!(run_state(&fleet, started.id).await.state, "succeeded");
    assert!(
        fleet::start_if_behind(&fleet.control, &upgraded())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_cancelled_run_stops_and_resumes_where_it_stopped() {
    let fleet = Fleet::on_primary(10).await;
    tenants(&fleet, "cancel", 2).await;
    let run = start(&fleet, &request()).await;
    let txn = fleet.control.begin().await.unwrap();
    assert_eq!(
        fleet::cancel(&txn, run.id).await.unwrap().state,
        "cancelled"
    );
    txn.commit().await.unwrap();
    execute(&upgrading_worker(&fleet, "w")).await;
    let cancelled = run_state(&fleet, run.id).await;
    assert_eq!(
        (cancelled.state.as_str(), cancelled.counts.pending),
        ("cancelled", 2)
    );
    let txn = fleet.control.begin().await.unwrap();
    let again = fleet::cancel(&txn, run.id).await.unwrap_err();
    assert!(matches!(again, fleet::FleetError::InvalidState { .. }));
    drop(txn);
    let txn = fleet.control.begin().await.unwrap();
    fleet::resume(&txn, run.id).await.unwrap();
    txn.commit().await.unwrap();
    execute(&upgrading_worker(&fleet, "w")).await;
    assert_eq!(run_state(&fleet, run.id).await.counts.succeeded, 2);
}

/// Polls `check` every 50 ms for up to 30 s.
async fn eventually<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Polls the runtime's `/me` for the company until `done` (30 s at most); the last reply.
async fn me_until(
    api: &system_tests::AdminApi,
    company: &system_tests::runtime::Company,
    token: &str,
    done: impl Fn(&system_tests::admin::Reply) -> bool,
) -> system_tests::admin::Reply {
    let mut reply = None;
    for _ in 0..600 {
        let last = api
            .tenant_call(
                &company.slug,
                reqwest::Method::GET,
                "/api/v1/me",
                Some(token),
                None,
            )
            .await;
        if done(&last) {
            return last;
        }
        reply = Some(last);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reply.expect("polled")
}

#[tokio::test]
async fn through_the_admin_api_a_tenant_behind_is_refused_by_the_runtime_until_a_run_migrates_it() {
    let api = system_tests::AdminApi::start().await;
    api.register_primary().await;
    let company = api.company("behind", "starter").await;
    let token = api.owner_token(&company).await;
    let control = harness::connect(&api.app.db.url()).await;
    // As after a deploy whose code has one more tenant migration than this database.
    let names = migrations::pending_tenant_migrations(None);
    let previous = &names[names.len() - 2];
    let id: Uuid = company.id.parse().unwrap();
    control
        .execute(
            "UPDATE tenants SET schema_version = $2 WHERE id = $1",
            &[&id, previous],
        )
        .await
        .unwrap();
    control
        .execute("SELECT pg_notify('tenant_changed', $1)", &[&company.id])
        .await
        .unwrap();
    let refused = me_until(&api, &company, &token, |reply| reply.status == 503).await;
    assert_eq!((refused.status, refused.code()), (503, "tenant_migrating"));
    assert_eq!(refused.header("retry-after"), Some("5"));
    let view = api.get(&format!("/api/v1/tenants/{}", company.id)).await;
    assert_eq!(
        view.body["pending_migrations"],
        serde_json::json!([names.last().unwrap()])
    );

    let dry = api
        .post(
            "/api/v1/migrations/runs",
            serde_json::json!({ "dry_run": true }),
        )
        .await;
    assert_eq!(
        (dry.status, dry.body["tenants_behind"].as_i64()),
        (200, Some(1))
    );
    let started = api
        .post(
            "/api/v1/migrations/runs",
            serde_json::json!({ "canary_count": 1 }),
        )
        .await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let run_id = started.body["id"].as_str().unwrap().to_owned();
    let mut detail = api.get(&format!("/api/v1/migrations/runs/{run_id}")).await;
    for _ in 0..600 {
        if detail.body["state"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        detail = api.get(&format!("/api/v1/migrations/runs/{run_id}")).await;
    }
    assert_eq!(detail.body["state"], "succeeded", "{:?}", detail.body);
    assert_eq!(detail.body["tenants"][0]["slug"], "behind");
    assert_eq!(detail.body["succeeded"], 1);
    let served = me_until(&api, &company, &token, |reply| reply.status == 200).await;
    assert_eq!(
        served.status, 200,
        "served again once migrated: {:?}",
        served.body
    );
    let view = api.get(&format!("/api/v1/tenants/{}", company.id)).await;
    assert_eq!(view.body["pending_migrations"], serde_json::json!([]));

    let listed = api.get("/api/v1/migrations/runs?limit=1").await;
    assert_eq!(listed.body["items"][0]["id"], run_id.as_str());
    let resume = api
        .post(
            &format!("/api/v1/migrations/runs/{run_id}/resume"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        (resume.status, resume.code()),
        (409, "migration_run_not_resumable")
    );
    let cancel = api
        .post(
            &format!("/api/v1/migrations/runs/{run_id}/cancel"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        (cancel.status, cancel.code()),
        (409, "migration_run_not_cancellable")
    );
    let missing = api
        .get(&format!("/api/v1/migrations/runs/{}", Uuid::now_v7()))
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "migration_run_not_found")
    );
    let bad = api
        .post(
            "/api/v1/migrations/runs",
            serde_json::json!({ "max_per_server": 0 }),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (422, "validation_failed"));
    assert_eq!(api.audit("migration_run.started").await.len(), 1);
}

#[tokio::test]
async fn the_fleet_gauges_count_jobs_by_kind_and_outcome_and_the_newest_run_by_state() {
    let fleet = Fleet::on_primary(10).await;
    let ids = tenants(&fleet, "gauge", 2).await;
    make_bad(&fleet, ids[0]).await;
    let run = start(&fleet, &request()).await;
    let before = control_plane::fleet_metrics::snapshot(&fleet.control)
        .await
        .unwrap();
    assert!(before.run_active);
    assert_eq!(before.tenants_behind, 0, "behind this build: nobody");
    assert!(
        before
            .jobs
            .contains(&("migration_run".into(), "queued".into(), 1))
    );
    assert!(
        before
            .jobs
            .contains(&("provision".into(), "succeeded".into(), 2))
    );
    execute(&upgrading_worker(&fleet, "w")).await;
    let after = control_plane::fleet_metrics::snapshot(&fleet.control)
        .await
        .unwrap();
    assert_eq!(run_state(&fleet, run.id).await.state, "failed");
    assert!(!after.run_active);
    assert_eq!(
        after.run_tenants,
        [
            ("pending", 0),
            ("running", 0),
            ("succeeded", 1),
            ("failed", 1),
            ("skipped", 0)
        ]
    );
    let provisions = after
        .finished_last_hour
        .iter()
        .find(|(kind, outcome, ..)| kind == "provision" && outcome == "succeeded")
        .expect("provisions finished this hour");
    assert_eq!(provisions.2, 2);
    assert!(provisions.3 > 0.0 && provisions.4 >= provisions.3);
    // The process's recorder is installed on first use (a service does it at start).
    common::metrics::handle();
    control_plane::fleet_metrics::publish(&after);
    assert!(common::metrics::render().contains("erp_migration_run_tenants{state=\"failed\"}"));
}

#[tokio::test]
async fn a_run_of_this_builds_migrations_gives_older_admins_billing_manage() {
    let fleet = Fleet::on_primary(10).await;
    let id = tenants(&fleet, "older", 1).await[0];
    // As a company made before billing existed: no `billing.manage`, one migration behind.
    let client = tenant_admin(&fleet, id, Server::primary().admin_url()).await;
    client
        .batch_execute(
            "DELETE FROM role_permissions WHERE permission_code = 'billing.manage'; \
             DELETE FROM tenant_schema_migrations \
               WHERE version = 'm20261203_000006_grant_billing_manage'",
        )
        .await
        .unwrap();
    fleet
        .exec(&format!(
            "UPDATE tenants SET schema_version = 'm20261122_000005_create_refresh_tokens' \
             WHERE id = '{id}'"
        ))
        .await;
    let current = TenantSchema::current();
    let txn = fleet.control.begin().await.unwrap();
    fleet::start(&txn, &current, &request(), "test")
        .await
        .unwrap();
    txn.commit().await.unwrap();
    execute(&fleet.worker("w")).await;
    let granted = client
        .query_one(
            "SELECT count(*) FROM role_permissions rp JOIN roles r ON r.id = rp.role_id \
             WHERE r.name = 'admin' AND rp.permission_code = 'billing.manage'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(granted, 1);
    assert_eq!(
        fleet.tenant(id).await.schema_version,
        Some(migrations::latest_tenant_version())
    );
}

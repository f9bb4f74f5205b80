//! Faults during provisioning: a worker killed between any two steps, workers racing, a
//! database server that goes away (for a while, or for good), and a delete that arrives
//! while the saga runs. After each, every tenant is `active` or cleanly `failed`, and the
//! reconciler finds nothing of ours left behind.

use common::entities::{JobState, TenantStatus};
use common::ids::TenantId;
use provisioner::ReconcileReport;
use provisioner::{DELETE_STEPS, PROVISION_STEPS};
use provisioner::{Executed, Provisioner, tenants};
use system_tests::fleet::{self, Fleet};
use system_tests::{Proxy, Server};

/// Our part of the report: orphans and missing databases (unknown objects belong to
/// other fleets sharing the server, such as concurrent tests).
fn assert_clean(report: &ReconcileReport) {
    assert!(report.orphan_databases.is_empty(), "{report:?}");
    assert!(report.orphan_roles.is_empty(), "{report:?}");
    assert!(report.missing_databases.is_empty(), "{report:?}");
    assert!(report.unreachable_servers.is_empty(), "{report:?}");
}

#[tokio::test]
async fn a_worker_killed_between_any_two_steps_is_resumed_to_an_active_tenant() {
    let fleet = Fleet::on_primary(20).await;
    for step in PROVISION_STEPS {
        let slug = format!("crash-{}", step.replace('_', "-"));
        let created = fleet.create_tenant(&slug).await.unwrap();
        let doomed = fleet.worker("doomed");
        doomed.crash_at(step);
        let crashed = doomed.try_execute_job().await.unwrap();
        assert_eq!(
            crashed,
            Executed::Crashed {
                job_id: created.job_id,
                step: step.to_owned()
            }
        );
        let before = fleet.job(created.job_id).await;
        assert_eq!(
            before.state,
            JobState::Running,
            "a dead worker's job keeps its lease"
        );
        assert_eq!(
            fleet.run_jobs(&fleet.worker("other")).await,
            [],
            "nobody steals a live lease"
        );

        fleet.expire_leases().await;
        let resumed = fleet.run_jobs(&fleet.worker("rescuer")).await;
        assert_eq!(
            resumed,
            [Executed::Finished {
                job_id: created.job_id,
                state: "succeeded"
            }],
            "after a crash at {step}"
        );
        let tenant = fleet.tenant(created.tenant_id).await;
        assert_eq!(
            tenant.status,
            TenantStatus::Active,
            "after a crash at {step}"
        );
        let job = fleet.job(created.job_id).await;
        assert_eq!(job.completed_steps, serde_json::json!(PROVISION_STEPS));
        assert_eq!(job.attempts, 2);
        assert_seeded_once(&fleet, &tenant).await;
    }
    assert_clean(&fleet.worker("auditor").reconcile(false).await.unwrap());
}

#[tokio::test]
async fn a_worker_killed_after_activating_does_not_undo_a_later_suspension_when_resumed() {
    let fleet = Fleet::on_primary(20).await;
    let created = fleet.create_tenant("then-suspended").await.unwrap();
    let doomed = fleet.worker("doomed");
    doomed.crash_at("activate");
    let crashed = doomed.try_execute_job().await.unwrap();
    assert!(matches!(crashed, Executed::Crashed { .. }), "{crashed:?}");
    assert_eq!(
        fleet.tenant(created.tenant_id).await.status,
        TenantStatus::Active
    );
    // Suspended (by an admin here; billing does the same) while the job is still leased.
    tenants::suspend(
        &fleet.control,
        created.tenant_id,
        common::entities::SuspensionKind::Admin,
        "suspended before the job was finished",
    )
    .await
    .unwrap();

    fleet.expire_leases().await;
    let resumed = fleet.run_jobs(&fleet.worker("rescuer")).await;
    assert_eq!(
        resumed,
        [Executed::Finished {
            job_id: created.job_id,
            state: "succeeded"
        }]
    );
    assert_eq!(
        fleet.tenant(created.tenant_id).await.status,
        TenantStatus::Suspended,
        "the rerun of `activate` left the suspension alone"
    );
}

#[tokio::test]
async fn a_worker_killed_between_any_two_delete_steps_is_resumed_to_a_deleted_tenant() {
    let fleet = Fleet::on_primary(20).await;
    let admin = fleet::connect(Server::primary().admin_url()).await;
    for step in DELETE_STEPS {
        let tenant = fleet
            .active_tenant(&format!("gone-{}", step.replace('_', "-")))
            .await;
        let job = tenants::delete(&fleet.control, tenant.id, "test")
            .await
            .unwrap();
        let doomed = fleet.worker("doomed");
        doomed.crash_at(step);
        let crashed = doomed.try_execute_job().await.unwrap();
        assert_eq!(
            crashed,
            Executed::Crashed {
                job_id: job,
                step: step.to_owned()
            }
        );
        fleet.expire_leases().await;
        let resumed = fleet.run_jobs(&fleet.worker("rescuer")).await;
        assert_eq!(
            resumed,
            [Executed::Finished {
                job_id: job,
                state: "succeeded"
            }],
            "{step}"
        );
        let deleted = fleet.tenant(tenant.id).await;
        assert_eq!(
            deleted.status,
            TenantStatus::Deleted,
            "after a crash at {step}"
        );
        assert!(
            deleted.backup_sha256.is_some(),
            "the final backup is recorded"
        );
        fleet::assert_dropped(&admin, tenant.id).await;
    }
    assert_clean(&fleet.worker("auditor").reconcile(false).await.unwrap());
}

/// The tenant's own role connects and finds exactly one first admin and four roles.
async fn assert_seeded_once(fleet: &Fleet, tenant: &common::entities::tenants::Model) {
    let name = TenantId(tenant.id).database_name();
    let own = fleet::connect(&fleet.tenant_url(tenant, Server::primary().admin_url(), &name)).await;
    let counts = own
        .query_one(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM roles)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((counts.get::<_, i64>(0), counts.get::<_, i64>(1)), (1, 4));
}

#[tokio::test]
async fn two_workers_racing_for_one_job_run_it_once() {
    let fleet = Fleet::on_primary(10).await;
    let created = fleet.create_tenant("contested").await.unwrap();
    let (a, b) = (fleet.worker("a"), fleet.worker("b"));
    let (first, second) = tokio::join!(a.try_execute_job(), b.try_execute_job());
    let mut outcomes = [first.unwrap(), second.unwrap()];
    outcomes.sort_by_key(|outcome| matches!(outcome, Executed::Idle));
    assert_eq!(
        outcomes,
        [
            Executed::Finished {
                job_id: created.job_id,
                state: "succeeded"
            },
            Executed::Idle
        ]
    );
    assert_eq!(fleet.job(created.job_id).await.attempts, 1);
}

#[tokio::test]
async fn three_workers_provision_eight_tenants_at_once_from_one_template() {
    let fleet = Fleet::on_primary(10).await;
    let mut ids = Vec::new();
    for n in 0..8 {
        ids.push(
            fleet
                .create_tenant(&format!("busy-{n}"))
                .await
                .unwrap()
                .tenant_id,
        );
    }
    let workers: Vec<Provisioner> = (0..3).map(|n| fleet.worker(&format!("w{n}"))).collect();
    let runs = workers.iter().map(|worker| fleet.run_jobs(worker));
    let outcomes: Vec<Executed> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(outcomes.len(), 8, "each job ran exactly once: {outcomes:?}");
    for id in ids {
        assert_eq!(fleet.tenant(id).await.status, TenantStatus::Active);
    }
    assert_clean(&fleet.worker("auditor").reconcile(false).await.unwrap());
}

#[tokio::test]
async fn a_server_that_is_down_delays_provisioning_and_leaves_nothing_half_made() {
    let fleet = Fleet::new().await;
    let (proxy, url) = Proxy::in_front_of(Server::primary().admin_url()).await;
    fleet
        .register_behind("flaky", &url, Server::primary().admin_url(), 10)
        .await;
    let created = fleet.create_tenant("patient").await.unwrap();
    proxy.cut();

    let worker = fleet.worker("w1");
    let outcome = worker.try_execute_job().await.unwrap();
    assert!(matches!(outcome, Executed::Retrying { .. }), "{outcome:?}");
    let job = fleet.job(created.job_id).await;
    assert_eq!(job.state, JobState::Queued);
    assert!(job.last_error.unwrap().contains("unreachable"));
    assert_eq!(
        job.run_after - job.updated_at,
        chrono::Duration::seconds(1),
        "the first retry backs off by one second"
    );
    assert_eq!(
        fleet.tenant(created.tenant_id).await.status,
        TenantStatus::Provisioning
    );
    assert_eq!(
        fleet.run_jobs(&worker).await,
        [],
        "not due before its backoff"
    );
    let name = TenantId(created.tenant_id).database_name();
    let admin = fleet::connect(Server::primary().admin_url()).await;
    assert!(!fleet::exists(&admin, "role", &name).await);

    proxy.restore();
    fleet.make_jobs_due().await;
    assert_eq!(
        fleet.run_jobs(&worker).await,
        [Executed::Finished {
            job_id: created.job_id,
            state: "succeeded"
        }]
    );
    assert_eq!(
        fleet.tenant(created.tenant_id).await.status,
        TenantStatus::Active
    );
    assert_clean(&worker.reconcile(false).await.unwrap());
}

#[tokio::test]
async fn a_server_gone_for_good_fails_the_tenant_and_the_reconciler_clears_the_leftovers() {
    let fleet = Fleet::new().await;
    let (proxy, url) = Proxy::in_front_of(Server::primary().admin_url()).await;
    fleet
        .register_behind("doomed", &url, Server::primary().admin_url(), 10)
        .await;
    let created = fleet.create_tenant("unlucky").await.unwrap();
    let first = fleet.worker("first");
    first.crash_at("create_database");
    first.try_execute_job().await.unwrap();
    // The role and database exist; then the server disappears and retries run out.
    proxy.cut();
    fleet.expire_leases().await;
    fleet
        .exec("UPDATE jobs SET max_attempts = attempts + 1")
        .await;
    let outcome = fleet.run_jobs(&fleet.worker("second")).await;
    assert_eq!(
        outcome,
        [Executed::Finished {
            job_id: created.job_id,
            state: "failed"
        }]
    );
    let failed = fleet.tenant(created.tenant_id).await;
    assert_eq!(failed.status, TenantStatus::Failed);
    assert!(failed.failure_reason.unwrap().contains("unreachable"));
    assert!(
        failed.db_name.is_some(),
        "names kept: the leftovers could not be dropped"
    );

    let auditor = fleet.worker("auditor");
    assert_eq!(
        auditor.reconcile(false).await.unwrap().unreachable_servers,
        ["doomed"]
    );
    proxy.restore();
    let name = TenantId(created.tenant_id).database_name();
    let found = auditor.reconcile(false).await.unwrap();
    assert_eq!(
        found
            .orphan_databases
            .iter()
            .map(|o| &o.name)
            .collect::<Vec<_>>(),
        [&name]
    );
    assert_eq!(
        found
            .orphan_roles
            .iter()
            .map(|o| &o.name)
            .collect::<Vec<_>>(),
        [&name]
    );
    let repaired = auditor.reconcile(true).await.unwrap();
    assert_eq!(
        repaired.orphan_databases.len(),
        1,
        "reported as it is dropped"
    );
    let admin = fleet::connect(Server::primary().admin_url()).await;
    assert!(!fleet::exists(&admin, "database", &name).await);
    assert!(!fleet::exists(&admin, "role", &name).await);
    assert_eq!(fleet.tenant(created.tenant_id).await.db_name, None);
    assert_clean(&auditor.reconcile(false).await.unwrap());
}

#[tokio::test]
async fn deleting_a_tenant_while_it_is_provisioning_stops_the_saga_and_drops_what_it_made() {
    let fleet = Fleet::on_primary(10).await;
    let created = fleet.create_tenant("fickle").await.unwrap();
    let first = fleet.worker("first");
    first.crash_at("grant_and_seed");
    first.try_execute_job().await.unwrap();
    let delete_job = tenants::delete(&fleet.control, created.tenant_id, "changed their mind")
        .await
        .unwrap();
    assert_eq!(
        fleet.tenant(created.tenant_id).await.status,
        TenantStatus::Deleting
    );

    let worker = fleet.worker("second");
    let waiting = worker.try_execute_job().await.unwrap();
    assert!(
        matches!(&waiting, Executed::Retrying { job_id, .. } if *job_id == delete_job),
        "the delete waits while the provisioning job may still run: {waiting:?}"
    );
    fleet.expire_leases().await;
    fleet.make_jobs_due().await;
    let outcomes = fleet.run_jobs(&worker).await;
    assert!(
        outcomes.contains(&Executed::Finished {
            job_id: created.job_id,
            state: "cancelled"
        }),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&Executed::Finished {
            job_id: delete_job,
            state: "succeeded"
        }),
        "{outcomes:?}"
    );
    assert_eq!(
        fleet.tenant(created.tenant_id).await.status,
        TenantStatus::Deleted
    );
    let admin = fleet::connect(Server::primary().admin_url()).await;
    fleet::assert_dropped(&admin, created.tenant_id).await;
    assert_clean(&worker.reconcile(false).await.unwrap());
}

#[tokio::test]
async fn deleting_a_tenant_still_queued_cancels_its_job_and_needs_no_server() {
    let fleet = Fleet::on_primary(10).await;
    let created = fleet.create_tenant("never-mind").await.unwrap();
    let delete_job = tenants::delete(&fleet.control, created.tenant_id, "typo")
        .await
        .unwrap();
    assert_eq!(fleet.job(created.job_id).await.state, JobState::Cancelled);
    let outcomes = fleet.run_jobs(&fleet.worker("w")).await;
    assert_eq!(
        outcomes,
        [Executed::Finished {
            job_id: delete_job,
            state: "succeeded"
        }]
    );
    let tenant = fleet.tenant(created.tenant_id).await;
    assert_eq!(
        (tenant.status, tenant.backup_path),
        (TenantStatus::Deleted, None)
    );
}

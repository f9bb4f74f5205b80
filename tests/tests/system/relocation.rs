//! Relocation between two real servers and emptying a server: a tenant moves with equal
//! row counts and keeps its credentials; a relocation interrupted at any step ends on one
//! server (never both, never neither); a failing relocation is undone and the tenant
//! thawed; a drained, full or own server is refused; an evacuation moves every tenant with
//! bounded concurrency.

use common::entities::{JobState, TenantStatus};
use provisioner::{Executed, ManualClock, RELOCATE_STEPS, relocation, servers};
use std::sync::Arc;
use system_tests::fleet::{self, Fleet};
use system_tests::{Proxy, Server};
use uuid::Uuid;

/// A fleet on the primary (`pg-1`) and second (`pg-2`) servers; returns both ids.
async fn two_servers() -> (Fleet, Uuid, Uuid) {
    let fleet = Fleet::on_primary(10).await;
    let first = fleet.server_id("pg-1").await;
    let second = fleet
        .register("pg-2", Server::second().admin_url(), 10)
        .await;
    // New tenants go to pg-1 until it is full.
    servers::set_draining(&fleet.control, second, true)
        .await
        .unwrap();
    (fleet, first, second)
}

/// An active tenant on pg-1 with `rows` settings.
async fn tenant_with_rows(fleet: &Fleet, slug: &str, rows: i64) -> Uuid {
    let tenant = fleet.active_tenant(slug).await;
    let db = fleet
        .live_db(tenant.id, Server::primary().admin_url())
        .await;
    fleet::fill_settings(&db, rows).await;
    tenant.id
}

/// The tenant lives on `server` alone: its row says so, it is not frozen, its database
/// there has `rows` settings, and its own role can write to it.
async fn assert_lives_on(fleet: &Fleet, tenant: Uuid, server: Uuid, url: &str, rows: i64) {
    let row = fleet.tenant(tenant).await;
    assert_eq!(row.server_id, Some(server));
    assert_eq!(row.frozen_at, None, "not frozen");
    assert_eq!(row.status, TenantStatus::Active);
    let database = row.db_name.clone().unwrap();
    let own = fleet::connect(&fleet.tenant_url(&row, url, &database)).await;
    assert_eq!(fleet::rows_of(&own, "settings").await, rows);
    own.execute(
        "INSERT INTO settings (key, value) VALUES ($1, '1')",
        &[&Uuid::now_v7().to_string()],
    )
    .await
    .expect("the tenant's own role writes where it lives");
    own.execute("DELETE FROM settings WHERE value = '1'", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tenant_moves_to_another_server_with_equal_row_counts_and_its_credentials() {
    let (fleet, first, second) = two_servers().await;
    let tenant = tenant_with_rows(&fleet, "mover", 500).await;
    servers::set_draining(&fleet.control, second, false)
        .await
        .unwrap();
    let before = fleet.tenant(tenant).await;

    let job = relocation::request(&fleet.control, tenant, Some(second))
        .await
        .unwrap();
    let clock = ManualClock::starting_now();
    let worker = fleet.worker("mover").with_clock(Arc::new(clock.clone()));
    assert_eq!(
        fleet.run_jobs(&worker).await,
        [Executed::Finished {
            job_id: job,
            state: "succeeded"
        }]
    );
    let freeze_ms = fleet.job(job).await.payload["freeze_ms"].as_i64().unwrap();
    println!("relocation freeze: {freeze_ms} ms");
    assert_lives_on(&fleet, tenant, second, Server::second().admin_url(), 500).await;
    let report = worker.reconcile(false).await.unwrap();
    assert!(report.is_clean(), "{report:?}");

    let old = before.db_name.clone().unwrap();
    let source = fleet::connect(Server::primary().admin_url()).await;
    let role = before.db_role.clone().unwrap();
    let refused =
        fleet::try_connect(&fleet.tenant_url(&before, Server::primary().admin_url(), &old)).await;
    assert!(refused.is_err(), "the source no longer lets the role in");
    clock.advance(chrono::Duration::hours(25));
    assert_eq!(worker.drop_due_copies().await.unwrap(), [old.as_str()]);
    assert!(!fleet::exists(&source, "database", &old).await);
    assert!(
        !fleet::exists(&source, "role", &role).await,
        "nothing left on pg-1"
    );
    let _ = first;
}

#[tokio::test]
async fn a_relocation_interrupted_at_any_step_ends_on_one_server_only() {
    let (fleet, first, second) = two_servers().await;
    servers::set_draining(&fleet.control, second, false)
        .await
        .unwrap();
    servers::set_capacity(&fleet.control, second, 20)
        .await
        .unwrap();
    let urls = [
        (first, Server::primary().admin_url()),
        (second, Server::second().admin_url()),
    ];
    for step in RELOCATE_STEPS {
        let slug = format!("hop-{}", step.replace('_', "-"));
        servers::set_draining(&fleet.control, second, true)
            .await
            .unwrap();
        let tenant = tenant_with_rows(&fleet, &slug, 200).await;
        servers::set_draining(&fleet.control, second, false)
            .await
            .unwrap();
        let job = relocation::request(&fleet.control, tenant, Some(second))
            .await
            .unwrap();
        let doomed = fleet.worker("doomed");
        doomed.crash_at(step);
        assert_eq!(
            doomed.try_execute_job().await.unwrap(),
            Executed::Crashed {
                job_id: job,
                step: step.to_owned()
            }
        );
        let mid = fleet.tenant(tenant).await;
        let expected = if step == "switch" { second } else { first };
        assert_eq!(mid.server_id, Some(expected), "after a crash at {step}");
        fleet.expire_leases().await;
        let resumed = fleet.run_jobs(&fleet.worker("rescuer")).await;
        assert_eq!(
            resumed,
            [Executed::Finished {
                job_id: job,
                state: "succeeded"
            }],
            "after a crash at {step}"
        );
        assert_lives_on(&fleet, tenant, second, urls[1].1, 200).await;
    }
    let report = fleet.worker("auditor").reconcile(false).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test]
async fn a_relocation_that_gives_up_is_undone_and_the_tenant_thawed_on_its_server() {
    let fleet = Fleet::on_primary(10).await;
    let first = fleet.server_id("pg-1").await;
    let (proxy, proxied) = Proxy::in_front_of(Server::second().admin_url()).await;
    let second = fleet
        .register_behind("pg-2", &proxied, Server::second().admin_url(), 10)
        .await;
    servers::set_draining(&fleet.control, second, true)
        .await
        .unwrap();
    let tenant = tenant_with_rows(&fleet, "stranded", 50).await;
    servers::set_draining(&fleet.control, second, false)
        .await
        .unwrap();
    let job = relocation::request(&fleet.control, tenant, Some(second))
        .await
        .unwrap();
    let doomed = fleet.worker("doomed");
    doomed.crash_at("copy");
    doomed.try_execute_job().await.unwrap();
    assert!(
        fleet.tenant(tenant).await.frozen_at.is_some(),
        "crashed frozen"
    );

    proxy.cut();
    fleet
        .exec(&format!(
            "UPDATE jobs SET max_attempts = attempts + 1 WHERE id = '{job}'"
        ))
        .await;
    fleet.expire_leases().await;
    fleet.run_jobs(&fleet.worker("rescuer")).await;
    assert_eq!(fleet.job(job).await.state, JobState::Failed);
    assert_lives_on(&fleet, tenant, first, Server::primary().admin_url(), 50).await;

    proxy.restore();
    let dropped = fleet.worker("sweeper").drop_due_copies().await.unwrap();
    assert_eq!(dropped.len(), 1, "the half-made target goes once reachable");
    let report = fleet.worker("auditor").reconcile(false).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test]
async fn a_drained_full_or_own_server_is_refused_as_a_target() {
    let (fleet, first, second) = two_servers().await;
    let tenant = fleet.active_tenant("picky").await;
    let code = |result: Result<Uuid, provisioner::ProvisionError>| result.unwrap_err().code();

    let drained = relocation::request(&fleet.control, tenant.id, Some(second)).await;
    assert_eq!(code(drained), "target_draining");
    let own = relocation::request(&fleet.control, tenant.id, Some(first)).await;
    assert_eq!(code(own), "same_server");
    servers::set_draining(&fleet.control, second, false)
        .await
        .unwrap();
    servers::set_capacity(&fleet.control, second, 0)
        .await
        .unwrap();
    let full = relocation::request(&fleet.control, tenant.id, Some(second)).await;
    assert_eq!(code(full), "target_full");
    let anywhere = relocation::request(&fleet.control, tenant.id, None).await;
    assert_eq!(code(anywhere), "no_capacity");
    assert_eq!(
        fleet
            .count("SELECT count(*) FROM jobs WHERE kind = 'relocate'")
            .await,
        0
    );
}

#[tokio::test]
async fn evacuating_a_server_moves_every_tenant_a_bounded_number_at_a_time() {
    let (fleet, first, second) = two_servers().await;
    let mut tenants = Vec::new();
    for slug in ["evac-a", "evac-b", "evac-c"] {
        tenants.push(tenant_with_rows(&fleet, slug, 20).await);
    }
    servers::set_draining(&fleet.control, second, false)
        .await
        .unwrap();
    relocation::evacuate(&fleet.control, first, 2)
        .await
        .unwrap();
    let worker = fleet.worker("evacuator");

    let mut most_in_flight = 0;
    for _ in 0..10 {
        worker.evacuate_servers().await.unwrap();
        let in_flight = fleet
            .count("SELECT count(*) FROM jobs WHERE kind = 'relocate' AND state IN ('queued', 'running')")
            .await;
        most_in_flight = most_in_flight.max(in_flight);
        if in_flight == 0 {
            break;
        }
        // One job at a time, so the bound is seen between jobs.
        worker.try_execute_job().await.unwrap();
    }
    assert_eq!(most_in_flight, 2, "two at a time");
    for tenant in tenants {
        assert_lives_on(&fleet, tenant, second, Server::second().admin_url(), 20).await;
    }
    let emptied = fleet
        .count(&format!(
            "SELECT count(*) FROM database_servers WHERE id = '{first}' \
             AND state = 'draining' AND evacuation_concurrency IS NULL"
        ))
        .await;
    assert_eq!(emptied, 1, "the evacuation ended; the server stays drained");
}

#[tokio::test]
async fn the_relocation_benchmark_runs_end_to_end_and_loses_no_acknowledged_write() {
    let figures = system_tests::relocation_bench::run(2_000).await;
    println!("{}", system_tests::relocation_bench::report(&figures));
    assert!(figures.writes_acknowledged > 0, "the writer wrote");
    assert_eq!(figures.writes_lost, 0);
}

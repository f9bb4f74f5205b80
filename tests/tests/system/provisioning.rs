//! The provisioning saga end to end on a real server: what a tenant gets, who can reach
//! it, the bad inputs that must make nothing, and the lifecycle's guard rails.

use common::entities::{SuspensionKind, TenantStatus};
use common::ids::TenantId;
use provisioner::PROVISION_STEPS;
use provisioner::tenants;
use provisioner::{Executed, ProvisionError};
use std::time::Duration;
use system_tests::Server;
use system_tests::fleet::{self, Fleet};

#[tokio::test]
async fn a_tenant_gets_its_own_role_and_a_database_cloned_at_the_newest_schema() {
    let fleet = Fleet::on_primary(10).await;
    let mut changes = fleet::listen(&fleet.db.url(), common::changes::CHANNEL).await;
    let created = fleet.create_tenant("acme").await.unwrap();
    assert_eq!(
        fleet.tenant(created.tenant_id).await.status,
        TenantStatus::Provisioning
    );

    let outcomes = fleet.run_jobs(&fleet.worker("w1")).await;
    assert_eq!(
        outcomes,
        [Executed::Finished {
            job_id: created.job_id,
            state: "succeeded"
        }]
    );
    let tenant = fleet.tenant(created.tenant_id).await;
    let name = TenantId(tenant.id).database_name();
    assert_eq!(tenant.status, TenantStatus::Active);
    assert_eq!(
        tenant.schema_version,
        Some(migrations::latest_tenant_version())
    );
    assert_eq!(
        (tenant.db_name.as_deref(), tenant.db_role.as_deref()),
        (Some(&*name), Some(&*name))
    );
    let job = fleet.job(created.job_id).await;
    assert_eq!(job.completed_steps, serde_json::json!(PROVISION_STEPS));

    let admin = fleet::connect(Server::primary().admin_url()).await;
    let role = admin
        .query_one(
            "SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolconnlimit, \
             array_to_string(r.rolconfig, ','), pg_get_userbyid(d.datdba) \
             FROM pg_roles r JOIN pg_database d ON d.datname = r.rolname WHERE r.rolname = $1",
            &[&name],
        )
        .await
        .unwrap();
    assert!(!role.get::<_, bool>(0) && !role.get::<_, bool>(1) && !role.get::<_, bool>(2));
    assert_eq!(
        role.get::<_, i32>(3),
        5,
        "the trial plan's connection limit"
    );
    assert!(role.get::<_, String>(4).contains("statement_timeout=30s"));
    assert_eq!(
        role.get::<_, String>(5),
        name,
        "the database is owned by its role"
    );

    // The tenant's own role sees the seeded data.
    let url = fleet.tenant_url(&tenant, Server::primary().admin_url(), &name);
    let own = fleet::connect(&url).await;
    let roles: Vec<String> = own
        .query("SELECT name FROM roles ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(roles, ["admin", "manager", "staff", "viewer"]);
    let admin_user = own
        .query_one(
            "SELECT email, status, set_password_token_hash FROM users",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(admin_user.get::<_, String>(0), "admin@acme.example");
    assert_eq!(admin_user.get::<_, String>(1), "invited");
    let invite = provisioner::admin_invite(&fleet.control, &fleet.keyring, job.id)
        .await
        .unwrap()
        .expect("the invite is kept on the job");
    assert_eq!(
        Some(common::tokens::hash_opaque(invite.expose())),
        admin_user.get::<_, Option<String>>(2),
        "the token to send matches the hash seeded"
    );
    let tampering = own.execute("DELETE FROM audit_log", &[]).await.unwrap_err();
    assert_eq!(tampering.code().map(|c| c.code()), Some("42501"));

    let mut heard = Vec::new();
    while let Ok(Some(payload)) = tokio::time::timeout(Duration::from_secs(2), changes.recv()).await
    {
        heard.push(payload);
        if heard.len() == 2 {
            break;
        }
    }
    assert_eq!(
        heard,
        [tenant.id.to_string(), tenant.id.to_string()],
        "created, then active"
    );
}

#[tokio::test]
async fn a_tenant_role_cannot_connect_to_another_tenants_database() {
    let fleet = Fleet::on_primary(10).await;
    let a = fleet.active_tenant("tenant-a").await;
    let b = fleet.active_tenant("tenant-b").await;
    let a_name = TenantId(a.id).database_name();
    let b_name = TenantId(b.id).database_name();
    let server = Server::primary().admin_url();

    assert!(
        fleet::try_connect(&fleet.tenant_url(&a, server, &a_name))
            .await
            .is_ok()
    );
    for foreign in [b_name.as_str(), provisioner::template_name().as_str()] {
        let refused = fleet::try_connect(&fleet.tenant_url(&a, server, foreign))
            .await
            .err()
            .unwrap_or_else(|| panic!("tenant A reached {foreign}"));
        let code = refused.code().map(|c| c.code().to_owned());
        // 42501: no CONNECT privilege; 55000: the template accepts no connections at all.
        assert!(
            matches!(code.as_deref(), Some("42501" | "55000")),
            "{foreign}: {refused}"
        );
    }
}

#[tokio::test]
async fn bad_tenant_input_is_refused_with_a_code_and_makes_nothing() {
    let fleet = Fleet::on_primary(10).await;
    fleet.create_tenant("acme").await.unwrap();
    let code = |result: Result<_, ProvisionError>| result.unwrap_err().code();

    for slug in [
        "ab",
        "-acme",
        "acme-",
        "ac me",
        "ácme",
        "www",
        "Admin",
        &"x".repeat(41),
    ] {
        assert_eq!(
            code(fleet.create_tenant(slug).await),
            "validation_failed",
            "{slug}"
        );
    }
    assert_eq!(code(fleet.create_tenant("ACME").await), "slug_taken");
    assert_eq!(
        code(fleet.create_tenant_on("other", "platinum").await),
        "unknown_plan"
    );
    let no_email = tenants::NewTenant {
        slug: "other".into(),
        name: "Other".into(),
        plan: "trial".into(),
        admin_email: "not-an-email".into(),
        admin_password_hash: None,
    };
    assert_eq!(
        code(tenants::create(&fleet.control, no_email).await),
        "validation_failed"
    );

    assert_eq!(fleet.count("SELECT count(*) FROM tenants").await, 1);
    assert_eq!(fleet.count("SELECT count(*) FROM jobs").await, 1);
}

#[tokio::test]
async fn without_server_capacity_creation_is_refused_and_a_lost_race_fails_cleanly() {
    let fleet = Fleet::new().await;
    let refused = fleet.create_tenant("early").await.unwrap_err();
    assert_eq!(refused.code(), "no_capacity", "no server registered at all");

    let server = fleet
        .register("pg-1", Server::primary().admin_url(), 1)
        .await;
    // Both pass the early check; only one can be placed.
    let first = fleet.create_tenant("first").await.unwrap();
    let second = fleet.create_tenant("second").await.unwrap();
    fleet.run_jobs(&fleet.worker("w1")).await;
    assert_eq!(
        fleet.tenant(first.tenant_id).await.status,
        TenantStatus::Active
    );
    let lost = fleet.tenant(second.tenant_id).await;
    assert_eq!(lost.status, TenantStatus::Failed);
    assert!(lost.failure_reason.unwrap().contains("free capacity"));
    assert_eq!(lost.server_id, None, "nothing was placed for it");

    assert_eq!(
        fleet.create_tenant("third").await.unwrap_err().code(),
        "no_capacity"
    );
    provisioner::servers::set_capacity(&fleet.control, server, 5)
        .await
        .unwrap();
    provisioner::servers::set_draining(&fleet.control, server, true)
        .await
        .unwrap();
    assert_eq!(
        fleet.create_tenant("third").await.unwrap_err().code(),
        "no_capacity"
    );
}

#[tokio::test]
async fn suspend_resume_and_delete_follow_the_state_machine_and_announce_themselves() {
    let fleet = Fleet::on_primary(10).await;
    let pending = fleet.create_tenant("pending").await.unwrap();
    let refused = tenants::suspend(
        &fleet.control,
        pending.tenant_id,
        SuspensionKind::Admin,
        "x",
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), "invalid_transition");
    assert_eq!(
        refused.to_string(),
        "a tenant cannot go from provisioning to suspended"
    );

    let tenant = fleet.active_tenant("steady").await;
    let mut changes = fleet::listen(&fleet.db.url(), common::changes::CHANNEL).await;
    let no_reason = tenants::suspend(&fleet.control, tenant.id, SuspensionKind::Admin, "  ").await;
    assert_eq!(no_reason.unwrap_err().code(), "validation_failed");

    tenants::suspend(
        &fleet.control,
        tenant.id,
        SuspensionKind::Billing,
        "invoice unpaid",
    )
    .await
    .unwrap();
    let suspended = fleet.tenant(tenant.id).await;
    assert_eq!(suspended.status, TenantStatus::Suspended);
    assert_eq!(suspended.suspension_kind, Some(SuspensionKind::Billing));
    assert_eq!(recv(&mut changes).await, tenant.id.to_string());
    let twice = tenants::suspend(&fleet.control, tenant.id, SuspensionKind::Admin, "again").await;
    assert_eq!(twice.unwrap_err().code(), "invalid_transition");

    tenants::resume(&fleet.control, tenant.id).await.unwrap();
    let resumed = fleet.tenant(tenant.id).await;
    assert_eq!(
        (resumed.status, resumed.suspension_kind),
        (TenantStatus::Active, None)
    );
    assert_eq!(recv(&mut changes).await, tenant.id.to_string());

    let unknown = tenants::resume(&fleet.control, uuid::Uuid::now_v7())
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "tenant_not_found");
    let no_reason = tenants::delete(&fleet.control, tenant.id, "")
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), "validation_failed");
    assert_eq!(
        fleet.tenant(tenant.id).await.status,
        TenantStatus::Active,
        "nothing changed"
    );
}

async fn recv(changes: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("a notification within 5 s")
        .expect("the listener is alive")
}

#[tokio::test]
async fn the_platforms_own_worker_registers_its_default_server_and_provisions() {
    let app = system_tests::spawn_app_with(|settings| {
        settings.provisioner.default_server_url =
            Some(common::Secret::new(Server::primary().admin_url()));
    })
    .await;
    let control = app.db.connect().await;
    let created = wait_for(|| async {
        tenants::create(
            &control,
            tenants::NewTenant {
                slug: "first-light".into(),
                name: "First Light".into(),
                plan: "starter".into(),
                admin_email: "owner@first-light.example".into(),
                admin_password_hash: None,
            },
        )
        .await
        .ok()
    })
    .await
    .expect("the worker registers `default`, so there is capacity");
    let active = wait_for(|| async {
        let tenant = tenants::find(&control, created.tenant_id).await.ok()?;
        (tenant.status == TenantStatus::Active).then_some(tenant)
    })
    .await
    .expect("the worker loop provisions the tenant");
    let name = TenantId(active.id).database_name();
    let admin = fleet::connect(Server::primary().admin_url()).await;
    assert!(fleet::exists(&admin, "database", &name).await);
    app.stop_then(async |db| fleet::clean_default_server(&db.url()).await)
        .await
        .unwrap();
    assert!(!fleet::exists(&admin, "database", &name).await);
}

/// Polls `probe` every 100 ms for up to 30 s.
async fn wait_for<T, F, Fut>(probe: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(found) = probe().await {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

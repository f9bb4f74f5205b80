//! Fleet jobs: a plan's connection limit applied to every tenant role on it (after an
//! edit of the plan, or a tenant's move to another plan), deduplicated however often it
//! changes; and the re-seal job that moves every secret off a rotated-out key, after
//! which everything still opens.

use common::crypto::{Keyring, Sealed};
use common::entities::database_servers;
use provisioner::keys::{self, SecretKind};
use provisioner::servers;
use provisioner::tenants::{self, TenantUpdate};
use provisioner::{Executed, admin_invite};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement, TransactionTrait};
use system_tests::Server;
use system_tests::fleet::{self, Fleet};
use uuid::Uuid;

/// `rolconnlimit` of the tenant's role on the primary server.
async fn connection_limit(tenant: Uuid) -> i32 {
    let admin = fleet::connect(Server::primary().admin_url()).await;
    let role = common::ids::TenantId(tenant).database_name();
    admin
        .query_one(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .await
        .expect("the tenant role exists")
        .get(0)
}

/// Sets a plan's `max_db_connections` as the admin API does: the edit and the jobs it
/// queues in one transaction.
async fn edit_plan_limit(fleet: &Fleet, plan: &str, limit: i32) {
    let txn = fleet.control.begin().await.unwrap();
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE plans SET max_db_connections = $2 WHERE code = $1",
        [plan.into(), limit.into()],
    ))
    .await
    .unwrap();
    tenants::plan_changed(&txn, plan, true).await.unwrap();
    txn.commit().await.unwrap();
}

async fn queued_role_limit_jobs(fleet: &Fleet, tenant: Uuid) -> i64 {
    fleet
        .count(&format!(
            "SELECT count(*) FROM jobs WHERE kind = 'role_limits' AND state = 'queued' \
             AND tenant_id = '{tenant}'"
        ))
        .await
}

#[tokio::test]
async fn a_plan_edit_gives_every_tenant_role_on_it_the_new_connection_limit() {
    let fleet = Fleet::on_primary(10).await;
    let first = fleet.active_tenant("limit-one").await;
    let second = fleet.active_tenant("limit-two").await;
    let other = fleet
        .create_tenant_on("limit-other", "growth")
        .await
        .unwrap();
    fleet.run_jobs(&fleet.worker("setup")).await;
    assert_eq!(
        connection_limit(first.id).await,
        5,
        "the trial plan's limit"
    );

    for limit in [9, 8, 7] {
        edit_plan_limit(&fleet, "trial", limit).await;
    }
    assert_eq!(
        queued_role_limit_jobs(&fleet, first.id).await,
        1,
        "deduplicated"
    );
    assert_eq!(queued_role_limit_jobs(&fleet, other.tenant_id).await, 0);
    let outcomes = fleet.run_jobs(&fleet.worker("w")).await;
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|outcome| matches!(
            outcome,
            Executed::Finished {
                state: "succeeded",
                ..
            }
        )),
        "{outcomes:?}"
    );
    assert_eq!(connection_limit(first.id).await, 7);
    assert_eq!(connection_limit(second.id).await, 7);
    assert_eq!(
        connection_limit(other.tenant_id).await,
        20,
        "another plan's tenant"
    );
}

#[tokio::test]
async fn a_tenant_moved_to_another_plan_gets_that_plans_connection_limit() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("mover").await;
    let to_growth = TenantUpdate {
        plan: Some("growth".into()),
        ..TenantUpdate::default()
    };
    tenants::update(&fleet.control, tenant.id, to_growth)
        .await
        .unwrap();
    let rename = TenantUpdate {
        name: Some("Mover Ltd".into()),
        ..TenantUpdate::default()
    };
    tenants::update(&fleet.control, tenant.id, rename)
        .await
        .unwrap();
    assert_eq!(queued_role_limit_jobs(&fleet, tenant.id).await, 1);

    fleet.run_jobs(&fleet.worker("w")).await;
    assert_eq!(connection_limit(tenant.id).await, 20);
}

#[tokio::test]
async fn a_role_limit_job_waits_for_a_server_that_is_down_then_applies() {
    let fleet = Fleet::on_primary(10).await;
    let tenant = fleet.active_tenant("patient").await;
    let server = tenant.server_id.unwrap();
    // The server's sealed URL now points at a port nobody listens on.
    let unreachable = "postgres://postgres@127.0.0.1:9/postgres";
    let sealed = fleet
        .keyring
        .seal_str(unreachable, server.as_bytes())
        .unwrap();
    let real = reseal_server_url(&fleet, server, &sealed).await;
    edit_plan_limit(&fleet, "trial", 6).await;

    let outcomes = fleet.run_jobs(&fleet.worker("w")).await;
    assert!(
        matches!(outcomes.as_slice(), [Executed::Retrying { .. }]),
        "{outcomes:?}"
    );
    reseal_server_url(&fleet, server, &real).await;
    fleet.make_jobs_due().await;
    fleet.run_jobs(&fleet.worker("w")).await;
    assert_eq!(connection_limit(tenant.id).await, 6);
}

/// Stores `sealed` as the server's admin URL; answers the one it replaced.
async fn reseal_server_url(fleet: &Fleet, server: Uuid, sealed: &Sealed) -> Sealed {
    let before = database_servers::Entity::find_by_id(server)
        .one(&fleet.control)
        .await
        .unwrap()
        .unwrap();
    fleet
        .control
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE database_servers SET admin_url_ciphertext = $2, admin_url_key_id = $3 \
             WHERE id = $1",
            [
                server.into(),
                sealed.ciphertext.clone().into(),
                sealed.key_id.clone().into(),
            ],
        ))
        .await
        .unwrap();
    Sealed {
        key_id: before.admin_url_key_id,
        ciphertext: before.admin_url_ciphertext,
    }
}

/// An admin whose TOTP secret is sealed with `keyring`; answers its id.
async fn admin_with_totp(fleet: &Fleet, keyring: &Keyring) -> Uuid {
    let id = Uuid::now_v7();
    let sealed = keyring.seal(b"totp secret bytes", id.as_bytes()).unwrap();
    fleet
        .control
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO admin_users (id, email, password_hash, role, totp_secret_ciphertext, \
             totp_key_id) VALUES ($1, 'totp@ops.example', 'x', 'operator', $2, $3)",
            [id.into(), sealed.ciphertext.into(), sealed.key_id.into()],
        ))
        .await
        .unwrap();
    id
}

fn count_under(usage: &[keys::KeyUsage], key_id: &str, kind: SecretKind) -> i64 {
    usage
        .iter()
        .filter(|entry| entry.key_id == key_id && entry.kind == kind)
        .map(|entry| entry.count)
        .sum()
}

#[tokio::test]
async fn after_a_key_rotation_the_reseal_job_moves_every_secret_to_the_new_key() {
    let mut fleet = Fleet::on_primary(10).await;
    let old = fleet.keyring.clone();
    // Admin-created, and nobody mails the invitation: its token waits sealed on the job.
    let created = fleet.create_tenant("rotated").await.unwrap();
    fleet.run_jobs(&fleet.worker("setup")).await;
    let admin = admin_with_totp(&fleet, &old).await;
    let before = keys::usage(&fleet.control).await.unwrap();
    for kind in SecretKind::ALL {
        assert_eq!(count_under(&before, "test", kind), 1, "{kind:?}");
    }

    let rotated = Keyring::new("k2", [42; 32]).with_previous("test", test_key_bytes());
    let worker = provisioner::Provisioner::new(fleet.control.clone(), rotated.clone(), "w2");
    assert!(worker.queue_reseal_if_needed().await.unwrap());
    assert!(
        !worker.queue_reseal_if_needed().await.unwrap(),
        "deduplicated"
    );
    let outcomes = fleet.run_jobs(&worker).await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [Executed::Finished {
                state: "succeeded",
                ..
            }]
        ),
        "{outcomes:?}"
    );
    let after = keys::usage(&fleet.control).await.unwrap();
    assert!(after.iter().all(|entry| entry.key_id == "k2"), "{after:?}");
    assert_eq!(after.iter().map(|entry| entry.count).sum::<i64>(), 4);
    assert!(
        !worker.queue_reseal_if_needed().await.unwrap(),
        "nothing left"
    );

    // Everything opens with the new key alone.
    let only_new = Keyring::new("k2", [42; 32]);
    fleet.keyring = only_new.clone();
    let tenant = fleet.tenant(created.tenant_id).await;
    let name = common::ids::TenantId(tenant.id).database_name();
    let own =
        fleet::connect(&fleet.tenant_url(&tenant, Server::primary().admin_url(), &name)).await;
    own.query_one("SELECT 1", &[]).await.unwrap();
    let server = servers::find(&fleet.control, tenant.server_id.unwrap())
        .await
        .unwrap();
    let url = servers::admin_url(&only_new, &server).unwrap();
    fleet::connect(url.expose()).await;
    let invite = admin_invite(&fleet.control, &only_new, created.job_id)
        .await
        .unwrap();
    assert!(invite.is_some(), "the invitation still opens");
    assert_totp_opens(&fleet, &only_new, admin).await;
}

async fn assert_totp_opens(fleet: &Fleet, keyring: &Keyring, admin: Uuid) {
    let row = fleet
        .control
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT totp_key_id, totp_secret_ciphertext FROM admin_users WHERE id = $1",
            [admin.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    let sealed = Sealed {
        key_id: row.try_get("", "totp_key_id").unwrap(),
        ciphertext: row.try_get("", "totp_secret_ciphertext").unwrap(),
    };
    assert_eq!(
        keyring.open(&sealed, admin.as_bytes()).unwrap(),
        b"totp secret bytes"
    );
}

fn test_key_bytes() -> [u8; 32] {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(system_tests::app::TEST_ENCRYPTION_KEY)
        .unwrap()
        .try_into()
        .unwrap()
}

/// Polls the tenant role's `rolconnlimit` until it is `want` (30 s at most); answers the
/// last value seen.
async fn wait_for_connection_limit(tenant: Uuid, want: i32) -> i32 {
    let started = std::time::Instant::now();
    loop {
        let limit = connection_limit(tenant).await;
        if limit == want || started.elapsed() > std::time::Duration::from_secs(30) {
            return limit;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn through_the_admin_api_the_running_worker_applies_plan_and_tenant_changes() {
    let api = system_tests::admin::AdminApi::start().await;
    api.register_primary().await;
    let first: Uuid = api.active_tenant("api-limit-one").await.parse().unwrap();
    let second: Uuid = api.active_tenant("api-limit-two").await.parse().unwrap();

    let edited = api
        .patch(
            "/api/v1/plans/starter",
            serde_json::json!({ "limits": { "max_db_connections": 3 } }),
        )
        .await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    assert_eq!(wait_for_connection_limit(first, 3).await, 3);
    assert_eq!(wait_for_connection_limit(second, 3).await, 3);

    let moved = api
        .patch(
            &format!("/api/v1/tenants/{second}"),
            serde_json::json!({ "plan": "growth" }),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(wait_for_connection_limit(second, 20).await, 20);
    assert_eq!(connection_limit(first).await, 3);
}

#[tokio::test]
async fn a_worker_with_a_rotated_key_reseals_by_itself_and_the_keys_route_shows_it() {
    let new_key = "bmV3LWtleS1mb3ItdGhlLXJvdGF0aW9uLXRlc3QhISE=";
    let api = system_tests::admin::AdminApi::start_with(|settings| {
        settings.secrets.encryption_key = Some(common::Secret::new(new_key));
        settings.secrets.encryption_key_id = "k2".into();
        let previous = format!("k1:{}", system_tests::app::TEST_ENCRYPTION_KEY);
        settings.secrets.previous_keys = Some(common::Secret::new(previous));
        settings.provisioner.maintenance_interval_secs = 1;
    })
    .await;
    // A server registered before the rotation: its URL sealed under the old key.
    let old = Keyring::new("k1", test_key_bytes());
    let control = api.app.db.connect().await;
    let server = servers::NewServer {
        name: "before-rotation".into(),
        admin_url: common::Secret::new(Server::primary().admin_url()),
        capacity: 0,
    };
    let id = servers::register(&control, &old, server).await.unwrap();

    let started = std::time::Instant::now();
    let keys = loop {
        let keys = api.get("/api/v1/keys").await;
        assert_eq!(keys.status, 200, "{:?}", keys.body);
        let old_total = keys.body["keys"][1]["total"].as_i64();
        if old_total == Some(0) || started.elapsed() > std::time::Duration::from_secs(30) {
            break keys.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(keys["current_key_id"], "k2");
    assert_eq!(keys["keys"][0]["key_id"], "k2");
    assert_eq!(keys["keys"][0]["secrets"]["server_admin_url"], 1, "{keys}");
    assert_eq!(keys["keys"][1]["key_id"], "k1");
    assert_eq!(keys["keys"][1]["total"], 0, "{keys}");
    let row = servers::find(&control, id).await.unwrap();
    let only_new = Keyring::new("k2", new_key_bytes(new_key));
    assert!(servers::admin_url(&only_new, &row).is_ok());
}

fn new_key_bytes(key: &str) -> [u8; 32] {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .unwrap()
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn a_secret_that_does_not_open_fails_the_reseal_job_which_is_not_queued_again_at_once() {
    let fleet = Fleet::on_primary(10).await;
    // The server's sealed URL, one byte flipped: it no longer opens under any key.
    fleet
        .exec(
            "UPDATE database_servers SET admin_url_ciphertext = \
             set_byte(admin_url_ciphertext, 20, get_byte(admin_url_ciphertext, 20) # 1)",
        )
        .await;
    let rotated = Keyring::new("k2", [42; 32]).with_previous("test", test_key_bytes());
    let worker = provisioner::Provisioner::new(fleet.control.clone(), rotated, "w2");
    assert!(worker.queue_reseal_if_needed().await.unwrap());
    let outcomes = fleet.run_jobs(&worker).await;
    let [
        Executed::Finished {
            job_id,
            state: "failed",
        },
    ] = outcomes.as_slice()
    else {
        panic!("the job fails: {outcomes:?}")
    };
    let error = fleet.job(*job_id).await.last_error.unwrap_or_default();
    assert!(error.contains("did not open"), "{error}");
    let usage = keys::usage(&fleet.control).await.unwrap();
    assert_eq!(
        count_under(&usage, "test", SecretKind::ServerAdminUrl),
        1,
        "left as it was"
    );
    assert!(
        !worker.queue_reseal_if_needed().await.unwrap(),
        "not queued again right after a failure"
    );
}

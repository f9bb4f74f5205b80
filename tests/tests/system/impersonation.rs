//! Impersonation: only owner and support, only with a reason, at most 15 minutes, a token
//! with `imp`, and an entry in both the control and the tenant audit logs (the tenant's by
//! the admin's id, like every change the runtime records under that token).

use common::tokens::{TENANT_RUNTIME_AUDIENCE, TokenKeys};
use reqwest::Method;
use serde_json::json;
use system_tests::AdminApi;

/// Makes the tenant's invited first admin active (as if they had set a password) and
/// returns a connection to the tenant's database.
async fn activate_first_admin(api: &AdminApi, tenant_id: &str) -> tokio_postgres::Client {
    let tenant_db = api.tenant_db(tenant_id).await;
    tenant_db
        .execute("UPDATE users SET status = 'active'", &[])
        .await
        .expect("activate");
    tenant_db
}

#[tokio::test]
async fn support_impersonates_a_named_user_with_a_reason_and_both_logs_record_it() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let tenant = api.active_tenant("helpme").await;
    let tenant_db = activate_first_admin(&api, &tenant).await;
    let support = api.admin_with_role("support").await;
    let path = format!("/api/v1/tenants/{tenant}/impersonate");

    let no_reason = api
        .call(
            Method::POST,
            &path,
            Some(&support),
            Some(json!({ "user_email": "admin@helpme.example", "reason": "" })),
        )
        .await;
    assert_eq!(
        (no_reason.status, no_reason.code()),
        (422, "validation_failed")
    );
    let too_long = api
        .call(
            Method::POST,
            &path,
            Some(&support),
            Some(
                json!({ "user_email": "admin@helpme.example", "reason": "ticket 42",
                           "minutes": 60 }),
            ),
        )
        .await;
    assert_eq!(too_long.status, 422);
    let nobody = api
        .call(
            Method::POST,
            &path,
            Some(&support),
            Some(json!({ "user_email": "ghost@helpme.example", "reason": "ticket 42" })),
        )
        .await;
    assert_eq!((nobody.status, nobody.code()), (404, "user_not_found"));

    let granted = api
        .call(
            Method::POST,
            &path,
            Some(&support),
            Some(json!({ "user_email": "ADMIN@helpme.example", "reason": "ticket 42" })),
        )
        .await;
    assert_eq!(granted.status, 200, "{:?}", granted.body);
    assert_eq!(granted.body["expires_in"], 900);
    let token = granted.body["access_token"].as_str().expect("token");
    let claims = TokenKeys::from_settings(&api.app.settings)
        .expect("key")
        .verify(token, TENANT_RUNTIME_AUDIENCE)
        .expect("a valid tenant token");
    assert_eq!(claims.tid.as_deref(), Some(tenant.as_str()));
    assert_eq!(claims.roles, ["admin"]);
    assert!(claims.exp - claims.iat <= 900);
    let support_id = api
        .call(Method::GET, "/api/v1/me", Some(&support), None)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(claims.imp.as_deref(), Some(support_id.as_str()));
    let refused_here = api.call(Method::GET, "/api/v1/me", Some(token), None).await;
    assert_eq!(refused_here.status, 401, "a tenant token is no admin token");

    let control_entry = &api.audit("tenant.impersonated").await[0];
    assert_eq!(control_entry["reason"], "ticket 42");
    assert_eq!(control_entry["actor_id"], support_id);
    let row = tenant_db
        .query_one(
            "SELECT actor_kind, impersonator, after->>'reason' FROM audit_log \
             WHERE action = 'impersonation.started'",
            &[],
        )
        .await
        .expect("the tenant's own log has it");
    assert_eq!(row.get::<_, String>(0), "admin_impersonation");
    assert_eq!(
        row.get::<_, String>(1),
        support_id,
        "the tenant's log names the admin by id, as the runtime does"
    );
    assert_eq!(row.get::<_, String>(2), "ticket 42");
}

#[tokio::test]
async fn only_active_tenants_can_be_entered() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let tenant = api.active_tenant("closed").await;
    api.post(
        &format!("/api/v1/tenants/{tenant}/suspend"),
        json!({ "reason": "fraud check" }),
    )
    .await;
    let refused = api
        .post(
            &format!("/api/v1/tenants/{tenant}/impersonate"),
            json!({ "user_email": "admin@closed.example", "reason": "look around" }),
        )
        .await;
    assert_eq!((refused.status, refused.code()), (409, "tenant_not_active"));
}

#[tokio::test]
async fn impersonation_enters_as_the_tenant_role_so_a_trap_the_tenant_planted_gains_nothing() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let tenant = api.active_tenant("sneaky").await;
    let tenant_db = activate_first_admin(&api, &tenant).await;
    let role: String = tenant_db
        .query_one(
            "SELECT datdba::regrole::text FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .expect("owner")
        .get(0);
    // As the tenant's own role (it owns its database): a `users` view earlier on the
    // database's search_path that tries to make the role a superuser when read.
    let trap = format!(
        "SET ROLE {role};
         CREATE SCHEMA trap;
         CREATE FUNCTION trap.escalate() RETURNS boolean LANGUAGE plpgsql AS $fn$
         BEGIN
             EXECUTE 'ALTER ROLE {role} SUPERUSER';
             RETURN true;
         EXCEPTION WHEN insufficient_privilege THEN
             RETURN true;
         END $fn$;
         CREATE VIEW trap.users AS SELECT * FROM public.users WHERE trap.escalate();
         DO $do$ BEGIN
             EXECUTE format('ALTER DATABASE %I SET search_path = trap, public', current_database());
         END $do$;
         RESET ROLE;"
    );
    tenant_db.batch_execute(&trap).await.expect("trap planted");
    let entered = api
        .post(
            &format!("/api/v1/tenants/{tenant}/impersonate"),
            json!({ "user_email": "admin@sneaky.example", "reason": "ticket 7" }),
        )
        .await;
    assert_eq!(entered.status, 200, "{:?}", entered.body);
    let superuser: bool = tenant_db
        .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .expect("role")
        .get(0);
    assert!(!superuser, "the tenant's trap ran with superuser rights");
}

/// The portal's "open the tenant's app" door: the runtime's `POST /impersonate` takes the
/// token from a form, starts a session marked with who the admin acts as, and refuses
/// what is not an impersonation token of this tenant.
#[tokio::test]
async fn the_web_app_opens_with_an_impersonation_token_only() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let tenant = api.active_tenant("opened").await;
    let _another = api.active_tenant("another").await;
    activate_first_admin(&api, &tenant).await;
    let granted = api
        .post(
            &format!("/api/v1/tenants/{tenant}/impersonate"),
            json!({ "user_email": "admin@opened.example", "reason": "ticket 7", "minutes": 5 }),
        )
        .await;
    assert_eq!(granted.status, 200, "{:?}", granted.body);
    let token = granted.body["access_token"].as_str().expect("token");
    let open = |slug: &'static str, token: String| {
        let client = api.app.client.clone();
        let url = format!("{}/impersonate", api.app.tenant_runtime_url);
        async move {
            let response = client
                .post(url)
                .header("X-Tenant", slug)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("access_token={token}"))
                .send()
                .await
                .expect("sent");
            (
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            )
        }
    };

    let (status, page) = open("opened", token.to_owned()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("data-banner=\"impersonation\""), "{page}");
    assert!(
        page.contains("A platform admin is acting as admin@opened.example"),
        "{page}"
    );

    let (status, page) = open("another", token.to_owned()).await;
    assert_eq!(status, 403, "another company's page: {page}");
    assert!(page.contains("tenant_mismatch"), "{page}");

    let plain = TokenKeys::from_settings(&api.app.settings)
        .expect("key")
        .sign(&common::tokens::Claims::tenant_user(
            tenant.parse().expect("id"),
            uuid::Uuid::now_v7(),
            vec!["admin".into()],
            300,
        ))
        .expect("signed");
    let (status, page) = open("opened", plain).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("not_impersonation"), "{page}");
    let (status, _) = open("opened", "garbage".into()).await;
    assert_eq!(status, 401);
}

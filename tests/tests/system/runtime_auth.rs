//! Tenant runtime: resolution, sign-in and sessions, cross-tenant tokens on every route,
//! users (invitations within `max_users`, set-password by emailed token) and roles.

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::AdminApi;
use system_tests::runtime::OWNER_PASSWORD;

#[tokio::test]
async fn the_tenant_comes_from_the_subdomain_or_the_header_and_they_must_agree() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let token = api.owner_token(&acme).await;
    let port = api.app.tenant_runtime_url.rsplit(':').next().expect("port");
    let by_host = |host: String| {
        api.app
            .client
            .get(format!("{}/api/v1/me", api.app.tenant_runtime_url))
            .header("Host", host)
            .bearer_auth(&token)
    };
    let me = by_host(format!("acme.localhost:{port}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(me.status(), 200);
    let body: Value = me.json().await.expect("json");
    assert_eq!(body["tenant"]["slug"], "acme");
    assert_eq!(body["user"]["email"], acme.admin_email);
    assert!(
        body["user"]["roles"]
            .as_array()
            .expect("roles")
            .contains(&json!("admin"))
    );
    assert!(
        body["user"]["permissions"]
            .as_array()
            .expect("perms")
            .contains(&json!("users.manage"))
    );
    assert_eq!(body["limits"]["max_users"], 10);

    let conflict = by_host(format!("acme.localhost:{port}"))
        .header("X-Tenant", "other")
        .send()
        .await
        .expect("sent");
    assert_eq!(conflict.status(), 400);
    let problem: Value = conflict.json().await.expect("json");
    assert_eq!(problem["code"], "tenant_conflict");

    let unknown = api
        .tenant_call("nobody-here", Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!((unknown.status, unknown.code()), (404, "tenant_not_found"));
    let missing = by_host(format!("127.0.0.1:{port}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 400);
    let underscore = api
        .tenant_call("bad_name", Method::GET, "/api/v1/me", None, None)
        .await;
    assert_eq!(
        (underscore.status, underscore.code()),
        (404, "tenant_not_found")
    );
}

#[tokio::test]
async fn sign_in_refresh_rotation_reuse_and_logout() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let wrong = api
        .tenant_login("acme", &acme.admin_email, "not the password")
        .await;
    let unknown = api
        .tenant_login("acme", "nobody@acme.example", "not the password")
        .await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    assert_eq!(wrong.body, unknown.body, "unknown and wrong look the same");

    let pair = api
        .tenant_login("acme", &acme.admin_email, OWNER_PASSWORD)
        .await;
    assert_eq!(pair.status, 200, "{:?}", pair.body);
    assert_eq!(pair.body["expires_in"], 900);
    let first_refresh = pair.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let refresh = |token: String| {
        api.tenant_call(
            "acme",
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": token })),
        )
    };
    let rotated = refresh(first_refresh.clone()).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let second_refresh = rotated.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(second_refresh, first_refresh);
    let me = api
        .tenant_call(
            "acme",
            Method::GET,
            "/api/v1/me",
            rotated.body["access_token"].as_str(),
            None,
        )
        .await;
    assert_eq!(me.status, 200);

    let replayed = refresh(first_refresh).await;
    assert_eq!(
        (replayed.status, replayed.code()),
        (401, "invalid_refresh_token")
    );
    let after_reuse = refresh(second_refresh).await;
    assert_eq!(
        after_reuse.status, 401,
        "reusing a spent token revokes its whole family"
    );

    let fresh = api
        .tenant_login("acme", &acme.admin_email, OWNER_PASSWORD)
        .await;
    let token = fresh.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let logout = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({ "refresh_token": token })),
        )
        .await;
    assert_eq!(logout.status, 204);
    assert_eq!(refresh(token).await.status, 401, "logged out");

    let malformed = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "email": 3 })),
        )
        .await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (422, "validation_failed")
    );
    // Eight guesses at once (the plan's concurrency cap): each attempt is counted before
    // its password is checked, so exactly five get an answer and the rest find it locked.
    let guesses = (0..8).map(|_| api.tenant_login("acme", &acme.admin_email, "still wrong"));
    let answers = futures_util::future::join_all(guesses).await;
    let wrong = answers
        .iter()
        .filter(|a| a.code() == "invalid_credentials")
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.code() == "account_locked")
        .count();
    assert_eq!((wrong, refused), (5, 3), "{answers:?}");
    let locked = api
        .tenant_login("acme", &acme.admin_email, OWNER_PASSWORD)
        .await;
    assert_eq!((locked.status, locked.code()), (429, "account_locked"));
    assert!(locked.header("retry-after").is_some());
}

/// Every route that takes a token, listed from the runtime's OpenAPI document, refuses a
/// token of another company. Both are on a plan with every module, so that the token
/// check (not a module the plan lacks) is what answers.
#[tokio::test]
async fn a_token_of_one_company_is_refused_by_another_on_every_route() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let every_module = api
        .post(
            "/api/v1/plans",
            json!({ "code": "every-module", "name": "Every module",
                    "limits": { "max_users": 10, "max_storage_mb": 1000,
                                "api_requests_per_minute": 6000,
                                "api_calls_per_month": 1_000_000,
                                "max_concurrent_requests": 50, "max_db_connections": 5 },
                    "features": common::entities::plans::MODULES }),
        )
        .await;
    assert_eq!(every_module.status, 201, "{:?}", every_module.body);
    let acme = api.company("acme", "every-module").await;
    api.company("bolts", "every-module").await;
    let acme_token = api.owner_token(&acme).await;
    let document: Value = api
        .app
        .client
        .get(format!("{}/openapi.json", api.app.tenant_runtime_url))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            if operation.get("security").is_none() {
                continue;
            }
            let path = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
            let method: Method = method.to_uppercase().parse().expect("method");
            let body = (method != Method::GET).then(|| json!({}));
            let mine = api
                .tenant_call(
                    "acme",
                    method.clone(),
                    &path,
                    Some(&acme_token),
                    body.clone(),
                )
                .await;
            assert_ne!(
                mine.code(),
                "tenant_mismatch",
                "{method} {path} on its own company"
            );
            let theirs = api
                .tenant_call("bolts", method.clone(), &path, Some(&acme_token), body)
                .await;
            assert_eq!(
                (theirs.status, theirs.code()),
                (403, "tenant_mismatch"),
                "{method} {path}: {:?}",
                theirs.body
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} routes were listed");
}

#[tokio::test]
async fn users_are_invited_within_the_plan_and_set_their_password_from_the_email() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    api.plan_with("duo", json!({ "max_users": 2 })).await;
    let acme = api.company("acme", "duo").await;
    let token = api.owner_token(&acme).await;
    let invite = |email: &str, roles: Value| {
        api.tenant_call(
            "acme",
            Method::POST,
            "/api/v1/users",
            Some(&token),
            Some(json!({ "email": email, "display_name": "Pat", "roles": roles })),
        )
    };
    let bad_role = invite("pat@acme.example", json!(["wizard"])).await;
    assert_eq!(
        (bad_role.status, bad_role.code()),
        (422, "validation_failed")
    );
    let bad_email = invite("not-an-email", json!(["staff"])).await;
    assert_eq!(bad_email.status, 422);
    let pat = invite("pat@acme.example", json!(["viewer"])).await;
    assert_eq!(pat.status, 201, "{:?}", pat.body);
    assert_eq!(pat.body["status"], "invited");
    let duplicate = invite("PAT@acme.example", json!(["viewer"])).await;
    assert_eq!(duplicate.code(), "email_taken");
    let over = invite("sam@acme.example", json!(["staff"])).await;
    assert_eq!(
        (over.status, over.code()),
        (409, "limit_exceeded"),
        "{:?}",
        over.body
    );

    let invitation = api.mailed_token("pat@acme.example", "invited").await;
    let weak = api.set_password("acme", &invitation, "short").await;
    assert_eq!(weak.status, 422);
    let set = api
        .set_password("acme", &invitation, "pat's long password")
        .await;
    assert_eq!(set.status, 204, "{:?}", set.body);
    let again = api
        .set_password("acme", &invitation, "another long password")
        .await;
    assert_eq!(
        again.code(),
        "invalid_set_password_token",
        "a token works once"
    );
    let pat_login = api
        .tenant_login("acme", "pat@acme.example", "pat's long password")
        .await;
    assert_eq!(pat_login.status, 200, "{:?}", pat_login.body);
    let pat_token = pat_login.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let viewer_invites = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/users",
            Some(&pat_token),
            Some(json!({ "email": "x@acme.example", "roles": ["viewer"] })),
        )
        .await;
    assert_eq!(
        (viewer_invites.status, viewer_invites.code()),
        (403, "forbidden")
    );

    let pat_id = pat.body["id"].as_str().expect("id");
    let disabled = api
        .tenant_call(
            "acme",
            Method::PATCH,
            &format!("/api/v1/users/{pat_id}"),
            Some(&token),
            Some(json!({ "status": "disabled" })),
        )
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    let pat_after = api
        .tenant_call("acme", Method::GET, "/api/v1/me", Some(&pat_token), None)
        .await;
    assert_eq!(
        pat_after.status, 401,
        "a disabled user's token stops working at once"
    );
    let sam = invite("sam@acme.example", json!(["staff"])).await;
    assert_eq!(sam.status, 201, "disabling freed a seat: {:?}", sam.body);
    let reenable = api
        .tenant_call(
            "acme",
            Method::PATCH,
            &format!("/api/v1/users/{pat_id}"),
            Some(&token),
            Some(json!({ "status": "active" })),
        )
        .await;
    assert_eq!(
        reenable.code(),
        "limit_exceeded",
        "re-enabling counts against the plan"
    );

    let tenant_db = api.tenant_db(&acme.id).await;
    let actions: Vec<String> = tenant_db
        .query("SELECT action FROM audit_log ORDER BY id", &[])
        .await
        .expect("audit")
        .iter()
        .map(|row| row.get(0))
        .collect();
    for action in ["user.invited", "user.password_set", "user.updated"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn custom_roles_grant_permissions_and_built_in_roles_stay_fixed() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let token = api.owner_token(&acme).await;
    let call = |method: Method, path: String, body: Option<Value>| {
        let (api, token) = (&api, &token);
        async move {
            api.tenant_call("acme", method, &path, Some(token), body)
                .await
        }
    };
    let roles = call(Method::GET, "/api/v1/roles".into(), None).await;
    let names: Vec<&str> = roles
        .body
        .as_array()
        .expect("roles")
        .iter()
        .map(|role| role["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["admin", "manager", "staff", "viewer"]);
    let unknown = call(
        Method::POST,
        "/api/v1/roles".into(),
        Some(json!({ "name": "auditor", "permissions": ["audit.fly"] })),
    )
    .await;
    assert_eq!((unknown.status, unknown.code()), (422, "validation_failed"));
    let created = call(
        Method::POST,
        "/api/v1/roles".into(),
        Some(
            json!({ "name": "auditor", "permissions": ["audit.read", "users.read", "users.read"] }),
        ),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body["permissions"],
        json!(["audit.read", "users.read"])
    );
    let duplicate = call(
        Method::POST,
        "/api/v1/roles".into(),
        Some(json!({ "name": "auditor", "permissions": [] })),
    )
    .await;
    assert_eq!(duplicate.code(), "role_name_taken");
    let admin_id = roles.body[0]["id"].as_str().expect("id");
    let fixed = call(
        Method::PATCH,
        format!("/api/v1/roles/{admin_id}"),
        Some(json!({ "permissions": ["users.read"] })),
    )
    .await;
    assert_eq!((fixed.status, fixed.code()), (409, "system_role"));
    let role_id = created.body["id"].as_str().expect("id");
    let changed = call(
        Method::PATCH,
        format!("/api/v1/roles/{role_id}"),
        Some(json!({ "permissions": ["users.read"] })),
    )
    .await;
    assert_eq!(changed.body["permissions"], json!(["users.read"]));
    let catalogue = call(Method::GET, "/api/v1/permissions".into(), None).await;
    assert!(catalogue.body.as_array().expect("list").len() >= 20);

    let me = call(Method::GET, "/api/v1/me".into(), None).await;
    let my_id = me.body["user"]["id"].as_str().expect("id");
    let last_admin = call(
        Method::PATCH,
        format!("/api/v1/users/{my_id}"),
        Some(json!({ "roles": ["auditor"] })),
    )
    .await;
    assert_eq!((last_admin.status, last_admin.code()), (409, "last_admin"));

    // Bad input, field by field.
    let bad_name = call(
        Method::POST,
        "/api/v1/roles".into(),
        Some(json!({ "name": "Has Spaces!", "permissions": [] })),
    )
    .await;
    assert_eq!(
        (bad_name.status, bad_name.code()),
        (422, "validation_failed")
    );
    assert_eq!(bad_name.body["errors"][0]["field"], "name");
    let bad_status = call(
        Method::PATCH,
        format!("/api/v1/users/{my_id}"),
        Some(json!({ "status": "asleep" })),
    )
    .await;
    assert_eq!(bad_status.body["errors"][0]["field"], "status");
    let no_roles = call(
        Method::PATCH,
        format!("/api/v1/users/{my_id}"),
        Some(json!({ "roles": [] })),
    )
    .await;
    assert_eq!(no_roles.body["errors"][0]["field"], "roles");
    let unknown_field = call(
        Method::PATCH,
        format!("/api/v1/roles/{role_id}"),
        Some(json!({ "colour": "red" })),
    )
    .await;
    assert_eq!(unknown_field.status, 422, "unknown fields are refused");
    let ghost = uuid::Uuid::new_v4();
    let no_role = call(
        Method::PATCH,
        format!("/api/v1/roles/{ghost}"),
        Some(json!({})),
    )
    .await;
    assert_eq!((no_role.status, no_role.code()), (404, "role_not_found"));
    let no_user = call(Method::GET, format!("/api/v1/users/{ghost}"), None).await;
    assert_eq!((no_user.status, no_user.code()), (404, "user_not_found"));
    let not_a_uuid = call(Method::GET, "/api/v1/users/123".into(), None).await;
    assert_eq!(not_a_uuid.status, 404, "{:?}", not_a_uuid.body);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_the_emailed_link() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let old_session = api
        .tenant_login("acme", &acme.admin_email, OWNER_PASSWORD)
        .await;
    let unknown = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/auth/password-reset",
            None,
            Some(json!({ "email": "nobody@acme.example" })),
        )
        .await;
    assert_eq!(unknown.status, 202, "no hint whether the address exists");
    let asked = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/auth/password-reset",
            None,
            Some(json!({ "email": acme.admin_email.to_uppercase() })),
        )
        .await;
    assert_eq!(asked.status, 202);
    let token = api.mailed_token(&acme.admin_email, "Reset your").await;
    let set = api
        .set_password("acme", &token, "a brand new passphrase")
        .await;
    assert_eq!(set.status, 204, "{:?}", set.body);
    assert_eq!(
        api.tenant_login("acme", &acme.admin_email, OWNER_PASSWORD)
            .await
            .status,
        401
    );
    assert_eq!(
        api.tenant_login("acme", &acme.admin_email, "a brand new passphrase")
            .await
            .status,
        200
    );
    let refresh = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": old_session.body["refresh_token"] })),
        )
        .await;
    assert_eq!(refresh.status, 401, "a new password ends the old sessions");
}

#[tokio::test]
async fn an_impersonation_token_from_the_control_plane_works_and_is_audited_as_such() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let issued = api
        .post(
            &format!("/api/v1/tenants/{}/impersonate", acme.id),
            json!({ "user_email": acme.admin_email, "reason": "ticket 7" }),
        )
        .await;
    assert_eq!(issued.status, 200, "{:?}", issued.body);
    let token = issued.body["access_token"].as_str().expect("token");
    let me = api
        .tenant_call("acme", Method::GET, "/api/v1/me", Some(token), None)
        .await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert!(me.body["impersonated_by"].is_string());
    let role = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/roles",
            Some(token),
            Some(json!({ "name": "support_made", "permissions": ["users.read"] })),
        )
        .await;
    assert_eq!(role.status, 201, "{:?}", role.body);
    let tenant_db = api.tenant_db(&acme.id).await;
    let row = tenant_db
        .query_one(
            "SELECT actor_kind, impersonator FROM audit_log WHERE action = 'role.created'",
            &[],
        )
        .await
        .expect("audited");
    assert_eq!(row.get::<_, String>(0), "admin_impersonation");
    assert!(row.get::<_, Option<String>>(1).is_some());
}

#[tokio::test]
async fn the_first_admin_of_a_tenant_an_admin_created_is_invited_by_email_and_gets_in() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let id = api.active_tenant("made").await;
    let token = api.mailed_token("admin@made.example", "is ready").await;
    let set = api
        .set_password("made", &token, "the first admin's passphrase")
        .await;
    assert_eq!(set.status, 204, "{:?}", set.body);
    let login = api
        .tenant_login("made", "admin@made.example", "the first admin's passphrase")
        .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    let control = system_tests::fleet::connect(&api.app.db.url()).await;
    let tenant: uuid::Uuid = id.parse().expect("id");
    let kept: i64 = control
        .query_one(
            "SELECT count(*) FROM jobs WHERE tenant_id = $1 AND payload ? 'admin_invite'",
            &[&tenant],
        )
        .await
        .expect("jobs")
        .get(0);
    assert_eq!(kept, 0, "the sent invitation is no longer kept on the job");
}

#[tokio::test]
async fn a_user_manager_cannot_grant_more_than_they_hold() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let owner = api.owner_token(&acme).await;
    let hr = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/roles",
            Some(&owner),
            Some(json!({ "name": "hr", "permissions": ["users.read", "users.manage"] })),
        )
        .await;
    assert_eq!(hr.status, 201, "{:?}", hr.body);
    let invited = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/users",
            Some(&owner),
            Some(json!({ "email": "hr@acme.example", "roles": ["hr"] })),
        )
        .await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    let token = api.mailed_token("hr@acme.example", "invited").await;
    let set = api
        .set_password("acme", &token, "human resources pass")
        .await;
    assert_eq!(set.status, 204);
    let login = api
        .tenant_login("acme", "hr@acme.example", "human resources pass")
        .await;
    let hr_token = login.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let hr_id = invited.body["id"].as_str().expect("id");

    let to_admin = api
        .tenant_call(
            "acme",
            Method::PATCH,
            &format!("/api/v1/users/{hr_id}"),
            Some(&hr_token),
            Some(json!({ "roles": ["admin"] })),
        )
        .await;
    assert_eq!(
        (to_admin.status, to_admin.code()),
        (403, "forbidden"),
        "{:?}",
        to_admin.body
    );
    let viewer = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/users",
            Some(&hr_token),
            Some(json!({ "email": "v@acme.example", "roles": ["viewer"] })),
        )
        .await;
    assert_eq!(
        viewer.status, 403,
        "viewer reads modules hr cannot: {:?}",
        viewer.body
    );
    let peer = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/users",
            Some(&hr_token),
            Some(json!({ "email": "peer@acme.example", "roles": ["hr"] })),
        )
        .await;
    assert_eq!(peer.status, 201, "{:?}", peer.body);
    let me = api
        .tenant_call("acme", Method::GET, "/api/v1/me", Some(&hr_token), None)
        .await;
    assert_eq!(me.body["user"]["roles"], json!(["hr"]), "unchanged");
}

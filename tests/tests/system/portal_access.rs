//! The admin portal's doors, over plain HTTP: who may do what whatever the buttons show
//! (a `support` admin's forged forms are refused by the same rule as the API), forms
//! without their CSRF token change nothing, a lapsed session sends the admin to sign in and
//! back to the page asked for, and the tenant list's sort and keyset paging.

use serde_json::json;
use system_tests::admin::STAFF_PASSWORD;
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD};
use system_tests::{AdminApi, PortalClient};

async fn support_admin(api: &AdminApi) -> PortalClient {
    let email = "support@tests.example";
    let created = api
        .post(
            "/api/v1/admins",
            json!({ "email": email, "password": STAFF_PASSWORD, "role": "support" }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    PortalClient::signed_in(&api.app.control_plane_url, email, STAFF_PASSWORD).await
}

async fn tenant_status(api: &AdminApi, id: &str) -> String {
    let tenant = api.get(&format!("/api/v1/tenants/{id}")).await;
    tenant.body["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_support_admin_sees_no_tenant_action_and_forged_ones_are_refused() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let id = api.active_tenant("supported").await;
    let support = support_admin(&api).await;

    let page = support.get(&format!("/tenants/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-action=\"impersonate\""),
        "support may impersonate"
    );
    for verb in ["edit", "suspend", "delete", "new-tenant"] {
        assert!(
            !page.body.contains(&format!("data-action=\"{verb}\"")),
            "support sees `{verb}`"
        );
    }

    let forged: [(String, Vec<(&str, &str)>); 5] = [
        (format!("/tenants/{id}/suspend"), vec![("reason", "forged")]),
        (
            format!("/tenants/{id}/delete"),
            vec![("reason", "forged"), ("confirm_slug", "supported")],
        ),
        (
            format!("/tenants/{id}/edit"),
            vec![("name", "Forged"), ("plan", "growth")],
        ),
        (
            "/tenants".to_owned(),
            vec![
                ("slug", "forged"),
                ("name", "Forged"),
                ("plan", "starter"),
                ("admin_email", "x@forged.example"),
                ("idempotency_key", "k1"),
            ],
        ),
        (format!("/tenants/{id}/resume"), vec![("reason", "forged")]),
    ];
    for (path, fields) in &forged {
        let reply = support.post(path, fields).await;
        assert_eq!(reply.status, 403, "{path}: {}", reply.body);
        assert!(reply.body.contains("may not manage tenants"), "{path}");
    }
    assert_eq!(tenant_status(&api, &id).await, "active");
    let renamed = api.get(&format!("/api/v1/tenants/{id}")).await;
    assert_eq!(renamed.body["name"], "supported Ltd");
    let listed = api.get("/api/v1/tenants?search=forged").await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let id = api.active_tenant("guarded").await;
    let owner =
        PortalClient::signed_in(&api.app.control_plane_url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let path = format!("/tenants/{id}/suspend");

    let missing = owner.post_raw(&path, &[("reason", "no token")]).await;
    let wrong = owner
        .post_raw(&path, &[("reason", "bad token"), ("csrf", "forged")])
        .await;
    for reply in [&missing, &wrong] {
        assert_eq!(reply.status, 403, "{}", reply.body);
        assert!(reply.body.contains("csrf_failed"), "{}", reply.body);
    }
    assert_eq!(tenant_status(&api, &id).await, "active");

    // With the token the same form works, which proves the refusals were about the token.
    let done = owner.post(&path, &[("reason", "with token")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(tenant_status(&api, &id).await, "suspended");
}

#[tokio::test]
async fn a_lapsed_session_signs_in_again_and_comes_back() {
    let api = AdminApi::start().await;
    let anonymous = PortalClient::new(&api.app.control_plane_url);
    let away = anonymous.get("/tenants?status=active").await;
    assert_eq!(away.status, 303);
    assert_eq!(
        away.location(),
        Some("/sign-in?next=%2Ftenants%3Fstatus%3Dactive")
    );

    let owner =
        PortalClient::signed_in(&api.app.control_plane_url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(owner.get("/tenants").await.status, 200);
    let control = system_tests::fleet::connect(&api.app.db.url()).await;
    control
        .execute(
            "UPDATE portal_sessions SET last_seen_at = now() - interval '2 hours'",
            &[],
        )
        .await
        .expect("sessions aged");
    let lapsed = owner.get("/tenants").await;
    assert_eq!(lapsed.status, 303);
    assert_eq!(lapsed.location(), Some("/sign-in?next=%2Ftenants"));

    // Signing in from that page goes back to the page asked for.
    let mut again = PortalClient::new(&api.app.control_plane_url);
    let form = again.get("/sign-in?next=%2Ftenants").await;
    assert_eq!(form.input("next").as_deref(), Some("/tenants"));
    let signed = again.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(signed.status, 303);
}

#[tokio::test]
async fn the_tenant_list_sorts_by_name_and_pages_by_keyset() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    for (slug, name) in [
        ("t-c", "charlie"),
        ("t-a", "Alpha"),
        ("t-d", "delta"),
        ("t-b", "bravo"),
    ] {
        let created = api
            .post(
                "/api/v1/tenants",
                json!({ "slug": slug, "name": name, "plan": "starter",
                        "admin_email": format!("admin@{slug}.example") }),
            )
            .await;
        assert_eq!(created.status, 202, "{:?}", created.body);
    }
    let mut names = Vec::new();
    let mut path = "/api/v1/tenants?sort=name&dir=desc&limit=3".to_owned();
    loop {
        let page = api.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        for item in page.body["items"].as_array().expect("items") {
            names.push(item["name"].as_str().unwrap_or_default().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/v1/tenants?sort=name&dir=desc&limit=3&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(names, ["delta", "charlie", "bravo", "Alpha"]);

    let bad = api.get("/api/v1/tenants?sort=size").await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.code(), "validation_failed");
}

#[tokio::test]
async fn the_portal_benchmark_runs_end_to_end() {
    let timings = system_tests::portal_bench::run(120, 2).await;
    assert_eq!(timings.len(), 8, "every page measured");
    assert!(
        timings
            .iter()
            .all(|timing| timing.latencies.sorted.len() == 2)
    );
    let report = system_tests::portal_bench::report(120, &timings);
    assert_eq!(report.lines().count(), 2 + 8, "{report}");
    assert!(
        report.contains("/tenants?sort=created&dir=desc&cursor=(page 10)"),
        "{report}"
    );
}

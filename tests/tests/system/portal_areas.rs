//! The admin portal's areas beyond tenants over plain HTTP (`PortalClient`):
//! forged forms are refused, roles get the 403 page and no buttons, a plan form shows
//! the API's own field errors, an own password change keeps only this browser signed in,
//! 2FA enrolment draws its QR code, and a finished run's progress stops htmx polling.

use serde_json::json;
use std::time::{Duration, Instant};
use system_tests::AdminApi;
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD};
use system_tests::portal::PortalClient;

/// `email` signed in to the portal of `api`.
async fn browser(api: &AdminApi, email: &str, password: &str) -> PortalClient {
    PortalClient::signed_in(&api.app.control_plane_url, email, password).await
}

/// A valid plan form for `code`.
fn plan_form(code: &str) -> Vec<(&str, &str)> {
    vec![
        ("code", code),
        ("name", "Portal plan"),
        ("currency", "usd"),
        ("trial_days", "14"),
        ("price_cents", "4900"),
        ("backup_interval_hours", "0"),
        ("backup_retention_count", "7"),
        ("limits.max_users", "10"),
        ("limits.max_storage_mb", "1024"),
        ("limits.api_requests_per_minute", "600"),
        ("limits.api_calls_per_month", "100000"),
        ("limits.max_concurrent_requests", "20"),
        ("limits.max_db_connections", "5"),
        ("features", "sales"),
        ("features", "inventory"),
        ("is_public", "true"),
    ]
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let api = AdminApi::start().await;
    let owner = browser(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let forged = owner.post_raw("/plans", &plan_form("forged")).await;
    assert_eq!(forged.status, 403);
    assert_eq!(api.get("/api/v1/plans/forged").await.status, 404);

    let real = owner.post("/plans", &plan_form("real")).await;
    assert_eq!(real.status, 303);
    let created = api.get("/api/v1/plans/real").await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["features"], json!(["inventory", "sales"]));
    assert_eq!(created.body["limits"]["max_db_connections"], 5);
}

#[tokio::test]
async fn a_support_admin_sees_no_buttons_and_gets_403_on_every_mutating_page() {
    let api = AdminApi::start().await;
    let email = "support-portal@tests.example";
    let made = api
        .post(
            "/api/v1/admins",
            json!({ "email": email, "password": "a support password", "role": "support" }),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let support = browser(&api, email, "a support password").await;

    let page = support.get("/plans").await;
    let (status, plans) = (page.status, page.body);
    assert_eq!(status, 200);
    assert!(!plans.contains("data-action=\"new-plan\""), "{plans}");
    let page = support.get("/servers").await;
    let (_, servers) = (page.status, page.body);
    assert!(!servers.contains("data-action=\"register-server\""));
    let page = support.get("/jobs").await;
    let (_, nav) = (page.status, page.body);
    assert!(
        !nav.contains("href=\"/admins\""),
        "no link to the admins page"
    );

    for page in ["/admins", "/plans/new", "/servers/new"] {
        assert_eq!(support.get(page).await.status, 403, "{page}");
    }
    let posted = support.post("/plans", &plan_form("sneaky")).await;
    assert_eq!(posted.status, 403);
    assert_eq!(api.get("/api/v1/plans/sneaky").await.status, 404);
    let admin = support
        .post(
            "/admins",
            &[
                ("email", "x@tests.example"),
                ("password", "a long password"),
                ("role", "owner"),
            ],
        )
        .await;
    assert_eq!(admin.status, 403);
}

#[tokio::test]
async fn a_plan_form_shows_the_apis_field_errors_next_to_the_fields_and_keeps_the_input() {
    let api = AdminApi::start().await;
    let owner = browser(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut form = plan_form("bad");
    form.retain(|(name, _)| *name != "limits.max_users" && *name != "name");
    form.push(("limits.max_users", "-1"));
    form.push(("name", "Kept name"));
    let refused = owner.post("/plans", &form).await;
    assert_eq!(refused.status, 422);
    let html = refused.body.clone();
    assert!(
        html.contains("id=\"field-limits.max_users-error\""),
        "{html}"
    );
    assert!(html.contains("must be from 0 to"), "the API's own message");
    assert!(html.contains("value=\"Kept name\""), "typed input kept");
    assert!(html.contains("value=\"-1\""));
    assert_eq!(api.get("/api/v1/plans/bad").await.status, 404);

    let edit = owner
        .post(
            "/plans/starter",
            &[("name", "Starter"), ("limits.max_users", "oops")],
        )
        .await;
    assert_eq!(edit.status, 422);
    let html = edit.body.clone();
    assert!(html.contains("id=\"field-limits.max_users-error\""));
}

#[tokio::test]
async fn a_password_change_keeps_this_browser_signed_in_and_ends_the_others() {
    let api = AdminApi::start().await;
    let email = "changer-portal@tests.example";
    api.post(
        "/api/v1/admins",
        json!({ "email": email, "password": "the first password", "role": "operator" }),
    )
    .await;
    let here = browser(&api, email, "the first password").await;
    let elsewhere = browser(&api, email, "the first password").await;

    let wrong = here
        .post(
            "/account/password",
            &[
                ("current_password", "not it"),
                ("new_password", "a second password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("id=\"field-current_password-error\""));

    let changed = here
        .post(
            "/account/password",
            &[
                ("current_password", "the first password"),
                ("new_password", "a second password"),
            ],
        )
        .await;
    assert_eq!(changed.status, 303);
    let fresh = changed.cookie("__Host-portal").expect("a fresh session");
    let mut renewed = here;
    renewed.session = Some(fresh);
    assert_eq!(renewed.get("/account").await.status, 200);
    let page = elsewhere.get("/account").await;
    let (status, _) = (page.status, page.body);
    assert_eq!(status, 303, "the other session is over");
    assert_eq!(
        api.login(email, "a second password", None).await.status,
        200
    );
}

#[tokio::test]
async fn two_factor_enrolment_draws_its_qr_code_on_the_server() {
    let api = AdminApi::start().await;
    let owner = browser(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = owner.post("/account/2fa/enroll", &[]).await;
    assert_eq!(page.status, 200);
    let html = page.body.clone();
    assert!(html.contains("<svg"), "{html}");
    assert!(!html.contains("<?xml"));
    assert!(html.contains("data-secret"));
}

#[tokio::test]
async fn a_finished_runs_progress_answers_286_so_polling_stops() {
    let api = AdminApi::start().await;
    let started = api.post("/api/v1/migrations/runs", json!({})).await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let id = started.body["id"].as_str().expect("run id").to_owned();
    let owner = browser(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = owner.get(&format!("/migrations/{id}")).await;
    let (status, page) = (page.status, page.body);
    assert_eq!(status, 200);
    assert!(page.contains("id=\"run-progress\""));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = owner.get(&format!("/migrations/{id}/progress")).await;
        let (status, panel) = (page.status, page.body);
        if status == 286 {
            assert!(!panel.contains("hx-trigger"), "an ended run is not polled");
            break;
        }
        assert_eq!(status, 200);
        assert!(panel.contains("hx-trigger=\"every 2s\""));
        assert!(Instant::now() < deadline, "the run did not end: {panel}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn jobs_and_audit_pages_list_with_their_filters() {
    let api = AdminApi::start().await;
    let owner = browser(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    owner.post("/plans", &plan_form("audited")).await;
    let page = owner.get("/audit?action=plan.").await;
    let (status, audit) = (page.status, page.body);
    assert_eq!(status, 200);
    assert!(audit.contains("plan.created"), "{audit}");
    assert!(audit.contains("data-table=\"audit\""));
    let page = owner.get("/audit?since=not-a-time").await;
    let (status, _) = (page.status, page.body);
    assert_eq!(status, 422);
    let page = owner.get("/jobs?status=failed&kind=&tenant=").await;
    let (status, jobs) = (page.status, page.body);
    assert_eq!(status, 200);
    assert!(jobs.contains("data-table=\"jobs\""));
    let page = owner.get(&format!("/jobs/{}", uuid::Uuid::now_v7())).await;
    let (status, _) = (page.status, page.body);
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_server_is_drained_after_a_confirmation_and_shows_its_fill_level() {
    let api = AdminApi::start().await;
    let server = api.register_primary().await;
    let owner = browser(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = owner.get("/servers").await;
    let (status, list) = (page.status, page.body);
    assert_eq!(status, 200);
    assert!(list.contains("class=\"usage-bar\""), "{list}");
    assert!(list.contains(&format!("/tenants?server={server}")));

    let page = owner.get(&format!("/servers/{server}/drain")).await;
    let (status, confirm) = (page.status, page.body);
    assert_eq!(status, 200);
    assert!(confirm.contains("data-action=\"confirm-drain\""));
    let forged = owner
        .post_raw(&format!("/servers/{server}/drain"), &[])
        .await;
    assert_eq!(forged.status, 403);
    let drained = owner.post(&format!("/servers/{server}/drain"), &[]).await;
    assert_eq!(drained.status, 303);
    let shown = api.get("/api/v1/servers").await;
    assert_eq!(shown.body["items"][0]["state"], "draining");
    let page = owner.get(&format!("/servers/{server}")).await;
    let (_, page) = (page.status, page.body);
    assert!(page.contains("data-action=\"activate\""));
}

#[tokio::test]
async fn an_owner_changes_a_role_and_disables_an_admin_but_not_the_last_owner() {
    let api = AdminApi::start().await;
    let made = api
        .post(
            "/api/v1/admins",
            json!({ "email": "ops@tests.example", "password": "an ops password", "role": "support" }),
        )
        .await;
    let id = made.body["id"].as_str().expect("id").to_owned();
    let owner = browser(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = owner.get("/admins").await;
    let (status, list) = (page.status, page.body);
    assert_eq!(status, 200);
    assert!(list.contains("data-row=\"ops@tests.example\""));

    let role = owner
        .post(&format!("/admins/{id}"), &[("role", "operator")])
        .await;
    assert_eq!(role.status, 303);
    let disabled = owner
        .post(&format!("/admins/{id}"), &[("disabled", "true")])
        .await;
    assert_eq!(disabled.status, 303);
    let admins = api.get("/api/v1/admins").await;
    let ops = admins.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|admin| admin["id"] == id.as_str())
        .cloned()
        .expect("listed");
    assert_eq!(
        (ops["role"].as_str(), ops["disabled"].as_bool()),
        (Some("operator"), Some(true))
    );

    let me = api.get("/api/v1/me").await;
    let my_id = me.body["id"].as_str().expect("id");
    let refused = owner
        .post(&format!("/admins/{my_id}"), &[("role", "support")])
        .await;
    assert_eq!(refused.status, 303, "said as a flash");
    assert_eq!(api.get("/api/v1/me").await.body["role"], "owner");
}

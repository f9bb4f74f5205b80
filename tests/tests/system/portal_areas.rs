//! The admin portal's areas beyond tenants over plain HTTP (a cookie carried by hand):
//! forged forms are refused, roles get the 403 page and no buttons, a plan form shows
//! the API's own field errors, an own password change keeps only this browser signed in,
//! 2FA enrolment draws its QR code, and a finished run's progress stops htmx polling.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::json;
use std::time::{Duration, Instant};
use system_tests::AdminApi;
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD};

const SESSION_COOKIE: &str = "__Host-portal";
const SIGN_IN_CSRF_COOKIE: &str = "__Host-portal-csrf";

/// A browser signed in to the portal: its session cookie and the session's CSRF token.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A form body.
fn encode(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// A `name=value` cookie set by `response`, if any.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The `value` of the first hidden `csrf` input or `csrf-token` meta in `html`.
fn csrf_in(html: &str) -> String {
    let marker = ["name=\"csrf-token\" content=\"", "name=\"csrf\" value=\""]
        .iter()
        .find_map(|marker| html.find(marker).map(|at| at + marker.len()))
        .expect("a CSRF token on the page");
    html[marker..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl Browser {
    async fn sign_in(api: &AdminApi, email: &str, password: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let base = api.app.control_plane_url.clone();
        let form = client
            .get(format!("{base}/sign-in"))
            .send()
            .await
            .expect("sign-in page");
        let pre_cookie = set_cookie(&form, SIGN_IN_CSRF_COOKIE).expect("the sign-in CSRF cookie");
        let token = csrf_in(&form.text().await.expect("html"));
        let signed = client
            .post(format!("{base}/sign-in"))
            .header(COOKIE, pre_cookie)
            .header(CONTENT_TYPE, FORM)
            .body(encode(&[
                ("email", email),
                ("password", password),
                ("csrf", &token),
            ]))
            .send()
            .await
            .expect("signed in");
        assert_eq!(signed.status(), StatusCode::SEE_OTHER, "sign-in of {email}");
        let cookie = set_cookie(&signed, SESSION_COOKIE).expect("a session cookie");
        let mut browser = Self {
            client,
            base,
            cookie,
            csrf: String::new(),
        };
        let (_, home) = browser.get("/account").await;
        browser.csrf = csrf_in(&home);
        browser
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .expect("sent");
        (response.status(), response.text().await.unwrap_or_default())
    }

    /// Posts `fields`, the session's CSRF token added unless `with_csrf` is false.
    async fn post(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        with_csrf: bool,
    ) -> reqwest::Response {
        let mut fields = fields.to_vec();
        if with_csrf {
            fields.push(("csrf", &self.csrf));
        }
        self.client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, FORM)
            .body(encode(&fields))
            .send()
            .await
            .expect("sent")
    }
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
    let owner = Browser::sign_in(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let forged = owner.post("/plans", &plan_form("forged"), false).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(api.get("/api/v1/plans/forged").await.status, 404);

    let real = owner.post("/plans", &plan_form("real"), true).await;
    assert_eq!(real.status(), StatusCode::SEE_OTHER);
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
    let support = Browser::sign_in(&api, email, "a support password").await;

    let (status, plans) = support.get("/plans").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!plans.contains("data-action=\"new-plan\""), "{plans}");
    let (_, servers) = support.get("/servers").await;
    assert!(!servers.contains("data-action=\"register-server\""));
    let (_, nav) = support.get("/jobs").await;
    assert!(
        !nav.contains("href=\"/admins\""),
        "no link to the admins page"
    );

    for page in ["/admins", "/plans/new", "/servers/new"] {
        assert_eq!(support.get(page).await.0, StatusCode::FORBIDDEN, "{page}");
    }
    let posted = support.post("/plans", &plan_form("sneaky"), true).await;
    assert_eq!(posted.status(), StatusCode::FORBIDDEN);
    assert_eq!(api.get("/api/v1/plans/sneaky").await.status, 404);
    let admin = support
        .post(
            "/admins",
            &[
                ("email", "x@tests.example"),
                ("password", "a long password"),
                ("role", "owner"),
            ],
            true,
        )
        .await;
    assert_eq!(admin.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_plan_form_shows_the_apis_field_errors_next_to_the_fields_and_keeps_the_input() {
    let api = AdminApi::start().await;
    let owner = Browser::sign_in(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut form = plan_form("bad");
    form.retain(|(name, _)| *name != "limits.max_users" && *name != "name");
    form.push(("limits.max_users", "-1"));
    form.push(("name", "Kept name"));
    let refused = owner.post("/plans", &form, true).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
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
            true,
        )
        .await;
    assert_eq!(edit.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = edit.text().await.expect("html");
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
    let here = Browser::sign_in(&api, email, "the first password").await;
    let elsewhere = Browser::sign_in(&api, email, "the first password").await;

    let wrong = here
        .post(
            "/account/password",
            &[
                ("current_password", "not it"),
                ("new_password", "a second password"),
            ],
            true,
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .text()
            .await
            .unwrap_or_default()
            .contains("id=\"field-current_password-error\"")
    );

    let changed = here
        .post(
            "/account/password",
            &[
                ("current_password", "the first password"),
                ("new_password", "a second password"),
            ],
            true,
        )
        .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let fresh = set_cookie(&changed, SESSION_COOKIE).expect("a fresh session");
    let renewed = Browser {
        cookie: fresh,
        ..here
    };
    assert_eq!(renewed.get("/account").await.0, StatusCode::OK);
    let (status, _) = elsewhere.get("/account").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the other session is over");
    assert_eq!(
        api.login(email, "a second password", None).await.status,
        200
    );
}

#[tokio::test]
async fn two_factor_enrolment_draws_its_qr_code_on_the_server() {
    let api = AdminApi::start().await;
    let owner = Browser::sign_in(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = owner.post("/account/2fa/enroll", &[], true).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
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
    let owner = Browser::sign_in(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, page) = owner.get(&format!("/migrations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"run-progress\""));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, panel) = owner.get(&format!("/migrations/{id}/progress")).await;
        if status.as_u16() == 286 {
            assert!(!panel.contains("hx-trigger"), "an ended run is not polled");
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(panel.contains("hx-trigger=\"every 2s\""));
        assert!(Instant::now() < deadline, "the run did not end: {panel}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn jobs_and_audit_pages_list_with_their_filters() {
    let api = AdminApi::start().await;
    let owner = Browser::sign_in(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    owner.post("/plans", &plan_form("audited"), true).await;
    let (status, audit) = owner.get("/audit?action=plan.").await;
    assert_eq!(status, StatusCode::OK);
    assert!(audit.contains("plan.created"), "{audit}");
    assert!(audit.contains("data-table=\"audit\""));
    let (status, _) = owner.get("/audit?since=not-a-time").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, jobs) = owner.get("/jobs?status=failed&kind=&tenant=").await;
    assert_eq!(status, StatusCode::OK);
    assert!(jobs.contains("data-table=\"jobs\""));
    let (status, _) = owner.get(&format!("/jobs/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_server_is_drained_after_a_confirmation_and_shows_its_fill_level() {
    let api = AdminApi::start().await;
    let server = api.register_primary().await;
    let owner = Browser::sign_in(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, list) = owner.get("/servers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("class=\"usage-bar\""), "{list}");
    assert!(list.contains(&format!("/tenants?server={server}")));

    let (status, confirm) = owner.get(&format!("/servers/{server}/drain")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("data-action=\"confirm-drain\""));
    let forged = owner
        .post(&format!("/servers/{server}/drain"), &[], false)
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let drained = owner
        .post(&format!("/servers/{server}/drain"), &[], true)
        .await;
    assert_eq!(drained.status(), StatusCode::SEE_OTHER);
    let shown = api.get("/api/v1/servers").await;
    assert_eq!(shown.body["items"][0]["state"], "draining");
    let (_, page) = owner.get(&format!("/servers/{server}")).await;
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
    let owner = Browser::sign_in(&api, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, list) = owner.get("/admins").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("data-row=\"ops@tests.example\""));

    let role = owner
        .post(&format!("/admins/{id}"), &[("role", "operator")], true)
        .await;
    assert_eq!(role.status(), StatusCode::SEE_OTHER);
    let disabled = owner
        .post(&format!("/admins/{id}"), &[("disabled", "true")], true)
        .await;
    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);
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
        .post(&format!("/admins/{my_id}"), &[("role", "support")], true)
        .await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER, "said as a flash");
    assert_eq!(api.get("/api/v1/me").await.body["role"], "owner");
}

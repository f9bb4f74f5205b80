//! Self-serve signup: a trial tenant whose admin can sign in with the password they chose,
//! a welcome email, the slug check, duplicates, and the per-IP limit.

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::{AdminApi, fleet};

fn signup_body(slug: &str) -> Value {
    json!({ "company_name": format!("{slug} Manufacturing"), "slug": slug,
            "admin_email": format!("boss@{slug}.example"),
            "admin_password": "a long enough password", "plan": "starter" })
}

async fn signup(api: &AdminApi, body: Value) -> system_tests::admin::Reply {
    api.call(Method::POST, "/api/v1/signup", None, Some(body))
        .await
}

#[tokio::test]
async fn a_company_signs_up_gets_a_trial_an_active_admin_and_a_welcome_email() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let reply = signup(&api, signup_body("widgets")).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    assert_eq!(reply.body["slug"], "widgets");
    assert_eq!(reply.body["status"], "provisioning");
    assert!(
        reply.body["trial_ends_at"].is_string(),
        "a paid plan still starts on a trial"
    );
    let login_url = reply.body["login_url"].as_str().expect("login url");
    assert!(
        login_url.starts_with("http://widgets.localhost:"),
        "{login_url}"
    );
    let job = api
        .wait_for_job(reply.body["job_id"].as_str().expect("job"))
        .await;
    assert_eq!(job["state"], "succeeded");

    let tenant = api
        .get(&format!(
            "/api/v1/tenants/{}",
            reply.body["tenant_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(tenant.body["status"], "active");
    assert_eq!(tenant.body["billing"]["state"], "trialing");
    let admin = tenant_admin(&api, &tenant.body).await;
    assert_eq!(admin.0, "active");
    assert!(common::passwords::verify(
        "a long enough password",
        admin.1.as_deref()
    ));
    let control = fleet::connect(&api.app.db.url()).await;
    let job_id: uuid::Uuid = reply.body["job_id"]
        .as_str()
        .expect("job")
        .parse()
        .expect("uuid");
    let payload: Value = control
        .query_one("SELECT payload FROM jobs WHERE id = $1", &[&job_id])
        .await
        .expect("job")
        .get(0);
    assert!(
        payload.get("admin_password_hash").is_none(),
        "activation forgets the password hash: {payload}"
    );

    let mail = wait_for_mail(&api, "boss@widgets.example").await;
    assert!(
        mail.contains("Subject: Welcome, widgets Manufacturing"),
        "{mail}"
    );
    assert!(mail.contains(login_url), "{mail}");
    assert!(
        !mail.contains("a long enough password"),
        "the password is never mailed"
    );
    assert_eq!(
        api.audit("tenant.signed_up").await[0]["actor_kind"],
        "signup"
    );
}

/// The first admin's status and password hash, read from the tenant's database.
async fn tenant_admin(api: &AdminApi, tenant: &Value) -> (String, Option<String>) {
    let client = api.tenant_db(tenant["id"].as_str().expect("id")).await;
    let row = client
        .query_one("SELECT status, password_hash FROM users", &[])
        .await
        .expect("one user");
    (row.get(0), row.get(1))
}

async fn wait_for_mail(api: &AdminApi, to: &str) -> String {
    let dir = api.app.settings.data_dir.join("mail");
    for _ in 0..100 {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                if text.contains(&format!("To: {to}")) {
                    return text;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no mail to {to} in {}", dir.display());
}

#[tokio::test]
async fn slug_availability_and_duplicate_signups() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let api = &api;
    let check = |slug: &'static str| async move {
        let path = format!("/api/v1/signup/slug-availability?slug={slug}");
        api.call(Method::GET, &path, None, None).await
    };
    let free = check("gears").await;
    assert_eq!(
        free.body,
        json!({ "slug": "gears", "available": true, "reason": null })
    );
    assert_eq!(signup(api, signup_body("gears")).await.status, 202);
    let taken = check("GEARS").await;
    assert_eq!(taken.body["available"], false);
    assert_eq!(taken.body["reason"], "taken");
    let reserved = check("admin").await;
    assert_eq!(reserved.body["available"], false);
    let duplicate = signup(api, signup_body("gears")).await;
    assert_eq!((duplicate.status, duplicate.code()), (409, "slug_taken"));
}

#[tokio::test]
async fn bad_signups_are_refused_field_by_field() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let bad = signup(
        &api,
        json!({ "company_name": "", "slug": "x", "admin_email": "nope",
                "admin_password": "short", "plan": "starter" }),
    )
    .await;
    assert_eq!((bad.status, bad.code()), (422, "validation_failed"));
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        ["company_name", "admin_email", "admin_password", "slug"]
    );
    let mut hidden = signup_body("hidden");
    hidden["plan"] = json!("internal");
    let unknown = signup(&api, hidden).await;
    assert_eq!((unknown.status, unknown.code()), (422, "unknown_plan"));
}

#[tokio::test]
async fn a_signup_flood_from_one_address_is_limited() {
    let api =
        AdminApi::start_with(|settings| settings.control_plane.signups_per_ip_per_hour = 3).await;
    api.register_primary().await;
    for n in 0..3 {
        let reply = signup(&api, signup_body(&format!("flood-{n}"))).await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
    }
    let limited = signup(&api, signup_body("flood-3")).await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"));
    let wait: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("secs");
    assert!((1..=1200).contains(&wait), "{wait}");
    let check = api
        .call(
            Method::GET,
            "/api/v1/signup/slug-availability?slug=flood-3",
            None,
            None,
        )
        .await;
    assert_eq!(
        check.body["available"], true,
        "the refused signup made nothing"
    );
}

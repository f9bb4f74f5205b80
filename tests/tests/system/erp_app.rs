//! The ERP web app's doors: sign in and out (a session in a strict cookie on the company's
//! own host), CSRF on every form, the invitation and reset links that set a password, a
//! disabled user's session ending at once, and the dashboard a signed-in user lands on.

use reqwest::Method;
use serde_json::json;
use system_tests::AdminApi;
use system_tests::portal::PortalClient;
use system_tests::runtime::{Company, OWNER_PASSWORD};

async fn company(api: &AdminApi, slug: &str) -> Company {
    api.register_primary().await;
    api.company(slug, "starter").await
}

fn app(api: &AdminApi, company: &Company) -> PortalClient {
    PortalClient::for_app(&api.app.tenant_runtime_url, &company.slug)
}

#[tokio::test]
async fn an_admin_signs_in_lands_on_the_dashboard_and_signs_out_for_good() {
    let api = AdminApi::start().await;
    let acme = company(&api, "webacme").await;
    let mut client = app(&api, &acme);

    let anonymous = client.get("/").await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.location(), Some("/sign-in?next=%2F"));

    let wrong = client
        .sign_in(&acme.admin_email, "not the password at all")
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.body.contains("the email or password is wrong"));
    assert!(client.session.is_none());

    let signed_in = client.sign_in(&acme.admin_email, OWNER_PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location(), Some("/"));
    let cookie = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("__Host-erp="))
        .expect("a session cookie")
        .to_owned();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }

    let dashboard = client.get("/").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    assert!(dashboard.body.contains("webacme Manufacturing"));
    assert!(dashboard.body.contains("data-roles=\"admin\""));
    assert!(dashboard.body.contains("href=\"/users\""));

    let out = client.post("/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/sign-in"));
    let after = client.get("/").await;
    assert_eq!(after.status, 303, "the old cookie opens nothing any more");
}

#[tokio::test]
async fn forms_without_their_csrf_token_change_nothing() {
    let api = AdminApi::start().await;
    let acme = company(&api, "webcsrf").await;
    let mut client = app(&api, &acme);
    let forged = client
        .post_raw(
            "/sign-in",
            &[("email", &acme.admin_email), ("password", OWNER_PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("csrf_failed"));
    assert!(forged.cookie("__Host-erp").is_none());

    client.sign_in(&acme.admin_email, OWNER_PASSWORD).await;
    let forged_out = client.post_raw("/sign-out", &[("csrf", "guess")]).await;
    assert_eq!(forged_out.status, 403);
    assert_eq!(client.get("/").await.status, 200, "still signed in");
}

#[tokio::test]
async fn an_invited_user_chooses_a_password_from_the_link_and_signs_in_with_it() {
    let api = AdminApi::start().await;
    let acme = company(&api, "webinvite").await;
    let token = api.owner_token(&acme).await;
    let invited = api
        .tenant_call(
            &acme.slug,
            Method::POST,
            "/api/v1/users",
            Some(&token),
            Some(json!({ "email": "sam@webinvite.example", "roles": ["viewer"] })),
        )
        .await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    let link_token = api.mailed_token("sam@webinvite.example", "invited").await;
    let mut client = app(&api, &acme);
    let page = format!("/set-password?token={link_token}");
    let form = client.get(&page).await;
    assert_eq!(form.status, 200);
    assert_eq!(form.input("token").as_deref(), Some(link_token.as_str()));

    let short = client
        .post_before_sign_in(
            &page,
            "/set-password",
            &[("token", &link_token), ("password", "short")],
        )
        .await;
    assert_eq!(short.status, 422, "{}", short.body);
    assert!(short.body.contains("characters long"), "{}", short.body);

    let made_up = client
        .post_before_sign_in(
            &page,
            "/set-password",
            &[
                ("token", "made-up"),
                ("password", "a long enough passphrase"),
            ],
        )
        .await;
    assert_eq!(made_up.status, 400, "{}", made_up.body);
    assert!(made_up.body.contains("not valid or has expired"));

    let set = client
        .post_before_sign_in(
            &page,
            "/set-password",
            &[
                ("token", &link_token),
                ("password", "a long enough passphrase"),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert_eq!(set.location(), Some("/sign-in"));
    let signed_in = client
        .sign_in("sam@webinvite.example", "a long enough passphrase")
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let dashboard = client.get("/").await;
    assert!(dashboard.body.contains("data-roles=\"viewer\""));
    assert!(
        !dashboard.body.contains("href=\"/users\""),
        "a viewer's navigation has no users area"
    );
    let spent = client
        .post_before_sign_in(
            &page,
            "/set-password",
            &[
                ("token", &link_token),
                ("password", "another long passphrase"),
            ],
        )
        .await;
    assert_eq!(spent.status, 400, "a link works once");
}

#[tokio::test]
async fn forgot_password_mails_a_link_and_answers_the_same_for_an_unknown_address() {
    let api = AdminApi::start().await;
    let acme = company(&api, "webforgot").await;
    let client = app(&api, &acme);
    for email in [acme.admin_email.as_str(), "nobody@webforgot.example"] {
        let reply = client
            .post_before_sign_in("/forgot-password", "/forgot-password", &[("email", email)])
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.body.contains("data-state=\"reset-sent\""));
    }
    let token = api.mailed_token(&acme.admin_email, "Reset your").await;
    assert!(!token.is_empty());
}

#[tokio::test]
async fn a_disabled_users_session_ends_on_the_next_click() {
    let api = AdminApi::start().await;
    let acme = company(&api, "webdisable").await;
    let token = api.owner_token(&acme).await;
    let invited = api
        .tenant_call(
            &acme.slug,
            Method::POST,
            "/api/v1/users",
            Some(&token),
            Some(json!({ "email": "kim@webdisable.example", "roles": ["staff"] })),
        )
        .await;
    let id = invited.body["id"].as_str().expect("id").to_owned();
    let link_token = api.mailed_token("kim@webdisable.example", "invited").await;
    let set = api
        .set_password(&acme.slug, &link_token, "a long enough passphrase")
        .await;
    assert_eq!(set.status, 204);
    let mut client = app(&api, &acme);
    client
        .sign_in("kim@webdisable.example", "a long enough passphrase")
        .await;
    assert_eq!(client.get("/").await.status, 200);
    let disabled = api
        .tenant_call(
            &acme.slug,
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(&token),
            Some(json!({ "status": "disabled" })),
        )
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    assert_eq!(client.get("/").await.status, 303);
}

#[tokio::test]
async fn a_session_lapses_when_idle_and_clicks_push_it_on_without_a_write_each() {
    let api =
        AdminApi::start_with(|settings| settings.tenant_runtime.web_idle_timeout_secs = 4).await;
    let acme = company(&api, "webidle").await;
    let db = api.tenant_db(&acme.id).await;
    let last_seen = || async {
        db.query_one("SELECT max(last_seen_at) FROM web_sessions", &[])
            .await
            .expect("sessions")
            .get::<_, std::time::SystemTime>(0)
    };
    let mut client = app(&api, &acme);
    client.sign_in(&acme.admin_email, OWNER_PASSWORD).await;
    let signed_in = last_seen().await;
    assert_eq!(client.get("/").await.status, 200);
    assert_eq!(
        last_seen().await,
        signed_in,
        "a click right after sign-in wrote the session row"
    );
    // Past the original idle deadline only because the clicks in between pushed it on.
    // (Idle 4 s; the row is written when its last push is 2 s old.)
    for _ in 0..4 {
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert_eq!(client.get("/").await.status, 200, "still signed in");
    }
    assert!(last_seen().await > signed_in, "the deadline was pushed on");
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    let lapsed = client.get("/").await;
    assert_eq!(lapsed.status, 303, "an idle session lapsed");
}

#[tokio::test]
async fn another_companys_session_cookie_opens_nothing_here() {
    let api = AdminApi::start().await;
    let acme = company(&api, "webowner").await;
    let other = api.company("webother", "starter").await;
    let mut client = app(&api, &acme);
    client.sign_in(&acme.admin_email, OWNER_PASSWORD).await;
    let mut elsewhere = app(&api, &other);
    elsewhere.session = client.session.clone();
    let reply = elsewhere.get("/").await;
    assert_eq!(reply.status, 303, "{}", reply.body);
}

#[tokio::test]
async fn an_admin_invites_a_user_and_changes_their_roles_from_the_users_pages() {
    let api = AdminApi::start().await;
    let acme = company(&api, "webusers").await;
    let mut client = app(&api, &acme);
    client.sign_in(&acme.admin_email, OWNER_PASSWORD).await;
    let list = client.get("/users").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body
            .contains(&format!("data-row=\"{}\"", acme.admin_email))
    );

    let bad = client
        .post("/users", &[("email", "not an email"), ("role", "staff")])
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("not an email address"), "{}", bad.body);

    let name = "<script>alert(1)</script>";
    let invited = client
        .post(
            "/users",
            &[
                ("email", "lee@webusers.example"),
                ("display_name", name),
                ("role", "staff"),
            ],
        )
        .await;
    assert_eq!(invited.status, 303, "{}", invited.body);
    let list = client.get("/users").await;
    assert!(list.body.contains("lee@webusers.example"));
    assert!(!list.body.contains(name), "HTML in a name is escaped");
    assert!(list.body.contains("alert(1)"), "the name is shown, as text");
    api.mailed_token("lee@webusers.example", "invited").await;

    let token = api.owner_token(&acme).await;
    let users = api
        .tenant_call(&acme.slug, Method::GET, "/api/v1/users", Some(&token), None)
        .await;
    let lee = users
        .body
        .as_array()
        .expect("users")
        .iter()
        .find(|user| user["email"] == "lee@webusers.example")
        .expect("lee")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let saved = client
        .post(
            &format!("/users/{lee}"),
            &[
                ("display_name", "Lee"),
                ("status", "active"),
                ("roles", "staff"),
                ("roles", "manager"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let lee_now = api
        .tenant_call(
            &acme.slug,
            Method::GET,
            &format!("/api/v1/users/{lee}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(lee_now.body["roles"], json!(["manager", "staff"]));
    assert_eq!(lee_now.body["display_name"], "Lee");

    let owner = api
        .tenant_call(&acme.slug, Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    let owner_id = owner.body["user"]["id"].as_str().expect("id").to_owned();
    let last_admin = client
        .post(
            &format!("/users/{owner_id}"),
            &[
                ("display_name", ""),
                ("status", "active"),
                ("roles", "staff"),
            ],
        )
        .await;
    assert_eq!(last_admin.status, 409, "{}", last_admin.body);
    assert!(
        last_admin.body.contains("without an active admin"),
        "{}",
        last_admin.body
    );

    let roles = client.get("/roles").await;
    assert_eq!(roles.status, 200);
    assert!(roles.body.contains("data-row=\"viewer\""));
}

#[tokio::test]
async fn the_billing_page_shows_the_plan_and_usage_to_admins_only() {
    let api = AdminApi::start().await;
    let acme = company(&api, "webbill").await;
    let mut client = app(&api, &acme);
    client.sign_in(&acme.admin_email, OWNER_PASSWORD).await;
    let page = client.get("/billing").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-state=\"billing-disabled\""));
    assert!(
        page.body.contains("aria-label=\"Users: 1 of "),
        "one user counted against the plan's seats: {}",
        page.body
    );

    let token = api.owner_token(&acme).await;
    api.tenant_call(
        &acme.slug,
        Method::POST,
        "/api/v1/users",
        Some(&token),
        Some(json!({ "email": "val@webbill.example", "roles": ["manager"] })),
    )
    .await;
    let link = api.mailed_token("val@webbill.example", "invited").await;
    api.set_password(&acme.slug, &link, "a long enough passphrase")
        .await;
    let mut manager = app(&api, &acme);
    manager
        .sign_in("val@webbill.example", "a long enough passphrase")
        .await;
    let dashboard = manager.get("/").await;
    assert!(!dashboard.body.contains("href=\"/billing\""));
    let refused = manager.get("/billing").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("billing.manage"));
}

#[tokio::test]
async fn the_dashboard_shows_the_figures_of_the_plans_modules() {
    let api = AdminApi::start().await;
    let acme = company(&api, "webfigures").await;
    let token = api.owner_token(&acme).await;
    let call = |method: Method, path: &'static str, body: serde_json::Value| {
        let (api, token, slug) = (&api, token.clone(), acme.slug.clone());
        async move {
            let reply = api
                .tenant_call(&slug, method, path, Some(&token), Some(body))
                .await;
            assert!(reply.status < 300, "{path}: {:?}", reply.body);
            reply.body
        }
    };
    let item = call(
        Method::POST,
        "/api/v1/items",
        json!({ "sku": "BOLT-1", "name": "Bolt", "kind": "raw", "base_unit": "pcs",
                "reorder_point": "10" }),
    )
    .await;
    let warehouse = call(
        Method::POST,
        "/api/v1/warehouses",
        json!({ "code": "WH1", "name": "Main" }),
    )
    .await;
    let locations = api
        .tenant_call(
            &acme.slug,
            Method::GET,
            &format!(
                "/api/v1/warehouses/{}/locations",
                warehouse["id"].as_str().expect("id")
            ),
            Some(&token),
            None,
        )
        .await;
    let location = locations.body[0]["id"].clone();
    call(
        Method::POST,
        "/api/v1/stock/receipts",
        json!({ "item_id": item["id"], "location_id": location, "quantity": "4",
                "unit_cost": "2.5" }),
    )
    .await;

    let mut client = app(&api, &acme);
    client.sign_in(&acme.admin_email, OWNER_PASSWORD).await;
    let dashboard = client.get("/").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    let figure = |name: &str| {
        let marker = format!("data-figure=\"{name}\"><span class=\"stat-value\">");
        dashboard
            .body
            .split(&marker)
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .map(str::to_owned)
    };
    assert_eq!(figure("stock-value").as_deref(), Some("10.00"), "4 at 2.5");
    assert_eq!(
        figure("below-reorder").as_deref(),
        Some("1"),
        "4 is below 10"
    );
    assert_eq!(figure("open-purchase-orders").as_deref(), Some("0"));
    assert_eq!(figure("open-sales-orders").as_deref(), Some("0"));
    assert_eq!(
        figure("pending-approvals"),
        None,
        "the starter plan has no approvals module"
    );
}

/// The `id` of a created resource (`body.id`, or `body.endpoint.id`).
fn created_id(reply: &system_tests::admin::Reply) -> String {
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_viewer_reads_every_page_and_is_offered_no_form_that_writes() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("webviewer", "enterprise").await;
    let token = api.owner_token(&acme).await;
    let post = |path: &'static str, body: serde_json::Value| {
        let (api, slug, token) = (&api, acme.slug.clone(), token.clone());
        async move {
            api.tenant_call(&slug, Method::POST, path, Some(&token), Some(body))
                .await
        }
    };
    let item = created_id(
        &post(
            "/api/v1/items",
            json!({ "sku": "BOLT", "name": "Bolt", "kind": "raw", "base_unit": "pcs" }),
        )
        .await,
    );
    let partner = created_id(
        &post(
            "/api/v1/partners",
            json!({ "code": "ACME", "name": "Acme", "is_customer": true, "is_supplier": true }),
        )
        .await,
    );
    let warehouse = created_id(
        &post(
            "/api/v1/warehouses",
            json!({ "code": "WH", "name": "Main" }),
        )
        .await,
    );
    let line = json!([{ "item_id": item, "quantity": "2", "unit_price": "3" }]);
    let purchase = created_id(
        &post(
            "/api/v1/purchase-orders",
            json!({ "supplier_id": partner, "warehouse_id": warehouse, "lines": line }),
        )
        .await,
    );
    let sale = created_id(
        &post(
            "/api/v1/sales-orders",
            json!({ "customer_id": partner, "warehouse_id": warehouse, "lines": line }),
        )
        .await,
    );
    api.member(&acme.slug, &token, "val@webviewer.example", &["viewer"])
        .await;
    let mut viewer = app(&api, &acme);
    viewer
        .sign_in("val@webviewer.example", OWNER_PASSWORD)
        .await;

    let pages = [
        "/".to_owned(),
        "/items".to_owned(),
        format!("/items/{item}"),
        "/partners".to_owned(),
        format!("/partners/{partner}"),
        "/warehouses".to_owned(),
        format!("/warehouses/{warehouse}"),
        "/purchase-orders".to_owned(),
        format!("/purchase-orders/{purchase}"),
        "/sales-orders".to_owned(),
        format!("/sales-orders/{sale}"),
        "/approvals".to_owned(),
    ];
    for path in &pages {
        let page = viewer.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        let forms = page.body.matches("method=\"post\"").count();
        let sign_out = page.body.matches("action=\"/sign-out\"").count();
        assert_eq!(
            forms, sign_out,
            "{path} offers a viewer a form that writes (only sign-out may post)"
        );
    }
    // Pages that exist only to write, and the settings a viewer may not read.
    for path in [
        "/purchase-orders/new",
        "/items/import",
        "/users",
        "/webhooks",
    ] {
        assert_eq!(viewer.get(path).await.status, 403, "{path}");
    }
    // And a hand-made post is refused all the same.
    let forged = viewer
        .post(&format!("/sales-orders/{sale}/confirm"), &[])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
}

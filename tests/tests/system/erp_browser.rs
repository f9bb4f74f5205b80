//! The ERP web app in a real browser (headless Chromium through WebDriver), on the
//! company's own host (`{slug}.localhost`): what its people do, step by step, through the
//! HTML hooks the app keeps stable (`#field-<name>`, `data-action`, `data-row`,
//! `data-banner`, `.flash`). Screenshots go to the test-output folder.

use reqwest::Method;
use serde_json::json;
use system_tests::runtime::{Company, OWNER_PASSWORD};
use system_tests::{AdminApi, Browser};

/// A browser pointed at `company`'s own host on the runtime.
async fn browser_for(api: &AdminApi, company: &Company) -> Browser {
    let port = api.app.tenant_runtime_url.rsplit(':').next().expect("port");
    Browser::start(&format!("http://{}.localhost:{port}", company.slug)).await
}

async fn sign_in(browser: &Browser, email: &str, password: &str) {
    browser.open("/").await;
    browser.wait_for_text("h1", "Sign in").await;
    browser.fill("email", email).await;
    browser.fill("password", password).await;
    browser.click_action("sign-in").await;
}

#[tokio::test]
async fn an_admin_signs_in_invites_a_colleague_and_a_viewer_sees_only_what_they_may() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("browserco", "starter").await;
    let browser = browser_for(&api, &acme).await;

    sign_in(&browser, &acme.admin_email, "a wrong password for sure").await;
    browser
        .wait_for_text(".form-error", "the email or password is wrong")
        .await;
    browser.fill("password", OWNER_PASSWORD).await;
    browser.click_action("sign-in").await;
    browser.wait_for("[data-roles=\"admin\"]").await;
    browser.screenshot("erp-dashboard").await;

    browser.click("nav a[href=\"/users\"]").await;
    browser.wait_for_text("h1", "Users").await;
    browser.fill("email", "viv@browserco.example").await;
    browser.fill("display_name", "Viv <b>Viewer</b>").await;
    browser
        .client()
        .find(fantoccini::Locator::Css(
            "#field-role option[value=\"viewer\"]",
        ))
        .await
        .expect("the viewer role is offered")
        .click()
        .await
        .expect("chosen");
    browser.click_action("invite").await;
    browser
        .wait_for_text(".flash", "Invitation sent to viv@browserco.example")
        .await;
    browser
        .wait_for("[data-row=\"viv@browserco.example\"]")
        .await;
    browser.screenshot("erp-users").await;
    browser.click_action("sign-out").await;
    browser.wait_for_text("h1", "Sign in").await;

    let link = api.mailed_token("viv@browserco.example", "invited").await;
    browser.open(&format!("/set-password?token={link}")).await;
    browser.wait_for_text("h1", "Choose a password").await;
    browser.fill("password", "a long enough passphrase").await;
    browser.click_action("set-password").await;
    browser
        .wait_for_text(".flash", "Your password is set")
        .await;
    browser.fill("email", "viv@browserco.example").await;
    browser.fill("password", "a long enough passphrase").await;
    browser.click_action("sign-in").await;
    browser.wait_for("[data-roles=\"viewer\"]").await;
    for area in ["/users", "/roles", "/billing"] {
        assert!(
            !browser.has(&format!("nav a[href=\"{area}\"]")).await,
            "a viewer's navigation has no {area}"
        );
    }
    let token = api.owner_token(&acme).await;
    let users = api
        .tenant_call(&acme.slug, Method::GET, "/api/v1/users", Some(&token), None)
        .await;
    assert!(
        users.body.as_array().expect("users").iter().any(|user| {
            user["email"] == "viv@browserco.example"
                && user["display_name"] == json!("Viv <b>Viewer</b>")
        }),
        "the name is kept as typed: {:?}",
        users.body
    );
    browser.close().await;
}

/// Sets the form control named `name` (no `#field-` id: the order forms' line inputs):
/// picks the option valued `value` in a select, types `value` into an input.
pub(crate) async fn set(browser: &Browser, name: &str, value: &str) {
    let field = browser.wait_for(&format!("[name=\"{name}\"]")).await;
    if field
        .tag_name()
        .await
        .expect("tag")
        .eq_ignore_ascii_case("select")
    {
        field.select_by_value(value).await.expect("option chosen");
    } else {
        field.clear().await.expect("cleared");
        field.send_keys(value).await.expect("typed");
    }
}

/// The value of the dashboard's `data-figure` card `name`.
async fn figure(browser: &Browser, name: &str) -> String {
    browser.open("/").await;
    browser
        .text(&format!("[data-figure=\"{name}\"] .stat-value"))
        .await
}

async fn sign_out(browser: &Browser) {
    browser.click_action("sign-out").await;
    browser.wait_for_text("h1", "Sign in").await;
}

/// The walk: an admin makes an item and a warehouse, raises a purchase order, a
/// manager approves it, the admin receives it, sells part of it and delivers, and sees
/// the stock move on the dashboard.
#[tokio::test]
async fn an_admin_buys_gets_approval_receives_sells_and_delivers() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let plan = api
        .post(
            "/api/v1/plans",
            json!({ "code": "walk", "name": "Walk",
                    "limits": { "max_users": 10, "max_storage_mb": 1000,
                                "api_requests_per_minute": 6000, "api_calls_per_month": 1_000_000,
                                "max_concurrent_requests": 50, "max_db_connections": 5 },
                    "features": ["master_data", "inventory", "purchasing", "sales", "approvals"] }),
        )
        .await;
    assert_eq!(plan.status, 201, "{:?}", plan.body);
    let acme = api.company("walkco", "walk").await;
    let owner = api.owner_token(&acme).await;
    let call = |method: Method, path: String, body: Option<serde_json::Value>| {
        let (api, owner, slug) = (&api, owner.clone(), acme.slug.clone());
        async move {
            let reply = api
                .tenant_call(&slug, method, &path, Some(&owner), body)
                .await;
            assert!(reply.status < 300, "{path}: {:?}", reply.body);
            reply.body
        }
    };
    let browser = browser_for(&api, &acme).await;
    sign_in(&browser, &acme.admin_email, OWNER_PASSWORD).await;
    browser.wait_for("[data-roles=\"admin\"]").await;

    // Master data through the pages.
    browser.open("/items").await;
    browser.fill("sku", "BOLT-10").await;
    browser.fill("name", "Bolt M10").await;
    browser.fill("kind", "raw").await;
    browser.fill("base_unit", "pcs").await;
    browser.fill("standard_cost", "2").await;
    browser.click_action("add-item").await;
    browser.wait_for_text(".flash", "BOLT-10").await;
    browser.open("/warehouses").await;
    browser.fill("code", "WH1").await;
    browser.fill("name", "Main store").await;
    browser.click_action("add-warehouse").await;
    browser.wait_for_text(".flash", "WH1").await;
    let item = call(Method::GET, "/api/v1/items?q=BOLT-10".into(), None).await["items"][0]["id"]
        .as_str()
        .expect("item")
        .to_owned();
    let warehouse = call(Method::GET, "/api/v1/warehouses".into(), None).await["items"][0]["id"]
        .as_str()
        .expect("warehouse")
        .to_owned();
    let location = call(
        Method::GET,
        format!("/api/v1/warehouses/{warehouse}/locations"),
        None,
    )
    .await[0]["id"]
        .as_str()
        .expect("MAIN")
        .to_owned();
    let supplier = call(
        Method::POST,
        "/api/v1/partners".into(),
        Some(json!({ "code": "SUP", "name": "Steel Supply", "is_supplier": true })),
    )
    .await["id"]
        .as_str()
        .expect("supplier")
        .to_owned();
    let customer = call(
        Method::POST,
        "/api/v1/partners".into(),
        Some(json!({ "code": "CUS", "name": "Good Customer", "is_customer": true })),
    )
    .await["id"]
        .as_str()
        .expect("customer")
        .to_owned();
    call(
        Method::PUT,
        "/api/v1/approvals/rules".into(),
        Some(
            json!({ "rules": [{ "document_type": "purchase_order", "min_amount": "0",
                                 "role": "manager" }] }),
        ),
    )
    .await;
    call(
        Method::POST,
        "/api/v1/users".into(),
        Some(json!({ "email": "max@walkco.example", "roles": ["manager"] })),
    )
    .await;
    let link = api.mailed_token("max@walkco.example", "invited").await;
    api.set_password(&acme.slug, &link, "a long enough passphrase")
        .await;

    // A purchase order of 10 at 2, submitted for approval.
    browser.open("/purchase-orders/new").await;
    set(&browser, "supplier_id", &supplier).await;
    set(&browser, "warehouse_id", &warehouse).await;
    set(&browser, "item_1", &item).await;
    set(&browser, "quantity_1", "10").await;
    set(&browser, "price_1", "2").await;
    browser.click_action("create").await;
    browser.wait_for("[data-status=\"draft\"]").await;
    let order_path = browser.path().await;
    browser.click_action("submit").await;
    browser.wait_for("[data-status=\"submitted\"]").await;
    browser.screenshot("erp-purchase-order").await;
    sign_out(&browser).await;

    // The manager approves it from the inbox.
    sign_in(&browser, "max@walkco.example", "a long enough passphrase").await;
    browser.wait_for("[data-roles=\"manager\"]").await;
    browser.open("/approvals").await;
    browser.screenshot("erp-approvals").await;
    browser.click_action("approve").await;
    browser.wait_for(".flash").await;
    sign_out(&browser).await;

    // The admin receives it: on hand 10, worth 20.
    sign_in(&browser, &acme.admin_email, OWNER_PASSWORD).await;
    browser.wait_for("[data-roles=\"admin\"]").await;
    browser.open(&order_path).await;
    browser.wait_for("[data-status=\"approved\"]").await;
    set(&browser, "location_id", &location).await;
    set(&browser, "quantity_1", "10").await;
    browser.click_action("receive").await;
    browser.wait_for("[data-status=\"received\"]").await;
    assert_eq!(figure(&browser, "stock-value").await, "20.00");

    // Sell 4, confirm (reserving them), deliver: on hand 6, worth 12.
    browser.open("/sales-orders").await;
    set(&browser, "customer_id", &customer).await;
    set(&browser, "warehouse_id", &warehouse).await;
    set(&browser, "item_1", &item).await;
    set(&browser, "quantity_1", "4").await;
    set(&browser, "price_1", "5").await;
    browser.click_action("new-order").await;
    browser.wait_for("[data-status=\"draft\"]").await;
    browser.click_action("confirm").await;
    browser.wait_for("[data-status=\"confirmed\"]").await;
    set(&browser, "location_id", &location).await;
    set(&browser, "quantity_1", "4").await;
    browser.click_action("deliver").await;
    browser.wait_for("[data-status=\"delivered\"]").await;
    browser.screenshot("erp-sales-order").await;
    assert_eq!(figure(&browser, "stock-value").await, "12.00");
    browser.screenshot("erp-dashboard-after-walk").await;
    let stock = call(Method::GET, format!("/api/v1/stock/items/{item}"), None).await;
    let on_hand: f64 = stock["on_hand"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .expect("on hand");
    assert_eq!(on_hand, 6.0, "{stock:?}");
    browser.close().await;
}

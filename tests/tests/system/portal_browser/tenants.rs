//! Tenants in the portal: created and seen to become active without a reload, bad input in
//! the create form, suspended with a reason, moved to another plan, impersonated, HTML in
//! a name shown as text, a tenant that does not exist; screenshots of the main pages.

use super::helpers::{
    NewTenant, Portal, change_plan, create_tenant, fill_new_tenant, open_tenant,
    start_impersonating, suspend, tenant,
};
use serde_json::json;
use std::time::Duration;
use system_tests::browser::TABLET;

/// Provisioning a tenant on a busy two-core machine takes longer than a page.
const PROVISIONING: Duration = Duration::from_secs(90);

#[tokio::test]
async fn a_tenant_created_in_the_form_becomes_active_without_a_reload() {
    let portal = Portal::signed_in().await;
    let browser = &portal.browser;
    create_tenant(
        browser,
        &NewTenant {
            slug: "acme",
            name: "Acme Ltd",
            plan: "starter",
            admin_email: "boss@acme.example",
        },
    )
    .await;
    browser
        .wait_for_text(".flash-success", "is being created")
        .await;
    // A mark on the page that a reload would wipe.
    let mark = "document.body.setAttribute('data-test-mark', 'kept'); return null;";
    browser.client().execute(mark, vec![]).await.expect("mark");

    browser
        .wait_for_within("#tenant-status [data-status=\"active\"]", PROVISIONING)
        .await;
    assert!(
        browser.has("body[data-test-mark=\"kept\"]").await,
        "the page was reloaded"
    );
    browser.screenshot("tenant-detail").await;
    screenshot_main_pages(&portal).await;
    portal.finish().await;
}

/// The pages the README and reviewers look at, at desktop and tablet widths.
async fn screenshot_main_pages(portal: &Portal) {
    let browser = &portal.browser;
    browser.open("/tenants").await;
    browser
        .wait_for("[data-table=\"tenants\"] [data-row=\"acme\"]")
        .await;
    browser.screenshot("tenants").await;
    browser.open("/").await;
    browser.wait_for_text("h1", "Dashboard").await;
    browser.screenshot("dashboard").await;
    browser.set_window_size(TABLET.0, TABLET.1).await;
    browser.open("/").await;
    browser.wait_for_text("h1", "Dashboard").await;
    browser.screenshot("dashboard-tablet").await;
}

#[tokio::test]
async fn an_invalid_slug_is_shown_beside_its_field_and_a_double_submit_makes_one_tenant() {
    let portal = Portal::signed_in().await;
    let browser = &portal.browser;
    let form = NewTenant {
        slug: "Not A Slug!",
        name: "Twice Ltd",
        plan: "growth",
        admin_email: "boss@twice.example",
    };
    fill_new_tenant(browser, &form).await;
    browser.click_action("create").await;

    browser.wait_for("#field-slug-error").await;
    let slug = browser.wait_for("#field-slug").await;
    let described = slug.attr("aria-describedby").await.expect("attr");
    assert_eq!(described.as_deref(), Some("field-slug-error"));
    assert_eq!(browser.field_value("name").await, "Twice Ltd");
    assert_eq!(browser.field_value("plan").await, "growth");
    assert_eq!(
        browser.field_value("admin_email").await,
        "boss@twice.example"
    );

    browser.fill("slug", "twice").await;
    // Two clicks in the same instant, as an impatient double-click sends them.
    let double_click = "const b = document.querySelector('[data-action=\"create\"]'); b.click(); b.click(); return null;";
    browser
        .client()
        .execute(double_click, vec![])
        .await
        .expect("clicks");
    browser.wait_for_text("h1", "Twice Ltd").await;
    let listed = portal.api.get("/api/v1/tenants?search=twice").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let items = listed.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    portal.finish().await;
}

#[tokio::test]
async fn a_tenant_is_suspended_with_a_reason_and_moved_to_another_plan() {
    let portal = Portal::signed_in().await;
    let browser = &portal.browser;
    let id = portal.api.active_tenant("plainco").await;
    open_tenant(browser, &id).await;

    change_plan(browser, "growth").await;
    browser.wait_for_text(".facts", "Growth").await;
    assert_eq!(tenant(&portal.api, &id).await["plan"], "growth");

    suspend(browser, "unpaid invoice 17").await;
    browser
        .wait_for("#tenant-status [data-status=\"suspended\"]")
        .await;
    browser
        .wait_for_text("#tenant-status", "unpaid invoice 17")
        .await;
    let suspended = tenant(&portal.api, &id).await;
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["status_reason"], "unpaid invoice 17");
    portal.finish().await;
}

#[tokio::test]
async fn impersonating_opens_the_tenants_app_in_a_new_tab() {
    let portal = Portal::signed_in().await;
    let browser = &portal.browser;
    let id = portal.api.active_tenant("helpme").await;
    portal
        .api
        .tenant_db(&id)
        .await
        .execute("UPDATE users SET status = 'active'", &[])
        .await
        .expect("the tenant's first admin is active");
    open_tenant(browser, &id).await;

    start_impersonating(browser, "ticket 42").await;
    let runtime_port = portal
        .api
        .app
        .tenant_runtime_url
        .rsplit(':')
        .next()
        .expect("port");
    let app_url = format!("http://helpme.localhost:{runtime_port}/impersonate");
    let form = format!("form[target=\"_blank\"][action=\"{app_url}\"]");
    assert!(
        browser.has(&form).await,
        "the button posts to {app_url} in a new tab"
    );
    assert_eq!(browser.wait_for_windows(1).await.len(), 1);
    let portal_window = browser.client().window().await.expect("this window");
    browser.click_action("open-app").await;
    let windows = browser.wait_for_windows(2).await;
    let app_window = windows
        .into_iter()
        .find(|window| *window != portal_window)
        .expect("the new tab");
    browser
        .client()
        .switch_to_window(app_window)
        .await
        .expect("into the new tab");
    // The opening page moves on to the app's dashboard, in a session whose every page
    // says who is acting as whom.
    browser.wait_for("[data-roles]").await;
    browser
        .wait_for_text(
            "[data-banner=\"impersonation\"]",
            "A platform admin is acting as admin@helpme.example",
        )
        .await;
    browser.screenshot("impersonating").await;
    let audited = portal.api.audit("tenant.impersonated").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    portal.finish().await;
}

#[tokio::test]
async fn html_in_a_tenant_name_is_shown_as_text_and_an_unknown_tenant_is_a_404_page() {
    let portal = Portal::signed_in().await;
    let browser = &portal.browser;
    let name = "<b>Bold</b> & <img src=x> Co";
    let created = portal
        .api
        .post(
            "/api/v1/tenants",
            json!({ "slug": "markup", "name": name, "plan": "starter",
                    "admin_email": "admin@markup.example" }),
        )
        .await;
    assert_eq!(created.status, 202, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id");

    open_tenant(browser, id).await;
    assert_eq!(browser.heading().await, name);
    assert!(
        !browser.has("main b, main img").await,
        "markup was rendered"
    );
    browser.open("/tenants").await;
    let row = browser.wait_for("[data-row=\"markup\"]").await;
    assert!(row.text().await.expect("text").contains(name));
    assert!(!browser.has("[data-row=\"markup\"] b").await);

    browser
        .open(&format!("/tenants/{}", uuid::Uuid::new_v4()))
        .await;
    browser
        .wait_for(".error-card[data-code=\"tenant_not_found\"]")
        .await;
    browser.wait_for_text(".error-status", "404").await;
    browser.open("/tenants/not-a-tenant").await;
    browser.wait_for_text(".error-status", "404").await;
    portal.finish().await;
}

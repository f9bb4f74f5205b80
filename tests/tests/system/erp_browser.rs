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

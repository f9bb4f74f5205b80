//! Who may do what: a `support` admin sees no action it may not take and is refused when it
//! forges one; a form with a missing or wrong CSRF token changes nothing.

use super::helpers::{
    Portal, csrf_token, open_tenant, post_form, session_cookie, sign_in, staff_admin, tenant,
};
use system_tests::admin::STAFF_PASSWORD;

#[tokio::test]
async fn a_support_admin_sees_no_tenant_actions_but_impersonate_and_a_forged_one_is_refused() {
    let portal = Portal::start().await;
    let browser = &portal.browser;
    let id = portal.api.active_tenant("watched").await;
    let support = staff_admin(&portal.api, "support").await;
    sign_in(browser, &support, STAFF_PASSWORD).await;
    browser.wait_for_text("h1", "Dashboard").await;

    browser.open("/tenants").await;
    browser.wait_for("[data-row=\"watched\"]").await;
    assert!(!browser.has("[data-action=\"new-tenant\"]").await);
    open_tenant(browser, &id).await;
    browser.wait_for("[data-action=\"impersonate\"]").await;
    for verb in ["edit", "suspend", "resume", "delete"] {
        let button = format!("[data-action=\"{verb}\"]");
        assert!(!browser.has(&button).await, "support sees {verb}");
    }

    let cookie = session_cookie(browser).await;
    let csrf = csrf_token(browser).await;
    let path = format!("/tenants/{id}/suspend");
    let forged = post_form(
        &portal,
        &cookie,
        &path,
        &[("csrf", &csrf), ("reason", "forged")],
    )
    .await;
    assert_eq!(forged, 403);
    assert_eq!(tenant(&portal.api, &id).await["status"], "active");
    portal.finish().await;
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_with_a_wrong_one_changes_nothing() {
    let portal = Portal::signed_in().await;
    let browser = &portal.browser;
    let id = portal.api.active_tenant("guarded").await;
    open_tenant(browser, &id).await;
    let cookie = session_cookie(browser).await;
    let path = format!("/tenants/{id}/suspend");

    let wrong = post_form(
        &portal,
        &cookie,
        &path,
        &[("csrf", "wrong"), ("reason", "a reason long enough")],
    )
    .await;
    assert_eq!(wrong, 403);
    let missing = post_form(
        &portal,
        &cookie,
        &path,
        &[("reason", "a reason long enough")],
    )
    .await;
    assert_eq!(missing, 403);
    assert_eq!(tenant(&portal.api, &id).await["status"], "active");

    // The same form with the page's token goes through: the refusals were the token's.
    let csrf = csrf_token(browser).await;
    let right = post_form(
        &portal,
        &cookie,
        &path,
        &[("csrf", &csrf), ("reason", "a reason long enough")],
    )
    .await;
    assert_eq!(right, 303);
    assert_eq!(tenant(&portal.api, &id).await["status"], "suspended");
    portal.finish().await;
}

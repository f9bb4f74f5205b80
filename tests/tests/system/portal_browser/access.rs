//! Who may do what: a `support` admin sees no action it may not take and is refused when it
//! forges one; a form with a missing or wrong CSRF token changes nothing.

use super::helpers::{Portal, csrf_token, forger, open_tenant, sign_in, staff_admin, tenant};
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

    let csrf = csrf_token(browser).await;
    let path = format!("/tenants/{id}/suspend");
    let fields = [("csrf", csrf.as_str()), ("reason", "forged by support")];
    let forged = forger(&portal).await.post_raw(&path, &fields).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(tenant(&portal.api, &id).await["status"], "active");
    portal.finish().await;
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_with_a_wrong_one_changes_nothing() {
    let portal = Portal::signed_in().await;
    let browser = &portal.browser;
    let id = portal.api.active_tenant("guarded").await;
    open_tenant(browser, &id).await;
    let forger = forger(&portal).await;
    let path = format!("/tenants/{id}/suspend");
    let reason = ("reason", "a reason long enough");

    let wrong = forger.post_raw(&path, &[("csrf", "wrong"), reason]).await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let missing = forger.post_raw(&path, &[reason]).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert_eq!(tenant(&portal.api, &id).await["status"], "active");

    // The same form with the page's token goes through: the refusals were the token's.
    let csrf = csrf_token(browser).await;
    let right = forger.post_raw(&path, &[("csrf", &csrf), reason]).await;
    assert_eq!(right.status, 303, "{}", right.body);
    assert_eq!(tenant(&portal.api, &id).await["status"], "suspended");
    portal.finish().await;
}

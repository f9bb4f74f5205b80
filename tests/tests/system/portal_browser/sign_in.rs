//! Signing in (password, lock-out, the TOTP step), an expired session, signing out.

use super::helpers::{Portal, sign_in, sign_in_as_owner, sign_out, submit_password};
use system_tests::admin::unix_now;
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD};

#[tokio::test]
async fn a_wrong_password_is_said_on_the_form_and_repeated_ones_lock_the_account() {
    let portal = Portal::start().await;
    let browser = &portal.browser;
    browser.open("/").await;
    browser.wait_for_text("h1", "Sign in").await;
    browser.screenshot("sign-in").await;

    for _ in 0..5 {
        sign_in(browser, ADMIN_EMAIL, "not the password").await;
        browser
            .wait_for_text(".form-error", "the email or password is wrong")
            .await;
        assert_eq!(
            browser.field_value("email").await,
            ADMIN_EMAIL,
            "email kept"
        );
        assert_eq!(
            browser.field_value("password").await,
            "",
            "password not echoed"
        );
    }
    sign_in(browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser
        .wait_for_text(".form-error", "too many failed sign-ins")
        .await;
    assert_eq!(browser.heading().await, "Sign in", "still signed out");
    portal.finish().await;
}

#[tokio::test]
async fn an_admin_with_two_factor_types_the_code_after_the_password() {
    let portal = Portal::start().await;
    let secret = portal.api.enrol_totp().await;
    let browser = &portal.browser;

    sign_in(browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.wait_for_text("h1", "Two-factor code").await;
    browser.fill("code", "000000").await;
    browser.click_action("verify").await;
    browser.wait_for(".form-error").await;
    assert_eq!(browser.heading().await, "Two-factor code");

    let code = control_plane::auth::totp::current_code(&secret, unix_now()).expect("code");
    browser.fill("code", &code).await;
    browser.click_action("verify").await;
    browser.wait_for_text("h1", "Dashboard").await;
    portal.finish().await;
}

#[tokio::test]
async fn an_expired_session_signs_in_again_and_comes_back_to_the_page_asked_for() {
    let portal = Portal::signed_in().await;
    let browser = &portal.browser;
    let control = system_tests::fleet::connect(&portal.api.app.db.url()).await;
    control
        .execute("DELETE FROM portal_sessions", &[])
        .await
        .expect("sessions expired");

    browser.open("/tenants?status=active").await;
    submit_password(browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.wait_for_text("h1", "Tenants").await;
    assert_eq!(browser.path().await, "/tenants?status=active");
    portal.finish().await;
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let portal = Portal::start().await;
    let browser = &portal.browser;
    sign_in_as_owner(browser).await;
    sign_out(browser).await;
    browser.wait_for_text(".flash-info", "signed out").await;

    browser.open("/tenants").await;
    browser.wait_for_text("h1", "Sign in").await;
    assert!(browser.path().await.starts_with("/sign-in"));
    portal.finish().await;
}

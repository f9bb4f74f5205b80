//! Admin authentication: login, tokens that must be refused, refresh rotation and reuse,
//! logout, lock-out, and TOTP with recovery codes.

use base64::Engine as _;
use common::tokens::{CONTROL_PLANE_AUDIENCE, Claims, TENANT_RUNTIME_AUDIENCE, TokenKeys};
use reqwest::Method;
use serde_json::json;
use system_tests::AdminApi;
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn an_owner_logs_in_and_sees_themself() {
    let api = AdminApi::start().await;
    let login = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    assert_eq!(login.status, 200);
    assert_eq!(login.body["expires_in"], 900);
    assert!(
        login.body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 40)
    );
    let me = api.get("/api/v1/me").await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["email"], ADMIN_EMAIL);
    assert_eq!(me.body["role"], "owner");
    assert_eq!(me.body["totp_enabled"], false);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let api = AdminApi::start().await;
    let wrong = api
        .login(ADMIN_EMAIL, "not the password at all", None)
        .await;
    let unknown = api
        .login("nobody@tests.example", "not the password at all", None)
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.code(), "invalid_credentials");
    assert_eq!(
        wrong.header("content-type"),
        Some("application/problem+json")
    );
}

#[tokio::test]
async fn forged_expired_and_misdirected_tokens_are_refused() {
    let api = AdminApi::start().await;
    let real = TokenKeys::from_settings(&api.app.settings).expect("key");
    let me = api.get("/api/v1/me").await;
    let admin_id = me.body["id"].as_str().expect("id").to_owned();
    let claims = Claims::new(CONTROL_PLANE_AUDIENCE, &admin_id, 60);

    let other_key = TokenKeys::from_secret(b"some other key of thirty-two b!!")
        .sign(&claims)
        .expect("signs");
    let mut expired = claims.clone();
    expired.iat -= 3600;
    expired.exp = expired.iat + 60;
    let expired = real.sign(&expired).expect("signs");
    let wrong_audience = real
        .sign(&Claims::new(TENANT_RUNTIME_AUDIENCE, &admin_id, 60))
        .expect("signs");
    let payload = b64(&serde_json::to_vec(&claims).expect("json"));
    let alg_none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    // An RS256 header over an HMAC signature: a verifier that trusts `alg` would be fooled.
    let valid = real.sign(&claims).expect("signs");
    let signature = valid.rsplit('.').next().expect("signature");
    let rs_confusion = format!(
        "{}.{payload}.{signature}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#)
    );

    for (name, token, code) in [
        ("wrong key", other_key.as_str(), "invalid_token"),
        ("expired", expired.as_str(), "token_expired"),
        ("wrong aud", wrong_audience.as_str(), "invalid_token"),
        ("alg none", alg_none.as_str(), "invalid_token"),
        ("RS/HS confusion", rs_confusion.as_str(), "invalid_token"),
        ("garbage", "not-a-jwt", "invalid_token"),
    ] {
        let reply = api.call(Method::GET, "/api/v1/me", Some(token), None).await;
        assert_eq!((reply.status, reply.code()), (401, code), "{name}");
    }
    let none = api.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!((none.status, none.code()), (401, "unauthorized"));
    let valid = api
        .call(Method::GET, "/api/v1/me", Some(&valid), None)
        .await;
    assert_eq!(valid.status, 200, "the control token itself is fine");
}

#[tokio::test]
async fn a_refresh_token_rotates_and_its_reuse_revokes_the_whole_session() {
    let api = AdminApi::start().await;
    let first = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let first_refresh = first.body["refresh_token"].clone();
    let refresh = |token: serde_json::Value| {
        api.call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": token })),
        )
    };
    let second = refresh(first_refresh.clone()).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_ne!(second.body["refresh_token"], first_refresh);
    let access = second.body["access_token"].as_str().expect("access");
    let me = api
        .call(Method::GET, "/api/v1/me", Some(access), None)
        .await;
    assert_eq!(me.status, 200);

    let reused = refresh(first_refresh).await;
    assert_eq!(
        (reused.status, reused.code()),
        (401, "refresh_token_reused")
    );
    let revoked = refresh(second.body["refresh_token"].clone()).await;
    assert_eq!(
        (revoked.status, revoked.code()),
        (401, "refresh_token_revoked"),
        "the thief's reuse also ends the legitimate holder's session"
    );
    let unknown = refresh(json!("made-up")).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (401, "invalid_refresh_token")
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let api = AdminApi::start().await;
    let login = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let token = json!({ "refresh_token": login.body["refresh_token"] });
    let out = api
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(token.clone()),
        )
        .await;
    assert_eq!(out.status, 204);
    let after = api
        .call(Method::POST, "/api/v1/auth/refresh", None, Some(token))
        .await;
    assert_eq!((after.status, after.code()), (401, "refresh_token_revoked"));
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_retry_after() {
    let api = AdminApi::start().await;
    for _ in 0..5 {
        let reply = api.login(ADMIN_EMAIL, "wrong password, again", None).await;
        assert_eq!(reply.status, 401);
    }
    let locked = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    assert_eq!((locked.status, locked.code()), (429, "account_locked"));
    let wait: u64 = locked
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&wait), "{wait}");
}

#[tokio::test]
async fn totp_once_enrolled_is_required_and_codes_work_once() {
    let api = AdminApi::start().await;
    let enrolled = api.post("/api/v1/me/2fa/enroll", json!({})).await;
    assert_eq!(enrolled.status, 200, "{:?}", enrolled.body);
    assert!(
        enrolled.body["otpauth_uri"]
            .as_str()
            .is_some_and(|uri| uri.starts_with("otpauth://totp/"))
    );
    let secret = totp_secret(enrolled.body["secret"].as_str().expect("secret"));
    let now = chrono::Utc::now().timestamp() as u64;

    let wrong = api
        .post("/api/v1/me/2fa/confirm", json!({ "code": "000000" }))
        .await;
    assert_eq!(wrong.status, 422);
    let confirm_code = control_plane::auth::totp::current_code(&secret, now - 30).expect("code");
    let confirmed = api
        .post("/api/v1/me/2fa/confirm", json!({ "code": confirm_code }))
        .await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
    let recovery: Vec<String> =
        serde_json::from_value(confirmed.body["recovery_codes"].clone()).expect("codes");
    assert_eq!(recovery.len(), 10);

    let without = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    assert_eq!((without.status, without.code()), (401, "totp_required"));
    let replayed = api
        .login(ADMIN_EMAIL, ADMIN_PASSWORD, Some(&confirm_code))
        .await;
    assert_eq!(
        (replayed.status, replayed.code()),
        (401, "invalid_totp"),
        "a code already used for confirmation cannot log in"
    );
    let code = control_plane::auth::totp::current_code(&secret, now).expect("code");
    let with = api.login(ADMIN_EMAIL, ADMIN_PASSWORD, Some(&code)).await;
    assert_eq!(with.status, 200, "{:?}", with.body);

    let by_recovery = api
        .login(ADMIN_EMAIL, ADMIN_PASSWORD, Some(&recovery[0]))
        .await;
    assert_eq!(by_recovery.status, 200, "{:?}", by_recovery.body);
    let again = api
        .login(ADMIN_EMAIL, ADMIN_PASSWORD, Some(&recovery[0]))
        .await;
    assert_eq!((again.status, again.code()), (401, "invalid_totp"));
    let me = api.get("/api/v1/me").await;
    assert_eq!(me.body["totp_enabled"], true);
    assert_eq!(me.body["recovery_codes_left"], 9);
}

fn totp_secret(base32: &str) -> Vec<u8> {
    totp_rs::Secret::try_from_base32(base32)
        .expect("base32")
        .as_bytes()
        .to_vec()
}

#[tokio::test]
async fn a_disabled_admin_is_refused_at_once() {
    let api = AdminApi::start().await;
    let token = api.admin_with_role("operator").await;
    let me = api
        .call(Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    let id = me.body["id"].as_str().expect("id").to_owned();
    let disabled = api
        .patch(&format!("/api/v1/admins/{id}"), json!({ "disabled": true }))
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    let refused = api
        .call(Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(refused.status, 401);
}

#[tokio::test]
async fn the_last_owner_cannot_be_demoted() {
    let api = AdminApi::start().await;
    let me = api.get("/api/v1/me").await;
    let id = me.body["id"].as_str().expect("id").to_owned();
    let reply = api
        .patch(
            &format!("/api/v1/admins/{id}"),
            json!({ "role": "support" }),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (409, "last_owner"));
    assert_eq!(api.get("/api/v1/me").await.body["role"], "owner");
}

#[tokio::test]
async fn an_admin_changes_their_password_and_their_sessions_end() {
    let api = AdminApi::start().await;
    let email = "changer@tests.example";
    let created = api
        .post(
            "/api/v1/admins",
            json!({ "email": email, "password": "the first password", "role": "support" }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let login = api.login(email, "the first password", None).await;
    let token = login.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let call = |body| {
        api.call(
            Method::POST,
            "/api/v1/me/password",
            Some(&token),
            Some(body),
        )
    };

    let wrong = call(change("not my password", "a second password")).await;
    assert_eq!((wrong.status, wrong.code()), (403, "wrong_password"));
    let short = call(change("the first password", "short")).await;
    assert_eq!(short.status, 422);
    assert_eq!(short.body["errors"][0]["field"], "new_password");

    let changed = call(change("the first password", "a second password")).await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    let refresh = json!({ "refresh_token": login.body["refresh_token"] });
    let after = api
        .call(Method::POST, "/api/v1/auth/refresh", None, Some(refresh))
        .await;
    assert_eq!((after.status, after.code()), (401, "refresh_token_revoked"));
    let old = api.login(email, "the first password", None).await;
    assert_eq!(old.status, 401);
    let new = api.login(email, "a second password", None).await;
    assert_eq!(new.status, 200);
    assert_eq!(api.audit("admin.password_changed").await.len(), 1);
}

#[tokio::test]
async fn guessing_the_current_password_locks_the_account() {
    let api = AdminApi::start().await;
    let token = api.token_for(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let body = json!({ "current_password": "a guess", "new_password": "a second password" });
    for _ in 0..5 {
        let guess = api
            .call(
                Method::POST,
                "/api/v1/me/password",
                Some(&token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(guess.status, 403, "{:?}", guess.body);
    }
    let locked = api
        .call(
            Method::POST,
            "/api/v1/me/password",
            Some(&token),
            Some(body),
        )
        .await;
    assert_eq!((locked.status, locked.code()), (429, "account_locked"));
}

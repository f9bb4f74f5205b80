//! Forged and stale access tokens against the tenant runtime (and a few against the admin
//! API): no signature (`alg: none`), the right key under another algorithm's name (key
//! confusion), the wrong audience, expired, claims changed under the original signature, a
//! disabled or deleted user's unexpired token, and the token of a suspended company. Each
//! is refused with problem+json and a stable code; roles written into a validly signed
//! token grant nothing (permissions come from the database).

use base64::Engine as _;
use common::tokens::{CONTROL_PLANE_AUDIENCE, Claims, TokenKeys};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use system_tests::AdminApi;
use system_tests::abuse::{self, EVERY_MODULE, report};
use system_tests::admin::Reply;
use system_tests::runtime::Company;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A JWT with `header` and `claims`, signed (HMAC with `hash`) by `key`, or unsigned.
fn forge(header: &Value, claims: &Value, key: Option<(&[u8], &str)>) -> String {
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = match key {
        None => Vec::new(),
        Some((key, "SHA512")) => {
            let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).expect("key");
            mac.update(signing_input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Some((key, _)) => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("key");
            mac.update(signing_input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    format!("{signing_input}.{}", B64.encode(signature))
}

/// `token` with its claims replaced by `claims`, the original signature kept.
fn tampered(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    )
}

/// The claims of a token (no verification: the test reads its own token).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&B64.decode(payload).expect("base64")).expect("json")
}

async fn me(api: &AdminApi, company: &Company, token: &str) -> Reply {
    api.tenant_call(&company.slug, Method::GET, "/api/v1/me", Some(token), None)
        .await
}

/// Counts the attacks and keeps what was not refused as asked.
#[derive(Default)]
struct Attacks {
    tried: usize,
    failures: Vec<String>,
}

impl Attacks {
    fn expect(&mut self, name: &str, reply: &Reply, status: u16, code: &str) {
        self.tried += 1;
        let problem = reply
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/problem+json"));
        if (reply.status, reply.code()) != (status, code) || !problem {
            self.failures.push(format!(
                "{name}: wanted {status} {code}, got {} {:?}",
                reply.status, reply.body
            ));
        }
    }
}

#[tokio::test]
async fn forged_stale_and_foreign_tokens_are_refused_with_a_stable_code() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    abuse::every_module_plan(&api).await;
    let acme = api.company("acme", EVERY_MODULE).await;
    let bolts = api.company("bolts", EVERY_MODULE).await;
    let owner = api.owner_token(&acme).await;
    assert_eq!(me(&api, &acme, &owner).await.status, 200);
    let key = api.app.settings.token_signing_key().expect("a signing key");
    let claims = claims_of(&owner);
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    let mut attacks = Attacks::default();

    let unsigned = forge(&json!({ "alg": "none", "typ": "JWT" }), &claims, None);
    attacks.expect(
        "alg none",
        &me(&api, &acme, &unsigned).await,
        401,
        "invalid_token",
    );
    for (alg, hash) in [
        ("HS512", "SHA512"),
        ("RS256", "SHA256"),
        ("ES256", "SHA256"),
    ] {
        let confused = forge(
            &json!({ "alg": alg, "typ": "JWT" }),
            &claims,
            Some((&key, hash)),
        );
        let reply = me(&api, &acme, &confused).await;
        attacks.expect(&format!("{alg} with the key"), &reply, 401, "invalid_token");
    }
    let other_key = forge(
        &header,
        &claims,
        Some((b"a key that is not the platform's", "")),
    );
    attacks.expect(
        "another key",
        &me(&api, &acme, &other_key).await,
        401,
        "invalid_token",
    );

    let mut admin_audience = claims.clone();
    admin_audience["aud"] = json!(CONTROL_PLANE_AUDIENCE);
    let signed = forge(&header, &admin_audience, Some((&key, "")));
    attacks.expect(
        "wrong audience",
        &me(&api, &acme, &signed).await,
        401,
        "invalid_token",
    );
    let reply = me(&api, &acme, &api.token).await;
    attacks.expect("an admin's token", &reply, 401, "invalid_token");
    let mut no_audience = claims.clone();
    no_audience.as_object_mut().expect("object").remove("aud");
    let signed = forge(&header, &no_audience, Some((&key, "")));
    attacks.expect(
        "no audience",
        &me(&api, &acme, &signed).await,
        401,
        "invalid_token",
    );

    let mut expired = claims.clone();
    expired["iat"] = json!(chrono::Utc::now().timestamp() - 7200);
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let signed = forge(&header, &expired, Some((&key, "")));
    attacks.expect(
        "expired",
        &me(&api, &acme, &signed).await,
        401,
        "token_expired",
    );

    for (claim, value) in [
        ("tid", json!(bolts.id)),
        ("sub", json!(uuid::Uuid::new_v4().to_string())),
        ("roles", json!(["admin", "owner"])),
        ("exp", json!(chrono::Utc::now().timestamp() + 86_400 * 365)),
    ] {
        let mut changed = claims.clone();
        changed[claim] = value;
        let reply = me(&api, &acme, &tampered(&owner, &changed)).await;
        attacks.expect(&format!("tampered {claim}"), &reply, 401, "invalid_token");
    }
    let long = "x".repeat(8000);
    for garbage in ["", "a.b.c", "only.two", long.as_str()] {
        let reply = me(&api, &acme, garbage).await;
        let code = if garbage.is_empty() {
            "unauthorized"
        } else {
            "invalid_token"
        };
        attacks.expect(&format!("garbage `{:.12}`", garbage), &reply, 401, code);
    }

    user_attacks(&api, &acme, &owner, &key, &mut attacks).await;
    admin_api_attacks(&api, &key, &mut attacks).await;
    suspended_company(&api, &bolts, &mut attacks).await;

    report("jwt_attacks", attacks.tried);
    report("jwt_refused", attacks.tried - attacks.failures.len());
    assert!(attacks.failures.is_empty(), "{:#?}", attacks.failures);
}

/// A viewer's token given the owner's roles (validly signed), then the viewer disabled,
/// then another user deleted: their tokens, still unexpired, open nothing.
async fn user_attacks(
    api: &AdminApi,
    acme: &Company,
    owner: &str,
    key: &[u8],
    attacks: &mut Attacks,
) {
    api.member(&acme.slug, owner, "viewer@acme.example", &["viewer"])
        .await;
    api.member(&acme.slug, owner, "leaver@acme.example", &["viewer"])
        .await;
    let viewer = token_of(api, acme, "viewer@acme.example").await;
    let leaver = token_of(api, acme, "leaver@acme.example").await;
    let mut promoted = claims_of(&viewer);
    promoted["roles"] = json!(["admin"]);
    let promoted = forge(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &promoted,
        Some((key, "")),
    );
    let users = api
        .tenant_call(
            &acme.slug,
            Method::POST,
            "/api/v1/users",
            Some(&promoted),
            Some(json!({ "email": "planted@acme.example", "roles": ["admin"] })),
        )
        .await;
    attacks.expect("roles claim signed as admin", &users, 403, "forbidden");

    let viewer_id = claims_of(&viewer)["sub"].as_str().expect("sub").to_owned();
    let disabled = api
        .tenant_call(
            &acme.slug,
            Method::PATCH,
            &format!("/api/v1/users/{viewer_id}"),
            Some(owner),
            Some(json!({ "status": "disabled" })),
        )
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    attacks.expect(
        "disabled user",
        &me(api, acme, &viewer).await,
        401,
        "invalid_token",
    );

    let leaver_id: uuid::Uuid = claims_of(&leaver)["sub"]
        .as_str()
        .expect("sub")
        .parse()
        .expect("uuid");
    let database = api.tenant_db(&acme.id).await;
    database
        .execute("DELETE FROM users WHERE id = $1", &[&leaver_id])
        .await
        .expect("the user is deleted");
    attacks.expect(
        "deleted user",
        &me(api, acme, &leaver).await,
        401,
        "invalid_token",
    );
}

async fn token_of(api: &AdminApi, company: &Company, email: &str) -> String {
    let reply = api
        .tenant_login(&company.slug, email, system_tests::runtime::OWNER_PASSWORD)
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// The admin API refuses the same forgeries and a company's token.
async fn admin_api_attacks(api: &AdminApi, key: &[u8], attacks: &mut Attacks) {
    let claims = claims_of(&api.token);
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    let me = |token: String| async move {
        api.call(Method::GET, "/api/v1/me", Some(&token), None)
            .await
    };
    let unsigned = forge(&json!({ "alg": "none" }), &claims, None);
    attacks.expect("admin: alg none", &me(unsigned).await, 401, "invalid_token");
    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let signed = forge(&header, &expired, Some((key, "")));
    attacks.expect("admin: expired", &me(signed).await, 401, "token_expired");
    let mut other = claims.clone();
    other["sub"] = json!(uuid::Uuid::new_v4().to_string());
    let tampered_sub = tampered(&api.token, &other);
    attacks.expect(
        "admin: tampered sub",
        &me(tampered_sub).await,
        401,
        "invalid_token",
    );
    let tenant = TokenKeys::from_secret(key)
        .sign(&Claims::tenant_user(
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
            vec![],
            60,
        ))
        .expect("signs");
    attacks.expect(
        "admin: a company's token",
        &me(tenant).await,
        401,
        "invalid_token",
    );
}

/// A suspended company's still-valid token is refused (403 `tenant_suspended`, the
/// runtime's contract for an admin suspension) once the change reaches the runtime.
async fn suspended_company(api: &AdminApi, bolts: &Company, attacks: &mut Attacks) {
    let token = api.owner_token(bolts).await;
    let suspended = api
        .post(
            &format!("/api/v1/tenants/{}/suspend", bolts.id),
            json!({ "reason": "abuse test" }),
        )
        .await;
    assert_eq!(suspended.status, 200, "{:?}", suspended.body);
    let started = Instant::now();
    let mut reply = me(api, bolts, &token).await;
    while reply.status == 200 && started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        reply = me(api, bolts, &token).await;
    }
    attacks.expect("suspended company", &reply, 403, "tenant_suspended");
}

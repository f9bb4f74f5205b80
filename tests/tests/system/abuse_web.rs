//! CSRF and session fixation on both web interfaces (the ERP web app and the admin portal):
//! a form posted without the session's CSRF token, with a made-up one or with another
//! session's is refused and changes nothing; a session cookie planted before sign-in (made
//! up, or the attacker's own valid session) is never the one the sign-in hands out, a
//! planted session is not raised to the victim's rights, and the portal's two-factor step
//! replaces the pending session rather than promoting it. The header htmx sends the token
//! in (`X-CSRF-Token`) wins over the form field: a wrong one is refused even beside the
//! right field.

use reqwest::header;
use system_tests::abuse::{self, EVERY_MODULE, report};
use system_tests::admin::unix_now;
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD};
use system_tests::portal::PageReply;
use system_tests::runtime::{Company, OWNER_PASSWORD};
use system_tests::{AdminApi, PortalClient};

const ERP_COOKIES: (&str, &str) = ("__Host-erp", "__Host-erp-csrf");
const PORTAL_COOKIES: (&str, &str) = ("__Host-portal", "__Host-portal-csrf");

async fn company(api: &AdminApi) -> Company {
    api.register_primary().await;
    abuse::every_module_plan(api).await;
    api.company("acme", EVERY_MODULE).await
}

async fn app_session(api: &AdminApi, acme: &Company, email: &str) -> PortalClient {
    let mut client = PortalClient::for_app(&api.app.tenant_runtime_url, &acme.slug);
    let reply = client.sign_in(email, OWNER_PASSWORD).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    client
}

/// A refused form: 403 naming `csrf_failed`.
fn csrf_refused(reply: &PageReply) -> bool {
    reply.status == 403 && reply.body.contains("csrf_failed")
}

#[tokio::test]
async fn forms_without_their_sessions_csrf_token_are_refused_on_both_interfaces() {
    let api = AdminApi::start().await;
    let acme = company(&api).await;
    let (mut tried, mut refused) = (0, 0);
    let mut count = |ok: bool| {
        tried += 1;
        refused += usize::from(ok);
    };

    let first = app_session(&api, &acme, &acme.admin_email).await;
    let second = app_session(&api, &acme, &acme.admin_email).await;
    let others = second.get("/").await.csrf();
    assert!(!others.is_empty(), "the page carries a CSRF token");
    let fields = [("code", "CSRF1"), ("name", "forged warehouse")];
    for csrf in [None, Some("forged"), Some(others.as_str())] {
        let mut with = fields.to_vec();
        if let Some(token) = csrf {
            with.push(("csrf", token));
        }
        count(csrf_refused(&first.post_raw("/warehouses", &with).await));
    }
    let own = first.get("/").await.csrf();
    let mut with_own_field = fields.to_vec();
    with_own_field.push(("csrf", own.as_str()));
    for header in ["forged", others.as_str()] {
        count(csrf_refused(
            &first
                .post_with_csrf_header("/warehouses", &with_own_field, header)
                .await,
        ));
    }
    let by_header = first
        .post_with_csrf_header(
            "/warehouses",
            &[("code", "CSRF2"), ("name", "by header")],
            &own,
        )
        .await;
    assert_eq!(
        by_header.status, 303,
        "the right header works: {}",
        by_header.body
    );
    let anonymous = PortalClient::for_app(&api.app.tenant_runtime_url, &acme.slug);
    let sign_in = [
        ("email", acme.admin_email.as_str()),
        ("password", OWNER_PASSWORD),
    ];
    count(csrf_refused(
        &anonymous.post_raw("/sign-in", &sign_in).await,
    ));
    let mut mismatched = sign_in.to_vec();
    mismatched.push(("csrf", "not-the-cookie"));
    count(csrf_refused(
        &anonymous.post_raw("/sign-in", &mismatched).await,
    ));
    let token = api.owner_token(&acme).await;
    let listed = api
        .tenant_call(
            &acme.slug,
            reqwest::Method::GET,
            "/api/v1/warehouses",
            Some(&token),
            None,
        )
        .await;
    assert!(
        !listed.body.to_string().contains("forged warehouse"),
        "{:?}",
        listed.body
    );
    let done = first.post("/warehouses", &fields).await;
    assert_eq!(
        done.status, 303,
        "with its token the form works: {}",
        done.body
    );

    let tenant = api.active_tenant("guarded").await;
    let owner =
        PortalClient::signed_in(&api.app.control_plane_url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let other =
        PortalClient::signed_in(&api.app.control_plane_url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let others = other.get("/").await.csrf();
    let path = format!("/tenants/{tenant}/suspend");
    for csrf in [None, Some("forged"), Some(others.as_str())] {
        let mut with = vec![("reason", "forged")];
        if let Some(token) = csrf {
            with.push(("csrf", token));
        }
        count(csrf_refused(&owner.post_raw(&path, &with).await));
    }
    let own = owner.get("/").await.csrf();
    for header in ["forged", others.as_str()] {
        let with_own_field = [("reason", "forged"), ("csrf", own.as_str())];
        count(csrf_refused(
            &owner
                .post_with_csrf_header(&path, &with_own_field, header)
                .await,
        ));
    }
    let anonymous = PortalClient::new(&api.app.control_plane_url);
    let sign_in = [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)];
    count(csrf_refused(
        &anonymous.post_raw("/sign-in", &sign_in).await,
    ));
    let status = api.get(&format!("/api/v1/tenants/{tenant}")).await;
    assert_eq!(status.body["status"], "active", "{:?}", status.body);

    report("csrf_attempts", tried);
    report("csrf_refused", refused);
    assert_eq!(refused, tried, "some forged forms were not refused");
}

/// Signs in through `base`'s form with `planted` already in the session cookie (sent with
/// the form's GET and POST, as a browser whose cookie was set by an attacker would), and
/// with `planted_csrf` as the pre-sign-in CSRF cookie. Answers the session cookie given.
#[allow(clippy::too_many_arguments)]
async fn sign_in_over(
    base: &str,
    tenant: Option<&str>,
    cookies: (&str, &str),
    planted: &str,
    planted_csrf: &str,
    email: &str,
    password: &str,
) -> Option<String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let with_tenant = |request: reqwest::RequestBuilder| match tenant {
        Some(slug) => request.header("X-Tenant", slug),
        None => request,
    };
    let (session_name, csrf_name) = cookies;
    let jar = format!("{session_name}={planted}; {csrf_name}={planted_csrf}");
    // The form's GET first, as a browser would (a portal session already valid is sent
    // on from it; the POST below is what matters).
    with_tenant(client.get(format!("{base}/sign-in")))
        .header(header::COOKIE, &jar)
        .send()
        .await
        .expect("sent");
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("email", email),
            ("password", password),
            ("csrf", planted_csrf),
            ("next", "/"),
        ])
        .finish();
    let reply = with_tenant(client.post(format!("{base}/sign-in")))
        .header(header::COOKIE, &jar)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(reply.status(), 303, "signed in");
    reply
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|cookie| cookie.split(';').next()?.split_once('='))
        .find(|(name, _)| *name == session_name)
        .map(|(_, value)| value.to_owned())
}

#[tokio::test]
async fn a_session_planted_before_sign_in_is_never_the_one_after() {
    let api = AdminApi::start().await;
    let acme = company(&api).await;
    let owner = api.owner_token(&acme).await;
    api.member(&acme.slug, &owner, "mallory@acme.example", &["viewer"])
        .await;
    let runtime = &api.app.tenant_runtime_url;
    let mallory = app_session(&api, &acme, "mallory@acme.example").await;
    let mallorys = mallory.session.clone().expect("session");
    let (mut tried, mut held) = (0, 0);
    let planted_csrf = "planted-csrf-token-0123456789";

    for planted in ["made-up-session-id-0123456789", mallorys.as_str()] {
        let issued = sign_in_over(
            runtime,
            Some(&acme.slug),
            ERP_COOKIES,
            planted,
            planted_csrf,
            &acme.admin_email,
            OWNER_PASSWORD,
        )
        .await
        .expect("a session cookie is issued");
        let mut victim = PortalClient::for_app(runtime, &acme.slug);
        victim.session = Some(issued.clone());
        let page = victim.get("/").await;
        tried += 1;
        held += usize::from(issued != planted && page.csrf() != planted_csrf);
    }
    // Mallory's own session is still hers: a viewer's, not raised to the owner's rights.
    let hers = mallory.get("/").await;
    tried += 1;
    held += usize::from(hers.status == 200 && hers.body.contains("data-roles=\"viewer\""));

    let portal = &api.app.control_plane_url;
    let admin = PortalClient::signed_in(portal, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admins = admin.session.clone().expect("session");
    for planted in ["made-up-portal-session-0123456789", admins.as_str()] {
        let issued = sign_in_over(
            portal,
            None,
            PORTAL_COOKIES,
            planted,
            planted_csrf,
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
        )
        .await
        .expect("a session cookie is issued");
        tried += 1;
        held += usize::from(issued != planted);
    }
    let made_up = {
        let mut client = PortalClient::new(portal);
        client.session = Some("made-up-portal-session-0123456789".into());
        client.get("/").await
    };
    tried += 1;
    held += usize::from(made_up.status == 303);

    // Across the portal's second step: the pending session the password gave is replaced
    // by a new one once the code passes, and opens nothing any more.
    let secret = api.enrol_totp().await;
    let mut two_step = PortalClient::new(portal);
    let code_page = two_step.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(
        code_page.body.contains("Two-factor code"),
        "{}",
        code_page.body
    );
    let pending = two_step.session.clone().expect("a pending session");
    let code = control_plane::auth::totp::current_code(&secret, unix_now()).expect("code");
    let csrf = code_page.csrf();
    let done = two_step
        .post_raw(
            "/sign-in/code",
            &[("code", &code), ("csrf", &csrf), ("next", "/")],
        )
        .await;
    assert_eq!(done.status, 303, "the code is taken: {}", done.body);
    let full = done.cookie(PORTAL_COOKIES.0).expect("a new session cookie");
    let opens = |session: &str| {
        let mut client = PortalClient::new(portal);
        client.session = Some(session.to_owned());
        async move { client.get("/").await.status }
    };
    tried += 3;
    held += usize::from(full != pending);
    held += usize::from(opens(&pending).await == 303);
    held += usize::from(opens(&full).await == 200);

    report("fixation_checks", tried);
    report("fixation_held", held);
    assert_eq!(held, tried, "a planted session survived a sign-in");
}

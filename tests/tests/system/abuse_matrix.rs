//! The cross-tenant matrix: every route of both OpenAPI documents (read from the running
//! services) and every page of both web interfaces (read from their routers), each tried
//! with a credential that must not open it: company A's token or session against company
//! B, an admin's token or portal session against the ERP, a company's token or session
//! against the admin side. Path parameters are B's real ids where B has such records.
//! Nothing may answer 2xx (or show the page), and no reply may show B's records.

use reqwest::Method;
use system_tests::abuse::{self, EVERY_MODULE, Ids, Route, leaks, report};
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD};
use system_tests::runtime::{Company, OWNER_PASSWORD};
use system_tests::{AdminApi, PortalClient};

/// Two companies on the every-module plan, B with records named after `marker`.
async fn two_companies(api: &AdminApi, marker: &str) -> (Company, Company) {
    api.register_primary().await;
    abuse::every_module_plan(api).await;
    let acme = api.company("acme", EVERY_MODULE).await;
    let bolts = api.company("bolts", EVERY_MODULE).await;
    let bolts_token = api.owner_token(&bolts).await;
    abuse::seed(api, &bolts, &bolts_token, marker).await;
    (acme, bolts)
}

/// A refusal seen: the pair it answered, for the counts and the failure message.
struct Tally {
    tried: usize,
    refused: usize,
    failures: Vec<String>,
}

impl Tally {
    fn new() -> Self {
        Self {
            tried: 0,
            refused: 0,
            failures: Vec::new(),
        }
    }

    fn record(&mut self, what: String, refused: bool) {
        self.tried += 1;
        if refused {
            self.refused += 1;
        } else {
            self.failures.push(what);
        }
    }
}

#[tokio::test]
async fn no_token_opens_a_route_of_another_company_or_of_the_other_side() {
    let api = AdminApi::start().await;
    let marker = "bolts-secret-7f3a";
    let (acme, bolts) = two_companies(&api, marker).await;
    let acme_token = api.owner_token(&acme).await;
    let bolts_token = api.owner_token(&bolts).await;
    let client = &api.app.client;
    let runtime_routes = abuse::openapi_routes(
        client,
        &format!("{}/openapi.json", api.app.tenant_runtime_url),
    )
    .await;
    let admin_routes = abuse::openapi_routes(
        client,
        &format!("{}/openapi.json", api.app.control_plane_url),
    )
    .await;
    let ids = Ids::harvest(&api, &bolts, &bolts_token, &runtime_routes).await;
    assert!(
        ids.0.contains_key("/api/v1/items"),
        "B's records are listed: {:?}",
        ids.0.keys()
    );
    let mut secrets = ids.all();
    secrets.push(marker);

    let mut tally = Tally::new();
    let secured: Vec<&Route> = runtime_routes.iter().filter(|r| r.secured).collect();
    for route in &secured {
        let path = ids.fill(&route.path);
        for (attack, reply) in runtime_attacks(&api, route, &path, &acme_token).await {
            let refused = (400..500).contains(&reply.0) && leaks(&reply.1, &secrets).is_none();
            tally.record(
                format!("{attack} {} {path}: {reply:?}", route.method),
                refused,
            );
        }
    }
    let runtime_pairs = tally.tried;
    for route in admin_routes.iter().filter(|r| r.secured) {
        let path = route
            .path
            .replace("{id}", &bolts.id)
            .replace("{code}", EVERY_MODULE);
        let body = (route.method != Method::GET).then(|| serde_json::json!({}));
        let reply = api
            .call(route.method.clone(), &path, Some(&acme_token), body)
            .await;
        let refused = reply.status == 401 && leaks(&reply.body.to_string(), &secrets).is_none();
        tally.record(
            format!("company token on admin {} {path}: {reply:?}", route.method),
            refused,
        );
    }
    let admin_count = admin_routes.iter().filter(|r| r.secured).count();
    report("matrix_api_routes", secured.len() + admin_count);
    report("matrix_api_pairs", tally.tried);
    report("matrix_api_refused", tally.refused);
    report("matrix_api_leaked", tally.failures.len());
    assert!(tally.failures.is_empty(), "{:#?}", tally.failures);
    assert!(secured.len() >= 100 && admin_count >= 40, "routes listed");
    assert_eq!(runtime_pairs, secured.len() * 3);
}

/// The three ways a runtime route is attacked: A's token naming B by header and by host,
/// and an admin's token (audience `control-plane`). Answers (status, body).
async fn runtime_attacks(
    api: &AdminApi,
    route: &Route,
    path: &str,
    acme_token: &str,
) -> Vec<(&'static str, (u16, String))> {
    let body = (route.method != Method::GET).then(|| serde_json::json!({}));
    let by_header = api
        .tenant_call(
            "bolts",
            route.method.clone(),
            path,
            Some(acme_token),
            body.clone(),
        )
        .await;
    let port = api.app.tenant_runtime_url.rsplit(':').next().expect("port");
    let mut by_host = api
        .app
        .client
        .request(
            route.method.clone(),
            format!("{}{path}", api.app.tenant_runtime_url),
        )
        .header("Host", format!("bolts.localhost:{port}"))
        .bearer_auth(acme_token);
    if let Some(body) = &body {
        by_host = by_host.json(body);
    }
    let by_host = system_tests::admin::read(by_host.send().await.expect("sent")).await;
    let admin = api
        .tenant_call("bolts", route.method.clone(), path, Some(&api.token), body)
        .await;
    vec![
        (
            "A's token, X-Tenant B",
            (by_header.status, by_header.body.to_string()),
        ),
        (
            "A's token, Host B",
            (by_host.status, by_host.body.to_string()),
        ),
        ("admin token", (admin.status, admin.body.to_string())),
    ]
}

#[tokio::test]
async fn no_session_opens_a_page_of_another_company_or_of_the_other_side() {
    let api = AdminApi::start().await;
    let marker = "bolts-page-secret-41c9";
    let (acme, bolts) = two_companies(&api, marker).await;
    let runtime = &api.app.tenant_runtime_url;
    let bolts_token = api.owner_token(&bolts).await;
    let runtime_routes =
        abuse::openapi_routes(&api.app.client, &format!("{runtime}/openapi.json")).await;
    let ids = Ids::harvest(&api, &bolts, &bolts_token, &runtime_routes).await;
    let mut secrets = ids.all();
    secrets.push(marker);

    let acme_session = signed_in_app(runtime, &acme)
        .await
        .session
        .expect("A's session");
    let bolts_session = signed_in_app(runtime, &bolts).await;
    let portal =
        PortalClient::signed_in(&api.app.control_plane_url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let portal_session = portal.session.clone().expect("portal session");

    let mut tally = Tally::new();
    let (mut erp_pages, mut opened) = (0, 0);
    for template in abuse::erp_page_routes() {
        let path = ids.fill(&template);
        if PortalClient::for_app(runtime, "bolts")
            .get(&path)
            .await
            .status
            == 200
        {
            continue; // A page for anyone (sign-in, forgotten password): nothing to guard.
        }
        erp_pages += 1;
        opened += usize::from(bolts_session.get(&path).await.status == 200);
        for (attack, session) in [
            ("A's session", &acme_session),
            ("portal session", &portal_session),
        ] {
            let mut client = PortalClient::for_app(runtime, "bolts");
            client.session = Some(session.clone());
            let reply = client.get(&path).await;
            let refused = not_the_page(reply.status, reply.location())
                && leaks(&reply.body, &secrets).is_none();
            tally.record(format!("{attack} on B's {path}: {}", reply.status), refused);
        }
    }
    let mut portal_pages = 0;
    for template in abuse::portal_page_routes() {
        let path = template
            .replace("{id}", &bolts.id)
            .replace("{code}", EVERY_MODULE);
        let path = ids.fill(&path);
        if PortalClient::new(&api.app.control_plane_url)
            .get(&path)
            .await
            .status
            == 200
        {
            continue;
        }
        portal_pages += 1;
        let mut client = PortalClient::new(&api.app.control_plane_url);
        client.session = Some(acme_session.clone());
        let reply = client.get(&path).await;
        let refused = not_the_page(reply.status, reply.location());
        tally.record(
            format!("ERP session on portal {path}: {}", reply.status),
            refused,
        );
    }
    report("matrix_page_routes", erp_pages + portal_pages);
    report("matrix_page_pairs", tally.tried);
    report("matrix_page_refused", tally.refused);
    report("matrix_page_leaked", tally.failures.len());
    assert!(tally.failures.is_empty(), "{:#?}", tally.failures);
    assert!(erp_pages >= 30 && portal_pages >= 15, "pages listed");
    // B's own session opens its pages: the refusals above are about the credential.
    assert!(
        opened >= erp_pages / 2,
        "B opened only {opened} of {erp_pages} pages"
    );
}

/// A signed-in web app session of the company's owner.
async fn signed_in_app(runtime: &str, company: &Company) -> PortalClient {
    let mut client = PortalClient::for_app(runtime, &company.slug);
    let reply = client.sign_in(&company.admin_email, OWNER_PASSWORD).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    client
}

/// Sent to sign in, or refused: never the page itself.
fn not_the_page(status: u16, location: Option<&str>) -> bool {
    match status {
        303 | 302 => location.is_some_and(|to| to.starts_with("/sign-in")),
        401 | 403 | 404 => true,
        _ => false,
    }
}

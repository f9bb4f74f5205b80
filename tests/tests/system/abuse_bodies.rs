//! Hostile JSON bodies on representative POST routes of both APIs (a signed-in create, the
//! public sign-in of each, signup), and a NUL in both web sign-in forms: 10,000-deep arrays and objects, 20 MB with and without a
//! length, invalid UTF-8, the wrong content type, truncated, empty and wrongly shaped
//! JSON. Each gets a 4xx problem+json with a code, and both services keep serving.

use reqwest::Method;
use system_tests::abuse::{self, EVERY_MODULE, report};
use system_tests::portal::PageReply;
use system_tests::{AdminApi, PortalClient};

/// A hostile body: its name, bytes, content type and whether to send it without a length.
struct Hostile {
    name: &'static str,
    bytes: Vec<u8>,
    content_type: &'static str,
    chunked: bool,
}

fn hostile_bodies() -> Vec<Hostile> {
    let deep = 10_000;
    let arrays = format!("{}{}", "[".repeat(deep), "]".repeat(deep));
    let objects = format!("{}1{}", "{\"a\":".repeat(deep), "}".repeat(deep));
    let huge = format!("{{\"name\":\"{}\"}}", "x".repeat(20 * 1024 * 1024));
    let json = "application/json";
    let body = |name, bytes: &[u8], content_type, chunked| Hostile {
        name,
        bytes: bytes.to_vec(),
        content_type,
        chunked,
    };
    vec![
        body("10k nested arrays", arrays.as_bytes(), json, false),
        body("10k nested objects", objects.as_bytes(), json, false),
        body("20 MB with a length", huge.as_bytes(), json, false),
        body("20 MB chunked", huge.as_bytes(), json, true),
        body(
            "invalid UTF-8",
            b"{\"email\":\"\xff\xfe\xfd\"}",
            json,
            false,
        ),
        body(
            "wrong content type",
            br#"{"email":"a@b.c"}"#,
            "text/plain",
            false,
        ),
        body("truncated", br#"{"email": "a@b"#, json, false),
        body("empty", b"", json, false),
        body("an array for an object", b"[1,2,3]", json, false),
        body(
            "a NUL in text",
            br#"{"email":"a\u0000@b.c","password":"x"}"#,
            json,
            false,
        ),
    ]
}

/// Posts `hostile` to `url`; answers (status, problem code) or why nothing came back.
async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    hostile: &Hostile,
) -> Result<(u16, String), String> {
    if hostile.chunked {
        return post_chunked(url, headers, hostile).await;
    }
    let mut request = client
        .request(Method::POST, url)
        .header("content-type", hostile.content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request = request.body(hostile.bytes.clone());
    let response = request.send().await.map_err(|error| format!("{error:?}"))?;
    let status = response.status().as_u16();
    let problem = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/problem+json"));
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["code"].as_str().unwrap_or_default().to_owned();
    if !problem || code.is_empty() {
        return Err(format!("{status} without problem+json: {body}"));
    }
    Ok((status, code))
}

/// The same over raw TCP with `Transfer-Encoding: chunked` (no length known in advance).
async fn post_chunked(
    url: &str,
    headers: &[(&str, &str)],
    hostile: &Hostile,
) -> Result<(u16, String), String> {
    let rest = url.trim_start_matches("http://");
    let (address, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n",
        hostile.content_type
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let reply = abuse::raw_chunked(address, &head, &hostile.bytes).await;
    match reply.problem_code() {
        Some(code) => Ok((reply.status, code)),
        None => Err(format!(
            "{} without problem+json: {:.300}",
            reply.status, reply.text
        )),
    }
}

#[tokio::test]
async fn hostile_bodies_get_a_problem_and_the_services_keep_serving() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    abuse::every_module_plan(&api).await;
    let acme = api.company("acme", EVERY_MODULE).await;
    let owner = api.owner_token(&acme).await;
    let (runtime, control) = (&api.app.tenant_runtime_url, &api.app.control_plane_url);
    let owner_auth = format!("Bearer {owner}");
    let admin_auth = format!("Bearer {}", api.token);
    let routes: [(String, Vec<(&str, &str)>); 5] = [
        (
            format!("{runtime}/api/v1/items"),
            vec![("x-tenant", "acme"), ("authorization", &owner_auth)],
        ),
        (
            format!("{runtime}/api/v1/auth/login"),
            vec![("x-tenant", "acme")],
        ),
        (
            format!("{control}/api/v1/tenants"),
            vec![("authorization", &admin_auth)],
        ),
        (format!("{control}/api/v1/auth/login"), vec![]),
        (format!("{control}/api/v1/signup"), vec![]),
    ];
    let (mut tried, mut refused, mut failures) = (0, 0, Vec::new());
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for hostile in hostile_bodies() {
        for (url, headers) in &routes {
            tried += 1;
            match post(&api.app.client, url, headers, &hostile).await {
                Ok((status, code)) if (400..500).contains(&status) => {
                    refused += 1;
                    *codes.entry(format!("{status} {code}")).or_default() += 1;
                }
                other => failures.push(format!("{} on {url}: {other:?}", hostile.name)),
            }
        }
    }
    for (what, reply) in nul_in_sign_in_forms(&api).await {
        tried += 1;
        if (400..500).contains(&reply.status) {
            refused += 1;
            *codes.entry(format!("{} form", reply.status)).or_default() += 1;
        } else {
            failures.push(format!("a NUL in {what}'s sign-in form: {}", reply.status));
        }
    }
    let serving = keeps_serving(&api, &acme.slug).await;
    report("body_attacks", tried);
    report("body_refused", refused);
    report("body_codes", format!("{codes:?}").replace(' ', "_"));
    report("body_served_after", serving);
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(serving, "a service stopped serving");
}

/// The sign-in form of both web interfaces posted (with its CSRF token) with a NUL in the
/// email: a form is a body too.
async fn nul_in_sign_in_forms(api: &AdminApi) -> Vec<(&'static str, PageReply)> {
    let fields = [
        ("email", "boss\0@acme.example"),
        ("password", "x\0y"),
        ("next", "/"),
    ];
    let app = PortalClient::for_app(&api.app.tenant_runtime_url, "acme");
    let portal = PortalClient::new(&api.app.control_plane_url);
    vec![
        (
            "the ERP",
            app.post_before_sign_in("/sign-in", "/sign-in", &fields)
                .await,
        ),
        (
            "the portal",
            portal
                .post_before_sign_in("/sign-in", "/sign-in", &fields)
                .await,
        ),
    ]
}

/// Both services answer health checks, and the company's sign-in still works.
async fn keeps_serving(api: &AdminApi, slug: &str) -> bool {
    let healthy = api.app.get_tenant_runtime("/healthz").await.status() == 200
        && api.app.get_control_plane("/healthz").await.status() == 200;
    let signed_in = api
        .tenant_login(
            slug,
            &format!("boss@{slug}.example"),
            system_tests::runtime::OWNER_PASSWORD,
        )
        .await;
    let admin = api.get("/api/v1/me").await;
    healthy && signed_in.status == 200 && admin.status == 200
}

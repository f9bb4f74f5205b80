//! The authorization matrix, role x endpoint, built from the served OpenAPI document so a
//! new mutating endpoint is covered the day it is added: each role gets 403 `forbidden` on
//! every mutation outside its remit, before its body is even looked at.

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::AdminApi;

/// Which roles may call a mutating path (the expectation the server is checked against).
fn allowed_roles(path: &str) -> &'static [&'static str] {
    if path.starts_with("/api/v1/me/") {
        &["owner", "operator", "billing", "support"]
    } else if path.ends_with("/impersonate") {
        &["owner", "support"]
    } else if path.starts_with("/api/v1/tenants/{id}/billing/")
        || path.starts_with("/api/v1/billing/")
    {
        &["owner", "billing"]
    } else if path.starts_with("/api/v1/tenants")
        || path.starts_with("/api/v1/servers")
        || path.starts_with("/api/v1/migrations")
    {
        // Tenants and servers, their backups, restores, relocation and evacuation included,
        // and fleet migration runs.
        &["owner", "operator"]
    } else if path.starts_with("/api/v1/plans") {
        &["owner", "billing"]
    } else if path.starts_with("/api/v1/admins") {
        &["owner"]
    } else {
        panic!("no expectation for {path}: add it to the matrix");
    }
}

fn concrete(path: &str) -> String {
    path.replace("{id}", &uuid::Uuid::now_v7().to_string())
        .replace("{code}", "starter")
}

/// Every secured non-GET operation of the served document.
async fn mutations(api: &AdminApi) -> Vec<(Method, String)> {
    let doc: Value = api
        .app
        .client
        .get(api.url("/openapi.json"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let mut found = Vec::new();
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            if method == "get" || operation.get("security").is_none() {
                continue;
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            found.push((method, path.clone()));
        }
    }
    found
}

#[tokio::test]
async fn each_role_is_refused_every_mutation_outside_its_remit() {
    let api = AdminApi::start().await;
    let operations = mutations(&api).await;
    assert!(operations.len() >= 17, "{operations:?}");
    let mut checked = 0;
    for role in ["operator", "billing", "support"] {
        let token = api.admin_with_role(role).await;
        for (method, path) in &operations {
            if allowed_roles(path).contains(&role) {
                continue;
            }
            let reply = api
                .call(
                    method.clone(),
                    &concrete(path),
                    Some(&token),
                    Some(json!({})),
                )
                .await;
            assert_eq!(
                (reply.status, reply.code()),
                (403, "forbidden"),
                "{role} {method} {path}: {:?}",
                reply.body
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} refusals checked");
}

#[tokio::test]
async fn every_role_may_read_and_roles_reach_what_they_own() {
    let api = AdminApi::start().await;
    for role in ["operator", "billing", "support"] {
        let token = api.admin_with_role(role).await;
        for path in [
            "/api/v1/tenants",
            "/api/v1/plans",
            "/api/v1/servers",
            "/api/v1/audit",
            "/api/v1/keys",
        ] {
            let reply = api.call(Method::GET, path, Some(&token), None).await;
            assert_eq!(reply.status, 200, "{role} GET {path}");
        }
        let admins = api
            .call(Method::GET, "/api/v1/admins", Some(&token), None)
            .await;
        assert_eq!(admins.status, 403, "{role} may not list admins");
    }
    let billing = api.admin_with_role("billing").await;
    let patched = api
        .call(
            Method::PATCH,
            "/api/v1/plans/trial",
            Some(&billing),
            Some(json!({ "description": "try it" })),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let operator = api.admin_with_role("operator").await;
    let unknown = api
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{}/suspend", uuid::Uuid::now_v7()),
            Some(&operator),
            Some(json!({ "reason": "testing" })),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (404, "tenant_not_found"));
}

#[tokio::test]
async fn the_openapi_document_is_served_as_committed_with_swagger_ui() {
    let api = AdminApi::start().await;
    let served = api
        .app
        .client
        .get(api.url("/openapi.json"))
        .send()
        .await
        .expect("sent");
    assert_eq!(served.status(), 200);
    let served: Value = served.json().await.expect("json");
    let committed: Value =
        serde_json::from_str(include_str!("../../../control-plane/openapi.json")).expect("json");
    assert_eq!(served, committed);
    let docs = api
        .app
        .client
        .get(api.url("/docs/"))
        .send()
        .await
        .expect("sent");
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.expect("html").contains("swagger"));
}

//! Plans and limits, and database servers, through the admin API.

use serde_json::json;
use system_tests::{AdminApi, Server, fleet};

fn limits() -> serde_json::Value {
    json!({ "max_users": 3, "max_storage_mb": 100, "api_requests_per_minute": 60,
            "api_calls_per_month": 1000, "max_concurrent_requests": 2, "max_db_connections": 2 })
}

#[tokio::test]
async fn the_default_plans_are_listed_and_shown() {
    let api = AdminApi::start().await;
    let list = api.get("/api/v1/plans").await;
    let codes: Vec<&str> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["trial", "starter", "growth", "enterprise"]);
    let growth = api.get("/api/v1/plans/growth").await;
    assert_eq!(growth.body["limits"]["max_users"], 50);
    assert!(
        growth.body["features"]
            .as_array()
            .expect("features")
            .contains(&json!("production"))
    );
    let missing = api.get("/api/v1/plans/platinum").await;
    assert_eq!((missing.status, missing.code()), (404, "plan_not_found"));
}

#[tokio::test]
async fn a_plan_is_created_and_bad_limits_are_refused_field_by_field() {
    let api = AdminApi::start().await;
    let created = api
        .post(
            "/api/v1/plans",
            json!({ "code": "tiny", "name": "Tiny", "limits": limits(),
                                       "features": ["sales", "inventory", "sales"] }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["features"], json!(["inventory", "sales"]));
    let again = api
        .post(
            "/api/v1/plans",
            json!({ "code": "tiny", "name": "Tiny", "limits": limits() }),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "plan_exists"));

    let mut negative = limits();
    negative["max_users"] = json!(-1);
    negative["api_requests_per_minute"] = json!(0);
    let bad = api
        .post(
            "/api/v1/plans",
            json!({ "code": "Bad Code", "name": "", "limits": negative,
                                       "features": ["astrology"] }),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (422, "validation_failed"));
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    for field in [
        "code",
        "name",
        "limits.max_users",
        "limits.api_requests_per_minute",
        "features",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let missing_limits = api
        .post("/api/v1/plans", json!({ "code": "x1", "name": "X" }))
        .await;
    assert_eq!(missing_limits.status, 422);
}

#[tokio::test]
async fn changing_a_plan_announces_it_to_every_runtime() {
    let api = AdminApi::start().await;
    let mut changes = fleet::listen(&api.app.db.url(), common::changes::CHANNEL).await;
    let patched = api
        .patch(
            "/api/v1/plans/starter",
            json!({ "limits": { "api_requests_per_minute": 999 } }),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["limits"]["api_requests_per_minute"], 999);
    assert_eq!(
        patched.body["limits"]["max_users"], 10,
        "untouched limits stay"
    );
    assert_eq!(changes.recv().await.as_deref(), Some("plan:starter"));
    let negative = api
        .patch(
            "/api/v1/plans/starter",
            json!({ "limits": { "max_storage_mb": -5 } }),
        )
        .await;
    assert_eq!(
        (negative.status, negative.code()),
        (422, "validation_failed")
    );
    assert_eq!(
        api.get("/api/v1/plans/starter").await.body["limits"]["max_storage_mb"],
        2048,
        "a refused change changes nothing"
    );
    let audit = api.audit("plan.updated").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["before"]["limits"]["api_requests_per_minute"], 300);
}

#[tokio::test]
async fn an_archived_plan_cannot_take_new_tenants() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let archived = api
        .patch("/api/v1/plans/growth", json!({ "archived": true }))
        .await;
    assert_eq!(archived.body["archived"], true);
    let reply = api
        .post(
            "/api/v1/tenants",
            json!({ "slug": "late", "name": "Late", "plan": "growth",
                                         "admin_email": "a@late.example" }),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (422, "unknown_plan"));
}

#[tokio::test]
async fn servers_are_registered_only_when_they_answer_and_can_be_resized_and_drained() {
    let api = AdminApi::start().await;
    let unreachable = api
        .post(
            "/api/v1/servers",
            json!({ "name": "ghost", "capacity": 10,
               "admin_url": "postgres://postgres@127.0.0.1:1/postgres" }),
        )
        .await;
    assert_eq!(
        (unreachable.status, unreachable.code()),
        (422, "server_unreachable")
    );
    let not_a_url = api
        .post(
            "/api/v1/servers",
            json!({ "name": "x", "capacity": 1, "admin_url": "mysql://x" }),
        )
        .await;
    assert_eq!(not_a_url.status, 422);
    let id = api.register_primary().await;
    let taken = api
        .post(
            "/api/v1/servers",
            json!({ "name": "primary", "capacity": 1,
               "admin_url": Server::primary().admin_url() }),
        )
        .await;
    assert_eq!((taken.status, taken.code()), (409, "server_name_taken"));
    let listed = api.get("/api/v1/servers").await;
    let server = &listed.body["items"][0];
    assert_eq!(server["name"], "primary");
    assert_eq!(server["tenants"], 0);
    assert!(
        server.get("admin_url").is_none(),
        "the admin URL is never shown"
    );
    assert!(!listed.body.to_string().contains("postgres://"));

    let resized = api
        .patch(&format!("/api/v1/servers/{id}"), json!({ "capacity": 7 }))
        .await;
    assert_eq!(resized.body["capacity"], 7);
    let negative = api
        .patch(&format!("/api/v1/servers/{id}"), json!({ "capacity": -1 }))
        .await;
    assert_eq!(negative.status, 422);
    let drained = api
        .post(&format!("/api/v1/servers/{id}/drain"), json!({}))
        .await;
    assert_eq!(drained.body["state"], "draining");
    let refused = api.create_tenant("nowhere").await;
    assert_eq!((refused.status, refused.code()), (503, "no_capacity"));
    let active = api
        .post(&format!("/api/v1/servers/{id}/activate"), json!({}))
        .await;
    assert_eq!(active.body["state"], "active");
    let unknown = api
        .post(
            &format!("/api/v1/servers/{}/drain", uuid::Uuid::now_v7()),
            json!({}),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (404, "server_not_found"));
    let audit = api.audit("server.").await;
    assert_eq!(audit.len(), 4, "registered, updated, drained, activated");
    assert!(
        !serde_json::to_string(&audit)
            .expect("json")
            .contains("postgres://")
    );
}

//! Backups, restores and relocation through the admin API, seen by the tenant runtime: a
//! backup taken and listed, a frozen tenant answered 503 `tenant_maintenance` (others
//! unaffected), a restore that ends the freeze and brings the runtime onto the restored
//! database, refusals with stable codes, audit entries, and the backup gauges on
//! `/metrics`.

use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use system_tests::admin::Reply;
use system_tests::runtime::Company;
use system_tests::{AdminApi, fleet};

async fn me(api: &AdminApi, company: &Company, token: &str) -> Reply {
    api.tenant_call(&company.slug, Method::GET, "/api/v1/me", Some(token), None)
        .await
}

/// Polls `/me` until it answers `status` (30 s at most); the last reply.
async fn until_status(api: &AdminApi, company: &Company, token: &str, status: u16) -> Reply {
    let started = Instant::now();
    loop {
        let reply = me(api, company, token).await;
        if reply.status == status || started.elapsed() > Duration::from_secs(30) {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `POST .../backups`, then waits for its job; the backup's id.
async fn backup_now(api: &AdminApi, tenant: &str) -> String {
    let reply = api
        .post(&format!("/api/v1/tenants/{tenant}/backups"), json!({}))
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    assert_eq!(reply.body["state"], "pending");
    let job = api
        .wait_for_job(reply.body["job_id"].as_str().unwrap())
        .await;
    assert_eq!(job["state"], "succeeded", "{job:?}");
    reply.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_backup_then_a_restore_through_the_api_reach_the_runtime() {
    let api = AdminApi::start().await;
    let server = api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let beta = api.company("beta", "starter").await;
    let (token, beta_token) = (api.owner_token(&acme).await, api.owner_token(&beta).await);

    let backup = backup_now(&api, &acme.id).await;
    let listed = api
        .get(&format!("/api/v1/tenants/{}/backups", acme.id))
        .await;
    assert_eq!(listed.status, 200);
    let item = &listed.body["items"][0];
    assert_eq!(
        (item["id"].as_str(), item["state"].as_str()),
        (Some(backup.as_str()), Some("completed"))
    );
    assert_eq!(item["row_counts"]["public.users"], 1);
    let metrics = api
        .app
        .client
        .get(api.url("/metrics"))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("control_backups_stored 1"), "{metrics}");
    assert!(metrics.contains("control_backup_latest_age_seconds_max"));

    // A user made after the backup, which the restore takes away.
    let invited = api
        .tenant_call("acme", Method::POST, "/api/v1/users", Some(&token),
            Some(json!({ "email": "late@acme.example", "display_name": "Late", "roles": ["viewer"] })))
        .await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);

    let control = fleet::connect(&api.app.db.url()).await;
    let id: uuid::Uuid = acme.id.parse().unwrap();
    control
        .execute(
            "UPDATE tenants SET frozen_at = now(), freeze_reason = 'restore' WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    control
        .execute("SELECT pg_notify('tenant_changed', $1)", &[&acme.id])
        .await
        .unwrap();
    let frozen = until_status(&api, &acme, &token, 503).await;
    assert_eq!((frozen.status, frozen.code()), (503, "tenant_maintenance"));
    assert_eq!(frozen.header("retry-after"), Some("2"));
    assert_eq!(
        me(&api, &beta, &beta_token).await.status,
        200,
        "others unaffected"
    );

    let restore = api
        .post(
            &format!("/api/v1/tenants/{}/restores", acme.id),
            json!({ "backup_id": backup, "reason": "bad import" }),
        )
        .await;
    assert_eq!(restore.status, 202, "{:?}", restore.body);
    assert_eq!(restore.body["kind"], "restore");
    let job = api.wait_for_job(restore.body["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job:?}");
    assert_eq!(
        until_status(&api, &acme, &token, 200).await.status,
        200,
        "thawed, new pool"
    );
    let users = api
        .tenant_call("acme", Method::GET, "/api/v1/users", Some(&token), None)
        .await;
    assert_eq!(users.status, 200, "{:?}", users.body);
    assert!(
        !users.body.to_string().contains("late@acme.example"),
        "as backed up"
    );
    assert_eq!(api.audit("tenant.restore_requested").await.len(), 1);
    assert_eq!(api.audit("tenant.backup_requested").await.len(), 1);

    let own = api
        .post(
            &format!("/api/v1/tenants/{}/relocate", acme.id),
            json!({ "server_id": server, "reason": "rebalance" }),
        )
        .await;
    assert_eq!((own.status, own.code()), (409, "same_server"));
    let nowhere = api
        .post(
            &format!("/api/v1/tenants/{}/relocate", acme.id),
            json!({ "reason": "rebalance" }),
        )
        .await;
    assert_eq!((nowhere.status, nowhere.code()), (503, "no_capacity"));
    let missing = api
        .post(
            &format!("/api/v1/tenants/{}/restores", acme.id),
            json!({ "backup_id": uuid::Uuid::now_v7(), "reason": "oops" }),
        )
        .await;
    assert_eq!((missing.status, missing.code()), (404, "backup_not_found"));
    let evacuate = api
        .post(
            &format!("/api/v1/servers/{server}/evacuate"),
            json!({ "concurrency": 0 }),
        )
        .await;
    assert_eq!(evacuate.status, 422, "{:?}", evacuate.body);

    let plan = api
        .patch(
            "/api/v1/plans/starter",
            json!({ "backup_interval_hours": 24, "backup_retention_count": 3 }),
        )
        .await;
    assert_eq!(plan.status, 200, "{:?}", plan.body);
    assert_eq!(
        (
            &plan.body["backup_interval_hours"],
            &plan.body["backup_retention_count"]
        ),
        (&json!(24), &json!(3))
    );
    let never = api
        .patch(
            "/api/v1/plans/starter",
            json!({ "backup_interval_hours": 9000 }),
        )
        .await;
    assert_eq!((never.status, never.code()), (422, "validation_failed"));
}

//! Tenants through the admin API: create (with Idempotency-Key), provision to active,
//! list with filters, search and cursors, show, re-plan (announced), suspend, resume and
//! delete with reasons, jobs, and the audit entries all of it leaves.

use reqwest::Method;
use serde_json::json;
use system_tests::AdminApi;
use system_tests::fleet;

#[tokio::test]
async fn a_tenant_is_created_provisioned_and_shown_with_its_job() {
    let api = AdminApi::start().await;
    let server = api.register_primary().await;
    let created = api.create_tenant("acme").await;
    assert_eq!(created.status, 202, "{:?}", created.body);
    assert_eq!(created.body["slug"], "acme");
    assert_eq!(created.body["status"], "provisioning");
    let job = api
        .wait_for_job(created.body["job_id"].as_str().expect("job"))
        .await;
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["kind"], "provision");
    assert!(job.get("payload").is_none(), "job payloads are never shown");

    let id = created.body["id"].as_str().expect("id");
    let shown = api.get(&format!("/api/v1/tenants/{id}")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["status"], "active");
    assert_eq!(shown.body["plan"], "starter");
    assert_eq!(shown.body["server"]["id"], server.to_string());
    assert_eq!(shown.body["server"]["name"], "primary");
    assert_eq!(
        shown.body["schema_version"],
        migrations::latest_tenant_version()
    );
    assert_eq!(shown.body["last_job"]["id"], created.body["job_id"]);
    assert_eq!(shown.body["usage"]["api_calls_today"], 0);
    assert_eq!(shown.body["billing"]["state"], "none");

    let audit = api.audit("tenant.created").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["target_id"], id);
    assert_eq!(audit[0]["actor_email"], system_tests::app::ADMIN_EMAIL);
    assert_eq!(audit[0]["ip"], "127.0.0.1");
    assert!(
        audit[0]["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let body = json!({ "slug": "once", "name": "Once", "plan": "trial",
                       "admin_email": "a@once.example" });
    let send = |body: serde_json::Value| {
        api.app
            .client
            .post(api.url("/api/v1/tenants"))
            .bearer_auth(&api.token)
            .header("Idempotency-Key", "create-once-1")
            .json(&body)
            .send()
    };
    let first = send(body.clone()).await.expect("sent");
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.expect("json");
    let again = send(body.clone()).await.expect("sent");
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(again, first, "the same tenant and job, not a second one");
    let other = send(json!({ "slug": "twice", "name": "Twice", "plan": "trial",
                             "admin_email": "a@twice.example" }))
    .await
    .expect("sent");
    assert_eq!(other.status(), 422);
    let problem: serde_json::Value = other.json().await.expect("json");
    assert_eq!(problem["code"], "idempotency_key_reused");
    let listed = api.get("/api/v1/tenants").await;
    assert_eq!(listed.body["items"].as_array().expect("items").len(), 1);
    assert_eq!(api.audit("tenant.created").await.len(), 1);
}

#[tokio::test]
async fn bad_tenant_input_is_refused_with_field_errors() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let bad_slug = api
        .post(
            "/api/v1/tenants",
            json!({ "slug": "A!", "name": "x", "plan": "trial",
                                         "admin_email": "a@b.example" }),
        )
        .await;
    assert_eq!(
        (bad_slug.status, bad_slug.code()),
        (422, "validation_failed")
    );
    assert_eq!(bad_slug.body["errors"][0]["field"], "slug");
    let unknown_plan = api
        .post(
            "/api/v1/tenants",
            json!({ "slug": "plat", "name": "x", "plan": "platinum",
                                         "admin_email": "a@b.example" }),
        )
        .await;
    assert_eq!(
        (unknown_plan.status, unknown_plan.code()),
        (422, "unknown_plan")
    );
    let missing = api.post("/api/v1/tenants", json!({ "slug": "plat" })).await;
    assert_eq!((missing.status, missing.code()), (422, "validation_failed"));
    assert_eq!(api.create_tenant("dupe").await.status, 202);
    let dupe = api.create_tenant("DUPE").await;
    assert_eq!((dupe.status, dupe.code()), (409, "slug_taken"));
    let malformed = api
        .app
        .client
        .post(api.url("/api/v1/tenants"))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("{\"slug\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(malformed.status(), 400);
    let huge = json!({ "slug": "big", "name": "x".repeat(300_000), "plan": "trial",
                       "admin_email": "a@b.example" });
    let oversize = api.post("/api/v1/tenants", huge).await;
    assert_eq!(
        (oversize.status, oversize.code()),
        (413, "payload_too_large")
    );
    let unknown = api
        .get(&format!("/api/v1/tenants/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!((unknown.status, unknown.code()), (404, "tenant_not_found"));
    let not_uuid = api.get("/api/v1/tenants/not-a-uuid").await;
    assert_eq!(not_uuid.status, 404);
}

#[tokio::test]
async fn without_a_server_creation_says_there_is_no_capacity() {
    let api = AdminApi::start().await;
    let reply = api.create_tenant("nowhere").await;
    assert_eq!((reply.status, reply.code()), (503, "no_capacity"));
}

#[tokio::test]
async fn the_list_filters_searches_and_pages_without_repeats() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    for slug in ["alpha", "bravo", "charlie", "delta", "echo"] {
        assert_eq!(api.create_tenant(slug).await.status, 202);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/tenants?limit=2&cursor={cursor}"),
            None => "/api/v1/tenants?limit=2".to_owned(),
        };
        let page = api.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        for item in page.body["items"].as_array().expect("items") {
            seen.push(item["slug"].as_str().expect("slug").to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);

    let search = api.get("/api/v1/tenants?search=HARL").await;
    let slugs: Vec<&str> = search.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(slugs, ["charlie"], "search matches the slug, any case");
    let by_name = api.get("/api/v1/tenants?search=echo%20ltd").await;
    assert_eq!(by_name.body["items"].as_array().expect("items").len(), 1);
    let wildcard = api.get("/api/v1/tenants?search=%25").await;
    assert!(wildcard.body["items"].as_array().expect("items").is_empty());
    let by_plan = api.get("/api/v1/tenants?plan=trial").await;
    assert!(by_plan.body["items"].as_array().expect("items").is_empty());
    let by_status = api
        .get("/api/v1/tenants?status=provisioning&plan=starter")
        .await;
    assert!(
        !by_status.body["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );
    let bad_status = api.get("/api/v1/tenants?status=sleeping").await;
    assert_eq!(
        (bad_status.status, bad_status.code()),
        (422, "validation_failed")
    );
    let bad_cursor = api.get("/api/v1/tenants?cursor=forged").await;
    assert_eq!(bad_cursor.status, 422);
    let bad_limit = api.get("/api/v1/tenants?limit=0").await;
    assert_eq!(bad_limit.status, 422);
}

#[tokio::test]
async fn suspend_resume_replan_and_delete_need_reasons_and_are_announced_and_audited() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let id = api.active_tenant("lifecycle").await;
    let path = format!("/api/v1/tenants/{id}");
    let mut changes = fleet::listen(&api.app.db.url(), common::changes::CHANNEL).await;

    let no_reason = api
        .post(&format!("{path}/suspend"), json!({ "reason": " " }))
        .await;
    assert_eq!(
        (no_reason.status, no_reason.code()),
        (422, "validation_failed")
    );
    assert_eq!(no_reason.body["errors"][0]["field"], "reason");
    let suspended = api
        .post(
            &format!("{path}/suspend"),
            json!({ "reason": "unpaid invoices" }),
        )
        .await;
    assert_eq!(suspended.status, 200, "{:?}", suspended.body);
    assert_eq!(suspended.body["status"], "suspended");
    assert_eq!(suspended.body["suspension_kind"], "admin");
    assert_eq!(changes.recv().await.as_deref(), Some(id.as_str()));
    let twice = api
        .post(
            &format!("{path}/suspend"),
            json!({ "reason": "again please" }),
        )
        .await;
    assert_eq!((twice.status, twice.code()), (409, "invalid_transition"));

    let resumed = api
        .post(
            &format!("{path}/resume"),
            json!({ "reason": "paid in full" }),
        )
        .await;
    assert_eq!(resumed.body["status"], "active");
    assert_eq!(changes.recv().await.as_deref(), Some(id.as_str()));

    let replanned = api
        .patch(&path, json!({ "plan": "growth", "name": "Lifecycle Inc" }))
        .await;
    assert_eq!(replanned.status, 200, "{:?}", replanned.body);
    assert_eq!(replanned.body["plan"], "growth");
    assert_eq!(replanned.body["name"], "Lifecycle Inc");
    assert_eq!(changes.recv().await.as_deref(), Some(id.as_str()));
    let bad_plan = api.patch(&path, json!({ "plan": "platinum" })).await;
    assert_eq!((bad_plan.status, bad_plan.code()), (422, "unknown_plan"));

    let no_reason = api.delete(&path, json!({})).await;
    assert_eq!(no_reason.status, 422);
    let deleted = api
        .delete(&path, json!({ "reason": "customer left" }))
        .await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    assert_eq!(deleted.body["status"], "deleting");
    let job = api
        .wait_for_job(deleted.body["job_id"].as_str().expect("job"))
        .await;
    assert_eq!(job["kind"], "delete");
    assert_eq!(job["state"], "succeeded");
    assert_eq!(api.get(&path).await.body["status"], "deleted");
    let after_delete = api.patch(&path, json!({ "name": "Ghost" })).await;
    assert_eq!(
        (after_delete.status, after_delete.code()),
        (409, "invalid_transition")
    );

    let suspensions = api.audit("tenant.suspended").await;
    assert_eq!(suspensions.len(), 1);
    assert_eq!(suspensions[0]["reason"], "unpaid invoices");
    assert_eq!(suspensions[0]["before"]["status"], "active");
    assert_eq!(suspensions[0]["after"]["status"], "suspended");
    assert_eq!(
        api.audit("tenant.").await.len(),
        5,
        "created, suspended, resumed, updated, deleted"
    );
    let updated = api.audit("tenant.updated").await;
    assert_eq!(updated[0]["before"]["plan"], "starter");
    assert_eq!(updated[0]["after"]["plan"], "growth");
}

#[tokio::test]
async fn the_audit_log_cannot_be_rewritten_and_filters_work() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    api.create_tenant("kept").await;
    let control = fleet::connect(&api.app.db.url()).await;
    let tampering = control
        .execute("UPDATE audit_log SET action = 'x'", &[])
        .await;
    assert!(tampering.is_err(), "the audit log is append-only");
    let by_kind = api.get("/api/v1/audit?target_kind=server").await;
    assert_eq!(by_kind.body["items"].as_array().expect("items").len(), 1);
    let bad_kind = api.get("/api/v1/audit?actor_kind=robot").await;
    assert_eq!(bad_kind.status, 422);
    let future = api.get("/api/v1/audit?since=2999-01-01T00:00:00Z").await;
    assert!(future.body["items"].as_array().expect("items").is_empty());
    let unknown_job = api
        .call(
            Method::GET,
            &format!("/api/v1/jobs/{}", uuid::Uuid::now_v7()),
            Some(&api.token),
            None,
        )
        .await;
    assert_eq!(
        (unknown_job.status, unknown_job.code()),
        (404, "job_not_found")
    );
}

#[tokio::test]
async fn a_deleted_tenant_can_be_neither_renamed_nor_replanned() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let id = api.active_tenant("gone").await;
    let path = format!("/api/v1/tenants/{id}");
    let deleted = api
        .delete(&path, json!({ "reason": "customer left" }))
        .await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    api.wait_for_job(deleted.body["job_id"].as_str().expect("job"))
        .await;

    for change in [
        json!({ "name": "Ghost Ltd" }),
        json!({ "plan": "growth" }),
        json!({ "name": "Ghost Ltd", "plan": "growth" }),
    ] {
        let refused = api.patch(&path, change.clone()).await;
        assert_eq!(
            (refused.status, refused.code()),
            (409, "invalid_transition"),
            "{change}: {:?}",
            refused.body
        );
        assert!(
            refused.body["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains("deleted")),
            "the refusal says why: {:?}",
            refused.body
        );
    }
    let tenant = api.get(&path).await.body;
    assert_eq!(
        (tenant["name"].as_str(), tenant["plan"].as_str()),
        (Some("gone Ltd"), Some("starter")),
        "nothing changed"
    );
    assert!(api.audit("tenant.updated").await.is_empty());
}

#[tokio::test]
async fn jobs_are_listed_newest_first_filtered_and_paged() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let first = api.active_tenant("jobs-one").await;
    let second = api.active_tenant("jobs-two").await;

    let newest = api.get("/api/v1/jobs?kind=provision&limit=1").await;
    assert_eq!(newest.status, 200, "{:?}", newest.body);
    assert_eq!(newest.body["items"][0]["tenant_id"], second.as_str());
    let cursor = newest.body["next_cursor"].as_str().expect("a next page");
    let older = api
        .get(&format!(
            "/api/v1/jobs?kind=provision&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(older.body["items"][0]["tenant_id"], first.as_str());

    let of_first = api
        .get(&format!("/api/v1/jobs?tenant={first}&status=succeeded"))
        .await;
    let items = of_first.body["items"].as_array().expect("items");
    assert!(!items.is_empty());
    assert!(items.iter().all(|job| job["tenant_id"] == first.as_str()));
    assert!(items.iter().all(|job| job.get("payload").is_none()));
    let none = api.get("/api/v1/jobs?status=failed&kind=provision").await;
    assert_eq!(none.body["items"], json!([]));

    for bad in ["status=lost", "kind=teleport"] {
        let refused = api.get(&format!("/api/v1/jobs?{bad}")).await;
        assert_eq!((refused.status, refused.code()), (422, "validation_failed"));
    }
}

//! Health, readiness, metrics and the problem+json contract on both HTTP services.

use system_tests::spawn_app;

#[tokio::test]
async fn both_services_answer_healthz_and_readyz_once_bootstrapped() {
    let app = spawn_app().await;
    // The runtime is ready once its change feed listens, which it starts on its own after
    // bootstrap: give it the moment it takes on a loaded machine.
    let runtime_ready = format!("{}/readyz", app.tenant_runtime_url);
    app.wait_for_status(&runtime_ready, 200, std::time::Duration::from_secs(10))
        .await;
    for path in ["/healthz", "/readyz"] {
        let control = app.get_control_plane(path).await;
        assert_eq!(control.status(), 200, "control plane {path}");
        let runtime = app.get_tenant_runtime(path).await;
        assert_eq!(runtime.status(), 200, "tenant runtime {path}");
    }
    let body: serde_json::Value = app.get_control_plane("/readyz").await.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(
        body["checks"],
        serde_json::json!(["control_db", "bootstrap"])
    );
    app.stop().await.expect("clean stop");
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_bounded_route_labels() {
    let app = spawn_app().await;
    app.get_control_plane("/healthz").await;
    app.get_tenant_runtime("/no/such/route/123").await;
    let response = app.get_control_plane("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{service="control-plane",method="GET",route="/healthz",status="200"}"#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    // An unknown path is counted as `unmatched`, never as its raw (unbounded) path.
    assert!(text.contains(r#"route="unmatched""#), "{text}");
    assert!(!text.contains("/no/such/route/123"), "{text}");
}

#[tokio::test]
async fn an_unknown_route_is_a_problem_json_404() {
    let app = spawn_app().await;
    for response in [
        app.get_control_plane("/api/v1/nothing-here").await,
        app.get_tenant_runtime("/nothing-here").await,
    ] {
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "not_found");
        assert_eq!(body["status"], 404);
        assert!(
            body["type"].is_string() && body["title"].is_string() && body["detail"].is_string()
        );
    }
}

#[tokio::test]
async fn a_nul_in_a_path_or_query_is_refused_on_both_services_never_a_500() {
    let api = system_tests::AdminApi::start().await;
    let in_query = api.get("/api/v1/tenants?search=a%00b").await;
    assert_eq!(
        (in_query.status, in_query.code()),
        (422, "validation_failed")
    );
    let in_path = api.get("/api/v1/tenants/%00").await;
    assert_eq!((in_path.status, in_path.code()), (404, "not_found"));
    let runtime = api
        .tenant_call(
            "acme",
            reqwest::Method::GET,
            "/api/v1/users?q=%00",
            None,
            None,
        )
        .await;
    assert_eq!((runtime.status, runtime.code()), (422, "validation_failed"));
}

//! Outbound webhooks end to end: endpoints registered through the API, events delivered
//! by the runtime's worker (and by extra workers the tests drive with `deliver_due`, as
//! other runtimes would) to a receiver on loopback that records every request. Retries
//! are made due by moving `next_attempt_at` in SQL, never by waiting for the backoff.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use system_tests::AdminApi;
use system_tests::portal::PortalClient;
use system_tests::runtime::{Company, OWNER_PASSWORD};
use tenant_runtime::erp::webhooks::Webhooks;
use tokio::sync::Semaphore;

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// A webhook receiver on 127.0.0.1. Paths say how it answers: `/ok/..` 200, `/fail2/..`
/// 500 twice then 200, `/slow1/..` too slow once then 200, `/gone/..` 410, `/error/..`
/// always 500, `/hold/..` 200 once the test releases it, `/sleepy/..` 200 after 200 ms.
#[derive(Clone)]
struct Receiver {
    port: u16,
    requests: Arc<Mutex<Vec<Received>>>,
    release: Arc<Semaphore>,
}

impl Receiver {
    fn start() -> Self {
        let receiver = Self {
            port: 0,
            requests: Arc::new(Mutex::new(Vec::new())),
            release: Arc::new(Semaphore::new(0)),
        };
        let data = web::Data::new(receiver.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("bind the receiver");
        let port = server.addrs().first().map_or(0, |address| address.port());
        tokio::spawn(server.run());
        Self { port, ..receiver }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn got(&self, path: &str) -> Vec<Received> {
        let requests = self.requests.lock().expect("lock");
        requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn answer(
    receiver: web::Data<Receiver>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let path = request.path().to_owned();
    let seen = {
        let mut requests = receiver.requests.lock().expect("lock");
        requests.push(Received {
            path: path.clone(),
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        requests.iter().filter(|r| r.path == path).count()
    };
    let mode = path.split('/').nth(1).unwrap_or_default();
    match mode {
        "fail2" if seen <= 2 => HttpResponse::InternalServerError().body("not yet"),
        "slow1" if seen == 1 => {
            tokio::time::sleep(Duration::from_secs(4)).await;
            HttpResponse::Ok().finish()
        }
        "gone" => HttpResponse::Gone().body("no such hook"),
        "error" => HttpResponse::InternalServerError().body("<h1>boom</h1>"),
        "hold" => {
            let _permit = receiver.release.acquire().await;
            HttpResponse::Ok().finish()
        }
        "sleepy" => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            HttpResponse::Ok().finish()
        }
        _ => HttpResponse::Ok().body("thanks"),
    }
}

/// A platform whose webhooks may reach the receiver on loopback (the allow-list tests
/// need), with a short delivery timeout and a quick wake-up scan.
async fn platform() -> (AdminApi, Company, String) {
    let api = AdminApi::start_with(|settings| {
        let hooks = &mut settings.tenant_runtime.webhooks;
        hooks.allowed_networks = vec!["127.0.0.1/32".into()];
        hooks.timeout_secs = 2;
        hooks.scan_secs = 1;
    })
    .await;
    api.register_primary().await;
    let company = api.company("hooks", "starter").await;
    let token = api.owner_token(&company).await;
    (api, company, token)
}

async fn call(
    api: &AdminApi,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> system_tests::admin::Reply {
    api.tenant_call("hooks", method, path, Some(token), body)
        .await
}

/// Registers an endpoint; answers its id and secret.
async fn register(api: &AdminApi, token: &str, url: &str, events: Value) -> (String, String) {
    let reply = call(
        api,
        token,
        Method::POST,
        "/api/v1/webhooks/endpoints",
        Some(json!({ "url": url, "event_types": events })),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    (
        reply.body["endpoint"]["id"]
            .as_str()
            .expect("id")
            .to_owned(),
        reply.body["secret"].as_str().expect("secret").to_owned(),
    )
}

async fn send_test(api: &AdminApi, token: &str, endpoint: &str) -> String {
    let path = format!("/api/v1/webhooks/endpoints/{endpoint}/test");
    let reply = call(api, token, Method::POST, &path, None).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    reply.body["event_id"]
        .as_str()
        .expect("event id")
        .to_owned()
}

async fn deliveries(api: &AdminApi, token: &str, endpoint: &str) -> Vec<Value> {
    let path = format!("/api/v1/webhooks/endpoints/{endpoint}/deliveries");
    let reply = call(api, token, Method::GET, &path, None).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

/// A worker of its own, as another runtime would run.
async fn extra_worker(api: &AdminApi) -> Webhooks {
    Webhooks::standalone(&api.app.settings, api.app.db.connect().await).expect("a worker")
}

/// Makes every pending delivery that is not in flight due now, then runs a round, until
/// `done` holds for the endpoint's deliveries (at most 60 rounds).
async fn drive_until(
    api: &AdminApi,
    company: &Company,
    token: &str,
    worker: &Webhooks,
    endpoint: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let db = api.tenant_db(&company.id).await;
    for _ in 0..60 {
        let log = deliveries(api, token, endpoint).await;
        if done(&log) {
            return log;
        }
        db.execute(
            "UPDATE webhook_deliveries d SET next_attempt_at = now() \
             WHERE status = 'pending' AND next_attempt_at > now() \
               AND attempts = (SELECT count(*) FROM webhook_attempts a WHERE a.delivery_id = d.id)",
            &[],
        )
        .await
        .expect("make retries due");
        worker.deliver_due("hooks").await.expect("a round");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the deliveries of {endpoint} never got there: {:?}",
        deliveries(api, token, endpoint).await
    );
}

async fn wait_for(receiver: &Receiver, path: &str, count: usize) -> Vec<Received> {
    for _ in 0..200 {
        let got = receiver.got(path);
        if got.len() >= count {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} did not get {count} requests");
}

/// HMAC-SHA256 written out from its definition (RFC 2104), independent of the runtime's.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// The Standard Webhooks signature of a received request under `secret`.
fn expected_signature(secret: &str, received: &Received) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("prefixed"))
        .expect("base64 secret");
    let signed = format!("{}.{}.{}", received.id, received.timestamp, received.body);
    format!(
        "v1,{}",
        STANDARD.encode(hmac_sha256(&key, signed.as_bytes()))
    )
}

#[tokio::test]
async fn a_test_event_arrives_signed_and_the_request_does_not_wait_for_it() {
    let (api, company, token) = platform().await;
    let receiver = Receiver::start();
    let description = "<script>alert('x')</script> & <b>orders</b>";
    let created = call(
        &api,
        &token,
        Method::POST,
        "/api/v1/webhooks/endpoints",
        Some(
            json!({ "url": receiver.url("/hold/a"), "description": description,
                     "event_types": ["purchase_order.approved", "purchase_order.approved"] }),
        ),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let endpoint = created.body["endpoint"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let secret = created.body["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        created.body["endpoint"]["description"], description,
        "kept verbatim"
    );
    assert_eq!(
        created.body["endpoint"]["event_types"],
        json!(["purchase_order.approved"])
    );

    let shown = call(
        &api,
        &token,
        Method::GET,
        &format!("/api/v1/webhooks/endpoints/{endpoint}"),
        None,
    )
    .await;
    assert_eq!(shown.body["description"], description);
    let listed = call(
        &api,
        &token,
        Method::GET,
        "/api/v1/webhooks/endpoints",
        None,
    )
    .await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    assert!(
        !listed.body.to_string().contains(&secret),
        "a secret is never listed"
    );

    // The receiver holds every request until released: were the request that raised the
    // event to wait for its delivery, it would not come back.
    let event_id =
        tokio::time::timeout(Duration::from_secs(20), send_test(&api, &token, &endpoint))
            .await
            .expect("the request that raised the event returns while its delivery hangs");
    let arrived = wait_for(&receiver, "/hold/a", 1).await;
    receiver.release.add_permits(100);
    let received = &arrived[0];
    assert_eq!(received.id, event_id, "webhook-id is the event id");
    assert!(received.timestamp.parse::<i64>().is_ok(), "{received:?}");
    assert_eq!(received.signature, expected_signature(&secret, received));
    let body: Value = serde_json::from_str(&received.body).expect("a JSON body");
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["endpoint_id"], endpoint);

    let worker = extra_worker(&api).await;
    let log = drive_until(&api, &company, &token, &worker, &endpoint, |log| {
        log.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["last_status_code"], 200);
    assert_eq!(log[0]["event_type"], "webhook.test");
    assert_eq!(
        audit_count(&api, &company, "webhook_endpoint.created").await,
        1
    );
}

/// How many entries with `action` the company's audit log holds.
async fn audit_count(api: &AdminApi, company: &Company, action: &str) -> i64 {
    api.tenant_db(&company.id)
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = $1",
            &[&action],
        )
        .await
        .expect("audit count")
        .get(0)
}

#[tokio::test]
async fn failures_and_timeouts_are_retried_and_410_disables_the_endpoint() {
    let (api, company, token) = platform().await;
    let receiver = Receiver::start();
    let worker = extra_worker(&api).await;

    let (flaky, _) = register(&api, &token, &receiver.url("/fail2/a"), json!(["*"])).await;
    let (slow, _) = register(&api, &token, &receiver.url("/slow1/a"), json!(["*"])).await;
    let (gone, _) = register(&api, &token, &receiver.url("/gone/a"), json!(["*"])).await;
    let flaky_event = send_test(&api, &token, &flaky).await;
    send_test(&api, &token, &slow).await;
    send_test(&api, &token, &gone).await;

    let log = drive_until(&api, &company, &token, &worker, &flaky, |log| {
        log.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(log[0]["attempts"], 3, "{log:?}");
    let tries = receiver.got("/fail2/a");
    assert_eq!(tries.len(), 3);
    assert!(
        tries.iter().all(|t| t.id == flaky_event),
        "one id across retries"
    );

    let log = drive_until(&api, &company, &token, &worker, &slow, |log| {
        log.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(log[0]["attempts"], 2, "{log:?}");
    let db = api.tenant_db(&company.id).await;
    let first_error: Option<String> = db
        .query_one(
            "SELECT a.error FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.endpoint_id = $1::text::uuid ORDER BY a.id LIMIT 1",
            &[&slow],
        )
        .await
        .expect("an attempt")
        .get(0);
    assert!(first_error.unwrap_or_default().contains("timeout"));

    let log = drive_until(&api, &company, &token, &worker, &gone, |log| {
        log.first().is_some_and(|d| d["status"] == "failed")
    })
    .await;
    assert_eq!(
        (
            log[0]["attempts"].clone(),
            log[0]["last_status_code"].clone()
        ),
        (json!(1), json!(410))
    );
    let endpoint = call(
        &api,
        &token,
        Method::GET,
        &format!("/api/v1/webhooks/endpoints/{gone}"),
        None,
    )
    .await;
    assert_eq!(
        (
            endpoint.body["enabled"].clone(),
            endpoint.body["disabled_reason"].clone()
        ),
        (json!(false), json!("gone"))
    );
    let refused = call(
        &api,
        &token,
        Method::POST,
        &format!("/api/v1/webhooks/endpoints/{gone}/test"),
        None,
    )
    .await;
    assert_eq!((refused.status, refused.code()), (409, "endpoint_disabled"));
}

#[tokio::test]
async fn an_endpoint_that_keeps_failing_is_disabled_and_the_admins_are_told() {
    let (api, company, token) = platform().await;
    let receiver = Receiver::start();
    let worker = extra_worker(&api).await;
    let (endpoint, _) = register(&api, &token, &receiver.url("/error/a"), json!(["*"])).await;
    send_test(&api, &token, &endpoint).await;
    let log = drive_until(&api, &company, &token, &worker, &endpoint, |log| {
        log.first().is_some_and(|d| d["status"] == "failed")
    })
    .await;
    assert_eq!(log[0]["attempts"], 10, "{log:?}");
    assert_eq!(log[0]["last_status_code"], 500);
    assert_eq!(receiver.got("/error/a").len(), 10);
    let shown = call(
        &api,
        &token,
        Method::GET,
        &format!("/api/v1/webhooks/endpoints/{endpoint}"),
        None,
    )
    .await;
    assert_eq!(shown.body["disabled_reason"], "failing");
    let db = api.tenant_db(&company.id).await;
    let excerpt: String = db
        .query_one(
            "SELECT response FROM webhook_attempts ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .expect("an attempt")
        .get(0);
    assert_eq!(excerpt, "<h1>boom</h1>", "the answer's excerpt is logged");
    assert_eq!(
        audit_count(&api, &company, "webhook_endpoint.disabled").await,
        1
    );
    let mail_dir = api.app.settings.data_dir.join("mail");
    let told = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_dir(&mail_dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                text.contains(&company.admin_email) && text.contains("was disabled")
            })
    });
    assert!(told, "the admin was emailed");

    let enabled = call(
        &api,
        &token,
        Method::PATCH,
        &format!("/api/v1/webhooks/endpoints/{endpoint}"),
        Some(json!({ "enabled": true })),
    )
    .await;
    assert_eq!(
        (enabled.status, enabled.body["disabled_reason"].clone()),
        (200, Value::Null)
    );
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_during_the_overlap() {
    let (api, company, token) = platform().await;
    let receiver = Receiver::start();
    let worker = extra_worker(&api).await;
    let (endpoint, old) = register(&api, &token, &receiver.url("/ok/rotated"), json!(["*"])).await;
    let rotated = call(
        &api,
        &token,
        Method::POST,
        &format!("/api/v1/webhooks/endpoints/{endpoint}/rotate-secret"),
        None,
    )
    .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let new = rotated.body["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new, old);
    send_test(&api, &token, &endpoint).await;
    drive_until(&api, &company, &token, &worker, &endpoint, |log| {
        log.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    let received = &receiver.got("/ok/rotated")[0];
    let signatures: Vec<&str> = received.signature.split(' ').collect();
    assert_eq!(
        signatures,
        vec![
            expected_signature(&new, received),
            expected_signature(&old, received)
        ]
    );
    assert_eq!(
        audit_count(&api, &company, "webhook_endpoint.secret_rotated").await,
        1
    );
}

#[tokio::test]
async fn private_addresses_are_refused_by_default_and_a_viewer_cannot_manage_endpoints() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let company = api.company("hooks", "starter").await;
    let token = api.owner_token(&company).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.1/hook",
        "https://192.168.1.1/hook",
        "https://172.16.5.4/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "http://8.8.8.8/hook",
    ] {
        let reply = call(
            &api,
            &token,
            Method::POST,
            "/api/v1/webhooks/endpoints",
            Some(json!({ "url": url, "event_types": ["*"] })),
        )
        .await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "url_not_allowed"),
            "{url}: {:?}",
            reply.body
        );
    }
    let unknown_event = call(
        &api,
        &token,
        Method::POST,
        "/api/v1/webhooks/endpoints",
        Some(json!({ "url": "https://8.8.8.8/hook", "event_types": ["order.eaten"] })),
    )
    .await;
    assert_eq!(
        (unknown_event.status, unknown_event.code()),
        (422, "validation_failed")
    );

    let invited = call(
        &api,
        &token,
        Method::POST,
        "/api/v1/users",
        Some(json!({ "email": "vic@hooks.example", "roles": ["viewer"] })),
    )
    .await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    let invitation = api.mailed_token("vic@hooks.example", "invited").await;
    assert_eq!(
        api.set_password("hooks", &invitation, "vic's long password")
            .await
            .status,
        204
    );
    let login = api
        .tenant_login("hooks", "vic@hooks.example", "vic's long password")
        .await;
    let viewer = login.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    for (method, path) in [
        (Method::GET, "/api/v1/webhooks/endpoints"),
        (Method::POST, "/api/v1/webhooks/endpoints"),
    ] {
        let reply = call(
            &api,
            &viewer,
            method,
            path,
            Some(json!({ "url": "https://8.8.8.8/hook", "event_types": ["*"] })),
        )
        .await;
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{path}");
    }
}

#[tokio::test]
async fn rolled_back_events_are_never_delivered_and_two_workers_never_send_one_twice() {
    let (api, company, token) = platform().await;
    let receiver = Receiver::start();
    let (endpoint, _) = register(
        &api,
        &token,
        &receiver.url("/sleepy/a"),
        json!(["purchase_order.approved"]),
    )
    .await;
    let mut db = api.tenant_db(&company.id).await;

    let doomed = db.transaction().await.expect("begin");
    tenant_runtime::erp::events::emit(
        &doomed,
        "purchase_order.approved",
        json!({"po": "rolled back"}),
    )
    .await
    .expect("emit");
    doomed.rollback().await.expect("rollback");
    let committed = db.transaction().await.expect("begin");
    for n in 0..25 {
        tenant_runtime::erp::events::emit(&committed, "purchase_order.approved", json!({"po": n}))
            .await
            .expect("emit");
    }
    tenant_runtime::erp::events::emit(&committed, "sales_order.confirmed", json!({"so": 1}))
        .await
        .expect("an event nobody subscribed to");
    committed.commit().await.expect("commit");

    let (one, two) = (extra_worker(&api).await, extra_worker(&api).await);
    let (a, b) = futures_util::future::join(
        Box::pin(one.deliver_due("hooks")),
        Box::pin(two.deliver_due("hooks")),
    )
    .await;
    let (a, b) = (a.expect("round"), b.expect("round"));
    assert_eq!(
        a + b,
        25,
        "every delivery sent once between them ({a} + {b})"
    );
    let log = drive_until(&api, &company, &token, &one, &endpoint, |log| {
        log.len() == 25 && log.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    assert!(log.iter().all(|d| d["attempts"] == 1), "{log:?}");
    let got = receiver.got("/sleepy/a");
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((got.len(), ids.len()), (25, 25), "no event twice");
    assert!(got.iter().all(|r| !r.body.contains("rolled back")));
}

#[tokio::test]
async fn a_worker_without_the_allow_list_refuses_to_deliver_to_loopback_without_connecting() {
    let (api, company, token) = platform().await;
    let receiver = Receiver::start();
    let (endpoint, _) = register(
        &api,
        &token,
        &receiver.url("/ok/strict"),
        json!(["stock.adjusted"]),
    )
    .await;
    let db = api.tenant_db(&company.id).await;
    tenant_runtime::erp::events::emit(&db, "stock.adjusted", json!({"item": "bolt"}))
        .await
        .expect("emit");
    let mut strict_settings = api.app.settings.clone();
    strict_settings
        .tenant_runtime
        .webhooks
        .allowed_networks
        .clear();
    let strict =
        Webhooks::standalone(&strict_settings, api.app.db.connect().await).expect("a worker");
    assert_eq!(strict.deliver_due("hooks").await.expect("a round"), 1);
    let error: Option<String> = db
        .query_one(
            "SELECT a.error FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.endpoint_id = $1::text::uuid",
            &[&endpoint],
        )
        .await
        .expect("one attempt")
        .get(0);
    assert!(error.unwrap_or_default().starts_with("url_not_allowed"));
    assert!(
        receiver.got("/ok/strict").is_empty(),
        "nothing reached the receiver"
    );
}

/// The `/webhooks/{id}` an endpoint page's settings form posts to.
fn endpoint_path(page: &str) -> String {
    let form = page
        .find("data-form=\"endpoint\"")
        .expect("the endpoint's form");
    let from = page[..form].rfind("action=\"").expect("its action") + "action=\"".len();
    let rest = &page[from..];
    rest[..rest.find('"').expect("a closing quote")].to_owned()
}

#[tokio::test]
async fn an_admin_adds_tests_rotates_and_disables_an_endpoint_from_the_pages() {
    let (api, company, token) = platform().await;
    let receiver = Receiver::start();
    let mut admin = PortalClient::for_app(&api.app.tenant_runtime_url, "hooks");
    admin.sign_in(&company.admin_email, OWNER_PASSWORD).await;
    let list = admin.get("/webhooks").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("data-action=\"add-endpoint\""));

    let refused = admin
        .post(
            "/webhooks",
            &[
                ("url", "https://10.1.2.3/hook"),
                ("description", "kept"),
                ("event_types", "*"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("field-invalid"),
        "the URL field is marked"
    );
    assert!(refused.body.contains("value=\"kept\""), "typed values kept");
    assert!(
        refused.body.contains("value=\"*\" checked"),
        "the chosen events stay checked"
    );

    let url = receiver.url("/ok/page");
    let created = admin
        .post(
            "/webhooks",
            &[
                ("url", &url),
                ("description", "From the page"),
                ("event_types", "*"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body.contains("data-secret=\"shown\""));
    assert!(created.body.contains("whsec_"), "the secret, shown once");
    let path = endpoint_path(&created.body);
    let again = admin.get(&path).await;
    assert_eq!(again.status, 200);
    assert!(!again.body.contains("whsec_"), "never shown again");

    let tested = admin.post(&format!("{path}/test"), &[]).await;
    assert_eq!(tested.status, 303, "{}", tested.body);
    wait_for(&receiver, "/ok/page", 1).await;
    let mut delivered = false;
    for _ in 0..50 {
        if admin
            .get(&path)
            .await
            .body
            .contains("data-status=\"delivered\"")
        {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(delivered, "the delivery log shows the test event delivered");

    let rotated = admin.post(&format!("{path}/rotate-secret"), &[]).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert!(rotated.body.contains("whsec_"));
    assert!(
        rotated
            .body
            .contains("The previous secret also signs until")
    );

    let disabled = admin
        .post(
            &path,
            &[
                ("url", &url),
                ("description", "From the page"),
                ("state", "disabled"),
                ("event_types", "*"),
            ],
        )
        .await;
    assert_eq!(disabled.status, 303, "{}", disabled.body);
    let test_refused = admin.post(&format!("{path}/test"), &[]).await;
    assert_eq!(test_refused.status, 409);
    assert!(
        test_refused.body.contains("enable the endpoint"),
        "{}",
        test_refused.body
    );

    // A manager reads settings but does not manage them: no forms, and a post is refused.
    api.member("hooks", &token, "mia@hooks.example", &["manager"])
        .await;
    let mut manager = PortalClient::for_app(&api.app.tenant_runtime_url, "hooks");
    manager.sign_in("mia@hooks.example", OWNER_PASSWORD).await;
    let seen = manager.get(&path).await;
    assert_eq!(seen.status, 200);
    for form in [
        "data-form=\"endpoint\"",
        "data-action=\"send-test\"",
        "data-action=\"delete-endpoint\"",
    ] {
        assert!(!seen.body.contains(form), "a manager sees {form}");
    }
    assert!(
        !manager
            .get("/webhooks")
            .await
            .body
            .contains("data-action=\"add-endpoint\"")
    );
    assert_eq!(
        manager.post(&format!("{path}/delete"), &[]).await.status,
        403
    );
    // Staff do not even read them.
    api.member("hooks", &token, "sam@hooks.example", &["staff"])
        .await;
    let mut staff = PortalClient::for_app(&api.app.tenant_runtime_url, "hooks");
    staff.sign_in("sam@hooks.example", OWNER_PASSWORD).await;
    assert_eq!(staff.get("/webhooks").await.status, 403);

    let deleted = admin.post(&format!("{path}/delete"), &[]).await;
    assert_eq!(deleted.status, 303);
    assert_eq!(admin.get(&path).await.status, 404);
}

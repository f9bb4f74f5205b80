//! Limits that hold across replicas (issue 17): with Redis, a tenant's request rate, the
//! per-IP signup and sign-in limits and a server's connection budget hold for two runtimes
//! (and two control planes) together; without Redis, or with Redis down, each process keeps
//! to its share (`limits.replicas`); and a server's budget or address change reaches every
//! runtime without a restart. Tests that need Redis skip, saying why, when it does not
//! answer on 127.0.0.1:6379; the others never skip.

use common::Secret;
use common::limits::SharedStore;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use system_tests::admin::Reply;
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD};
use system_tests::portal::PortalClient;
use system_tests::replicas::{self, ExtraRuntime, SecondPlatform};
use system_tests::runtime::Company;
use system_tests::{AdminApi, Proxy, Server, fleet};
use uuid::Uuid;

async fn me_at(api: &AdminApi, runtime: &str, company: &Company, token: &str) -> Reply {
    api.tenant_call_at(
        runtime,
        &company.slug,
        Method::GET,
        "/api/v1/me",
        Some(token),
        None,
    )
    .await
}

/// `GET /api/v1/me` `count` times, alternating over `runtimes`: how many were admitted
/// (every other answer must be 429 `rate_limited` with `Retry-After`).
async fn admitted_of(
    api: &AdminApi,
    runtimes: &[&str],
    company: &Company,
    token: &str,
    count: usize,
) -> usize {
    let mut admitted = 0;
    for n in 0..count {
        let reply = me_at(api, runtimes[n % runtimes.len()], company, token).await;
        match reply.status {
            200 => admitted += 1,
            429 => {
                assert_eq!(reply.code(), "rate_limited", "{:?}", reply.body);
                assert!(reply.header("retry-after").is_some());
            }
            other => panic!("request {n}: {other} {:?}", reply.body),
        }
    }
    admitted
}

async fn set_budget(api: &AdminApi, server: Uuid, budget: i32) {
    let reply = api
        .patch(
            &format!("/api/v1/servers/{server}"),
            json!({ "connection_budget": budget }),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["connection_budget"], budget);
}

#[tokio::test]
async fn a_tenant_rate_limit_holds_across_two_runtimes_through_redis() {
    if !replicas::redis_or_skip("a_tenant_rate_limit_holds_across_two_runtimes_through_redis").await
    {
        return;
    }
    let api = AdminApi::start_with(replicas::use_redis).await;
    api.register_primary().await;
    api.plan_with("twenty", json!({ "api_requests_per_minute": 20 }))
        .await;
    let company = api.company("pace", "twenty").await;
    let second = SecondPlatform::launch(&api.app.settings).await;
    let started = Instant::now();
    let token = api.owner_token(&company).await; // request 1 of 20, on the first runtime
    let runtimes = [
        api.app.tenant_runtime_url.as_str(),
        second.tenant_runtime_url.as_str(),
    ];
    let admitted = 1 + admitted_of(&api, &runtimes, &company, &token, 40).await;
    // One more slot every 3 s at 20 a minute; each runtime alone would admit 20 (40 in all).
    let refilled = (started.elapsed().as_secs_f64() / 3.0).ceil() as usize;
    assert!(
        (20..=20 + refilled).contains(&admitted),
        "{admitted} admitted across two runtimes for a limit of 20 ({refilled} refilled)"
    );
    let on_second = me_at(&api, runtimes[1], &company, &token).await;
    assert_eq!(on_second.header("ratelimit-limit"), Some("20"));
    second.stop().await;
}

#[tokio::test]
async fn the_signup_limit_per_ip_holds_across_two_control_planes_through_redis() {
    if !replicas::redis_or_skip(
        "the_signup_limit_per_ip_holds_across_two_control_planes_through_redis",
    )
    .await
    {
        return;
    }
    let api = AdminApi::start_with(|settings| {
        replicas::use_redis(settings);
        settings.control_plane.signups_per_ip_per_hour = 3;
    })
    .await;
    let second = SecondPlatform::launch(&api.app.settings).await;
    let planes = [
        api.app.control_plane_url.clone(),
        second.control_plane_url.clone(),
    ];
    // An empty company name: the limit is checked first, and nothing is created.
    let body = json!({ "company_name": "", "slug": "nothing", "admin_email": "a@b.example",
                       "admin_password": "a long enough password", "plan": "starter" });
    let mut statuses = Vec::new();
    for n in 0..6 {
        let reply = api
            .app
            .client
            .post(format!("{}/api/v1/signup", planes[n % 2]))
            .json(&body)
            .send()
            .await
            .expect("signup sent");
        statuses.push(reply.status().as_u16());
    }
    assert_eq!(statuses, [422, 422, 422, 429, 429, 429]);
}

#[tokio::test]
async fn sign_in_attempts_per_ip_hold_across_replicas_through_redis() {
    if !replicas::redis_or_skip("sign_in_attempts_per_ip_hold_across_replicas_through_redis").await
    {
        return;
    }
    let api = AdminApi::start_with(|settings| {
        replicas::use_redis(settings);
        settings.limits.sign_ins_per_ip_per_minute = 4;
    })
    .await; // the bootstrap admin's sign-in: attempt 1 of 4 on the control planes
    api.register_primary().await;
    let company = api.company("guarded", "starter").await;
    let second = SecondPlatform::launch(&api.app.settings).await;

    let planes = [
        api.app.control_plane_url.clone(),
        second.control_plane_url.clone(),
    ];
    let mut admin_answers = Vec::new();
    for n in 0..4 {
        let reply = api
            .app
            .client
            .post(format!("{}/api/v1/auth/login", planes[n % 2]))
            .json(&json!({ "email": format!("nobody{n}@tests.example"), "password": "wrong password" }))
            .send()
            .await
            .expect("login sent");
        admin_answers.push(system_tests::admin::read(reply).await);
    }
    let admin_statuses: Vec<u16> = admin_answers.iter().map(|r| r.status).collect();
    assert_eq!(admin_statuses, [401, 401, 401, 429], "{admin_answers:?}");
    assert_eq!(admin_answers[3].code(), "rate_limited");

    let runtimes = [
        api.app.tenant_runtime_url.as_str(),
        second.tenant_runtime_url.as_str(),
    ];
    let mut tenant_statuses = Vec::new();
    for n in 0..5 {
        let reply = api
            .tenant_call_at(
                runtimes[n % 2],
                &company.slug,
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({ "email": format!("nobody{n}@guarded.example"), "password": "wrong" })),
            )
            .await;
        tenant_statuses.push((reply.status, reply.code().to_owned()));
    }
    let refused = (429, "rate_limited".to_owned());
    assert_eq!(
        tenant_statuses[..4].iter().filter(|s| s.0 == 401).count(),
        4
    );
    assert_eq!(tenant_statuses[4], refused, "{tenant_statuses:?}");
    second.stop().await;
}

async fn runtime_connections(admin: &tokio_postgres::Client, tenants: &[Uuid]) -> i64 {
    let names: Vec<String> = tenants
        .iter()
        .map(|id| common::ids::TenantId(*id).database_name())
        .collect();
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = 'tenant-runtime' AND datname = ANY($1)",
            &[&names],
        )
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn a_server_budget_holds_across_two_runtimes_through_redis() {
    if !replicas::redis_or_skip("a_server_budget_holds_across_two_runtimes_through_redis").await {
        return;
    }
    let api = AdminApi::start_with(replicas::use_redis).await;
    let server = api.register_primary().await;
    set_budget(&api, server, 3).await;
    let mut companies = Vec::new();
    for slug in ["north", "south", "east", "west"] {
        companies.push(api.company(slug, "starter").await);
    }
    let mut tokens = Vec::new();
    for company in &companies {
        tokens.push(api.owner_token(company).await);
    }
    let ids: Vec<Uuid> = companies
        .iter()
        .map(|c| c.id.parse().expect("id"))
        .collect();
    let second = SecondPlatform::launch(&api.app.settings).await;
    let runtimes = [
        api.app.tenant_runtime_url.clone(),
        second.tenant_runtime_url.clone(),
    ];
    let admin = fleet::connect(Server::primary().admin_url()).await;

    // Both runtimes at once, every tenant, four requests each per runtime (under the
    // plan's concurrency cap): never more connections than the one budget of 3.
    let (api_ref, companies_ref, tokens_ref) = (&api, &companies, &tokens);
    let burst = runtimes.iter().flat_map(|runtime| {
        companies_ref
            .iter()
            .zip(tokens_ref)
            .cycle()
            .take(16)
            .map(move |(company, token)| me_at(api_ref, runtime, company, token))
    });
    let watch = async {
        let mut peak = 0;
        for _ in 0..60 {
            peak = peak.max(runtime_connections(&admin, &ids).await);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        peak
    };
    let (replies, peak) = tokio::join!(futures_util::future::join_all(burst), watch);
    assert!(
        peak <= 3,
        "peak {peak} connections over a fleet budget of 3"
    );
    for reply in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(
            (reply.status, reply.code()),
            (503, "connection_budget_exhausted"),
            "{:?}",
            reply.body
        );
    }
    let ok = replies.iter().filter(|r| r.status == 200).count();
    eprintln!("{ok} of 32 got through; peak {peak} connections");
    assert!(ok >= 8, "only {ok} of 32 got through");
    second.stop().await;
}

#[tokio::test]
async fn a_crashed_runtimes_connection_leases_lapse_and_free_the_budget() {
    if !replicas::redis_or_skip("a_crashed_runtimes_connection_leases_lapse_and_free_the_budget")
        .await
    {
        return;
    }
    let prefix = format!("erp-test:{}:", Uuid::now_v7());
    let store = SharedStore::new(
        &format!("redis://{}", replicas::REDIS_ADDRESS),
        &prefix,
        Duration::from_secs(1),
    )
    .expect("store");
    let short = Duration::from_millis(300);
    assert!(store.take_lease("budget:s", 2, "a:1", short).await.unwrap());
    assert!(store.take_lease("budget:s", 2, "a:2", short).await.unwrap());
    assert!(!store.take_lease("budget:s", 2, "b:1", short).await.unwrap());
    assert!(
        store.lease_wanted("budget:s").await.unwrap(),
        "the refusal says so"
    );
    // Runtime `a` stops renewing (it crashed): its leases lapse.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(store.take_lease("budget:s", 2, "b:1", short).await.unwrap());
    assert_eq!(store.leases_held("budget:s").await.unwrap(), 1);
    store.release_lease("budget:s", "b:1").await.unwrap();
    assert_eq!(store.leases_held("budget:s").await.unwrap(), 0);
}

#[tokio::test]
async fn without_redis_each_runtime_keeps_its_share_of_the_rate_and_the_budget() {
    let api = AdminApi::start_with(|settings| settings.limits.replicas = 2).await;
    let server = api.register_primary().await;
    set_budget(&api, server, 4).await;
    api.plan_with("ten", json!({ "api_requests_per_minute": 10 }))
        .await;
    let company = api.company("halves", "ten").await;
    let token = api.owner_token(&company).await; // 1 of the first runtime's 5
    let first = api.app.tenant_runtime_url.clone();
    assert_eq!(admitted_of(&api, &[&first], &company, &token, 8).await, 4);
    let other = ExtraRuntime::start(&api.app.settings).await;
    assert_eq!(
        admitted_of(&api, &[&other.url], &company, &token, 8).await,
        5
    );
    let budget = other.registry.server_budget(server).expect("server in use");
    assert_eq!((budget.budget(), budget.local_cap()), (4, 2));
    other.stop().await;
}

#[tokio::test]
async fn with_redis_down_a_runtime_falls_back_to_its_share() {
    let api = AdminApi::start_with(|settings| {
        settings.limits.replicas = 2;
        // Nothing listens on port 1: every Redis call fails at once.
        settings.redis.url = Some(Secret::new("redis://127.0.0.1:1"));
    })
    .await;
    api.register_primary().await;
    api.plan_with("ten", json!({ "api_requests_per_minute": 10 }))
        .await;
    let company = api.company("offline", "ten").await;
    let token = api.owner_token(&company).await; // 1 of this runtime's 5
    let runtime = api.app.tenant_runtime_url.clone();
    assert_eq!(admitted_of(&api, &[&runtime], &company, &token, 8).await, 4);
    let metrics = api.app.get_tenant_runtime("/metrics").await;
    let text = metrics.text().await.expect("metrics");
    assert!(
        text.contains("limits_local_fallbacks_total{limit=\"tenant\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn a_server_budget_or_address_change_reaches_every_runtime_without_restart() {
    let api = AdminApi::start().await;
    let direct = Server::primary().admin_url().to_owned();
    let (proxy, proxied) = Proxy::in_front_of(&direct).await;
    let server = api.register_server("moving", &proxied, &direct, 100).await;
    let company = api.company("nomad", "starter").await;
    let token = api.owner_token(&company).await;
    let runtimes = [
        ExtraRuntime::start(&api.app.settings).await,
        ExtraRuntime::start(&api.app.settings).await,
    ];
    for runtime in &runtimes {
        assert_eq!(
            me_at(&api, &runtime.url, &company, &token).await.status,
            200
        );
    }

    set_budget(&api, server, 7).await;
    for runtime in &runtimes {
        let budget = runtime
            .registry
            .server_budget(server)
            .expect("server in use");
        let started = Instant::now();
        while budget.budget() != 7 && started.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(budget.budget(), 7, "resized by the notice, not a restart");
    }

    let moved = api
        .patch(
            &format!("/api/v1/servers/{server}"),
            json!({ "admin_url": direct }),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert!(moved.body.get("admin_url").is_none(), "never echoed");
    // The old address goes away: only pools rebuilt to the new one still answer.
    proxy.cut();
    for runtime in &runtimes {
        let started = Instant::now();
        let mut last = me_at(&api, &runtime.url, &company, &token).await;
        while last.status != 200 && started.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            last = me_at(&api, &runtime.url, &company, &token).await;
        }
        assert_eq!(last.status, 200, "{:?}", last.body);
    }
    let bad = api
        .patch(
            &format!("/api/v1/servers/{server}"),
            json!({ "connection_budget": 0 }),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (422, "validation_failed"));

    // The portal's server page sets the budget through the same function.
    let portal =
        PortalClient::signed_in(&api.app.control_plane_url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let fields = [
        ("capacity", "100"),
        ("spare_target", "0"),
        ("connection_budget", "9"),
    ];
    let saved = portal.post(&format!("/servers/{server}"), &fields).await;
    assert_eq!(saved.status, 303);
    for runtime in &runtimes {
        let budget = runtime
            .registry
            .server_budget(server)
            .expect("server in use");
        let started = Instant::now();
        while budget.budget() != 9 && started.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(budget.budget(), 9);
    }
    let [one, two] = runtimes;
    one.stop().await;
    two.stop().await;
}

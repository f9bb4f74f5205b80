//! Tenant runtime: the gate before every handler (status after NOTIFY, plan rate limit,
//! feature flags), the connection budget, a tenant server going away, usage counting and
//! sampling, and the change feed reconnecting.

use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use system_tests::admin::Reply;
use system_tests::runtime::Company;
use system_tests::{AdminApi, Proxy, Server, fleet};

async fn me(api: &AdminApi, company: &Company, token: &str) -> Reply {
    api.tenant_call(&company.slug, Method::GET, "/api/v1/me", Some(token), None)
        .await
}

/// Polls `/me` until its answer is `done` (10 s at most); the last reply.
async fn until_me(
    api: &AdminApi,
    company: &Company,
    token: &str,
    done: impl Fn(&Reply) -> bool,
) -> Reply {
    let started = Instant::now();
    loop {
        let reply = me(api, company, token).await;
        if done(&reply) || started.elapsed() > Duration::from_secs(10) {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `/me` until it answers `status`; the last reply.
async fn until_status(api: &AdminApi, company: &Company, token: &str, status: u16) -> Reply {
    until_me(api, company, token, |reply| reply.status == status).await
}

async fn control(api: &AdminApi) -> tokio_postgres::Client {
    fleet::connect(&api.app.db.url()).await
}

#[tokio::test]
async fn suspension_resumption_and_status_changes_apply_mid_session_after_notify() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let token = api.owner_token(&acme).await;
    assert_eq!(me(&api, &acme, &token).await.status, 200);

    let suspend = api
        .post(
            &format!("/api/v1/tenants/{}/suspend", acme.id),
            json!({ "reason": "abuse report" }),
        )
        .await;
    assert_eq!(suspend.status, 200, "{:?}", suspend.body);
    let refused = until_status(&api, &acme, &token, 403).await;
    assert_eq!((refused.status, refused.code()), (403, "tenant_suspended"));
    let resume = api
        .post(
            &format!("/api/v1/tenants/{}/resume", acme.id),
            json!({ "reason": "resolved" }),
        )
        .await;
    assert_eq!(resume.status, 200, "{:?}", resume.body);
    assert_eq!(until_status(&api, &acme, &token, 200).await.status, 200);

    let control = control(&api).await;
    let id: uuid::Uuid = acme.id.parse().expect("uuid");
    let set_status = |status: &'static str, kind: Option<&'static str>| {
        let control = &control;
        async move {
            control
                .execute(
                    "UPDATE tenants SET status = $2, suspension_kind = $3 WHERE id = $1",
                    &[&id, &status, &kind],
                )
                .await
                .expect("update");
            control
                .execute("SELECT pg_notify('tenant_changed', $1)", &[&id.to_string()])
                .await
                .expect("notify");
        }
    };
    set_status("suspended", Some("billing")).await;
    // `/me` still answers a tenant suspended for billing (its admin must see why and pay).
    until_me(&api, &acme, &token, |reply| {
        reply.body["tenant"]["status"] == "suspended"
    })
    .await;
    let billing = api
        .tenant_call("acme", Method::GET, "/api/v1/users", Some(&token), None)
        .await;
    assert_eq!((billing.status, billing.code()), (402, "payment_required"));
    set_status("provisioning", None).await;
    let provisioning = until_status(&api, &acme, &token, 503).await;
    assert_eq!(provisioning.code(), "tenant_provisioning");
    assert!(provisioning.header("retry-after").is_some());
    set_status("deleted", None).await;
    let deleted = until_status(&api, &acme, &token, 404).await;
    assert_eq!(deleted.code(), "tenant_not_found");
}

#[tokio::test]
async fn the_plan_rate_limit_answers_429_for_that_tenant_only_and_modules_follow_the_plan() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    api.plan_with("tiny", json!({ "api_requests_per_minute": 5 }))
        .await;
    let small = api.company("small", "tiny").await;
    let large = api.company("large", "starter").await;
    let small_token = api.owner_token(&small).await; // request 1 of 5
    let large_token = api.owner_token(&large).await;
    for n in 2..=5 {
        let reply = me(&api, &small, &small_token).await;
        assert_eq!(reply.status, 200, "request {n}");
        assert_eq!(reply.header("ratelimit-limit"), Some("5"));
        assert_eq!(
            reply.header("ratelimit-remaining"),
            Some((5 - n).to_string().as_str())
        );
    }
    let limited = me(&api, &small, &small_token).await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"));
    let retry: u64 = limited
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("secs");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    assert_eq!(
        me(&api, &large, &large_token).await.status,
        200,
        "others are not limited"
    );
    let metrics = api
        .app
        .get_tenant_runtime("/metrics")
        .await
        .text()
        .await
        .expect("metrics");
    for name in [
        "runtime_registry_hits_total",
        "runtime_registry_misses_total",
        "runtime_connections_opened_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }

    api.plan_with("no-production", json!({})).await;
    let plain = api.company("plain", "no-production").await;
    let plain_token = api.owner_token(&plain).await;
    let gated = api
        .tenant_call(
            "plain",
            Method::GET,
            "/api/v1/production/orders",
            Some(&plain_token),
            None,
        )
        .await;
    assert_eq!((gated.status, gated.code()), (403, "feature_not_in_plan"));
    let encoded = api
        .tenant_call(
            "plain",
            Method::GET,
            "/api/v1/productio%6E/orders",
            Some(&plain_token),
            None,
        )
        .await;
    assert_eq!(
        encoded.code(),
        "feature_not_in_plan",
        "a percent-encoded module name is the same module"
    );
    let patched = api
        .patch(
            "/api/v1/plans/no-production",
            json!({ "features": ["production"] }),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let started = Instant::now();
    loop {
        let reply = api
            .tenant_call(
                "plain",
                Method::GET,
                "/api/v1/production/orders",
                Some(&plain_token),
                None,
            )
            .await;
        // Admitted once the plan has the module: the production API answers the list.
        if reply.status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "plan change not applied: {} {:?}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Tenant connections open on the primary server through this platform's runtime.
async fn runtime_connections(admin: &tokio_postgres::Client, tenants: &[uuid::Uuid]) -> i64 {
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
async fn a_full_connection_budget_takes_idle_connections_from_other_tenants_and_never_exceeds() {
    let api = AdminApi::start().await;
    let server = api.register_primary().await;
    let control = control(&api).await;
    control
        .execute(
            "UPDATE database_servers SET connection_budget = 2 WHERE id = $1",
            &[&server],
        )
        .await
        .expect("budget");
    let mut companies = Vec::new();
    for slug in ["one", "two", "three", "four"] {
        companies.push(api.company(slug, "starter").await);
    }
    let mut tokens = Vec::new();
    for company in &companies {
        tokens.push(api.owner_token(company).await);
    }
    let ids: Vec<uuid::Uuid> = companies
        .iter()
        .map(|c| c.id.parse().expect("id"))
        .collect();
    let admin = fleet::connect(Server::primary().admin_url()).await;

    // One at a time: every tenant gets through although the budget holds only two
    // connections, because idle ones of other tenants are closed for it.
    for round in 0..3 {
        for (company, token) in companies.iter().zip(&tokens) {
            let reply = me(&api, company, token).await;
            assert_eq!(
                reply.status, 200,
                "round {round} {}: {:?}",
                company.slug, reply.body
            );
            assert!(runtime_connections(&admin, &ids).await <= 2);
        }
    }

    // All at once: each request succeeds or gets a bounded 503 with Retry-After; never a
    // hang, never more connections than the budget.
    // Seven per tenant: under the plan's concurrency cap of eight.
    let burst = companies
        .iter()
        .zip(&tokens)
        .cycle()
        .take(28)
        .map(|(company, token)| me(&api, company, token));
    let watch = async {
        let mut peak = 0;
        for _ in 0..30 {
            peak = peak.max(runtime_connections(&admin, &ids).await);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        peak
    };
    let (replies, peak) = tokio::join!(futures_util::future::join_all(burst), watch);
    assert!(peak <= 2, "peak {peak} connections over a budget of 2");
    let ok = replies.iter().filter(|r| r.status == 200).count();
    for reply in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(
            (reply.status, reply.code()),
            (503, "connection_budget_exhausted"),
            "{:?}",
            reply.body
        );
        assert!(reply.header("retry-after").is_some());
    }
    eprintln!("{ok} of 28 got through; peak {peak} connections");
    assert!(ok >= 7, "only {ok} of 28 got through");
}

#[tokio::test]
async fn a_stopped_tenant_server_fails_only_its_tenants_and_they_recover() {
    let api =
        AdminApi::start_with(|settings| settings.tenant_runtime.connect_timeout_secs = 2).await;
    let (proxy, proxied) = Proxy::in_front_of(Server::second().admin_url()).await;
    let second = api
        .register_server("second", &proxied, Server::second().admin_url(), 1000)
        .await;
    api.register_primary().await;
    let far = api.company("far", "starter").await;
    let drained = api
        .post(&format!("/api/v1/servers/{second}/drain"), json!({}))
        .await;
    assert_eq!(drained.status, 200, "{:?}", drained.body);
    let near = api.company("near", "starter").await;
    let control = control(&api).await;
    let server_of = |id: &str| {
        let (control, id) = (&control, id.parse::<uuid::Uuid>().expect("id"));
        async move {
            control
                .query_one("SELECT server_id FROM tenants WHERE id = $1", &[&id])
                .await
                .expect("tenant")
                .get::<_, uuid::Uuid>(0)
        }
    };
    assert_eq!(
        server_of(&far.id).await,
        second,
        "placed on the second server"
    );
    assert_ne!(server_of(&near.id).await, second);
    let far_token = api.owner_token(&far).await;
    let near_token = api.owner_token(&near).await;

    proxy.cut();
    let down = me(&api, &far, &far_token).await;
    assert_eq!(
        (down.status, down.code()),
        (503, "tenant_database_unavailable"),
        "{:?}",
        down.body
    );
    assert!(down.header("retry-after").is_some());
    assert_eq!(
        me(&api, &near, &near_token).await.status,
        200,
        "the other server's tenant works"
    );

    proxy.restore();
    assert_eq!(
        until_status(&api, &far, &far_token, 200).await.status,
        200,
        "recovered"
    );
}

#[tokio::test]
async fn api_calls_are_counted_into_the_control_database_and_size_and_users_are_sampled() {
    let api = AdminApi::start_with(|settings| {
        settings.tenant_runtime.usage_flush_secs = 1;
        settings.tenant_runtime.usage_sample_secs = 1;
    })
    .await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let token = api.owner_token(&acme).await; // one call
    for _ in 0..6 {
        assert_eq!(me(&api, &acme, &token).await.status, 200);
    }
    // Pages of the web app pass the same gate but are not billed usage.
    for _ in 0..3 {
        let page = api
            .tenant_call(&acme.slug, Method::GET, "/sign-in", None, None)
            .await;
        assert_eq!(page.status, 200, "the sign-in page");
    }
    let control = control(&api).await;
    let id: uuid::Uuid = acme.id.parse().expect("id");
    let started = Instant::now();
    loop {
        let row = control
            .query_one(
                "SELECT coalesce((SELECT sum(api_calls)::bigint FROM tenant_usage_daily WHERE tenant_id = $1), 0), \
                 storage_bytes, user_count FROM tenants WHERE id = $1",
                &[&id],
            )
            .await
            .expect("usage");
        let (calls, bytes, users): (i64, Option<i64>, Option<i32>) =
            (row.get(0), row.get(1), row.get(2));
        if let (7, Some(bytes)) = (calls, bytes) {
            assert!(bytes > 1_000_000, "a real database size");
            assert_eq!(users, Some(1));
            break;
        }
        assert!(calls <= 7, "counted {calls} of 7 calls");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "usage not recorded: {calls} {bytes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A flush or two later the count has not moved: the pages were not held back somewhere.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later: i64 = control
        .query_one(
            "SELECT coalesce(sum(api_calls)::bigint, 0) FROM tenant_usage_daily WHERE tenant_id = $1",
            &[&id],
        )
        .await
        .expect("usage")
        .get(0);
    assert_eq!(later, 7, "page views counted as API calls");
    let view = api.get(&format!("/api/v1/tenants/{}", acme.id)).await;
    assert_eq!(
        view.body["usage"]["user_count"], 1,
        "{:?}",
        view.body["usage"]
    );
}

#[tokio::test]
async fn counts_not_yet_flushed_are_written_at_shutdown() {
    let started = Instant::now();
    let api = AdminApi::start_with(|settings| settings.tenant_runtime.usage_flush_secs = 10).await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let token = api.owner_token(&acme).await;
    for _ in 0..4 {
        me(&api, &acme, &token).await;
    }
    if started.elapsed() > Duration::from_secs(8) {
        // The periodic flush may already have run; nothing here would tell them apart.
        eprintln!("skipped: setting up took {:?}", started.elapsed());
        return;
    }
    let control = control(&api).await;
    let id: uuid::Uuid = acme.id.parse().expect("id");
    let calls = || async {
        control
            .query_one(
                "SELECT coalesce(sum(api_calls)::bigint, 0) FROM tenant_usage_daily WHERE tenant_id = $1",
                &[&id],
            )
            .await
            .expect("usage")
            .get::<_, i64>(0)
    };
    assert_eq!(calls().await, 0, "nothing flushed yet");
    api.app.cancel();
    let waited = Instant::now();
    while calls().await != 5 {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "the shutdown flush did not come"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "came before any periodic flush"
    );
}

#[tokio::test]
async fn after_the_change_feed_drops_the_runtime_reconnects_and_forgets_what_it_cached() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let token = api.owner_token(&acme).await;
    assert_eq!(me(&api, &acme, &token).await.status, 200);
    let control = control(&api).await;
    let database = api.app.db.name().to_owned();
    let killed: i64 = control
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'tenant-runtime-listener' AND datname = $1",
            &[&database],
        )
        .await
        .expect("terminate")
        .get(0);
    assert_eq!(killed, 1, "one listener per runtime");
    // A change the runtime cannot hear about: no NOTIFY.
    let id: uuid::Uuid = acme.id.parse().expect("id");
    control
        .execute(
            "UPDATE tenants SET status = 'suspended', suspension_kind = 'admin' WHERE id = $1",
            &[&id],
        )
        .await
        .expect("update");
    let refused = until_status(&api, &acme, &token, 403).await;
    assert_eq!(
        refused.code(),
        "tenant_suspended",
        "the reconnect dropped the stale entry"
    );
}

/// How long the noisy tenant floods in the fair-share test.
const FLOOD: Duration = Duration::from_secs(4);

#[tokio::test]
async fn a_noisy_tenant_holding_the_whole_budget_gives_a_quiet_tenant_its_share() {
    // A pool of up to 40: the noisy tenant's requests beyond its four connections wait in
    // the budget beside the quiet one's, each as likely as it to get a freed permit.
    let api = AdminApi::start_with(|settings| {
        settings.tenant_runtime.budget_wait_ms = 500;
        settings.tenant_runtime.max_connections_per_pool = 40;
    })
    .await;
    let server = api.register_primary().await;
    control(&api)
        .await
        .execute(
            "UPDATE database_servers SET connection_budget = 4 WHERE id = $1",
            &[&server],
        )
        .await
        .expect("budget");
    // Enterprise: a rate limit and a concurrency cap the flood stays under.
    let noisy = api.company("noisy", "enterprise").await;
    let quiet = api.company("quiet", "starter").await;
    let noisy_token = api.owner_token(&noisy).await;
    let quiet_token = api.owner_token(&quiet).await;

    // 48 request loops: its four connections are never idle (each returned one is taken
    // at once by the next queued request), so no idle connection is there to take.
    let started = Instant::now();
    let flood = (0..48).map(|_| async {
        let mut answered = Vec::new();
        while started.elapsed() < FLOOD {
            answered.push(me(&api, &noisy, &noisy_token).await.status);
        }
        answered
    });
    let quiet_calls = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut calls = Vec::new();
        while started.elapsed() < FLOOD - Duration::from_millis(200) {
            let asked = Instant::now();
            let reply = me(&api, &quiet, &quiet_token).await;
            calls.push((reply.status, reply.code().to_owned(), asked.elapsed()));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        calls
    };
    let (flood, quiet_calls) = tokio::join!(futures_util::future::join_all(flood), quiet_calls);
    let noisy_ok = flood
        .iter()
        .flatten()
        .filter(|status| **status == 200)
        .count();
    let slowest = quiet_calls
        .iter()
        .map(|call| call.2)
        .max()
        .unwrap_or_default();
    eprintln!(
        "noisy: {noisy_ok} of {} answered 200; quiet: {} calls, slowest {slowest:?}",
        flood.iter().flatten().count(),
        quiet_calls.len()
    );
    assert!(noisy_ok > 0, "the noisy tenant is served too");
    assert!(
        quiet_calls.len() >= 5,
        "only {} quiet calls",
        quiet_calls.len()
    );
    let refused: Vec<_> = quiet_calls
        .iter()
        .filter(|(status, ..)| *status != 200)
        .collect();
    assert!(
        refused.is_empty(),
        "the quiet tenant was refused its share: {refused:?}"
    );
}

#[tokio::test]
async fn when_every_budgeted_connection_is_busy_a_request_waits_briefly_then_gets_503() {
    let api = AdminApi::start_with(|settings| settings.tenant_runtime.budget_wait_ms = 200).await;
    let server = api.register_primary().await;
    control(&api)
        .await
        .execute(
            "UPDATE database_servers SET connection_budget = 1 WHERE id = $1",
            &[&server],
        )
        .await
        .expect("budget");
    let busy = api.company("busy", "starter").await;
    let other = api.company("other", "starter").await;
    let busy_token = api.owner_token(&busy).await;
    let other_token = api.owner_token(&other).await;

    // Hold a lock that busy's `/me` query waits on: its one connection stays in use.
    let mut tenant_db = api.tenant_db(&busy.id).await;
    let lock = tenant_db.transaction().await.expect("transaction");
    lock.batch_execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let stuck = me(&api, &busy, &busy_token);
    let refused = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let reply = me(&api, &other, &other_token).await;
        (reply, started.elapsed())
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        lock.rollback().await.expect("unlock");
    };
    let (stuck, (refused, waited), ()) = tokio::join!(stuck, refused, release);
    assert_eq!(
        (refused.status, refused.code()),
        (503, "connection_budget_exhausted"),
        "{:?}",
        refused.body
    );
    assert!(refused.header("retry-after").is_some());
    assert!(
        waited < Duration::from_secs(1),
        "bounded wait, took {waited:?}"
    );
    assert_eq!(stuck.status, 200, "the busy request finishes once unlocked");
    assert_eq!(
        me(&api, &other, &other_token).await.status,
        200,
        "and the budget is usable again"
    );
}

#[tokio::test]
async fn over_the_storage_limit_writes_are_refused_and_reads_still_work() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let token = api.owner_token(&acme).await;
    let id: uuid::Uuid = acme.id.parse().expect("id");
    // As the sampler would record it: far over the plan's storage.
    let control = control(&api).await;
    control
        .execute(
            "UPDATE tenants SET storage_bytes = 1e15 WHERE id = $1",
            &[&id],
        )
        .await
        .expect("update");
    control
        .execute("SELECT pg_notify('tenant_changed', $1)", &[&acme.id])
        .await
        .expect("notify");
    // Wait for the NOTIFY with a write that changes nothing (no such user: 404 until then).
    let nobody = format!("/api/v1/users/{}", uuid::Uuid::new_v4());
    let started = Instant::now();
    loop {
        let reply = api
            .tenant_call(
                "acme",
                Method::PATCH,
                &nobody,
                Some(&token),
                Some(json!({})),
            )
            .await;
        if reply.status == 409 {
            break;
        }
        assert_eq!(reply.status, 404, "{:?}", reply.body);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the change never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = api
        .tenant_call(
            "acme",
            Method::POST,
            "/api/v1/users",
            Some(&token),
            Some(json!({ "email": "pat@acme.example", "roles": ["viewer"] })),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "limit_exceeded"),
        "{:?}",
        refused.body
    );
    assert_eq!(
        me(&api, &acme, &token).await.status,
        200,
        "reads still work"
    );
    let login = api
        .tenant_login(
            "acme",
            &acme.admin_email,
            system_tests::runtime::OWNER_PASSWORD,
        )
        .await;
    assert_eq!(login.status, 200, "signing in still works");
}

#[tokio::test]
async fn a_tenant_at_its_concurrency_cap_gets_429_at_once() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    api.plan_with("single", json!({ "max_concurrent_requests": 1 }))
        .await;
    let acme = api.company("acme", "single").await;
    let token = api.owner_token(&acme).await;
    let mut tenant_db = api.tenant_db(&acme.id).await;
    let lock = tenant_db.transaction().await.expect("transaction");
    lock.batch_execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let stuck = me(&api, &acme, &token);
    let second = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        (me(&api, &acme, &token).await, started.elapsed())
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        lock.rollback().await.expect("unlock");
    };
    let (stuck, (second, waited), ()) = tokio::join!(stuck, second, release);
    assert_eq!(
        (second.status, second.code()),
        (429, "too_many_concurrent_requests")
    );
    assert!(second.header("retry-after").is_some());
    assert!(
        waited < Duration::from_millis(500),
        "refused at once, not queued: {waited:?}"
    );
    assert_eq!(stuck.status, 200);
}

/// The benchmark binary's code path, small, so it cannot rot; its targets are never
/// asserted here (timing in tests is noise), only what must hold at any speed.
#[tokio::test]
async fn the_runtime_benchmark_runs_end_to_end() {
    let report = system_tests::runtime_bench::run(6, 1).await;
    assert_eq!(report.registry.errors, 0, "{report:?}");
    assert_eq!(report.static_pool.errors, 0);
    assert_eq!(report.churns.len(), 2);
    for churn in &report.churns {
        assert_eq!(churn.run.errors, 0);
        assert_eq!(churn.run.requests, 6 * 5);
        assert!(
            churn
                .peaks
                .iter()
                .all(|peak| *peak <= i64::from(report.budget))
        );
    }
    assert!(report.registry.requests > 0 && report.static_pool.requests > 0);
    assert!(system_tests::runtime_bench::report(&report).contains("throughput ratio"));
}

/// Polls `/me` until its `RateLimit-Limit` is `limit`; the last value.
async fn until_rate_limit(api: &AdminApi, company: &Company, token: &str, limit: &str) -> String {
    let reply = until_me(api, company, token, |reply| {
        reply.header("ratelimit-limit") == Some(limit)
    })
    .await;
    reply
        .header("ratelimit-limit")
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_plan_change_and_a_replan_reach_the_runtime_through_the_provisioner_notify() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    api.plan_with("roomy", json!({ "api_requests_per_minute": 600 }))
        .await;
    api.plan_with("tight", json!({ "api_requests_per_minute": 300 }))
        .await;
    let acme = api.company("acme", "roomy").await;
    let token = api.owner_token(&acme).await;
    assert_eq!(until_rate_limit(&api, &acme, &token, "600").await, "600");

    let patched = api
        .patch(
            "/api/v1/plans/roomy",
            json!({ "limits": { "api_requests_per_minute": 1200 } }),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(
        until_rate_limit(&api, &acme, &token, "1200").await,
        "1200",
        "the plan's new limit is applied without a restart"
    );

    let replanned = api
        .patch(
            &format!("/api/v1/tenants/{}", acme.id),
            json!({ "plan": "tight" }),
        )
        .await;
    assert_eq!(replanned.status, 200, "{:?}", replanned.body);
    assert_eq!(
        until_rate_limit(&api, &acme, &token, "300").await,
        "300",
        "the tenant's new plan is applied without a restart"
    );
}

/// The sum of `tenant`'s recorded API calls.
async fn recorded_calls(control: &tokio_postgres::Client, tenant: uuid::Uuid) -> i64 {
    control
        .query_one(
            "SELECT coalesce(sum(api_calls)::bigint, 0) FROM tenant_usage_daily WHERE tenant_id = $1",
            &[&tenant],
        )
        .await
        .expect("usage")
        .get(0)
}

/// A flush whose connection broke after its INSERT was sent cannot know whether it
/// committed (the chaos suite saw exactly that at a runtime's shutdown: the batch given
/// back and flushed again, counted twice). A failed batch is now retried under its id,
/// and a batch already recorded is not added again.
#[tokio::test]
async fn a_usage_batch_retried_after_a_failed_or_unseen_write_is_counted_once() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let tenant: uuid::Uuid = acme.id.parse().expect("id");
    let control = control(&api).await;
    let db = sea_orm::Database::connect(api.app.db.url())
        .await
        .expect("control pool");
    let before = recorded_calls(&control, tenant).await;

    // Committed unseen, then retried: the same batch twice counts once.
    let batch = (uuid::Uuid::now_v7(), vec![(tenant, 5)]);
    tenant_runtime::usage::write(&db, &batch)
        .await
        .expect("written");
    tenant_runtime::usage::write(&db, &batch)
        .await
        .expect("retried");
    assert_eq!(recorded_calls(&control, tenant).await, before + 5);

    // A flush that fails keeps its counts; the next one writes them, once.
    let usage = tenant_runtime::usage::Usage::default();
    for _ in 0..3 {
        usage.count(tenant);
    }
    let broken = sea_orm::Database::connect(api.app.db.url())
        .await
        .expect("second pool");
    broken.clone().close().await.expect("closed");
    assert!(usage.flush(&broken).await.is_err(), "a closed pool fails");
    assert_eq!(usage.pending(), 3, "the failed batch is kept");
    usage.count(tenant);
    assert_eq!(usage.flush(&db).await.expect("flushed"), 4);
    assert_eq!(usage.pending(), 0);
    assert_eq!(recorded_calls(&control, tenant).await, before + 9);
}

//! Start-up faults: a database that is down (readiness waits, recovers without a restart),
//! a port already taken, and a clean stop.

use common::Secret;
use sea_orm::ConnectionTrait as _;
use std::time::Duration;
use system_tests::app::{self, test_settings};
use system_tests::{Server, TestDb};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};

/// A port nothing listens on (yet).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Forwards `port` to the primary Postgres server: the database "comes back".
async fn start_forwarding(port: u16) {
    let target = host_port(Server::primary().admin_url());
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

fn host_port(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_database_down_at_start_means_not_ready_then_ready_when_it_returns() {
    let db = TestDb::control().await;
    let port = free_port();
    let mut settings = test_settings(&db);
    let real_url = db.url();
    let down_url = real_url.replacen(&host_port(&real_url), &format!("127.0.0.1:{port}"), 1);
    settings.database.url = Secret::new(down_url);
    let app = app::launch(settings, db).await;

    let healthz = app.get_control_plane("/healthz").await;
    assert_eq!(
        healthz.status(),
        200,
        "the process is up even without its database"
    );
    for response in [
        app.get_control_plane("/readyz").await,
        app.get_tenant_runtime("/readyz").await,
    ] {
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "not_ready");
        assert!(
            body["detail"].as_str().unwrap().contains("control_db"),
            "{body}"
        );
    }

    start_forwarding(port).await;
    let url = format!("{}/readyz", app.control_plane_url);
    let status = app
        .wait_for_status(&url, 200, Duration::from_secs(60))
        .await;
    assert_eq!(status, 200, "readiness recovers once the database answers");
    let runtime_url = format!("{}/readyz", app.tenant_runtime_url);
    assert_eq!(
        app.wait_for_status(&runtime_url, 200, Duration::from_secs(10))
            .await,
        200
    );
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error_naming_the_key() {
    system_tests::init();
    let db = TestDb::control().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = test_settings(&db);
    settings.control_plane.port = taken.local_addr().unwrap().port();
    let launched = control_plane::all_in_one::launch(
        &settings,
        control_plane::all_in_one::Parts::ALL,
        tokio_util::sync::CancellationToken::new(),
    )
    .await;
    let error = launched.err().expect("must not start").to_string();
    assert!(error.contains("already in use"), "{error}");
    assert!(error.contains("control_plane.port"), "{error}");
}

#[tokio::test]
async fn stopping_drains_and_closes_both_ports() {
    let app = system_tests::spawn_app().await;
    let urls = [
        format!("{}/healthz", app.control_plane_url),
        format!("{}/healthz", app.tenant_runtime_url),
    ];
    let client = app.client.clone();
    app.stop().await.expect("every service stops cleanly");
    for url in urls {
        assert!(
            client.get(&url).send().await.is_err(),
            "{url} still answers"
        );
    }
}

/// A control database with nothing in it: the first start of a new platform.
async fn blank_control_database() -> TestDb {
    system_tests::init();
    Server::primary().empty_database().await
}

#[tokio::test]
async fn processes_starting_together_migrate_once_and_none_fails_an_attempt() {
    let db = blank_control_database().await;
    let settings = test_settings(&db);
    // Each "process" has its own pool, as separate replicas would.
    let mut attempts = Vec::new();
    for _ in 0..4 {
        let pool = common::db::connect_lazy(&settings.database).await.unwrap();
        let settings = settings.clone();
        attempts.push(tokio::spawn(async move {
            control_plane::bootstrap::bootstrap_once(&pool, &settings).await
        }));
    }
    let mut created = 0;
    for attempt in attempts {
        let outcome = attempt.await.unwrap();
        let made = outcome.expect("no attempt fails: one migrates, the others wait for it");
        created += usize::from(made.is_some());
    }
    assert_eq!(created, 1, "the configured super-admin is made once");
    let control = db.connect().await;
    let row = control
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n, count(DISTINCT version) AS distinct_n FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap();
    let applied: i64 = row.try_get("", "n").unwrap();
    assert_eq!(applied, row.try_get::<i64>("", "distinct_n").unwrap());
    assert_eq!(
        applied as usize,
        <migrations::control::Migrator as sea_orm_migration::MigratorTrait>::migrations().len()
    );
}

#[tokio::test]
async fn whole_platforms_started_together_on_a_blank_database_all_become_ready() {
    let db = blank_control_database().await;
    let settings = test_settings(&db);
    let mut platforms = Vec::new();
    for _ in 0..3 {
        let platform = control_plane::all_in_one::launch(
            &settings,
            control_plane::all_in_one::Parts::ALL,
            tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
        platforms.push(platform);
    }
    let client = reqwest::Client::new();
    for platform in &platforms {
        let ports = [
            platform.control_plane_port,
            platform.tenant_runtime_port.unwrap(),
        ];
        for port in ports {
            let url = format!("http://127.0.0.1:{port}/readyz");
            assert_eq!(poll_until_ok(&client, &url).await, 200, "{url}");
        }
    }
    for platform in platforms {
        platform.stop().await.unwrap();
    }
}

/// Polls `url` every 5 ms for up to a minute; the last status.
async fn poll_until_ok(client: &reqwest::Client, url: &str) -> u16 {
    let started = std::time::Instant::now();
    loop {
        let status = match client.get(url).send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        if status == 200 || started.elapsed() > Duration::from_secs(60) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What one request fired during start-up got.
#[derive(Debug)]
struct Seen {
    what: &'static str,
    status: u16,
    code: String,
    retry_after: bool,
}

async fn fire(what: &'static str, request: reqwest::RequestBuilder) -> Option<Seen> {
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    Some(Seen {
        what,
        status,
        code: body["code"].as_str().unwrap_or_default().to_owned(),
        retry_after,
    })
}

#[tokio::test]
async fn requests_fired_during_start_up_answer_503_starting_and_never_500() {
    let db = blank_control_database().await;
    let settings = test_settings(&db);
    let mut app = app::launch(settings, db).await;
    let client = app.client.clone();
    let (control, runtime) = (
        app.control_plane_url.clone(),
        app.tenant_runtime_url.clone(),
    );
    let firing = tokio::spawn(async move {
        let mut seen = Vec::new();
        for n in 0..400 {
            let signup = serde_json::json!({
                "company_name": "Early Bird", "slug": format!("early-{n}"),
                "admin_email": format!("a{n}@early.example"),
                "admin_password": "a long enough password", "plan": "trial" });
            let requests = [
                (
                    "signup",
                    client
                        .post(format!("{control}/api/v1/signup"))
                        .json(&signup),
                ),
                ("plans", client.get(format!("{control}/api/v1/plans"))),
                (
                    "runtime me",
                    client
                        .get(format!("{runtime}/api/v1/me"))
                        .header("X-Tenant", "early"),
                ),
            ];
            for (what, request) in requests {
                seen.extend(fire(what, request).await);
            }
            let done = seen.iter().rev().take(3).all(|s| s.code != "starting");
            if done && n > 0 {
                break;
            }
        }
        seen
    });
    app.wait_bootstrapped().await;
    let seen = firing.await.unwrap();
    let starting: Vec<&Seen> = seen.iter().filter(|s| s.code == "starting").collect();
    assert!(
        !starting.is_empty(),
        "some requests came before bootstrap: {seen:?}"
    );
    for early in &starting {
        assert_eq!(early.status, 503, "{early:?}");
        assert!(early.retry_after, "{early:?}");
    }
    for request in &seen {
        assert!(
            request.status < 500
                || (request.status == 503
                    && ["starting", "no_capacity"].contains(&request.code.as_str())),
            "never a server error during start-up: {request:?}"
        );
    }
    let last: Vec<&str> = seen.iter().rev().take(3).map(|s| s.what).collect();
    assert_eq!(
        last.len(),
        3,
        "the services answered normally in the end: {seen:?}"
    );
}

#[tokio::test]
async fn a_signup_the_instant_readyz_first_answers_200_is_accepted() {
    let db = blank_control_database().await;
    let mut settings = test_settings(&db);
    settings.provisioner.default_server_url = Some(Secret::new(Server::primary().admin_url()));
    settings.provisioner.default_server_spare_target = 0;
    let app = app::launch(settings, db).await;
    let readyz = format!("{}/readyz", app.control_plane_url);
    assert_eq!(poll_until_ok(&app.client, &readyz).await, 200);
    let signup = serde_json::json!({
        "company_name": "Punctual", "slug": "punctual", "admin_email": "boss@punctual.example",
        "admin_password": "a long enough password", "plan": "trial" });
    let response = app
        .client
        .post(format!("{}/api/v1/signup", app.control_plane_url))
        .json(&signup)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        status, 202,
        "ready means a tenant has somewhere to go: {body}"
    );
    app.stop_then(async |db| system_tests::fleet::clean_default_server(&db.url()).await)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_default_server_down_at_start_is_registered_once_it_answers() {
    let (proxy, url) = system_tests::Proxy::in_front_of(Server::primary().admin_url()).await;
    proxy.cut();
    let db = blank_control_database().await;
    let mut settings = test_settings(&db);
    settings.provisioner.default_server_url = Some(Secret::new(url));
    settings.provisioner.default_server_spare_target = 0;
    let app = app::launch(settings, db).await;
    let readyz = format!("{}/readyz", app.control_plane_url);
    let down = app
        .wait_for_status(&readyz, 200, Duration::from_secs(3))
        .await;
    assert_eq!(down, 503, "not ready while `default` cannot be registered");
    proxy.restore();
    let up = app
        .wait_for_status(&readyz, 200, Duration::from_secs(60))
        .await;
    assert_eq!(
        up, 200,
        "registered once the server answers, without a restart"
    );
    app.stop_then(async |db| system_tests::fleet::clean_default_server(&db.url()).await)
        .await
        .unwrap();
}

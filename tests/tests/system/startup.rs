//! Start-up faults: a database that is down (readiness waits, recovers without a restart),
//! a port already taken, and a clean stop.

use common::Secret;
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

//! The binary's configuration contract: a bad value exits 2 naming the key, an unknown key
//! is a warning, `--print-config` redacts secrets.

use std::process::{Command, Output};

fn control_plane(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_control-plane"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("APP_")) {
        command.env_remove(key);
    }
    command
        .env("APP_SECRETS__ENCRYPTION_KEY", TEST_KEY)
        .args(args)
        .envs(env.iter().copied());
    command.output().expect("run control-plane")
}

/// Base64 of 32 bytes: the control plane refuses to start without an encryption key.
const TEST_KEY: &str = "dGVzdC1vbmx5LWtleS0zMi1ieXRlcy1sb25nLi4uLi4=";

#[test]
fn serving_without_an_encryption_key_exits_naming_the_setting() {
    let output = control_plane(&["serve"], &[("APP_SECRETS__ENCRYPTION_KEY", "")]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("secrets.encryption_key"), "{stderr}");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_malformed_value_exits_2_naming_the_key_and_variable() {
    let output = control_plane(
        &["--print-config"],
        &[("APP_CONTROL_PLANE__PORT", "eighty")],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("`control_plane.port`"), "{stderr}");
    assert!(stderr.contains("APP_CONTROL_PLANE__PORT"), "{stderr}");
}

#[test]
fn a_failed_check_exits_2_before_anything_starts() {
    let output = control_plane(&["serve"], &[("APP_DATABASE__URL", "mysql://nope")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("`database.url`"));
}

#[test]
fn a_missing_config_file_exits_2() {
    let output = control_plane(&["--config", "/nonexistent/app.toml", "serve"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("app.toml"));
}

#[test]
fn print_config_shows_the_effective_values_with_secrets_redacted() {
    let output = control_plane(
        &["--print-config"],
        &[
            (
                "APP_DATABASE__URL",
                "postgres://erp:topsecret@db.internal/control",
            ),
            ("APP_BOOTSTRAP__ADMIN_PASSWORD", "a-long-admin-password"),
            ("APP_TENANT_RUNTIME__BASE_DOMAIN", "erp.example.com"),
        ],
    );
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("base_domain = \"erp.example.com\""),
        "{stdout}"
    );
    assert!(stdout.contains("[redacted]"), "{stdout}");
    assert!(!stdout.contains("topsecret"), "{stdout}");
    assert!(!stdout.contains("a-long-admin-password"), "{stdout}");
}

#[test]
fn an_unknown_key_is_named_in_a_warning_and_does_not_stop_the_process() {
    let output = control_plane(&["--print-config"], &[("APP_CONTROL_PLANE__PROT", "9000")]);
    assert_eq!(output.status.code(), Some(0));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("unknown configuration key `control_plane.prot`"),
        "{stderr}"
    );
    assert!(stderr.contains("APP_CONTROL_PLANE__PROT"), "{stderr}");
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Runs `control-plane serve` with its database down and JSON logs, until `done` says so
/// about the log lines seen (or 30 s pass); returns the lines.
fn serve_until(
    env: &[(&str, String)],
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    use std::io::{BufRead, BufReader};
    let mut command = Command::new(env!("CARGO_BIN_EXE_control-plane"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("APP_")) {
        command.env_remove(key);
    }
    let database = format!("postgres://postgres@127.0.0.1:{}/none", closed_port());
    command
        .arg("serve")
        .env("APP_LOG__FORMAT", "json")
        .env("APP_CONTROL_PLANE__PORT", "0")
        .env("APP_DATABASE__URL", database)
        .env("APP_DATABASE__CONNECT_TIMEOUT_SECS", "1")
        .env("APP_SECRETS__ENCRYPTION_KEY", TEST_KEY)
        .env_remove("RUST_LOG")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped());
    let mut child = command.spawn().expect("spawn control-plane");
    let stdout = child.stdout.take().expect("piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut lines = Vec::new();
    while std::time::Instant::now() < deadline && !done(&lines) {
        if let Ok(line) = receiver.recv_timeout(std::time::Duration::from_millis(200)) {
            let parsed = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("a log line is not JSON: {line}"));
            lines.push(parsed);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

fn message(line: &serde_json::Value) -> &str {
    line["message"].as_str().unwrap_or_default()
}

#[test]
fn a_database_down_at_start_is_logged_clearly_and_retried_without_a_panic() {
    let retries = |lines: &[serde_json::Value]| {
        lines
            .iter()
            .filter(|l| message(l).starts_with("database unreachable"))
            .count()
    };
    let lines = serve_until(&[], |lines| retries(lines) >= 2);
    assert!(retries(&lines) >= 2, "expected repeated retries: {lines:?}");
    let first = lines
        .iter()
        .find(|l| message(l).starts_with("database unreachable"))
        .unwrap();
    assert_eq!(first["level"], "WARN");
    assert!(first["retry_in_ms"].as_u64().is_some(), "{first}");
}

#[test]
fn a_taken_port_exits_with_a_message_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = control_plane(&["serve"], &[("APP_CONTROL_PLANE__PORT", &port)]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(stderr.contains("control_plane.port"), "{stderr}");
}

#[test]
fn traces_are_exported_over_otlp_when_an_endpoint_is_set() {
    use std::io::{Read, Write};
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in collector.incoming().map_while(Result::ok) {
            let mut stream = stream;
            let mut buffer = vec![0_u8; 64 * 1024];
            let read = stream.read(&mut buffer).unwrap_or(0);
            let head = String::from_utf8_lossy(&buffer[..read])
                .lines()
                .next()
                .map(str::to_owned);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            let _ = sender.send(head.unwrap_or_default());
        }
    });
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    // Each HTTP request is a span: find the port in the log, make one, wait for an export.
    let exported = std::cell::RefCell::new(None);
    let requested = std::cell::Cell::new(false);
    serve_until(&env, |lines| {
        if !requested.get()
            && let Some(port) = lines.iter().find_map(listening_port)
        {
            requested.set(get_healthz(port));
        }
        if exported.borrow().is_none() {
            *exported.borrow_mut() = receiver.try_recv().ok();
        }
        exported.borrow().is_some()
    });
    let request_line = exported.into_inner().expect("no OTLP export within 30 s");
    assert!(
        request_line.starts_with("POST /v1/traces"),
        "{request_line}"
    );
}

/// The port in actix's "starting service: ..., listening on: 127.0.0.1:PORT" line.
fn listening_port(line: &serde_json::Value) -> Option<u16> {
    let (_, address) = message(line).split_once("listening on: ")?;
    address.rsplit(':').next()?.trim().parse().ok()
}

fn get_healthz(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
    let mut response = String::new();
    stream.read_to_string(&mut response).is_ok() && response.starts_with("HTTP/1.0 200")
}

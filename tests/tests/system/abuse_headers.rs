//! Attacks on how the runtime reads a request's tenant and on its connections, sent as raw
//! HTTP/1.1 over TCP (most of these requests no client library makes): `Host` against
//! `X-Tenant`, `X-Forwarded-Host` and `Forwarded: host=` (ignored unless configured), two
//! `Host` or two `X-Tenant` headers, odd spellings of a host (port, case, trailing dot,
//! user info), and an absolute request target naming another company than `Host`; with
//! `trust_forwarded_host` set (a proxy in front), the forwarded host names the company. Then
//! slow clients: fifty (or `ABUSE_SLOW_CLIENTS`) connections sending their headers a byte a
//! second, half of them after a first whole request on the same (kept-alive) connection,
//! are closed within the configured request timeout while ordinary requests go on being
//! served.

use std::time::{Duration, Instant};
use system_tests::AdminApi;
use system_tests::abuse::{self, EVERY_MODULE, RawReply, report};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What a smuggling attempt must come to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// 4xx, and nothing of company B (`bolts`) in the answer.
    Refused,
    /// 200 for company B: an odd but unambiguous spelling still works.
    ServesBolts,
}

/// `GET {target} HTTP/1.1` with `headers` and `token`, the connection closed after.
fn request(target: &str, headers: &[String], token: &str) -> Vec<u8> {
    let mut text = format!("GET {target} HTTP/1.1\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str(&format!(
        "Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    ));
    text.into_bytes()
}

fn outcome_of(reply: &RawReply) -> Option<Outcome> {
    let shows_bolts = reply.text.contains("\"slug\":\"bolts\"");
    match reply.status {
        200 if shows_bolts => Some(Outcome::ServesBolts),
        400..=499 if !shows_bolts => Some(Outcome::Refused),
        _ => None,
    }
}

#[tokio::test]
async fn the_tenant_is_read_from_host_alone_and_ambiguous_requests_are_refused() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    abuse::every_module_plan(&api).await;
    let acme = api.company("acme", EVERY_MODULE).await;
    let bolts = api.company("bolts", EVERY_MODULE).await;
    let acme_token = api.owner_token(&acme).await;
    let bolts_token = api.owner_token(&bolts).await;
    let address = abuse::address_of(&api.app.tenant_runtime_url);
    let port = address.rsplit(':').next().expect("port").to_owned();
    let me = "/api/v1/me";
    let host = |name: &str| format!("Host: {name}");
    let acme_host = host(&format!("acme.localhost:{port}"));
    let bolts_host = host(&format!("bolts.localhost:{port}"));
    let absolute = format!("http://bolts.localhost:{port}{me}");
    use Outcome::{Refused, ServesBolts};
    // B's token where the attack is to make the runtime serve B while a proxy in front
    // would have read A (or no company).
    let cases: Vec<Case<'_>> = vec![
        (
            "Host A, X-Tenant B",
            me,
            vec![acme_host.clone(), "X-Tenant: bolts".into()],
            &bolts_token,
            Refused,
        ),
        (
            "Host A, X-Tenant ' BOLTS '",
            me,
            vec![acme_host.clone(), "X-Tenant:  BOLTS ".into()],
            &bolts_token,
            Refused,
        ),
        (
            "no company, X-Forwarded-Host B",
            me,
            vec![
                host("127.0.0.1"),
                format!("X-Forwarded-Host: bolts.localhost:{port}"),
            ],
            &bolts_token,
            Refused,
        ),
        (
            "Host A, X-Forwarded-Host B",
            me,
            vec![
                acme_host.clone(),
                format!("X-Forwarded-Host: bolts.localhost:{port}"),
            ],
            &bolts_token,
            Refused,
        ),
        (
            "no company, Forwarded host=B",
            me,
            vec![host("127.0.0.1"), "Forwarded: host=bolts.localhost".into()],
            &bolts_token,
            Refused,
        ),
        (
            "Host A, Forwarded host=B",
            me,
            vec![
                acme_host.clone(),
                "Forwarded: for=1.2.3.4;host=bolts.localhost".into(),
            ],
            &bolts_token,
            Refused,
        ),
        (
            "two Host, A then B",
            me,
            vec![acme_host.clone(), bolts_host.clone()],
            &bolts_token,
            Refused,
        ),
        (
            "two Host, B then A",
            me,
            vec![bolts_host.clone(), acme_host.clone()],
            &bolts_token,
            Refused,
        ),
        (
            "two Host, B twice",
            me,
            vec![bolts_host.clone(), bolts_host.clone()],
            &bolts_token,
            Refused,
        ),
        (
            "two X-Tenant, A then B",
            me,
            vec![
                host("127.0.0.1"),
                "X-Tenant: acme".into(),
                "X-Tenant: bolts".into(),
            ],
            &bolts_token,
            Refused,
        ),
        (
            "absolute target B, Host A",
            &absolute,
            vec![acme_host.clone()],
            &bolts_token,
            Refused,
        ),
        (
            "user info B@A",
            me,
            vec![host(&format!("bolts.localhost@acme.localhost:{port}"))],
            &bolts_token,
            Refused,
        ),
        (
            "user info x@B",
            me,
            vec![host(&format!("x@bolts.localhost:{port}"))],
            &bolts_token,
            Refused,
        ),
        (
            "B under another domain",
            me,
            vec![host("bolts.localhost.evil.example")],
            &bolts_token,
            Refused,
        ),
        (
            "a port that is no number",
            me,
            vec![host("bolts.localhost:http")],
            &bolts_token,
            Refused,
        ),
        (
            "A's token, Host B in capitals",
            me,
            vec![host(&format!("BOLTS.LOCALHOST:{port}"))],
            &acme_token,
            Refused,
        ),
        (
            "A's token, Host B with a trailing dot",
            me,
            vec![host("bolts.localhost.")],
            &acme_token,
            Refused,
        ),
        (
            "A's token, absolute target B",
            &absolute,
            vec![bolts_host.clone()],
            &acme_token,
            Refused,
        ),
        (
            "Host B in capitals",
            me,
            vec![host(&format!("BOLTS.LOCALHOST:{port}"))],
            &bolts_token,
            ServesBolts,
        ),
        (
            "Host B with a trailing dot",
            me,
            vec![host("bolts.localhost.")],
            &bolts_token,
            ServesBolts,
        ),
        (
            "absolute target B, Host B",
            &absolute,
            vec![bolts_host.clone()],
            &bolts_token,
            ServesBolts,
        ),
    ];
    let failures = failed_cases(&address, &cases).await;
    let refused = cases.iter().filter(|case| case.4 == Refused).count();
    report("smuggle_attempts", refused);
    report("smuggle_refused", refused - failures.len().min(refused));
    report("smuggle_controls", cases.len() - refused);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// (what, target, headers, whose token, outcome): one raw request and what it must come to.
type Case<'a> = (&'a str, &'a str, Vec<String>, &'a str, Outcome);

/// Sends each case to the runtime at `address`; what went otherwise than wanted.
async fn failed_cases(address: &str, cases: &[Case<'_>]) -> Vec<String> {
    let mut failures = Vec::new();
    for (what, target, headers, token, wanted) in cases {
        let reply = abuse::raw_request(address, &request(target, headers, token)).await;
        if outcome_of(&reply) != Some(*wanted) {
            failures.push(format!(
                "{what}: wanted {wanted:?}, got {:.400}",
                reply.text
            ));
        }
    }
    failures
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_host_names_the_company() {
    let api = AdminApi::start_with(|settings| {
        settings.tenant_runtime.trust_forwarded_host = true;
    })
    .await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let bolts = api.company("bolts", "starter").await;
    let acme_token = api.owner_token(&acme).await;
    let bolts_token = api.owner_token(&bolts).await;
    let address = abuse::address_of(&api.app.tenant_runtime_url);
    let port = address.rsplit(':').next().expect("port").to_owned();
    let me = "/api/v1/me";
    let proxy = "Host: 127.0.0.1".to_owned();
    let forwarded = |name: &str| format!("X-Forwarded-Host: {name}.localhost:{port}");
    use Outcome::{Refused, ServesBolts};
    let cases: Vec<Case<'_>> = vec![
        (
            "the proxy's X-Forwarded-Host B",
            me,
            vec![proxy.clone(), forwarded("bolts")],
            &bolts_token,
            ServesBolts,
        ),
        (
            "the proxy's Forwarded host=B",
            me,
            vec![proxy.clone(), "Forwarded: host=bolts.localhost".into()],
            &bolts_token,
            ServesBolts,
        ),
        (
            "no forwarded header: Host B",
            me,
            vec![format!("Host: bolts.localhost:{port}")],
            &bolts_token,
            ServesBolts,
        ),
        (
            "A's token, X-Forwarded-Host B",
            me,
            vec![proxy.clone(), forwarded("bolts")],
            &acme_token,
            Refused,
        ),
        (
            "B's token, Host B but X-Forwarded-Host A (the proxy's word wins)",
            me,
            vec![format!("Host: bolts.localhost:{port}"), forwarded("acme")],
            &bolts_token,
            Refused,
        ),
    ];
    let failures = failed_cases(&address, &cases).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The request timeout the slow-client test configures (seconds).
const REQUEST_TIMEOUT_SECS: u64 = 2;

/// How many slow clients: 50, or `ABUSE_SLOW_CLIENTS` (the long run of the reliability
/// suite sends more).
fn slow_clients() -> usize {
    std::env::var("ABUSE_SLOW_CLIENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(50)
}

/// One slow client: connects and sends a request head a byte a second; answers how long
/// the server took to close the connection (`None`: still open after a minute). A
/// `kept_alive` client first sends one whole request and reads its answer on the same
/// connection, so the slow head is the connection's second (actix times only the first).
async fn slow_client(address: String, host: String, kept_alive: bool) -> Option<Duration> {
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connects");
    if kept_alive {
        complete_one_request(&mut stream, &host).await;
    }
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(60)
    );
    let started = Instant::now();
    let mut bytes = head.bytes();
    let mut buffer = [0_u8; 512];
    while started.elapsed() < Duration::from_secs(60) {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                // 408 or a plain close: either way the server gave up on us.
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let byte = bytes.next()?;
                if stream.write_all(&[byte]).await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
    None
}

/// Sends `GET /healthz` whole on `stream` and reads its answer (the body names the status),
/// leaving the connection open for the next request.
async fn complete_one_request(stream: &mut tokio::net::TcpStream, host: &str) {
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("sends");
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 512];
    while !String::from_utf8_lossy(&answer).contains(r#""status":"ok""#) {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("answered within 10 s")
            .expect("reads");
        assert!(read > 0, "closed before answering the first request");
        answer.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
}

#[tokio::test]
async fn slow_clients_are_cut_off_at_the_request_timeout_while_others_are_served() {
    let api = AdminApi::start_with(|settings| {
        settings.tenant_runtime.client_request_timeout_secs = REQUEST_TIMEOUT_SECS;
    })
    .await;
    api.register_primary().await;
    let acme = api.company("acme", "starter").await;
    let token = api.owner_token(&acme).await;
    let address = abuse::address_of(&api.app.tenant_runtime_url);
    let clients = slow_clients();
    // Every other one sends its slow head after a first request on the same connection.
    let slow: Vec<_> = (0..clients)
        .map(|client| {
            let kept_alive = client % 2 == 1;
            tokio::spawn(slow_client(
                address.clone(),
                "acme.localhost".into(),
                kept_alive,
            ))
        })
        .collect();

    let (mut served, mut sent, mut slowest) = (0, 0, Duration::ZERO);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(REQUEST_TIMEOUT_SECS + 2) {
        let asked = Instant::now();
        let reply = api
            .tenant_call(
                "acme",
                reqwest::Method::GET,
                "/api/v1/me",
                Some(&token),
                None,
            )
            .await;
        slowest = slowest.max(asked.elapsed());
        sent += 1;
        served += usize::from(reply.status == 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut closed = Vec::new();
    for client in slow {
        if let Some(after) = client.await.expect("the client task ends") {
            closed.push(after);
        }
    }
    let latest = closed.iter().max().copied().unwrap_or_default();
    report("slow_clients", clients);
    report("slow_kept_alive", clients / 2);
    report("slow_closed", closed.len());
    report("slow_timeout_s", REQUEST_TIMEOUT_SECS);
    report("slow_latest_close_ms", latest.as_millis());
    report("normal_sent", sent);
    report("normal_served", served);
    report("normal_slowest_ms", slowest.as_millis());
    assert_eq!(closed.len(), clients, "slow connections left open");
    // The head alone would take over a minute at this pace: closing well before says the
    // timeout did it (the bound is loose so a busy machine does not fail it).
    assert!(
        latest < Duration::from_secs(REQUEST_TIMEOUT_SECS + 8),
        "closed only after {latest:?}"
    );
    assert_eq!(
        served, sent,
        "ordinary requests failed beside the slow ones"
    );
}

//! What the abuse tests (`tests/tests/system/abuse_*.rs`) share: two companies on a plan
//! with every module, the routes of both OpenAPI documents and of both web interfaces'
//! routers, path templates filled with real ids, raw HTTP/1.1 over TCP for requests a
//! client library will not make, and the `ABUSE key=value` lines the reliability table
//! (`scripts/lib/reliability/abuse.sh`) is made from.

use crate::AdminApi;
use crate::runtime::Company;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Prints one figure for the reliability table (`--nocapture` shows it).
pub fn report(key: &str, value: impl std::fmt::Display) {
    println!("ABUSE {key}={value}");
}

/// The plan both companies are on: every module, limits far above what the tests send,
/// so that what refuses a request is the rule under test, not a missing module or a limit.
pub const EVERY_MODULE: &str = "every-module";

/// Creates [`EVERY_MODULE`] (the primary server must be registered).
pub async fn every_module_plan(api: &AdminApi) {
    let reply = api
        .post(
            "/api/v1/plans",
            json!({ "code": EVERY_MODULE, "name": "Every module",
                    "limits": { "max_users": 10, "max_storage_mb": 1000,
                                "api_requests_per_minute": 60_000,
                                "api_calls_per_month": 1_000_000,
                                "max_concurrent_requests": 50, "max_db_connections": 5 },
                    "features": common::entities::plans::MODULES }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
}

/// One route of an OpenAPI document.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    /// The path template (`/api/v1/items/{id}`).
    pub path: String,
    /// Whether the document says it takes a token.
    pub secured: bool,
}

/// The routes of the OpenAPI document a running service publishes at `url`.
pub async fn openapi_routes(client: &reqwest::Client, url: &str) -> Vec<Route> {
    let document: Value = client
        .get(url)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("an OpenAPI document");
    let mut routes = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            routes.push(Route {
                method: method.to_uppercase().parse().expect("a method"),
                path: path.clone(),
                secured: operation.get("security").is_some(),
            });
        }
    }
    routes
}

/// The GET page routes of the ERP web app, read from its router
/// (`tenant-runtime/src/web/mod.rs`: each `page!("...")` with a `web::get()` route).
pub fn erp_page_routes() -> Vec<String> {
    let source = workspace_file("tenant-runtime/src/web/mod.rs");
    let mut pages = Vec::new();
    for block in source.split("page!(\"").skip(1) {
        let (path, rest) = block.split_once('"').expect("a quoted path");
        let until_next = rest.split("page!(").next().unwrap_or_default();
        if until_next.contains("web::get()") {
            pages.push(path.to_owned());
        }
    }
    pages
}

/// The GET page routes of the admin portal, read from its routers
/// (`control-plane/src/portal/*.rs`: each `.route("...", web::get()...)`).
pub fn portal_page_routes() -> Vec<String> {
    let folder = workspace_path("control-plane/src/portal");
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(folder).expect("the portal's sources") {
        let source = std::fs::read_to_string(entry.expect("entry").path()).expect("source");
        let flat: String = source.split_whitespace().collect();
        for block in flat.split(".route(\"").skip(1) {
            let (path, rest) = block.split_once('"').expect("a quoted path");
            if rest.starts_with(",web::get()") {
                pages.push(path.to_owned());
            }
        }
    }
    pages.sort();
    pages.dedup();
    pages
}

fn workspace_path(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn workspace_file(relative: &str) -> String {
    std::fs::read_to_string(workspace_path(relative)).expect("a workspace source file")
}

/// Real ids of one company's records, by the listing path they came from
/// (`/api/v1/items` -> the items' ids), to fill path templates with.
#[derive(Debug, Default)]
pub struct Ids(pub BTreeMap<String, Vec<String>>);

impl Ids {
    /// GETs every parameterless GET route of `routes` as the company's owner and keeps the
    /// ids each listing holds.
    pub async fn harvest(api: &AdminApi, company: &Company, token: &str, routes: &[Route]) -> Ids {
        let mut ids = Ids::default();
        for route in routes {
            if route.method != Method::GET || route.path.contains('{') || !route.secured {
                continue;
            }
            let reply = api
                .tenant_call(&company.slug, Method::GET, &route.path, Some(token), None)
                .await;
            let found = listed_ids(&reply.body);
            if !found.is_empty() {
                ids.0.insert(route.path.clone(), found);
            }
        }
        ids
    }

    /// Every id held, for the leak check.
    pub fn all(&self) -> Vec<&str> {
        self.0.values().flatten().map(String::as_str).collect()
    }

    /// A real id for the parameter that follows `prefix` (`/api/v1/items` or `/items`):
    /// from the listing at that path, or one whose last segment is the same.
    fn for_prefix(&self, prefix: &str) -> Option<&str> {
        let api_path = if prefix.starts_with("/api/") {
            prefix.to_owned()
        } else {
            format!("/api/v1{prefix}")
        };
        let last = prefix.rsplit('/').next().unwrap_or_default();
        self.0
            .get(&api_path)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(path, _)| path.rsplit('/').next() == Some(last))
                    .map(|(_, ids)| ids)
            })
            .and_then(|ids| ids.first())
            .map(String::as_str)
    }

    /// `template` with each `{param}` filled: the first alternative of a `{a:x|y}` pattern,
    /// a real id of the listing before it where there is one, else a random uuid.
    pub fn fill(&self, template: &str) -> String {
        let mut filled = String::new();
        for segment in template.split('/').skip(1) {
            let value = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                None => segment.to_owned(),
                Some(param) => match param.split_once(':') {
                    Some((_, pattern)) => pattern.split('|').next().unwrap_or(pattern).to_owned(),
                    None => self
                        .for_prefix(&filled)
                        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
                },
            };
            filled.push('/');
            filled.push_str(&value);
        }
        filled
    }
}

/// The ids of a listing's records: a top-level array, or the first array field.
fn listed_ids(body: &Value) -> Vec<String> {
    let list = match body {
        Value::Array(items) => Some(items),
        Value::Object(fields) => fields.values().find_map(Value::as_array),
        _ => None,
    };
    list.into_iter()
        .flatten()
        .filter_map(|record| record["id"].as_str().map(str::to_owned))
        .collect()
}

/// Fills a company with a few records whose names carry `marker`, so a reply that shows
/// any of them is caught as a leak.
pub async fn seed(api: &AdminApi, company: &Company, token: &str, marker: &str) {
    let slug = &company.slug;
    let records = [
        (
            "/api/v1/items",
            json!({ "sku": format!("{marker}-SKU"), "name": format!("{marker} item"),
                    "kind": "raw", "base_unit": "pcs", "reorder_point": "10" }),
        ),
        (
            "/api/v1/partners",
            json!({ "code": format!("{marker}-P"), "name": format!("{marker} partner"),
                    "is_customer": true }),
        ),
        (
            "/api/v1/warehouses",
            json!({ "code": "WH1", "name": format!("{marker} warehouse") }),
        ),
        (
            "/api/v1/kanban/boards",
            json!({ "name": format!("{marker} board") }),
        ),
    ];
    for (path, body) in records {
        let reply = api
            .tenant_call(slug, Method::POST, path, Some(token), Some(body))
            .await;
        assert!(reply.status < 300, "seeding {path}: {:?}", reply.body);
    }
}

/// A reply to a raw request.
#[derive(Debug)]
pub struct RawReply {
    /// 0 when the server closed without answering.
    pub status: u16,
    pub text: String,
}

/// Sends `request` as is over a new TCP connection to `address` (`127.0.0.1:port`) and
/// reads until the server closes (ten seconds at most).
pub async fn raw_request(address: &str, request: &[u8]) -> RawReply {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    stream.write_all(request).await.expect("written");
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes)).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    RawReply { status, text }
}

/// Sends `head` (ending in the blank line, with `Transfer-Encoding: chunked`), then `body`
/// in 64 KiB chunks while reading the answer: a server that answers before the body ends
/// and closes is read all the same. Ten seconds at most.
pub async fn raw_chunked(address: &str, head: &str, body: &[u8]) -> RawReply {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    let mut chunks = Vec::with_capacity(body.len() + body.len() / 1000 + 64);
    for chunk in body.chunks(64 * 1024) {
        chunks.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunks.extend_from_slice(chunk);
        chunks.extend_from_slice(b"\r\n");
    }
    chunks.extend_from_slice(b"0\r\n\r\n");
    let head = head.as_bytes().to_vec();
    let writing = tokio::spawn(async move {
        // A server that has answered may close mid-body: the error is expected then.
        if writer.write_all(&head).await.is_ok() {
            let _ = writer.write_all(&chunks).await;
        }
        writer
    });
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut bytes)).await;
    writing.abort();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    RawReply { status, text }
}

impl RawReply {
    /// The problem+json `code` of the answer, if it is one.
    pub fn problem_code(&self) -> Option<String> {
        let (head, body) = self.text.split_once("\r\n\r\n")?;
        if !head
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json")
        {
            return None;
        }
        let value: Value = serde_json::from_str(body.trim()).ok()?;
        value["code"].as_str().map(str::to_owned)
    }
}

/// `127.0.0.1:port` of a service's `http://127.0.0.1:port` URL.
pub fn address_of(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Whether `text` shows any of `secrets` (a record's id or name of another company).
pub fn leaks(text: &str, secrets: &[&str]) -> Option<String> {
    secrets
        .iter()
        .find(|secret| !secret.is_empty() && text.contains(*secret))
        .map(|secret| (*secret).to_owned())
}

//! Structure-aware cases built from fuzzer bytes: each choice (a piece of a name, a
//! timestamp offset, which secret signs) is read from the bytes, so a mutation of the
//! bytes is a small change of the case. Pieces are the characters and words parsers
//! tend to get wrong (case, whitespace, control and non-ASCII characters, separators).

use arbitrary::Unstructured;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Write as _;

const SLUG_PIECES: &[&str] = &[
    "a",
    "b",
    "z",
    "0",
    "9",
    "-",
    "--",
    "A",
    "Z",
    "_",
    " ",
    "\t",
    ".",
    "é",
    "\u{212a}",
    "ß",
    "acme",
    "test",
    "www",
    "LOCALHOST",
    "x",
    "\u{0}",
];

const EMAIL_PIECES: &[&str] = &[
    "a",
    "B",
    "0",
    ".",
    "@",
    "-",
    "+",
    "_",
    " ",
    "\t",
    "\u{1}",
    "\u{7f}",
    "\u{0}",
    "\u{85}",
    "\u{2028}",
    "é",
    "İ",
    "ẞ",
    "\"",
    "(",
    "example",
    "com",
    "\u{feff}",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

const BASE_DOMAINS: &[&str] = &["localhost", "erp.example.com", "Erp.Example.COM.", "x.io"];

const HOST_SUFFIXES: &[&str] = &["", ":8443", ":", ":abc", ".", ".:80", ":80:80"];

const CSV_COLUMNS: &[&str] = &["sku", "name", "kind", "active"];

const CSV_PIECES: &[&str] = &[
    "", "a", "Bolt", ",", "\"", "\n", "\r", "\r\n", "=", "+", "-", "@", "'", "\t", " ", "é",
    "\u{feff}", "\u{0}", "#", ";",
];

const SECRETS: &[&str] = &["whsec_live", "whsec_rotated", "", "s3cr3t", "whsec_é"];

/// Signs in the structured cases but is never configured.
const UNCONFIGURED_SECRET: &str = "whsec_never_configured";

const PAYLOADS: &[&str] = &[
    r#"{"id":"evt_1","object":"event","type":"invoice.paid","created":1764000000,"livemode":false,"api_version":"2025-09-30.clover","pending_webhooks":1,"request":null,"data":{"object":{"id":"in_1","object":"invoice","customer":"cus_1"}}}"#,
    "{}",
    "",
    "not json",
    "{\"id\":",
];

const HEADER_PIECES: &[&str] = &[
    "t=",
    "v1=",
    "v0=",
    ",",
    "=",
    "1",
    "-",
    "9223372036854775807",
    "abc",
    "0f",
    " ",
    "t=1",
];

const DECOYS: &[&str] = &["v0=abc", "v1=00", "v1=zz", "x=1", "v1=", "v1=DEADBEEF"];

/// The rest of the bytes as text, or (when the first says so) a case `shaped` builds.
pub fn text_or(u: &mut Unstructured<'_>, shaped: fn(&mut Unstructured<'_>) -> String) -> String {
    if u.arbitrary::<bool>().unwrap_or(false) {
        shaped(u)
    } else {
        let rest = u.len();
        String::from_utf8_lossy(u.bytes(rest).unwrap_or_default()).into_owned()
    }
}

pub fn slug_like(u: &mut Unstructured<'_>) -> String {
    pieces(u, SLUG_PIECES, 45)
}

pub fn email_like(u: &mut Unstructured<'_>) -> String {
    pieces(u, EMAIL_PIECES, 24)
}

/// A request's names for its tenant.
#[derive(Debug)]
pub struct ResolutionCase {
    pub host: Option<String>,
    pub header: Option<String>,
    pub base: &'static str,
}

pub fn resolution_case(u: &mut Unstructured<'_>) -> ResolutionCase {
    let base = choose(u, BASE_DOMAINS);
    let label = slug_like(u);
    let host = match u.int_in_range(0..=2u8).unwrap_or(0) {
        0 => None,
        1 => Some(text_or(u, slug_like)),
        _ => Some(format!(
            "{label}.{}{}",
            vary_case(u, base),
            choose(u, HOST_SUFFIXES)
        )),
    };
    let header = match u.int_in_range(0..=3u8).unwrap_or(0) {
        0 => None,
        1 => Some(slug_like(u)),
        // The host's own label, perhaps in other case or padded: they should agree.
        2 => Some(format!(
            "{}{}{}",
            choose(u, &["", " "]),
            vary_case(u, &label),
            choose(u, &["", " ", "\t"])
        )),
        _ => Some(String::new()),
    };
    ResolutionCase { host, header, base }
}

/// The first one to four of the import's columns.
pub fn csv_columns(u: &mut Unstructured<'_>) -> Vec<&'static str> {
    let count = u.int_in_range(1..=CSV_COLUMNS.len()).unwrap_or(1);
    CSV_COLUMNS[..count].to_vec()
}

pub fn csv_rows(u: &mut Unstructured<'_>, width: usize) -> Vec<Vec<String>> {
    let count = u.int_in_range(0..=6usize).unwrap_or(0);
    (0..count)
        .map(|_| (0..width).map(|_| pieces(u, CSV_PIECES, 4)).collect())
        .collect()
}

/// A delivery: the configured secrets, the clock, the body and its `Stripe-Signature`;
/// `signed_at` is the header's timestamp when a configured secret signed it.
#[derive(Debug)]
pub struct SignatureCase {
    pub secrets: Vec<String>,
    pub now: i64,
    pub payload: String,
    pub header: String,
    pub signed_at: Option<i64>,
}

pub fn signature_case(u: &mut Unstructured<'_>) -> SignatureCase {
    let count = u.int_in_range(1..=3usize).unwrap_or(1);
    let secrets: Vec<String> = (0..count).map(|_| choose(u, SECRETS).to_owned()).collect();
    let now = match u.int_in_range(0..=3u8).unwrap_or(0) {
        0 => 1_764_000_000 + u.int_in_range(0..=10_000_000i64).unwrap_or(0),
        1 => u.arbitrary().unwrap_or(0),
        2 => i64::MIN,
        _ => i64::MAX,
    };
    let payload = match u.int_in_range(0..=PAYLOADS.len()).unwrap_or(0) {
        index if index < PAYLOADS.len() => PAYLOADS[index].to_owned(),
        _ => pieces(u, HEADER_PIECES, 8),
    };
    if u.arbitrary::<bool>().unwrap_or(false) {
        let header = text_or(u, |u| pieces(u, HEADER_PIECES, 12));
        return SignatureCase {
            secrets,
            now,
            payload,
            header,
            signed_at: None,
        };
    }
    let signer = u.int_in_range(0..=secrets.len()).unwrap_or(0);
    let key = secrets
        .get(signer)
        .map_or(UNCONFIGURED_SECRET, String::as_str);
    let offset = match u.int_in_range(0..=3u8).unwrap_or(0) {
        0 => u.int_in_range(-400..=400i64).unwrap_or(0),
        1 => u.arbitrary().unwrap_or(0),
        2 => i64::MIN,
        _ => choose(u, &[300, -300, 301, -301, i64::MAX]),
    };
    let t = now.wrapping_add(offset);
    let mut pairs = vec![
        format!("t={t}"),
        format!("v1={}", stripe_hmac(key, t, &payload)),
    ];
    for _ in 0..u.int_in_range(0..=3u8).unwrap_or(0) {
        let at = u.int_in_range(0..=pairs.len()).unwrap_or(0);
        pairs.insert(at, choose(u, DECOYS).to_owned());
    }
    let header = pairs.join(",");
    let signed_at = (signer < secrets.len()).then_some(t);
    SignatureCase {
        secrets,
        now,
        payload,
        header,
        signed_at,
    }
}

/// Stripe's scheme, written out independently of async-stripe: hex of HMAC-SHA256 keyed by
/// the secret's bytes over `{t}.{payload}`.
fn stripe_hmac(secret: &str, t: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{payload}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

fn pieces(u: &mut Unstructured<'_>, alphabet: &[&str], max: usize) -> String {
    let count = u.int_in_range(0..=max).unwrap_or(0);
    (0..count).map(|_| choose(u, alphabet)).collect()
}

fn choose<T: Copy>(u: &mut Unstructured<'_>, items: &[T]) -> T {
    *u.choose(items).unwrap_or(&items[0])
}

/// `text` with each ASCII letter's case picked by the bytes.
fn vary_case(u: &mut Unstructured<'_>, text: &str) -> String {
    text.chars()
        .map(|c| {
            if u.arbitrary::<bool>().unwrap_or(false) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

//! The properties the fuzz targets in `fuzz/` check, one function per target, each taking
//! the fuzzer's raw bytes and panicking when a property breaks. The first byte picks raw
//! input (the bytes as text) or a structure-aware case built from the rest ([`shape`]), so
//! that mutations reach the interesting corners (a right signature with a far timestamp,
//! a host and a header that almost agree) and not only garbage. `harness` runs the same
//! functions under `cargo test` on stable, over the committed corpus and seeded inputs.

mod shape;

#[cfg(test)]
mod harness;

use crate::csv::{Records, Unreadable, encode};
use crate::names::{EMAIL_PATTERN, TenantSlug, normalize_email, slug_pattern};
use crate::stripe::{Rejected, verify};
use crate::tenant::{Resolution, resolve};
use arbitrary::Unstructured;
use regex::Regex;
use std::sync::OnceLock;

/// A target's name (as in `fuzz/fuzz_targets/` and `fuzz/corpus/`) and property.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("slug", slug),
    ("email", email),
    ("tenant_resolution", tenant_resolution),
    ("csv_import", csv_import),
    ("stripe_signature", stripe_signature),
];

/// A slug is accepted exactly when its normalized form (trimmed, lowered) matches the
/// pattern the OpenAPI documents state, and an accepted slug parses to itself.
pub fn slug(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let input = shape::text_or(&mut u, shape::slug_like);
    let normalized = input.trim().to_ascii_lowercase();
    let documented = documented_slug(&normalized);
    match TenantSlug::parse(&input) {
        Ok(slug) => {
            assert_eq!(
                slug.as_str(),
                normalized,
                "{input:?} parsed to another name"
            );
            assert!(
                documented,
                "{input:?} accepted, but the documented pattern refuses it"
            );
            assert_eq!(TenantSlug::parse(slug.as_str()).as_ref(), Ok(&slug));
        }
        Err(error) => assert!(
            !documented,
            "{input:?} matches the documented pattern but is refused: {error}"
        ),
    }
}

/// An accepted address is normalized for good (normalizing it again changes nothing), has
/// one `@`, no whitespace or control character, fits 254 bytes, and matches the documented
/// pattern when it is ASCII; every address matching that pattern is accepted.
pub fn email(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let input = shape::text_or(&mut u, shape::email_like);
    let pattern = regex(&EMAIL_PATTERN_CELL, EMAIL_PATTERN);
    let accepted = normalize_email(&input);
    if let Some(address) = &accepted {
        assert_eq!(
            normalize_email(address).as_ref(),
            Some(address),
            "{input:?}"
        );
        assert!(address.len() <= 254, "{input:?}");
        assert_eq!(address.matches('@').count(), 1, "{input:?}");
        assert!(
            !address.chars().any(|c| c.is_whitespace() || c.is_control()),
            "{input:?} accepted as {address:?}, with whitespace or a control character"
        );
        assert!(
            !address.is_ascii() || pattern.is_match(address),
            "{input:?} accepted as {address:?}, which the documented pattern refuses"
        );
    }
    if input.len() <= 254 && pattern.is_match(&input) {
        assert!(
            accepted.is_some(),
            "{input:?} matches the documented pattern but is refused"
        );
    }
}

/// The host and the `X-Tenant` header, each alone and both together: a tenant found
/// together is a valid slug that neither names differently alone; when each alone names
/// the same tenant, together they name it too; a conflict needs two different names.
pub fn tenant_resolution(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let case = shape::resolution_case(&mut u);
    let (host, header, base) = (case.host.as_deref(), case.header.as_deref(), case.base);
    let together = resolve(host, header, base);
    let by_host = resolve(host, None, base);
    let by_header = resolve(None, header, base);
    let context = format!("host {host:?}, X-Tenant {header:?}, base {base:?}: {together:?}");
    match &together {
        Resolution::Tenant(name) => {
            let canonical = TenantSlug::parse(name).map(|slug| slug.as_str() == name);
            assert_eq!(canonical, Ok(true), "{context}: not a canonical slug");
            for alone in [&by_host, &by_header] {
                assert!(
                    matches!(alone, Resolution::Missing)
                        || *alone == Resolution::Tenant(name.clone()),
                    "{context}, but alone {alone:?}"
                );
            }
        }
        Resolution::Conflict { host, header } => {
            assert_ne!(host, header, "{context}");
            assert!(by_host != Resolution::Missing && by_header != Resolution::Missing);
        }
        Resolution::Missing => {
            assert_eq!(
                (&by_host, &by_header),
                (&Resolution::Missing, &Resolution::Missing)
            );
        }
        Resolution::Unknown(name) => {
            let canonical = TenantSlug::parse(name).is_ok_and(|slug| slug.as_str() == name);
            assert!(!canonical, "{context}: a valid slug called unknown");
        }
    }
    if let (Resolution::Tenant(a), Resolution::Tenant(b)) = (&by_host, &by_header) {
        let expected = if a == b {
            Resolution::Tenant(a.clone())
        } else {
            Resolution::Conflict {
                host: a.clone(),
                header: b.clone(),
            }
        };
        assert_eq!(together, expected, "{context}");
    }
}

/// A CSV import never panics; rows written by the export are read back exactly (formula
/// neutralizing undone), and whatever rows an upload yields, written out and read again,
/// are the same rows.
pub fn csv_import(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let columns = shape::csv_columns(&mut u);
    if u.arbitrary::<bool>().unwrap_or(false) {
        let rows = shape::csv_rows(&mut u, columns.len());
        let body = export(&columns, &rows);
        assert_eq!(
            read_back(&body, &columns),
            rows,
            "rows {rows:?} as {body:?}"
        );
        rereads_the_same(&body, &columns);
    } else {
        rereads_the_same(u.take_rest(), &columns);
    }
}

/// A `Stripe-Signature` made with a configured secret is accepted exactly when its
/// timestamp is within 300 s of now (else `stale_signature`); one made with any other
/// secret, or none, is refused as invalid; nothing panics, whatever the clock or header.
pub fn stripe_signature(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let case = shape::signature_case(&mut u);
    let outcome = verify(&case.payload, &case.header, &case.secrets, case.now);
    let context = format!("{case:?}: {outcome:?}");
    match case.signed_at {
        Some(t) if (i128::from(case.now) - i128::from(t)).abs() <= 300 => {
            assert!(outcome.is_ok(), "{context}")
        }
        Some(_) => assert_eq!(outcome, Err(Rejected::StaleTimestamp), "{context}"),
        None => assert!(
            matches!(
                outcome,
                Err(Rejected::BadSignature | Rejected::MalformedSignature)
            ),
            "{context}"
        ),
    }
}

/// `columns` then `rows`, as the export writes them.
fn export(columns: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let header = columns.iter().map(|column| (*column).to_owned()).collect();
    let all: Vec<Vec<String>> = std::iter::once(header)
        .chain(rows.iter().cloned())
        .collect();
    encode(&all).expect("writing CSV to memory cannot fail")
}

/// Every row of `body`, which must all be readable.
fn read_back(body: &[u8], columns: &[&str]) -> Vec<Vec<String>> {
    let rows = read(body, columns).expect("the export's own header is accepted");
    rows.into_iter()
        .map(|row| row.unwrap_or_else(|error| panic!("an exported row is unreadable: {error:?}")))
        .collect()
}

/// The rows of `body` (each read or why not), or `None` when its header is refused; line
/// numbers grow.
fn read(body: &[u8], columns: &[&str]) -> Option<Vec<Result<Vec<String>, Unreadable>>> {
    let mut records = Records::open(body, columns).ok()?;
    let mut rows = Vec::new();
    let mut last_line = 1;
    while let Some(next) = records.next_record() {
        let line = next
            .as_ref()
            .map_or_else(|error| error.line, |record| record.line);
        if next.is_ok() {
            assert!(
                line > last_line,
                "line {line} after {last_line} in {body:?}"
            );
            last_line = line;
        }
        rows.push(next.map(|record| record.cells));
        // A reader that keeps failing at the same place would loop for ever.
        assert!(
            rows.len() <= body.len() + 1,
            "more rows than bytes in {body:?}"
        );
    }
    Some(rows)
}

fn rereads_the_same(body: &[u8], columns: &[&str]) {
    let Some(rows) = read(body, columns) else {
        return;
    };
    let good: Vec<Vec<String>> = rows.into_iter().filter_map(Result::ok).collect();
    let again = export(columns, &good);
    assert_eq!(
        read_back(&again, columns),
        good,
        "{body:?} rewritten as {again:?}"
    );
}

static SLUG_CELL: OnceLock<(Regex, Regex)> = OnceLock::new();
static EMAIL_PATTERN_CELL: OnceLock<Regex> = OnceLock::new();

fn regex<'a>(cell: &'a OnceLock<Regex>, pattern: &str) -> &'a Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("a documented pattern compiles"))
}

/// Whether `slug` matches [`slug_pattern`]. The `regex` crate has no look-ahead, so the
/// pattern's `^(?!(?:RESERVED)$)REST` is taken apart: REST must match, RESERVED not.
fn documented_slug(slug: &str) -> bool {
    let (rest, reserved) = SLUG_CELL.get_or_init(|| {
        let pattern = slug_pattern();
        let inner = pattern
            .strip_prefix("^(?!(?:")
            .expect("the slug pattern starts with its look-ahead");
        let (reserved, rest) = inner.split_once(")$)").expect("the look-ahead closes");
        let compile = |p: String| Regex::new(&p).expect("a documented pattern compiles");
        (
            compile(format!("^{rest}")),
            compile(format!("^(?:{reserved})$")),
        )
    });
    rest.is_match(slug) && !reserved.is_match(slug)
}

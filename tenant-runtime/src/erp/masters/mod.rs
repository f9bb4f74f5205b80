//! Master data: units, categories, items, partners, warehouses and their locations. Each
//! submodule owns one resource's rules (validation, reads, writes with their audit entry)
//! as library functions taking a connection or the caller's transaction, so the JSON API
//! (`crate::api`) and the web app call the same code. Shared here: list paging and the
//! text checks the tables' CHECK constraints mirror (so bad input is a 422, never a 500).

pub mod categories;
pub mod items;
pub mod partners;
pub mod units;
pub mod warehouses;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::api_error::{ApiError, ApiResult};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A page of a list: pass `next` as `after` for the following page (`null`: the last).
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `?limit=&after=`: keyset paging (no offsets, so any page costs the same).
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next` of the previous page (opaque: only one this API gave out).
    pub after: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> ApiResult<i64> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            Some(_) => Err(ApiError::invalid(
                "limit",
                format!("must be 1 to {MAX_LIMIT}"),
            )),
        }
    }

    /// The key the page starts after (the sort key of the last row of the previous page).
    pub fn after(&self) -> ApiResult<Option<String>> {
        self.after.as_deref().map(decode_cursor).transpose()
    }
}

/// The opaque cursor for sort key `key`.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(cursor: &str) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        // Postgres text cannot hold NUL: a forged cursor with one would be a 500.
        .filter(|key| !key.contains('\0'))
        .ok_or_else(|| ApiError::invalid("after", "is not a cursor this API gave out"))
}

/// A page from up to `limit + 1` rows (the extra one only says there is more).
pub fn page<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more
        .then(|| rows.last().map(|row| encode_cursor(&key(row))))
        .flatten();
    Page { items: rows, next }
}

/// A code (SKU, partner code, ...): a letter or digit, then letters, digits, `_./-`, at
/// most `max` characters, as the tables' CHECKs require.
pub fn check_code(value: &str, max: usize) -> Result<(), String> {
    let mut bytes = value.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok =
        bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-'));
    if first_ok && rest_ok && value.len() <= max {
        Ok(())
    } else {
        Err(format!(
            "1 to {max} characters: letters, digits, `_`, `.`, `/`, `-`, starting with a letter or digit"
        ))
    }
}

/// A name: 1 to `max` characters, not only spaces. Kept as typed (HTML included: escaping
/// is the page's job).
pub fn check_name(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    check_text(value, max)
}

/// Free text of at most `max` characters (Postgres counts characters, not bytes).
pub fn check_text(value: &str, max: usize) -> Result<(), String> {
    if value.contains('\0') {
        return Err("may not contain a NUL character".into());
    }
    if value.chars().count() > max {
        return Err(format!("at most {max} characters"));
    }
    Ok(())
}

/// For PATCH fields that may be set to `null`: absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Postgres's text pattern for `%` wildcards is not needed: searches use `strpos`.
pub fn search_term(q: Option<&str>) -> Option<String> {
    q.map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_table_check() {
        assert!(check_code("AB-12/x.y_z", 64).is_ok());
        assert!(check_code("-AB", 64).is_err());
        assert!(check_code("", 64).is_err());
        assert!(check_code("a b", 64).is_err());
        assert!(check_code(&"a".repeat(65), 64).is_err());
    }

    #[test]
    fn names_may_hold_html_but_not_only_spaces() {
        assert!(check_name("<b>Bolt</b>", 200).is_ok());
        assert!(check_name("   ", 200).is_err());
        assert!(check_name(&"é".repeat(200), 200).is_ok());
    }

    #[test]
    fn a_page_cursor_names_the_last_row_and_round_trips() {
        let full = page(vec!["a", "b", "c"], 2, |s| (*s).to_owned());
        assert_eq!(full.items, vec!["a", "b"]);
        let query = PageQuery {
            limit: None,
            after: full.next,
        };
        assert_eq!(query.after().unwrap().as_deref(), Some("b"));
        let forged = PageQuery {
            limit: None,
            after: Some("!!".into()),
        };
        assert!(forged.after().is_err());
        let nul = PageQuery {
            limit: None,
            after: Some(encode_cursor("a\0b")),
        };
        assert!(nul.after().is_err());
    }
}

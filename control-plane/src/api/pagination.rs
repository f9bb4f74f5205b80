//! Lists: `{"items": [...], "next_cursor": ...}` with keyset pagination. A cursor is the
//! opaque (base64url) key of the last item returned; the next page starts after it, so
//! rows inserted meanwhile never shift pages or repeat items.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::api_error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// `?limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page (opaque: only one this API gave out).
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> ApiResult<u64> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            Some(_) => Err(ApiError::invalid(
                "limit",
                format!("must be 1 to {MAX_LIMIT}"),
            )),
        }
    }

    /// The key the page starts after, parsed with `parse`.
    pub fn after<K>(&self, parse: impl Fn(&str) -> Option<K>) -> ApiResult<Option<K>> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|key| parse(&key))
            .map(Some)
            .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor this API gave out"))
    }
}

/// Builds a page from up to `limit + 1` rows: the extra row only says there is more.
pub fn page<R, T>(
    mut rows: Vec<R>,
    limit: u64,
    key: impl Fn(&R) -> String,
    view: impl Fn(&R) -> T,
) -> Page<T> {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| rows.last().map(|row| URL_SAFE_NO_PAD.encode(key(row))))
        .flatten();
    Page {
        items: rows.iter().map(view).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_refused() {
        let full = page(vec![1, 2, 3], 2, ToString::to_string, |n| *n);
        assert_eq!(full.items, vec![1, 2]);
        let query = PageQuery {
            limit: None,
            cursor: full.next_cursor,
        };
        assert_eq!(
            query.after(|k| k.parse::<i32>().ok()).expect("valid"),
            Some(2)
        );
        let forged = PageQuery {
            limit: None,
            cursor: Some("!!".into()),
        };
        assert!(forged.after(|k| k.parse::<i32>().ok()).is_err());
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        let last = page(vec![1, 2], 2, ToString::to_string, |n| *n);
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn limits_are_bounded() {
        let query = |limit| PageQuery {
            limit: Some(limit),
            cursor: None,
        };
        assert!(query(0).limit().is_err());
        assert!(query(MAX_LIMIT + 1).limit().is_err());
        assert_eq!(query(10).limit().expect("ok"), 10);
    }
}

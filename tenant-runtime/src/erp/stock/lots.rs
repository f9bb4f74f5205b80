//! A lot's status, which decides whether its stock may move: `available` (the only one
//! that may be issued, delivered, transferred, reserved or allocated), `held` (an open
//! inspection holds it until it is decided), `quarantined` (segregated after a failed
//! inspection or by hand, until released or scrapped) and `scrapped`. Every stock path
//! asks here: a named lot that is not available is refused, and first-expired-first-out
//! picking and availability count only available lots ([`USABLE`]).

use common::api_error::{ApiError, ApiResult};
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// SQL condition on a balance row `b` (with its lot joined as `t`, `LEFT JOIN lots t ON
/// t.id = b.lot_id`): stock that may leave or be promised. Stock of items without lots
/// always may.
pub const USABLE: &str = "(b.lot_id IS NULL OR t.status = 'available')";

/// The statuses a lot can have (the `lots.status` CHECK holds only these).
pub const STATUSES: [&str; 4] = ["available", "held", "quarantined", "scrapped"];

/// 409 unless the lot's stock may move: `lot_quarantined`, `lot_held` or `lot_scrapped`
/// (404 `lot_not_found` for an unknown lot). Locks the lot row, so a quarantine racing
/// an issue of the same lot waits for it (or it for the quarantine).
pub async fn ensure_usable(db: &impl GenericClient, lot_id: Uuid) -> ApiResult<()> {
    let status: String = db
        .query_opt(
            "SELECT status FROM lots WHERE id = $1 FOR SHARE",
            &[&lot_id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("lot_not_found", "no lot has this id"))?
        .get(0);
    refusal(&status).map_or(Ok(()), Err)
}

/// Why stock of a lot in `status` may not move, if it may not.
pub fn refusal(status: &str) -> Option<ApiError> {
    let (code, detail) = match status {
        "available" => return None,
        "held" => (
            "lot_held",
            "this lot is held until its inspection is decided",
        ),
        "scrapped" => ("lot_scrapped", "this lot has been scrapped"),
        _ => (
            "lot_quarantined",
            "this lot is in quarantine until someone releases or scraps it",
        ),
    };
    Some(ApiError::conflict(code, detail))
}

/// Locks the lot row for the rest of the caller's transaction and answers its status;
/// 404 `lot_not_found`.
pub async fn lock(db: &impl GenericClient, lot_id: Uuid) -> ApiResult<String> {
    let row = db
        .query_opt(
            "SELECT status FROM lots WHERE id = $1 FOR UPDATE",
            &[&lot_id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("lot_not_found", "no lot has this id"))?;
    Ok(row.get(0))
}

/// Sets the status of a lot the caller has locked ([`lock`]).
pub async fn set_status(db: &impl GenericClient, lot_id: Uuid, status: &str) -> ApiResult<()> {
    db.execute(
        "UPDATE lots SET status = $2 WHERE id = $1",
        &[&lot_id, &status],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_available_lot_may_move() {
        assert!(refusal("available").is_none());
        for status in ["held", "quarantined", "scrapped"] {
            assert!(refusal(status).is_some(), "{status}");
        }
    }

    #[test]
    fn each_refusal_names_its_status() {
        let code = |status| match refusal(status) {
            Some(ApiError::Client(problem)) => Some(problem.code),
            _ => None,
        };
        assert_eq!(code("quarantined").as_deref(), Some("lot_quarantined"));
        assert_eq!(code("held").as_deref(), Some("lot_held"));
        assert_eq!(code("scrapped").as_deref(), Some("lot_scrapped"));
    }
}

//! Business events (an order confirmed, goods received, stock below its reorder point...)
//! that outbound webhooks deliver to the endpoints a company registered. A change raises
//! its events with [`emit`] inside its own transaction, so an event exists exactly when
//! the change committed; delivery happens later, outside the request.

use common::api_error::ApiResult;
use serde_json::Value;

/// Records `event` (a dotted name such as `stock.below_reorder_point`) with its `data` for
/// delivery, in the caller's transaction.
///
/// Not yet delivered anywhere: the outbox and its delivery worker are being built (issue
/// 15's outbound webhooks); until then raising an event changes nothing.
pub async fn emit(
    _db: &impl tokio_postgres::GenericClient,
    _event: &str,
    _data: Value,
) -> ApiResult<()> {
    Ok(())
}

//! Stock held back for documents (sales orders next), per item and warehouse: available =
//! on hand in the warehouse's available lots - reserved there (stock of a held,
//! quarantined or scrapped lot is never promised). Reserving locks the item's balance rows of
//! the warehouse first, so two reservations (or a reservation and an issue) of the same
//! stock queue, and the second sees what the first took: they never over-reserve.

use common::api_error::{ApiError, ApiResult};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// What to hold back, and for which document line.
#[derive(Debug, Clone)]
pub struct ReservationRequest {
    pub item_id: Uuid,
    pub warehouse_id: Uuid,
    /// In the item's base unit.
    pub quantity: Decimal,
    pub document_type: String,
    pub document_id: String,
    pub document_line: Option<i32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reservation {
    pub id: Uuid,
    pub item_id: Uuid,
    pub warehouse_id: Uuid,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    pub document_type: String,
    pub document_id: String,
    pub document_line: Option<i32>,
}

/// On hand in available lots (held, quarantined and scrapped lots are not) minus
/// reserved, for the item in the warehouse (locks nothing).
pub async fn available(
    db: &impl GenericClient,
    item_id: Uuid,
    warehouse_id: Uuid,
) -> ApiResult<Decimal> {
    let row = db
        .query_one(
            &format!(
                "SELECT coalesce((SELECT sum(b.on_hand) FROM stock_balances b \
                                  JOIN locations l ON l.id = b.location_id \
                                  LEFT JOIN lots t ON t.id = b.lot_id \
                                  WHERE b.item_id = $1 AND l.warehouse_id = $2 \
                                    AND {}), 0) \
                 - coalesce((SELECT sum(quantity) FROM stock_reservations \
                             WHERE item_id = $1 AND warehouse_id = $2), 0)",
                super::lots::USABLE
            ),
            &[&item_id, &warehouse_id],
        )
        .await?;
    Ok(row.get(0))
}

/// Holds `request.quantity` back; 409 `insufficient_stock` beyond what is available,
/// 422 for a quantity that is not positive.
pub async fn reserve(
    db: &impl GenericClient,
    request: ReservationRequest,
) -> ApiResult<Reservation> {
    let quantity = crate::erp::quantity::positive("quantity", request.quantity)?;
    // The lock every reservation and stock change of this item in this warehouse takes.
    db.query(
        "SELECT b.id FROM stock_balances b JOIN locations l ON l.id = b.location_id \
         WHERE b.item_id = $1 AND l.warehouse_id = $2 ORDER BY b.id FOR UPDATE OF b",
        &[&request.item_id, &request.warehouse_id],
    )
    .await?;
    // Balance rows may not exist yet: serialise on the pair itself as well.
    db.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::text || $2::text, 0))",
        &[
            &request.item_id.to_string(),
            &request.warehouse_id.to_string(),
        ],
    )
    .await?;
    let free = available(db, request.item_id, request.warehouse_id).await?;
    if quantity > free {
        return Err(ApiError::conflict(
            "insufficient_stock",
            format!(
                "only {} available in this warehouse",
                free.max(Decimal::ZERO).normalize()
            ),
        ));
    }
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO stock_reservations (id, item_id, warehouse_id, quantity, document_type, \
         document_id, document_line) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &id,
            &request.item_id,
            &request.warehouse_id,
            &quantity,
            &request.document_type,
            &request.document_id,
            &request.document_line,
        ],
    )
    .await?;
    Ok(Reservation {
        id,
        item_id: request.item_id,
        warehouse_id: request.warehouse_id,
        quantity,
        document_type: request.document_type,
        document_id: request.document_id,
        document_line: request.document_line,
    })
}

/// Gives a reservation back (a delivered or canceled order line); 404
/// `reservation_not_found`.
pub async fn release(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    let deleted = db
        .execute("DELETE FROM stock_reservations WHERE id = $1", &[&id])
        .await?;
    if deleted == 0 {
        return Err(ApiError::not_found(
            "reservation_not_found",
            "no reservation has this id",
        ));
    }
    Ok(())
}

/// Takes `by` off a reservation (stock delivered against it); deletes it once nothing is
/// left and answers whether any is. 404 `reservation_not_found`.
pub async fn reduce(db: &impl GenericClient, id: Uuid, by: Decimal) -> ApiResult<bool> {
    let row = db
        .query_opt(
            "SELECT quantity FROM stock_reservations WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or_else(|| {
            ApiError::not_found("reservation_not_found", "no reservation has this id")
        })?;
    let left = row.get::<_, Decimal>(0) - by;
    if left <= Decimal::ZERO {
        release(db, id).await?;
        return Ok(false);
    }
    db.execute(
        "UPDATE stock_reservations SET quantity = $2 WHERE id = $1",
        &[&id, &left],
    )
    .await?;
    Ok(true)
}

//! The documents a card can stand for (manufacturing orders, work orders, purchase
//! orders), their states, what a card shows of them (number, item or supplier, state, a
//! link), and the calls their state changes make so their cards follow them.
//!
//! A work order has no state of its own: it is in its manufacturing order's state (it
//! runs while its order runs), so an order's state change moves its work orders' cards too.

use super::cards;
use common::api_error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// What a card is linked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = KanbanDocumentType)]
pub enum DocumentType {
    ManufacturingOrder,
    WorkOrder,
    PurchaseOrder,
}

/// The state of a linked document (the union of every document type's states; which
/// belong to which type is [`DocumentType::states`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = KanbanDocumentState)]
pub enum DocumentState {
    Draft,
    Submitted,
    Approved,
    PartiallyReceived,
    Received,
    Released,
    InProgress,
    Completed,
    Closed,
    Canceled,
}

/// A manufacturing order's states, which its work orders share.
const ORDER_STATES: &[DocumentState] = &[
    DocumentState::Draft,
    DocumentState::Released,
    DocumentState::InProgress,
    DocumentState::Completed,
    DocumentState::Closed,
    DocumentState::Canceled,
];

const PURCHASE_STATES: &[DocumentState] = &[
    DocumentState::Draft,
    DocumentState::Submitted,
    DocumentState::Approved,
    DocumentState::PartiallyReceived,
    DocumentState::Received,
    DocumentState::Closed,
    DocumentState::Canceled,
];

const ALL_TYPES: [DocumentType; 3] = [
    DocumentType::ManufacturingOrder,
    DocumentType::WorkOrder,
    DocumentType::PurchaseOrder,
];

impl DocumentType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManufacturingOrder => "manufacturing_order",
            Self::WorkOrder => "work_order",
            Self::PurchaseOrder => "purchase_order",
        }
    }

    /// The type stored as `text` (the tables' CHECK holds only these).
    pub fn parse(text: &str) -> Option<Self> {
        ALL_TYPES.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Every document type, in the order pages list them.
    pub fn all() -> [Self; 3] {
        ALL_TYPES
    }

    /// The states a document of this type can be in.
    pub fn states(self) -> &'static [DocumentState] {
        match self {
            Self::ManufacturingOrder | Self::WorkOrder => ORDER_STATES,
            Self::PurchaseOrder => PURCHASE_STATES,
        }
    }

    /// How people call it ("manufacturing order").
    pub fn label(self) -> &'static str {
        match self {
            Self::ManufacturingOrder => "manufacturing order",
            Self::WorkOrder => "work order",
            Self::PurchaseOrder => "purchase order",
        }
    }

    /// The number prefix of its documents (`MO-000001`).
    fn prefix(self) -> &'static str {
        match self {
            Self::ManufacturingOrder => "MO-",
            Self::WorkOrder => "WO-",
            Self::PurchaseOrder => "PO-",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Self::ManufacturingOrder => "manufacturing_orders",
            Self::WorkOrder => "work_orders",
            Self::PurchaseOrder => "purchase_orders",
        }
    }
}

impl DocumentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Approved => "approved",
            Self::PartiallyReceived => "partially_received",
            Self::Received => "received",
            Self::Released => "released",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Closed => "closed",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        ORDER_STATES
            .iter()
            .chain(PURCHASE_STATES)
            .copied()
            .find(|state| state.as_str() == text)
    }
}

/// A document state a column stands for: cards of such documents go there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KanbanStateRef)]
pub struct StateRef {
    pub document_type: DocumentType,
    /// One of the document type's states (a work order's are its order's).
    pub state: DocumentState,
}

/// What a card shows of its document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentSummary {
    /// `MO-000001`, `WO-000001`, `PO-000001`.
    pub number: String,
    /// The item made (an order, a work order's operation and order) or the supplier.
    pub label: String,
    pub state: DocumentState,
    /// The document's page in the web app.
    pub href: String,
}

fn not_found(kind: DocumentType) -> ApiError {
    ApiError::not_found(
        "document_not_found",
        format!("no {} has this id", kind.label()),
    )
}

/// The query answering (id, number, label, state) of documents of `kind` by `ANY($1)`.
fn summary_query(kind: DocumentType) -> &'static str {
    match kind {
        DocumentType::ManufacturingOrder => {
            "SELECT o.id, o.number, i.sku || ' ' || i.name, o.status \
             FROM manufacturing_orders o JOIN items i ON i.id = o.item_id WHERE o.id = ANY($1)"
        }
        DocumentType::WorkOrder => {
            "SELECT w.id, w.number, w.operation || ' · ' || o.number || ' ' || i.sku, o.status \
             FROM work_orders w JOIN manufacturing_orders o ON o.id = w.order_id \
             JOIN items i ON i.id = o.item_id WHERE w.id = ANY($1)"
        }
        DocumentType::PurchaseOrder => {
            "SELECT p.id, p.number, s.name, p.status \
             FROM purchase_orders p JOIN partners s ON s.id = p.supplier_id WHERE p.id = ANY($1)"
        }
    }
}

fn href(kind: DocumentType, id: Uuid) -> String {
    match kind {
        DocumentType::ManufacturingOrder => format!("/production/orders/{id}"),
        DocumentType::WorkOrder => format!("/production/work-orders/{id}"),
        DocumentType::PurchaseOrder => format!("/purchase-orders/{id}"),
    }
}

/// What cards show of `documents`, one query per document type.
pub async fn summaries(
    db: &impl GenericClient,
    documents: &[(DocumentType, Uuid)],
) -> ApiResult<HashMap<(DocumentType, Uuid), DocumentSummary>> {
    let mut found = HashMap::new();
    for kind in ALL_TYPES {
        let ids: Vec<Uuid> = documents
            .iter()
            .filter(|(of, _)| *of == kind)
            .map(|(_, id)| *id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        for row in db.query(summary_query(kind), &[&ids]).await? {
            let id: Uuid = row.get(0);
            let state: String = row.get(3);
            let summary = DocumentSummary {
                number: row.get(1),
                label: row.get(2),
                // The documents' CHECKs admit only states `parse` knows.
                state: DocumentState::parse(&state).unwrap_or(DocumentState::Draft),
                href: href(kind, id),
            };
            found.insert((kind, id), summary);
        }
    }
    Ok(found)
}

/// One document's summary: 404 `document_not_found`.
pub async fn find(
    db: &impl GenericClient,
    kind: DocumentType,
    id: Uuid,
) -> ApiResult<DocumentSummary> {
    summaries(db, &[(kind, id)])
        .await?
        .remove(&(kind, id))
        .ok_or_else(|| not_found(kind))
}

/// The document numbered `number` (`MO-000001`, `WO-...`, `PO-...`, any case), for forms
/// where people type a number: 404 `document_not_found`; 422 on `number` for a number
/// of no linkable kind.
pub async fn by_number(db: &impl GenericClient, number: &str) -> ApiResult<(DocumentType, Uuid)> {
    let number = number.trim().to_uppercase();
    let kind = ALL_TYPES
        .into_iter()
        .find(|kind| number.starts_with(kind.prefix()))
        .ok_or_else(|| ApiError::invalid("number", "a number starting MO-, WO- or PO-"))?;
    let sql = format!("SELECT id FROM {} WHERE number = $1", kind.table());
    let row = db.query_opt(&sql, &[&number]).await?.ok_or_else(|| {
        ApiError::not_found(
            "document_not_found",
            format!("no document is numbered {number}"),
        )
    })?;
    Ok((kind, row.get(0)))
}

/// Moves the cards of a manufacturing order, and of its work orders, to the columns
/// standing for `state`, in the caller's transaction (the order's state change).
pub async fn follow_manufacturing_order(
    db: &impl GenericClient,
    id: Uuid,
    state: &str,
) -> ApiResult<()> {
    let Some(state) = DocumentState::parse(state) else {
        return Ok(());
    };
    cards::follow(db, DocumentType::ManufacturingOrder, &[id], state).await?;
    let work_orders: Vec<Uuid> = db
        .query("SELECT id FROM work_orders WHERE order_id = $1", &[&id])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    cards::follow(db, DocumentType::WorkOrder, &work_orders, state).await
}

/// Moves the cards of a purchase order to the columns standing for `state`, in the
/// caller's transaction (the order's state change).
pub async fn follow_purchase_order(
    db: &impl GenericClient,
    id: Uuid,
    state: &str,
) -> ApiResult<()> {
    let Some(state) = DocumentState::parse(state) else {
        return Ok(());
    };
    cards::follow(db, DocumentType::PurchaseOrder, &[id], state).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_and_state_reads_back_from_its_text() {
        for kind in DocumentType::all() {
            assert_eq!(DocumentType::parse(kind.as_str()), Some(kind));
            for state in kind.states() {
                assert_eq!(DocumentState::parse(state.as_str()), Some(*state));
            }
        }
        assert_eq!(DocumentType::parse("sales_order"), None);
        assert_eq!(DocumentState::parse("done"), None);
    }

    #[test]
    fn a_work_order_is_in_its_orders_states_and_a_purchase_order_in_its_own() {
        assert_eq!(
            DocumentType::WorkOrder.states(),
            DocumentType::ManufacturingOrder.states()
        );
        assert!(
            DocumentType::PurchaseOrder
                .states()
                .contains(&DocumentState::Approved)
        );
        assert!(
            !DocumentType::ManufacturingOrder
                .states()
                .contains(&DocumentState::Approved)
        );
    }
}

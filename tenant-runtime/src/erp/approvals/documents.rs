//! Where a finished approval goes: the module owning each document kind is told the
//! outcome, in the deciding transaction.

use super::DocumentKind;
use crate::erp::{purchasing, stock};
use common::api_error::ApiResult;
use common::tenant_audit::Actor;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// The final approval (`approved`) or a rejection of document `id` of `kind`.
pub(super) async fn decided(
    db: &impl GenericClient,
    actor: &Actor,
    kind: DocumentKind,
    id: Uuid,
    approved: bool,
) -> ApiResult<()> {
    match kind {
        DocumentKind::PurchaseOrder => purchasing::approval_decided(db, actor, id, approved).await,
        DocumentKind::StockAdjustment => stock::held::decided(db, actor, id, approved).await,
        // Work-order edits arrive with production (part 2): only the decision is kept.
        DocumentKind::WorkOrderEdit => Ok(()),
    }
}

/// Locks document `id` of `kind` for the deciding transaction (404 when it is gone).
pub(super) async fn lock(db: &impl GenericClient, kind: DocumentKind, id: Uuid) -> ApiResult<()> {
    match kind {
        DocumentKind::PurchaseOrder => purchasing::lock(db, id).await.map(|_| ()),
        DocumentKind::StockAdjustment => stock::held::lock(db, id).await,
        // Nothing of theirs changes on a decision (see `decided`).
        DocumentKind::WorkOrderEdit => Ok(()),
    }
}

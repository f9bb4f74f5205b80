//! Where a finished approval goes: the module owning each document kind is told the
//! outcome, in the deciding transaction.

use super::DocumentKind;
use crate::erp::{production, purchasing, stock};
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
        DocumentKind::WorkOrderEdit => {
            production::work_orders::edit_decided(db, actor, id, approved).await
        }
    }
}

/// Locks document `id` of `kind` for the deciding transaction (404 when it is gone).
pub(super) async fn lock(db: &impl GenericClient, kind: DocumentKind, id: Uuid) -> ApiResult<()> {
    match kind {
        DocumentKind::PurchaseOrder => purchasing::lock(db, id).await.map(|_| ()),
        DocumentKind::StockAdjustment => stock::held::lock(db, id).await,
        DocumentKind::WorkOrderEdit => production::work_orders::lock_edit(db, id).await,
    }
}

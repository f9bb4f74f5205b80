//! Tenant migration: stock adjustments held for approval. `stock_adjustment_requests` keeps
//! an adjustment whose value the company's `stock_adjustment` approval rules cover, as
//! typed, until its approval request is decided: `pending`, then `approved` (with the
//! movement it posted) or `rejected` (nothing moved). The client's idempotency reference
//! makes a repeated request answer the first.

use sea_orm_migration::prelude::*;

use crate::sql::run;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}

const UP: &str = r#"
CREATE TABLE stock_adjustment_requests (
    id             uuid           PRIMARY KEY,
    reference      text           NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    item_id        uuid           NOT NULL REFERENCES items (id),
    location_id    uuid           NOT NULL REFERENCES locations (id),
    -- Signed, as typed (in `unit`, the item's base unit when null).
    quantity       numeric(20, 6) NOT NULL CHECK (quantity <> 0),
    unit           text           NULL,
    unit_cost      numeric(20, 6) NULL CHECK (unit_cost >= 0),
    lot_code       text           NULL,
    lot_expires_on date           NULL,
    reason         text           NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    -- What the approval rules were asked about: the adjustment's value.
    amount         numeric(20, 6) NOT NULL CHECK (amount >= 0),
    status         text           NOT NULL DEFAULT 'pending'
                                  CHECK (status IN ('pending', 'approved', 'rejected')),
    approval_id    uuid           NOT NULL REFERENCES approval_requests (id),
    movement_id    uuid           NULL,
    requested_by   uuid           NULL,
    created_at     timestamptz    NOT NULL DEFAULT now(),
    decided_at     timestamptz    NULL,
    CHECK ((status = 'approved') = (movement_id IS NOT NULL))
);
CREATE INDEX stock_adjustment_requests_pending_idx
    ON stock_adjustment_requests (created_at) WHERE status = 'pending';
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS stock_adjustment_requests;
"#;

//! Tenant migration: material requirements planning. `mrp_runs` keeps each run (which
//! warehouse, where planned finished goods would go, how long it took) and `mrp_lines` its
//! netting per item: gross requirement, what stock and open orders cover, and what is
//! planned (a purchase or a manufacturing suggestion), with the draft document made from
//! it once someone clicks. Also links quality inspections to the work orders they inspect,
//! now that both tables exist.

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
CREATE TABLE mrp_runs (
    id                 uuid        PRIMARY KEY,
    warehouse_id       uuid        NOT NULL REFERENCES warehouses (id) ON DELETE RESTRICT,
    -- Where manufacturing suggestions put their finished goods.
    output_location_id uuid        NOT NULL REFERENCES locations (id) ON DELETE RESTRICT,
    items_planned      integer     NOT NULL CHECK (items_planned >= 0),
    suggestions        integer     NOT NULL CHECK (suggestions >= 0),
    duration_ms        integer     NOT NULL CHECK (duration_ms >= 0),
    run_by             uuid        NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mrp_runs_warehouse_idx ON mrp_runs (warehouse_id, created_at DESC);

CREATE TABLE mrp_lines (
    run_id        uuid           NOT NULL REFERENCES mrp_runs (id) ON DELETE CASCADE,
    item_id       uuid           NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    -- 0 for items no active BOM uses, else one more than its deepest parent.
    level         integer        NOT NULL CHECK (level >= 0),
    -- Open sales order lines and open manufacturing orders' components.
    demand        numeric(20, 6) NOT NULL CHECK (demand >= 0),
    -- From the orders this run plans for the item's parents.
    dependent     numeric(20, 6) NOT NULL CHECK (dependent >= 0),
    -- Usable stock in the warehouse (not quarantined, held or scrapped); may be negative.
    on_hand       numeric(20, 6) NOT NULL,
    -- Held back for documents outside the plan (the plan's own orders are demand).
    reserved      numeric(20, 6) NOT NULL CHECK (reserved >= 0),
    -- Still to arrive on open purchase orders and open manufacturing orders.
    on_order      numeric(20, 6) NOT NULL CHECK (on_order >= 0),
    planned       numeric(20, 6) NOT NULL CHECK (planned >= 0),
    action        text           NOT NULL CHECK (action IN ('none', 'buy', 'make')),
    need_by       date           NULL,
    -- Buy suggestions: the last supplier and price the item was bought at.
    supplier_id   uuid           NULL REFERENCES partners (id) ON DELETE SET NULL,
    unit_price    numeric(20, 6) NOT NULL DEFAULT 0 CHECK (unit_price >= 0),
    -- The draft made from the suggestion.
    document_type text           NULL CHECK (document_type IN ('purchase_order',
                                                               'manufacturing_order')),
    document_id   uuid           NULL,
    PRIMARY KEY (run_id, item_id),
    CHECK ((action = 'none') = (planned = 0)),
    CHECK ((document_type IS NULL) = (document_id IS NULL))
);

-- NOT VALID: new and changed rows are checked at once; existing rows were checked by the
-- API when written, and validating them would hold a lock while scanning the table.
ALTER TABLE quality_inspections
    ADD CONSTRAINT quality_inspections_work_order_fkey
    FOREIGN KEY (work_order_id) REFERENCES work_orders (id) ON DELETE RESTRICT NOT VALID;
"#;

const DOWN: &str = r#"
ALTER TABLE quality_inspections DROP CONSTRAINT IF EXISTS quality_inspections_work_order_fkey;
DROP TABLE IF EXISTS mrp_lines;
DROP TABLE IF EXISTS mrp_runs;
"#;

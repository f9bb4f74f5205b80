//! Tenant migration: sales orders. `sales_orders` (numbered `SO-000001` from a sequence, a
//! customer, the warehouse its stock is reserved in and delivered from, a status moving
//! draft -> confirmed -> partially / fully delivered -> invoiced -> closed, or canceled,
//! and the client's idempotency reference) and `sales_order_lines` (quantities in the
//! item's base unit; the delivered quantity never exceeds the ordered one; the line's
//! stock reservation while it is open), and `sales_deliveries` (one per delivery posted,
//! with the client's idempotency reference).

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
CREATE SEQUENCE sales_order_number_seq;

CREATE TABLE sales_orders (
    id             uuid           PRIMARY KEY,
    number         text           NOT NULL UNIQUE CHECK (number ~ '^SO-[0-9]{6,}$'),
    customer_id    uuid           NOT NULL REFERENCES partners (id) ON DELETE RESTRICT,
    warehouse_id   uuid           NOT NULL REFERENCES warehouses (id) ON DELETE RESTRICT,
    status         text           NOT NULL DEFAULT 'draft'
                                  CHECK (status IN ('draft', 'confirmed', 'partially_delivered',
                                                    'delivered', 'invoiced', 'closed',
                                                    'canceled')),
    requested_date date           NULL,
    notes          text           NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
    total          numeric(20, 6) NOT NULL DEFAULT 0 CHECK (total >= 0),
    -- A client's `Idempotency-Key` or form reference: a double-submitted form is one order.
    reference      text           NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    created_by     uuid           NULL,
    created_at     timestamptz    NOT NULL DEFAULT now(),
    updated_at     timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX sales_orders_status_idx ON sales_orders (status, id);
CREATE INDEX sales_orders_customer_idx ON sales_orders (customer_id, id);

CREATE TABLE sales_order_lines (
    order_id           uuid           NOT NULL REFERENCES sales_orders (id) ON DELETE CASCADE,
    line_no            integer        NOT NULL CHECK (line_no > 0),
    item_id            uuid           NOT NULL REFERENCES items (id) ON DELETE RESTRICT,
    quantity           numeric(20, 6) NOT NULL CHECK (quantity > 0),
    unit_price         numeric(20, 6) NOT NULL CHECK (unit_price >= 0),
    delivered_quantity numeric(20, 6) NOT NULL DEFAULT 0
                                      CHECK (delivered_quantity >= 0
                                             AND delivered_quantity <= quantity),
    -- The stock held back for what is still to deliver (none in draft, once fully
    -- delivered, or after a cancel).
    reservation_id     uuid           NULL REFERENCES stock_reservations (id) ON DELETE SET NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX sales_order_lines_item_idx ON sales_order_lines (item_id);

-- One delivery against an order (its stock movements carry the order as their document);
-- the client's reference makes a double-submitted delivery post once.
CREATE TABLE sales_deliveries (
    id         uuid        PRIMARY KEY,
    order_id   uuid        NOT NULL REFERENCES sales_orders (id) ON DELETE RESTRICT,
    reference  text        NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    created_by uuid        NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sales_deliveries_order_idx ON sales_deliveries (order_id, id);
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS sales_deliveries;
DROP TABLE IF EXISTS sales_order_lines;
DROP TABLE IF EXISTS sales_orders;
DROP SEQUENCE IF EXISTS sales_order_number_seq;
"#;

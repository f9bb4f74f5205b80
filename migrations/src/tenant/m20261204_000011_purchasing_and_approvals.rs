//! Tenant migration: purchasing and approvals. `purchase_orders` (numbered `PO-000001`
//! from a sequence, a supplier, a warehouse, a status the CHECK lists, the lines' total)
//! and `purchase_order_lines` (ordered and received quantities in the item's base unit);
//! `approval_rules` (per document type, a minimum amount and the role that decides from
//! it: a document needs every rule at or below its amount, lowest first, one level each),
//! `approval_requests` (a document waiting for those levels, with the roles copied at
//! request time so a later rule change does not move a pending request) and
//! `approval_decisions` (the append-only history of who decided what, and why). A request
//! is `withdrawn` when its document is canceled while it waits.
//!
//! The over-receipt tolerance is a setting (`purchasing.over_receipt_tolerance_percent`),
//! so the receiving code checks it under the line's row lock; the table still refuses a
//! negative received quantity.

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
CREATE SEQUENCE purchase_order_number_seq;

CREATE TABLE purchase_orders (
    id           uuid           PRIMARY KEY,
    number       text           NOT NULL UNIQUE
                                DEFAULT 'PO-' || lpad(nextval('purchase_order_number_seq')::text, 6, '0'),
    -- A client's `Idempotency-Key` or form reference on create: a second post answers the first.
    reference    text           NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    supplier_id  uuid           NOT NULL REFERENCES partners (id),
    warehouse_id uuid           NOT NULL REFERENCES warehouses (id),
    status       text           NOT NULL DEFAULT 'draft'
                                CHECK (status IN ('draft', 'submitted', 'approved',
                                                  'partially_received', 'received', 'closed',
                                                  'canceled')),
    expected_on  date           NULL,
    notes        text           NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
    total        numeric(20, 6) NOT NULL DEFAULT 0 CHECK (total >= 0),
    created_by   uuid           NULL,
    created_at   timestamptz    NOT NULL DEFAULT now(),
    updated_at   timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX purchase_orders_status_idx ON purchase_orders (status, id);
CREATE INDEX purchase_orders_supplier_idx ON purchase_orders (supplier_id, id);

CREATE TABLE purchase_order_lines (
    id                uuid           PRIMARY KEY,
    purchase_order_id uuid           NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
    line_no           integer        NOT NULL CHECK (line_no BETWEEN 1 AND 1000),
    item_id           uuid           NOT NULL REFERENCES items (id),
    quantity          numeric(20, 6) NOT NULL CHECK (quantity > 0),
    unit_price        numeric(20, 6) NOT NULL CHECK (unit_price >= 0),
    received_quantity numeric(20, 6) NOT NULL DEFAULT 0 CHECK (received_quantity >= 0),
    UNIQUE (purchase_order_id, line_no)
);
CREATE INDEX purchase_order_lines_item_idx ON purchase_order_lines (item_id);

-- One receipt posted against a purchase order: its reference makes a double-submitted
-- form receive once.
CREATE TABLE purchase_receipts (
    id                uuid        PRIMARY KEY,
    purchase_order_id uuid        NOT NULL REFERENCES purchase_orders (id),
    reference         text        NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    movement_ids      uuid[]      NOT NULL,
    user_id           uuid        NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purchase_receipts_order_idx ON purchase_receipts (purchase_order_id, created_at);

CREATE TABLE approval_rules (
    id            uuid           PRIMARY KEY,
    document_type text           NOT NULL
                                 CHECK (document_type IN ('purchase_order', 'stock_adjustment',
                                                          'work_order_edit')),
    min_amount    numeric(20, 6) NOT NULL CHECK (min_amount >= 0),
    role          text           NOT NULL REFERENCES roles (name) ON UPDATE CASCADE,
    UNIQUE (document_type, min_amount)
);

CREATE TABLE approval_requests (
    id            uuid           PRIMARY KEY,
    document_type text           NOT NULL
                                 CHECK (document_type IN ('purchase_order', 'stock_adjustment',
                                                          'work_order_edit')),
    document_id   uuid           NOT NULL,
    amount        numeric(20, 6) NOT NULL CHECK (amount >= 0),
    requested_by  uuid           NULL,
    status        text           NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    -- The deciding role of each level, lowest amount first, as the rules were at request time.
    level_roles   text[]         NOT NULL CHECK (cardinality(level_roles) >= 1),
    current_level integer        NOT NULL DEFAULT 1,
    created_at    timestamptz    NOT NULL DEFAULT now(),
    decided_at    timestamptz    NULL,
    CHECK (current_level BETWEEN 1 AND cardinality(level_roles)),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
-- A document waits on at most one request at a time.
CREATE UNIQUE INDEX approval_requests_pending_key
    ON approval_requests (document_type, document_id) WHERE status = 'pending';
CREATE INDEX approval_requests_document_idx ON approval_requests (document_type, document_id);

CREATE TABLE approval_decisions (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id uuid        NOT NULL REFERENCES approval_requests (id),
    level      integer     NOT NULL CHECK (level >= 1),
    user_id    uuid        NOT NULL,
    decision   text        NOT NULL CHECK (decision IN ('approved', 'rejected')),
    comment    text        NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
    decided_at timestamptz NOT NULL DEFAULT now(),
    CHECK (decision = 'approved' OR length(btrim(comment)) > 0),
    UNIQUE (request_id, level)
);

CREATE OR REPLACE FUNCTION approval_decisions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'approval_decisions is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER approval_decisions_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON approval_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION approval_decisions_append_only();
"#;

const DOWN: &str = r#"
DROP TABLE approval_decisions;
DROP FUNCTION IF EXISTS approval_decisions_append_only();
DROP TABLE approval_requests;
DROP TABLE approval_rules;
DROP TABLE purchase_receipts;
DROP TABLE purchase_order_lines;
DROP TABLE purchase_orders;
DROP SEQUENCE purchase_order_number_seq;
"#;

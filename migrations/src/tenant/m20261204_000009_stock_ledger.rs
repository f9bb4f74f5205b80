//! Tenant migration: the stock ledger. `stock_movements` (one business event: a receipt, an
//! issue, a transfer, an adjustment, a reversal; carries the client's idempotency
//! reference), `stock_ledger` (its signed, append-only entries: the truth), `stock_balances`
//! (on hand and value per item / location / lot, kept equal to the ledger's sums in the
//! same transaction), `lots`, `stock_reservations` (per item and warehouse: what sales
//! orders hold back) and `material_debts` (stock issued beyond on hand where the company
//! allows negative stock, settled first-in-first-out by later receipts).
//!
//! Valuation is a moving average per balance row: a positive entry adds `quantity *
//! unit_cost` to the row's `value`; a negative one takes stock out at the row's average
//! (`value / on_hand`, rounded to six places, or the item's standard cost when nothing is
//! on hand) and records that cost on the entry. So `value` is always exactly
//! `SUM(quantity * unit_cost)` of the row's entries, which the consistency check compares.

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
CREATE TABLE lots (
    id         uuid        PRIMARY KEY,
    item_id    uuid        NOT NULL REFERENCES items (id) ON DELETE RESTRICT,
    code       text        NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$'),
    expires_on date        NULL,
    status     text        NOT NULL DEFAULT 'available'
                           CHECK (status IN ('available', 'quarantined', 'scrapped')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX lots_item_code_key ON lots (item_id, lower(code));
CREATE INDEX lots_expiry_idx ON lots (item_id, expires_on NULLS LAST, created_at);

CREATE TABLE stock_movements (
    id            uuid        PRIMARY KEY,
    kind          text        NOT NULL
                              CHECK (kind IN ('receipt', 'issue', 'transfer', 'adjustment',
                                              'reversal', 'consume', 'produce', 'delivery')),
    -- A client's `Idempotency-Key` or form reference: a second post answers the first.
    reference     text        NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    reverses      uuid        NULL UNIQUE REFERENCES stock_movements (id),
    document_type text        NULL CHECK (length(document_type) BETWEEN 1 AND 50),
    document_id   text        NULL CHECK (length(document_id) BETWEEN 1 AND 100),
    note          text        NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    user_id       uuid        NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'reversal') = (reverses IS NOT NULL))
);

CREATE TABLE stock_ledger (
    id            bigint         GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    movement_id   uuid           NOT NULL REFERENCES stock_movements (id),
    kind          text           NOT NULL
                                 CHECK (kind IN ('receipt', 'issue', 'transfer_out',
                                                 'transfer_in', 'adjustment', 'reversal',
                                                 'consume', 'produce', 'delivery')),
    item_id       uuid           NOT NULL REFERENCES items (id),
    location_id   uuid           NOT NULL REFERENCES locations (id),
    lot_id        uuid           NULL REFERENCES lots (id),
    quantity      numeric(20, 6) NOT NULL CHECK (quantity <> 0),
    unit_cost     numeric(20, 6) NOT NULL DEFAULT 0 CHECK (unit_cost >= 0),
    document_type text           NULL CHECK (length(document_type) BETWEEN 1 AND 50),
    document_id   text           NULL CHECK (length(document_id) BETWEEN 1 AND 100),
    document_line integer        NULL CHECK (document_line > 0),
    reverses      bigint         NULL UNIQUE REFERENCES stock_ledger (id),
    user_id       uuid           NULL,
    note          text           NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    created_at    timestamptz    NOT NULL DEFAULT now(),
    CHECK ((kind = 'reversal') = (reverses IS NOT NULL)),
    CHECK (kind NOT IN ('receipt', 'transfer_in', 'produce') OR quantity > 0),
    CHECK (kind NOT IN ('issue', 'transfer_out', 'consume', 'delivery') OR quantity < 0)
);
CREATE INDEX stock_ledger_item_idx ON stock_ledger (item_id, id DESC);
CREATE INDEX stock_ledger_location_idx ON stock_ledger (location_id, id DESC);
CREATE INDEX stock_ledger_lot_idx ON stock_ledger (lot_id, id) WHERE lot_id IS NOT NULL;
CREATE INDEX stock_ledger_movement_idx ON stock_ledger (movement_id);
CREATE INDEX stock_ledger_document_idx ON stock_ledger (document_type, document_id)
    WHERE document_type IS NOT NULL;
CREATE INDEX stock_ledger_created_at_idx ON stock_ledger (created_at);

CREATE OR REPLACE FUNCTION stock_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'stock_ledger is append-only: % is not allowed (post a reversal)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER stock_ledger_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON stock_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION stock_ledger_append_only();
CREATE TRIGGER stock_movements_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON stock_movements
    FOR EACH STATEMENT EXECUTE FUNCTION stock_ledger_append_only();

-- On hand and value (moving average) per item / location / lot; NULL lot for items
-- that are not lot-tracked. Negative on hand only where the company allows it.
CREATE TABLE stock_balances (
    id          bigint         GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id     uuid           NOT NULL REFERENCES items (id),
    location_id uuid           NOT NULL REFERENCES locations (id),
    lot_id      uuid           NULL REFERENCES lots (id),
    on_hand     numeric(20, 6) NOT NULL DEFAULT 0,
    value       numeric        NOT NULL DEFAULT 0,
    updated_at  timestamptz    NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (item_id, location_id, lot_id)
);
CREATE INDEX stock_balances_location_idx ON stock_balances (location_id, item_id);
CREATE INDEX stock_balances_lot_idx ON stock_balances (lot_id) WHERE lot_id IS NOT NULL;

CREATE TABLE stock_reservations (
    id            uuid           PRIMARY KEY,
    item_id       uuid           NOT NULL REFERENCES items (id),
    warehouse_id  uuid           NOT NULL REFERENCES warehouses (id),
    quantity      numeric(20, 6) NOT NULL CHECK (quantity > 0),
    document_type text           NOT NULL CHECK (length(document_type) BETWEEN 1 AND 50),
    document_id   text           NOT NULL CHECK (length(document_id) BETWEEN 1 AND 100),
    document_line integer        NULL CHECK (document_line > 0),
    created_at    timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX stock_reservations_item_idx ON stock_reservations (item_id, warehouse_id);
CREATE INDEX stock_reservations_document_idx ON stock_reservations (document_type, document_id);

-- Stock issued beyond on hand; `open_quantity` falls as later receipts into the same item
-- and location settle it, oldest debt first; `settled_by` is the entry that closed it.
CREATE TABLE material_debts (
    id            bigint         GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id       uuid           NOT NULL REFERENCES items (id),
    location_id   uuid           NOT NULL REFERENCES locations (id),
    entry_id      bigint         NOT NULL REFERENCES stock_ledger (id),
    quantity      numeric(20, 6) NOT NULL CHECK (quantity > 0),
    open_quantity numeric(20, 6) NOT NULL CHECK (open_quantity >= 0 AND open_quantity <= quantity),
    settled_by    bigint         NULL REFERENCES stock_ledger (id),
    created_at    timestamptz    NOT NULL DEFAULT now(),
    settled_at    timestamptz    NULL,
    CHECK ((open_quantity = 0) = (settled_by IS NOT NULL))
);
CREATE INDEX material_debts_open_idx ON material_debts (item_id, location_id, id)
    WHERE open_quantity > 0;

-- Rows where the materialised balance differs from its ledger sum: empty when consistent.
CREATE OR REPLACE FUNCTION stock_balance_mismatches()
RETURNS TABLE (item_id uuid, location_id uuid, lot_id uuid,
               balance_on_hand numeric, ledger_on_hand numeric,
               balance_value numeric, ledger_value numeric)
LANGUAGE sql STABLE AS $fn$
    WITH ledger AS (
        SELECT l.item_id, l.location_id, l.lot_id,
               sum(l.quantity) AS on_hand, sum(l.quantity * l.unit_cost) AS value
        FROM stock_ledger l GROUP BY l.item_id, l.location_id, l.lot_id
    )
    SELECT coalesce(b.item_id, g.item_id), coalesce(b.location_id, g.location_id),
           coalesce(b.lot_id, g.lot_id),
           b.on_hand, g.on_hand, b.value, g.value
    FROM stock_balances b
    FULL JOIN ledger g ON g.item_id = b.item_id AND g.location_id = b.location_id
                      AND g.lot_id IS NOT DISTINCT FROM b.lot_id
    WHERE coalesce(b.on_hand, 0) <> coalesce(g.on_hand, 0)
       OR coalesce(b.value, 0) <> coalesce(g.value, 0)
$fn$;
"#;

const DOWN: &str = r#"
DROP FUNCTION IF EXISTS stock_balance_mismatches();
DROP TABLE material_debts;
DROP TABLE stock_reservations;
DROP TABLE stock_balances;
DROP TABLE stock_ledger;
DROP TABLE stock_movements;
DROP FUNCTION IF EXISTS stock_ledger_append_only();
DROP TABLE lots;
"#;

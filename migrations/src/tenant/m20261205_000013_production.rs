//! Tenant migration: production. `boms` (bills of materials: numbered versions per item,
//! at most one active, old versions kept for the orders that used them) and
//! `bom_components` (quantity per unit of the parent in the component's base unit, as
//! entered, and a scrap allowance); `manufacturing_orders` (numbered `MO-000001`, the BOM
//! version they were made from, a status moving draft -> released -> in_progress ->
//! completed -> closed, or canceled) with `manufacturing_order_components` (what the
//! order needs of each component and what it has consumed; its stock reservations carry
//! the order as their document) and `production_completions` (one per completion posted,
//! with the client's idempotency reference and the consume / produce movements);
//! `work_orders` (per operation or department, a target quantity and the running totals
//! of their `work_order_inputs`, the daily input) and `work_order_edits` (a change of a
//! released work order waiting for its approval).
//!
//! The stock ledger's `consume` and `produce` kinds (migration 000009) already exist, so
//! the ledger is not changed here.

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
CREATE TABLE boms (
    id         uuid        PRIMARY KEY,
    item_id    uuid        NOT NULL REFERENCES items (id) ON DELETE RESTRICT,
    version    integer     NOT NULL CHECK (version > 0),
    active     boolean     NOT NULL DEFAULT false,
    notes      text        NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
    created_by uuid        NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (item_id, version)
);
-- One active version per item: the one new orders use and explosions walk.
CREATE UNIQUE INDEX boms_one_active_key ON boms (item_id) WHERE active;

CREATE TABLE bom_components (
    bom_id           uuid           NOT NULL REFERENCES boms (id) ON DELETE CASCADE,
    line_no          integer        NOT NULL CHECK (line_no BETWEEN 1 AND 200),
    item_id          uuid           NOT NULL REFERENCES items (id) ON DELETE RESTRICT,
    -- Per unit of the parent, in the component's base unit.
    quantity         numeric(20, 6) NOT NULL CHECK (quantity > 0),
    -- As entered (the unit converted from; NULL for the base unit).
    entered_quantity numeric(20, 6) NOT NULL CHECK (entered_quantity > 0),
    entered_unit     text           NULL,
    -- Extra taken to allow for waste: 5 means 5 % more than `quantity`.
    scrap_percent    numeric(9, 4)  NOT NULL DEFAULT 0
                                    CHECK (scrap_percent >= 0 AND scrap_percent <= 1000),
    PRIMARY KEY (bom_id, line_no)
);
CREATE INDEX bom_components_item_idx ON bom_components (item_id);

CREATE SEQUENCE manufacturing_order_number_seq;

CREATE TABLE manufacturing_orders (
    id                 uuid           PRIMARY KEY,
    number             text           NOT NULL UNIQUE
                                      DEFAULT 'MO-' || lpad(nextval('manufacturing_order_number_seq')::text, 6, '0'),
    item_id            uuid           NOT NULL REFERENCES items (id) ON DELETE RESTRICT,
    -- The BOM version the order was made from (kept even when another becomes active).
    bom_id             uuid           NOT NULL REFERENCES boms (id) ON DELETE RESTRICT,
    -- In the item's base unit.
    quantity           numeric(20, 6) NOT NULL CHECK (quantity > 0),
    completed_quantity numeric(20, 6) NOT NULL DEFAULT 0
                                      CHECK (completed_quantity >= 0
                                             AND completed_quantity <= quantity),
    -- Components are reserved in and consumed from this warehouse.
    warehouse_id       uuid           NOT NULL REFERENCES warehouses (id) ON DELETE RESTRICT,
    -- Where the finished goods go (a location of that warehouse).
    output_location_id uuid           NOT NULL REFERENCES locations (id) ON DELETE RESTRICT,
    status             text           NOT NULL DEFAULT 'draft'
                                      CHECK (status IN ('draft', 'released', 'in_progress',
                                                        'completed', 'closed', 'canceled')),
    due_on             date           NULL,
    notes              text           NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
    reference          text           NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    created_by         uuid           NULL,
    created_at         timestamptz    NOT NULL DEFAULT now(),
    updated_at         timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX manufacturing_orders_status_idx ON manufacturing_orders (status, id);
CREATE INDEX manufacturing_orders_item_idx ON manufacturing_orders (item_id, id);

CREATE TABLE manufacturing_order_components (
    order_id uuid           NOT NULL REFERENCES manufacturing_orders (id) ON DELETE CASCADE,
    line_no  integer        NOT NULL CHECK (line_no > 0),
    item_id  uuid           NOT NULL REFERENCES items (id) ON DELETE RESTRICT,
    -- For the whole order, scrap allowance included, in the component's base unit.
    required numeric(20, 6) NOT NULL CHECK (required > 0),
    consumed numeric(20, 6) NOT NULL DEFAULT 0 CHECK (consumed >= 0),
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX manufacturing_order_components_item_idx ON manufacturing_order_components (item_id);

CREATE TABLE production_completions (
    id           uuid           PRIMARY KEY,
    order_id     uuid           NOT NULL REFERENCES manufacturing_orders (id) ON DELETE RESTRICT,
    quantity     numeric(20, 6) NOT NULL CHECK (quantity > 0),
    -- Consumed cost / produced quantity.
    unit_cost    numeric(20, 6) NOT NULL CHECK (unit_cost >= 0),
    lot_id       uuid           NULL REFERENCES lots (id),
    reference    text           NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    movement_ids uuid[]         NOT NULL,
    user_id      uuid           NULL,
    created_at   timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX production_completions_order_idx ON production_completions (order_id, id);

CREATE SEQUENCE work_order_number_seq;

CREATE TABLE work_orders (
    id              uuid           PRIMARY KEY,
    number          text           NOT NULL UNIQUE
                                   DEFAULT 'WO-' || lpad(nextval('work_order_number_seq')::text, 6, '0'),
    order_id        uuid           NOT NULL REFERENCES manufacturing_orders (id) ON DELETE RESTRICT,
    -- A free operation name (cutting, assembly...) or the department's name.
    operation       text           NOT NULL CHECK (length(operation) BETWEEN 1 AND 100),
    -- The department doing it: a location of kind `department` or `production`.
    department_id   uuid           NULL REFERENCES locations (id) ON DELETE RESTRICT,
    target_quantity numeric(20, 6) NOT NULL CHECK (target_quantity > 0),
    good_quantity   numeric(20, 6) NOT NULL DEFAULT 0 CHECK (good_quantity >= 0),
    reject_quantity numeric(20, 6) NOT NULL DEFAULT 0 CHECK (reject_quantity >= 0),
    scrap_quantity  numeric(20, 6) NOT NULL DEFAULT 0 CHECK (scrap_quantity >= 0),
    created_by      uuid           NULL,
    created_at      timestamptz    NOT NULL DEFAULT now(),
    updated_at      timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX work_orders_order_idx ON work_orders (order_id, id);

CREATE TABLE work_order_inputs (
    id              uuid           PRIMARY KEY,
    work_order_id   uuid           NOT NULL REFERENCES work_orders (id) ON DELETE RESTRICT,
    work_date       date           NOT NULL,
    shift           text           NOT NULL CHECK (length(shift) BETWEEN 1 AND 20),
    operator        text           NOT NULL CHECK (length(operator) BETWEEN 1 AND 100),
    good_quantity   numeric(20, 6) NOT NULL CHECK (good_quantity >= 0),
    reject_quantity numeric(20, 6) NOT NULL CHECK (reject_quantity >= 0),
    scrap_quantity  numeric(20, 6) NOT NULL CHECK (scrap_quantity >= 0),
    note            text           NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    reference       text           NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    user_id         uuid           NULL,
    created_at      timestamptz    NOT NULL DEFAULT now(),
    CHECK (good_quantity + reject_quantity + scrap_quantity > 0)
);
CREATE INDEX work_order_inputs_order_idx ON work_order_inputs (work_order_id, work_date);

-- A change of a released work order: applied when its approval request (document type
-- `work_order_edit`, document id = this row's id) is approved.
CREATE TABLE work_order_edits (
    id              uuid           PRIMARY KEY,
    work_order_id   uuid           NOT NULL REFERENCES work_orders (id) ON DELETE RESTRICT,
    target_quantity numeric(20, 6) NULL CHECK (target_quantity > 0),
    operation       text           NULL CHECK (length(operation) BETWEEN 1 AND 100),
    reason          text           NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
    status          text           NOT NULL DEFAULT 'pending'
                                   CHECK (status IN ('pending', 'applied', 'rejected', 'withdrawn')),
    requested_by    uuid           NULL,
    created_at      timestamptz    NOT NULL DEFAULT now(),
    decided_at      timestamptz    NULL,
    CHECK (target_quantity IS NOT NULL OR operation IS NOT NULL)
);
CREATE INDEX work_order_edits_order_idx ON work_order_edits (work_order_id, id);
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS work_order_edits;
DROP TABLE IF EXISTS work_order_inputs;
DROP TABLE IF EXISTS work_orders;
DROP SEQUENCE IF EXISTS work_order_number_seq;
DROP TABLE IF EXISTS production_completions;
DROP TABLE IF EXISTS manufacturing_order_components;
DROP TABLE IF EXISTS manufacturing_orders;
DROP SEQUENCE IF EXISTS manufacturing_order_number_seq;
DROP TABLE IF EXISTS bom_components;
DROP TABLE IF EXISTS boms;
"#;

//! Tenant migration: quality control. `quality_plans` and `quality_criteria` (a checklist
//! per item or category and inspection kind; a new plan for the same target replaces the
//! active one, old ones kept), `quality_inspections` (incoming against a receipt's ledger
//! entry, in-process against a work order, final on a produced lot; open until decided
//! pass / fail / conditional), `quality_results` (one per criterion, copied from the plan
//! when the inspection opens, so a later plan change leaves history alone),
//! `quality_defects` (defect type and quantity, on a result or the inspection),
//! `quality_lab_tests` (per lot) and `lot_quarantines` (a lot segregated by a failed
//! inspection or by hand, until released or scrapped).
//!
//! Lots gain the status `held` (an open inspection holds the lot until it is decided).
//! The permission `quality.release` (release or scrap a quarantined lot) is added and
//! granted to the `admin` and `manager` roles of existing companies (new ones are seeded
//! with it); `staff` does not get it.

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
ALTER TABLE lots DROP CONSTRAINT lots_status_check;
ALTER TABLE lots ADD CONSTRAINT lots_status_check
    CHECK (status IN ('available', 'held', 'quarantined', 'scrapped'));

CREATE TABLE quality_plans (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text        NOT NULL CHECK (kind IN ('incoming', 'in_process', 'final')),
    item_id     uuid        NULL REFERENCES items (id) ON DELETE RESTRICT,
    category_id uuid        NULL REFERENCES categories (id) ON DELETE RESTRICT,
    active      boolean     NOT NULL DEFAULT true,
    created_by  uuid        NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((item_id IS NULL) <> (category_id IS NULL))
);
-- One active plan per target and kind: a new one replaces it.
CREATE UNIQUE INDEX quality_plans_item_active_key ON quality_plans (item_id, kind)
    WHERE active AND item_id IS NOT NULL;
CREATE UNIQUE INDEX quality_plans_category_active_key ON quality_plans (category_id, kind)
    WHERE active AND category_id IS NOT NULL;

CREATE TABLE quality_criteria (
    plan_id  uuid           NOT NULL REFERENCES quality_plans (id) ON DELETE CASCADE,
    position integer        NOT NULL CHECK (position > 0),
    name     text           NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind     text           NOT NULL CHECK (kind IN ('pass_fail', 'measured')),
    min      numeric(20, 6) NULL,
    max      numeric(20, 6) NULL,
    unit     text           NULL CHECK (length(unit) BETWEEN 1 AND 20),
    PRIMARY KEY (plan_id, position),
    CHECK (kind = 'measured' OR (min IS NULL AND max IS NULL AND unit IS NULL)),
    CHECK (kind = 'pass_fail' OR min IS NOT NULL OR max IS NOT NULL),
    CHECK (min IS NULL OR max IS NULL OR min <= max)
);

CREATE SEQUENCE quality_inspection_number_seq;

CREATE TABLE quality_inspections (
    id               uuid           PRIMARY KEY,
    number           text           NOT NULL UNIQUE CHECK (number ~ '^QC-[0-9]{6,}$'),
    kind             text           NOT NULL CHECK (kind IN ('incoming', 'in_process', 'final')),
    item_id          uuid           NOT NULL REFERENCES items (id) ON DELETE RESTRICT,
    lot_id           uuid           NULL REFERENCES lots (id) ON DELETE RESTRICT,
    -- The receipt's ledger entry an incoming inspection checks.
    receipt_entry_id bigint         NULL REFERENCES stock_ledger (id),
    -- The work order an in-process inspection checks (linked once production lands).
    work_order_id    uuid           NULL,
    plan_id          uuid           NULL REFERENCES quality_plans (id) ON DELETE RESTRICT,
    quantity         numeric(20, 6) NULL CHECK (quantity > 0),
    -- Whether the lot is held (not available) until the inspection is decided.
    holds_lot        boolean        NOT NULL DEFAULT false,
    status           text           NOT NULL DEFAULT 'open'
                                    CHECK (status IN ('open', 'passed', 'failed',
                                                      'conditional')),
    comment          text           NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
    created_by       uuid           NULL,
    created_at       timestamptz    NOT NULL DEFAULT now(),
    decided_by       uuid           NULL,
    decided_at       timestamptz    NULL,
    CHECK ((status = 'open') = (decided_at IS NULL)),
    CHECK (status <> 'conditional' OR length(btrim(comment)) > 0),
    CHECK (kind <> 'incoming' OR receipt_entry_id IS NOT NULL),
    CHECK (kind <> 'in_process' OR work_order_id IS NOT NULL),
    CHECK (kind <> 'final' OR lot_id IS NOT NULL),
    CHECK (NOT holds_lot OR lot_id IS NOT NULL)
);
CREATE INDEX quality_inspections_status_idx ON quality_inspections (status, id);
CREATE INDEX quality_inspections_lot_idx ON quality_inspections (lot_id) WHERE lot_id IS NOT NULL;
CREATE INDEX quality_inspections_work_order_idx ON quality_inspections (work_order_id)
    WHERE work_order_id IS NOT NULL;

CREATE TABLE quality_results (
    inspection_id uuid           NOT NULL REFERENCES quality_inspections (id) ON DELETE CASCADE,
    position      integer        NOT NULL CHECK (position > 0),
    name          text           NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind          text           NOT NULL CHECK (kind IN ('pass_fail', 'measured')),
    min           numeric(20, 6) NULL,
    max           numeric(20, 6) NULL,
    unit          text           NULL,
    value         numeric(20, 6) NULL,
    passed        boolean        NULL,
    note          text           NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    PRIMARY KEY (inspection_id, position)
);

CREATE TABLE quality_defects (
    id            bigint         GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inspection_id uuid           NOT NULL REFERENCES quality_inspections (id) ON DELETE CASCADE,
    -- The criterion it was found on, if any.
    position      integer        NULL,
    defect_type   text           NOT NULL CHECK (defect_type ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    quantity      numeric(20, 6) NOT NULL DEFAULT 1 CHECK (quantity > 0),
    created_at    timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX quality_defects_inspection_idx ON quality_defects (inspection_id);

CREATE TABLE quality_lab_tests (
    id         uuid           PRIMARY KEY,
    lot_id     uuid           NOT NULL REFERENCES lots (id) ON DELETE RESTRICT,
    test_name  text           NOT NULL CHECK (length(test_name) BETWEEN 1 AND 200),
    method     text           NOT NULL DEFAULT '' CHECK (length(method) <= 200),
    value      numeric(20, 6) NULL,
    text_value text           NOT NULL DEFAULT '' CHECK (length(text_value) <= 2000),
    unit       text           NULL CHECK (length(unit) BETWEEN 1 AND 20),
    passed     boolean        NOT NULL,
    tested_by  uuid           NULL,
    tested_at  timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX quality_lab_tests_lot_idx ON quality_lab_tests (lot_id, tested_at);

CREATE TABLE lot_quarantines (
    id            uuid        PRIMARY KEY,
    lot_id        uuid        NOT NULL REFERENCES lots (id) ON DELETE RESTRICT,
    reason        text        NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
    -- The failed inspection that put it here; none when quarantined by hand.
    inspection_id uuid        NULL REFERENCES quality_inspections (id),
    created_by    uuid        NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    resolution    text        NULL CHECK (resolution IN ('released', 'scrapped')),
    resolved_by   uuid        NULL,
    resolved_at   timestamptz NULL,
    -- The scrap movement that took the lot's stock out.
    movement_id   uuid        NULL REFERENCES stock_movements (id),
    note          text        NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    CHECK ((resolution IS NULL) = (resolved_at IS NULL))
);
-- A lot is in quarantine at most once at a time.
CREATE UNIQUE INDEX lot_quarantines_open_key ON lot_quarantines (lot_id) WHERE resolution IS NULL;

INSERT INTO permissions (code, description)
    VALUES ('quality.release', 'release or scrap quarantined lots')
    ON CONFLICT (code) DO NOTHING;
INSERT INTO role_permissions (role_id, permission_code)
    SELECT id, 'quality.release' FROM roles WHERE name IN ('admin', 'manager')
    ON CONFLICT DO NOTHING;
"#;

const DOWN: &str = r#"
DELETE FROM role_permissions WHERE permission_code = 'quality.release';
DELETE FROM permissions WHERE code = 'quality.release';
DROP TABLE IF EXISTS lot_quarantines;
DROP TABLE IF EXISTS quality_lab_tests;
DROP TABLE IF EXISTS quality_defects;
DROP TABLE IF EXISTS quality_results;
DROP TABLE IF EXISTS quality_inspections;
DROP SEQUENCE IF EXISTS quality_inspection_number_seq;
DROP TABLE IF EXISTS quality_criteria;
DROP TABLE IF EXISTS quality_plans;
UPDATE lots SET status = 'quarantined' WHERE status = 'held';
ALTER TABLE lots DROP CONSTRAINT lots_status_check;
ALTER TABLE lots ADD CONSTRAINT lots_status_check
    CHECK (status IN ('available', 'quarantined', 'scrapped'));
"#;

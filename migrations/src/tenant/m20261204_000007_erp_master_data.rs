//! Tenant migration: the ERP's master data. Units of measure (a few common ones seeded),
//! item categories, items with their base unit and conversions to other units, partners
//! (customers, suppliers or both) with addresses, warehouses and their locations
//! (storage places, receiving and shipping docks, departments, quarantine). Codes are
//! unique per tenant regardless of case; quantities and money are `numeric`, never floats.

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
CREATE TABLE units (
    code       text        PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_.-]{1,16}$'),
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO units (code, name) VALUES
    ('pcs', 'Pieces'), ('box', 'Boxes'), ('kg', 'Kilograms'), ('g', 'Grams'),
    ('l', 'Litres'), ('ml', 'Millilitres'), ('m', 'Metres'), ('cm', 'Centimetres');

CREATE TABLE categories (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    parent_id  uuid        NULL REFERENCES categories (id) ON DELETE RESTRICT,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX categories_name_key ON categories (lower(name));

CREATE TABLE items (
    id            uuid           PRIMARY KEY,
    sku           text           NOT NULL CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$'),
    name          text           NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description   text           NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    kind          text           NOT NULL
                                 CHECK (kind IN ('raw', 'semi_finished', 'finished', 'service')),
    base_unit     text           NOT NULL REFERENCES units (code),
    category_id   uuid           NULL REFERENCES categories (id) ON DELETE SET NULL,
    reorder_point numeric(20, 6) NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
    standard_cost numeric(20, 6) NOT NULL DEFAULT 0 CHECK (standard_cost >= 0),
    lot_tracked   boolean        NOT NULL DEFAULT false,
    active        boolean        NOT NULL DEFAULT true,
    created_at    timestamptz    NOT NULL DEFAULT now(),
    updated_at    timestamptz    NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX items_sku_key ON items (lower(sku));
CREATE INDEX items_name_idx ON items (lower(name), id);
CREATE INDEX items_category_id_idx ON items (category_id);

-- One `unit` of the item is `factor` of its base unit (a box of 12: factor 12).
CREATE TABLE item_units (
    item_id uuid           NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    unit    text           NOT NULL REFERENCES units (code),
    factor  numeric(20, 6) NOT NULL CHECK (factor > 0),
    PRIMARY KEY (item_id, unit)
);

CREATE TABLE partners (
    id                 uuid        PRIMARY KEY,
    code               text        NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$'),
    name               text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    is_customer        boolean     NOT NULL DEFAULT false,
    is_supplier        boolean     NOT NULL DEFAULT false,
    email              text        NOT NULL DEFAULT '' CHECK (length(email) <= 254),
    phone              text        NOT NULL DEFAULT '' CHECK (length(phone) <= 50),
    tax_id             text        NOT NULL DEFAULT '' CHECK (length(tax_id) <= 50),
    payment_terms_days integer     NOT NULL DEFAULT 30 CHECK (payment_terms_days BETWEEN 0 AND 365),
    notes              text        NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
    active             boolean     NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (is_customer OR is_supplier)
);
CREATE UNIQUE INDEX partners_code_key ON partners (lower(code));
CREATE INDEX partners_name_idx ON partners (lower(name), id);

CREATE TABLE partner_addresses (
    id          uuid    PRIMARY KEY,
    partner_id  uuid    NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    kind        text    NOT NULL CHECK (kind IN ('billing', 'shipping')),
    line1       text    NOT NULL CHECK (length(line1) BETWEEN 1 AND 200),
    line2       text    NOT NULL DEFAULT '' CHECK (length(line2) <= 200),
    city        text    NOT NULL DEFAULT '' CHECK (length(city) <= 100),
    postal_code text    NOT NULL DEFAULT '' CHECK (length(postal_code) <= 20),
    country     text    NOT NULL DEFAULT '' CHECK (country ~ '^([A-Z]{2})?$'),
    is_default  boolean NOT NULL DEFAULT false
);
CREATE INDEX partner_addresses_partner_id_idx ON partner_addresses (partner_id);

CREATE TABLE warehouses (
    id         uuid        PRIMARY KEY,
    code       text        NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_./-]{0,31}$'),
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    address    text        NOT NULL DEFAULT '' CHECK (length(address) <= 500),
    active     boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX warehouses_code_key ON warehouses (lower(code));

CREATE TABLE locations (
    id           uuid        PRIMARY KEY,
    warehouse_id uuid        NOT NULL REFERENCES warehouses (id) ON DELETE RESTRICT,
    code         text        NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_./-]{0,31}$'),
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind         text        NOT NULL DEFAULT 'storage'
                             CHECK (kind IN ('storage', 'receiving', 'shipping', 'department',
                                             'production', 'quarantine')),
    active       boolean     NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX locations_code_key ON locations (warehouse_id, lower(code));
"#;

const DOWN: &str = r#"
DROP TABLE locations;
DROP TABLE warehouses;
DROP TABLE partner_addresses;
DROP TABLE partners;
DROP TABLE item_units;
DROP TABLE items;
DROP TABLE categories;
DROP TABLE units;
"#;

//! Control migration: billing through Stripe. The tenant's mirror of its subscription
//! (`tenants.billing_*`), the webhook event ledger (`stripe_events`, keyed by Stripe's
//! event id, raw payload kept before anything else), what was reported to the usage meter
//! (`billing_usage_reports`, one row per tenant and day) and which billing emails went out
//! (`billing_emails`, one row per tenant, kind and cause, so each is sent once).

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
ALTER TABLE tenants
    ADD COLUMN billing_period_start timestamptz NULL,
    ADD COLUMN billing_period_end   timestamptz NULL,
    ADD COLUMN billing_cancel_at_period_end boolean NOT NULL DEFAULT false,
    ADD COLUMN billing_past_due_since timestamptz NULL,
    ADD COLUMN billing_synced_at    timestamptz NULL;
ALTER TABLE tenants ADD CONSTRAINT tenants_billing_state_check CHECK (billing_state IN (
    'none', 'trialing', 'active', 'past_due', 'unpaid', 'paused', 'incomplete', 'canceled'));
CREATE UNIQUE INDEX tenants_stripe_customer_id_key ON tenants (stripe_customer_id)
    WHERE stripe_customer_id IS NOT NULL;
CREATE INDEX tenants_billing_state_idx ON tenants (billing_state)
    WHERE billing_state IN ('past_due', 'canceled', 'unpaid');

CREATE UNIQUE INDEX plans_stripe_price_id_key ON plans (stripe_price_id)
    WHERE stripe_price_id IS NOT NULL;

CREATE TABLE stripe_events (
    id              text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    type            text        NOT NULL,
    api_version     text        NULL,
    livemode        boolean     NOT NULL DEFAULT false,
    stripe_created  timestamptz NULL,
    payload         text        NOT NULL,
    parse_error     text        NULL,
    object_id       text        NULL,
    customer_id     text        NULL,
    tenant_id       uuid        NULL REFERENCES tenants (id),
    state           text        NOT NULL DEFAULT 'pending'
                                CHECK (state IN ('pending', 'processed', 'ignored', 'failed')),
    deliveries      integer     NOT NULL DEFAULT 1 CHECK (deliveries >= 1),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz NULL,
    last_error      text        NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz NULL
);
CREATE INDEX stripe_events_due_idx ON stripe_events (next_attempt_at) WHERE state = 'pending';
CREATE INDEX stripe_events_tenant_idx ON stripe_events (tenant_id, received_at);
CREATE INDEX stripe_events_received_idx ON stripe_events (received_at);

CREATE TABLE billing_usage_reports (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id),
    day         date        NOT NULL,
    identifier  text        NOT NULL UNIQUE,
    customer_id text        NOT NULL,
    quantity    bigint      NOT NULL CHECK (quantity >= 0),
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);

CREATE TABLE billing_emails (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    kind       text        NOT NULL CHECK (kind IN (
                   'trial_ending', 'payment_failed', 'access_suspended', 'access_restored')),
    cause      text        NOT NULL,
    recipient  text        NOT NULL,
    sent_at    timestamptz NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, cause)
);
"#;

const DOWN: &str = r#"
DROP TABLE billing_emails;
DROP TABLE billing_usage_reports;
DROP TABLE stripe_events;
DROP INDEX plans_stripe_price_id_key;
DROP INDEX tenants_billing_state_idx;
DROP INDEX tenants_stripe_customer_id_key;
ALTER TABLE tenants DROP CONSTRAINT tenants_billing_state_check;
ALTER TABLE tenants
    DROP COLUMN billing_period_start,
    DROP COLUMN billing_period_end,
    DROP COLUMN billing_cancel_at_period_end,
    DROP COLUMN billing_past_due_since,
    DROP COLUMN billing_synced_at;
"#;

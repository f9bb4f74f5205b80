//! Tenant migration: outbound webhooks. `webhook_endpoints` (where a company wants its
//! business events sent, which event types, the signing secrets sealed with the platform
//! key), the outbox `webhook_events` (written in the transaction of the change that raised
//! the event), `webhook_deliveries` (one per event and subscribed endpoint: its state, its
//! next attempt, which doubles as the claim lease) and `webhook_attempts` (every try, with
//! status, an excerpt of the answer, the duration and the error).

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
CREATE TABLE webhook_endpoints (
    id                   uuid        PRIMARY KEY,
    url                  text        NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    description          text        NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    event_types          text[]      NOT NULL CHECK (cardinality(event_types) >= 1),
    enabled              boolean     NOT NULL DEFAULT true,
    disabled_reason      text        NULL CHECK (disabled_reason IN ('manual', 'gone', 'failing')),
    -- The signing secret, sealed (AES-256-GCM) with the platform key: `key_id`, ciphertext.
    secret_key_id        text        NOT NULL,
    secret_sealed        bytea       NOT NULL,
    -- The secret a rotation replaced, which keeps signing beside the new one until
    -- `previous_expires_at`.
    previous_key_id      text        NULL,
    previous_sealed      bytea       NULL,
    previous_expires_at  timestamptz NULL,
    consecutive_failures integer     NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((previous_sealed IS NULL) = (previous_expires_at IS NULL)),
    CHECK ((previous_sealed IS NULL) = (previous_key_id IS NULL)),
    CHECK (enabled = (disabled_reason IS NULL))
);

CREATE TABLE webhook_events (
    id         uuid        PRIMARY KEY,
    event_type text        NOT NULL CHECK (event_type ~ '^[a-z_]+(\.[a-z_]+)+$'),
    data       jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id              uuid        PRIMARY KEY,
    event_id        uuid        NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id     uuid        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'failed', 'canceled')),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When a pending delivery is due; a worker that claims it moves it a lease ahead, so a
    -- crashed worker's claim lapses and another picks it up.
    next_attempt_at timestamptz NULL,
    last_status     integer     NULL CHECK (last_status BETWEEN 100 AND 599),
    last_error      text        NULL,
    delivered_at    timestamptz NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);

CREATE TABLE webhook_attempts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL CHECK (attempt >= 1),
    status_code  integer     NULL CHECK (status_code BETWEEN 100 AND 599),
    response     text        NOT NULL DEFAULT '' CHECK (length(response) <= 1000),
    duration_ms  integer     NOT NULL CHECK (duration_ms >= 0),
    error        text        NULL,
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
"#;

const DOWN: &str = r#"
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
"#;

//! Control migration: `plans`, the subscription plans and the limits they grant.

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
CREATE TABLE plans (
    code                    text        PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_-]{1,39}$'),
    name                    text        NOT NULL,
    description             text        NOT NULL DEFAULT '',
    max_users               integer     NOT NULL CHECK (max_users >= 0),
    max_storage_mb          integer     NOT NULL CHECK (max_storage_mb >= 0),
    api_requests_per_minute integer     NOT NULL CHECK (api_requests_per_minute > 0),
    api_calls_per_month     bigint      NOT NULL CHECK (api_calls_per_month >= 0),
    max_concurrent_requests integer     NOT NULL CHECK (max_concurrent_requests > 0),
    max_db_connections      integer     NOT NULL CHECK (max_db_connections > 0),
    features                jsonb       NOT NULL DEFAULT '[]'::jsonb
                                        CHECK (jsonb_typeof(features) = 'array'),
    trial_days              integer     NOT NULL DEFAULT 0 CHECK (trial_days >= 0),
    price_cents             bigint      NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    currency                text        NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
    stripe_price_id         text        NULL,
    is_public               boolean     NOT NULL DEFAULT true,
    archived                boolean     NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
"#;

const DOWN: &str = r#"
DROP TABLE plans;
"#;

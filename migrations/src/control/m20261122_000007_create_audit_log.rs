//! Control migration: `audit_log`, the append-only record of admin, system, Stripe and signup actions.

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
CREATE TABLE audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_kind  text        NOT NULL
                            CHECK (actor_kind IN ('admin', 'system', 'stripe', 'signup')),
    actor_id    uuid        NULL,
    actor_email text        NULL,
    action      text        NOT NULL,
    target_kind text        NULL,
    target_id   text        NULL,
    before      jsonb       NULL,
    after       jsonb       NULL,
    reason      text        NULL,
    request_id  text        NULL,
    ip          text        NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_target_idx ON audit_log (target_kind, target_id);
CREATE INDEX audit_log_actor_id_idx ON audit_log (actor_id);

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"#;

const DOWN: &str = r#"
DROP TABLE audit_log;
DROP FUNCTION IF EXISTS audit_log_append_only();
"#;

//! The schema-version ledger in the control database: `tenants.schema_version` (a tenant
//! database's newest migration, which the runtime compares with its code), its history
//! in `tenant_schema_ledger` (one row per applied migration and the run that applied it),
//! and each server's template version.

use super::TenantSchema;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// Records that the tenant's database went from `from` to `schema`'s newest version in
/// `run_id`, and announces the change so every runtime reloads the tenant (and learns its
/// version). Call inside the transaction that settles the tenant's part of the run.
pub(super) async fn record_migrated(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    run_id: Option<Uuid>,
    from: Option<&str>,
    schema: &TenantSchema,
) -> Result<(), DbErr> {
    let applied = schema.pending_after(from).join(",");
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO tenant_schema_ledger (tenant_id, version, run_id) \
         SELECT $1, v, $2 FROM unnest(string_to_array($3, ',')) AS v \
         ON CONFLICT (tenant_id, version) DO NOTHING",
        [tenant_id.into(), run_id.into(), applied.into()],
    ))
    .await?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE tenants SET schema_version = $2, updated_at = now() WHERE id = $1",
        [tenant_id.into(), schema.latest().into()],
    ))
    .await?;
    crate::tenants::notify_changed(db, tenant_id).await
}

/// Records every migration of `schema` for a tenant whose database was made at its newest
/// version (a clone of the template, or migrated from scratch).
pub(crate) async fn record_provisioned(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    schema: &TenantSchema,
) -> Result<(), DbErr> {
    record_migrated(db, tenant_id, None, None, schema).await
}

/// How many tenants with a database are behind `schema`'s newest version.
pub async fn tenants_behind(
    db: &impl ConnectionTrait,
    schema: &TenantSchema,
) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS behind FROM tenants WHERE status IN ('active', 'suspended') \
             AND db_name IS NOT NULL AND (schema_version IS NULL OR schema_version < $1)",
            [schema.latest().into()],
        ))
        .await?;
    row.map_or(Ok(0), |row| row.try_get("", "behind"))
}

/// Records the tenant schema version of the server's template.
pub async fn record_template(
    db: &impl ConnectionTrait,
    server_id: Uuid,
    version: &str,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE database_servers SET template_version = $2, template_built_at = now() \
         WHERE id = $1 AND template_version IS DISTINCT FROM $2",
        [server_id.into(), version.into()],
    ))
    .await?;
    Ok(())
}

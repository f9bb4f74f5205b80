//! The control plane's `GET /metrics`: the process's own series (requests, ...) plus
//! gauges about the fleet's backups, read from the control database at each scrape (one
//! aggregate query; per-tenant series would grow with the fleet):
//!
//! - `control_backups_stored` and `control_backup_stored_bytes`: completed backups still
//!   in the store, and their total size;
//! - `control_backup_latest_bytes_max`: the largest of each live tenant's newest backup;
//! - `control_backup_latest_age_seconds_max`: the oldest of each live (active or
//!   suspended) tenant's newest completed backup: the fleet's worst recovery point;
//! - `control_tenants_without_backup`: live tenants with no completed backup at all.
//!
//! A control database that does not answer leaves the gauges as they were (they expire
//! after two minutes) and the scrape still succeeds.

use crate::state::AppState;
use actix_web::{HttpResponse, web};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

const FLEET_BACKUPS: &str = "WITH latest AS ( \
       SELECT t.id, max(b.completed_at) AS at, \
              (array_agg(b.size_bytes ORDER BY b.completed_at DESC) \
                 FILTER (WHERE b.completed_at IS NOT NULL))[1] AS bytes \
       FROM tenants t LEFT JOIN tenant_backups b ON b.tenant_id = t.id AND b.state = 'completed' \
       WHERE t.status IN ('active', 'suspended') GROUP BY t.id) \
     SELECT (SELECT count(*) FROM tenant_backups WHERE state = 'completed')::float8 AS stored, \
            (SELECT coalesce(sum(size_bytes), 0) FROM tenant_backups \
               WHERE state = 'completed')::float8 AS stored_bytes, \
            coalesce(max(bytes), 0)::float8 AS latest_bytes_max, \
            coalesce(max(EXTRACT(EPOCH FROM now() - at)), 0)::float8 AS latest_age_max, \
            (count(*) FILTER (WHERE at IS NULL))::float8 AS without \
     FROM latest";

/// `GET /metrics` with the fleet's backup gauges refreshed first.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if let Err(error) = record_backup_gauges(&state.db).await {
        tracing::warn!("backup gauges not refreshed: {error}");
    }
    common::http::metrics().await
}

async fn record_backup_gauges(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let Some(row) = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, FLEET_BACKUPS))
        .await?
    else {
        return Ok(());
    };
    let gauges = [
        ("control_backups_stored", "stored"),
        ("control_backup_stored_bytes", "stored_bytes"),
        ("control_backup_latest_bytes_max", "latest_bytes_max"),
        ("control_backup_latest_age_seconds_max", "latest_age_max"),
        ("control_tenants_without_backup", "without"),
    ];
    for (name, column) in gauges {
        let value: f64 = row.try_get("", column)?;
        metrics::gauge!(name).set(value);
    }
    Ok(())
}

//! Usage: API calls per tenant counted in memory and added to `tenant_usage_daily` in one
//! statement per flush (every `usage_flush_secs`, and at shutdown); a failed flush keeps
//! its counts for the next one, so none is lost. Also samples each open tenant's database
//! size and user count into `tenants`.

use crate::registry::Registry;
use crate::registry::pool::TenantPool;
use dashmap::DashMap;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// Rows per INSERT (three parameters each, far under Postgres's 65,535).
const FLUSH_CHUNK: usize = 1000;
/// How many of the busiest tenants get their own metrics series.
const BUSIEST_TENANTS: usize = 10;

#[derive(Default)]
pub struct Usage {
    calls: DashMap<Uuid, AtomicU64>,
}

impl Usage {
    /// One admitted API call.
    pub fn count(&self, tenant: Uuid) {
        if let Some(calls) = self.calls.get(&tenant) {
            calls.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.calls
            .entry(tenant)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts not yet flushed (for tests and the shutdown log).
    pub fn pending(&self) -> u64 {
        self.calls
            .iter()
            .map(|calls| calls.load(Ordering::Relaxed))
            .sum()
    }

    /// Takes every count, leaving zeros.
    fn take(&self) -> Vec<(Uuid, u64)> {
        self.calls
            .iter()
            .filter_map(|entry| {
                let calls = entry.swap(0, Ordering::Relaxed);
                (calls > 0).then_some((*entry.key(), calls))
            })
            .collect()
    }

    fn give_back(&self, batch: &[(Uuid, u64)]) {
        for (tenant, calls) in batch {
            self.calls
                .entry(*tenant)
                .or_default()
                .fetch_add(*calls, Ordering::Relaxed);
        }
    }

    /// Adds the counts to today's rows (UTC); on failure they wait for the next flush.
    pub async fn flush(&self, db: &DatabaseConnection) -> Result<u64, sea_orm::DbErr> {
        let batch = self.take();
        if batch.is_empty() {
            return Ok(0);
        }
        publish_busiest(&batch);
        for (index, chunk) in batch.chunks(FLUSH_CHUNK).enumerate() {
            if let Err(error) = db.execute_raw(upsert(chunk)).await {
                self.give_back(&batch[index * FLUSH_CHUNK..]);
                return Err(error);
            }
        }
        Ok(batch.iter().map(|(_, calls)| calls).sum())
    }
}

/// Database size in bytes and the users that count against the plan.
async fn measure(pool: &TenantPool) -> anyhow::Result<(i64, i64)> {
    let connection = pool.get().await?;
    let row = connection
        .query_one(
            "SELECT pg_database_size(current_database()), \
             (SELECT count(*) FROM users WHERE status <> 'disabled')",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

fn upsert(chunk: &[(Uuid, u64)]) -> Statement {
    let mut values = Vec::with_capacity(chunk.len() * 2);
    let rows: Vec<String> = chunk
        .iter()
        .enumerate()
        .map(|(row, (tenant, calls))| {
            values.push(Value::from(*tenant));
            values.push(Value::from(i64::try_from(*calls).unwrap_or(i64::MAX)));
            format!(
                "(${}, (now() AT TIME ZONE 'UTC')::date, ${})",
                row * 2 + 1,
                row * 2 + 2
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO tenant_usage_daily (tenant_id, day, api_calls) VALUES {} \
         ON CONFLICT (tenant_id, day) DO UPDATE \
         SET api_calls = tenant_usage_daily.api_calls + EXCLUDED.api_calls, updated_at = now()",
        rows.join(", ")
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Per-tenant request counts of the last interval, for the busiest tenants only, so the
/// label set stays bounded (gauges of tenants that drop out expire).
fn publish_busiest(batch: &[(Uuid, u64)]) {
    let mut busiest: Vec<&(Uuid, u64)> = batch.iter().collect();
    busiest.sort_unstable_by_key(|(_, calls)| std::cmp::Reverse(*calls));
    for (tenant, calls) in busiest.into_iter().take(BUSIEST_TENANTS) {
        metrics::gauge!("runtime_busiest_tenant_requests", "tenant" => tenant.to_string())
            .set(*calls as f64);
    }
}

/// Bound on sampling one tenant, so a hung server cannot stall the round.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Samples database size and user count of every open active tenant that has a
/// connection open already (sampling never opens one, so it takes no budget).
pub async fn sample(registry: &Arc<Registry>, control_db: &DatabaseConnection) {
    for handle in registry.handles() {
        let Some(pool) = &handle.pool else { continue };
        if pool.status().size == 0 {
            continue;
        }
        let measured = tokio::time::timeout(SAMPLE_TIMEOUT, measure(pool)).await;
        let (bytes, users) = match measured {
            Ok(Ok(sizes)) => sizes,
            Ok(Err(error)) => {
                tracing::warn!(tenant = %handle.id, %error, "sampling usage failed");
                continue;
            }
            Err(_) => {
                tracing::warn!(tenant = %handle.id, "sampling usage timed out");
                continue;
            }
        };
        handle.storage_bytes.store(bytes, Ordering::Relaxed);
        let update = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE tenants SET storage_bytes = $2, user_count = $3, usage_sampled_at = now() \
             WHERE id = $1",
            [
                handle.id.into(),
                bytes.into(),
                i32::try_from(users).unwrap_or(i32::MAX).into(),
            ],
        );
        if let Err(error) = control_db.execute_raw(update).await {
            tracing::warn!(tenant = %handle.id, %error, "recording sampled usage failed");
        }
    }
}

//! Usage: API calls per tenant counted in memory and added to `tenant_usage_daily` once per
//! flush (every `usage_flush_secs`, and at shutdown), as a batch with an id recorded in
//! `usage_flushes` in the same transaction. A failed flush keeps its batch, id and all, and
//! the next flush writes it first: none is lost, and a batch whose INSERT committed unseen
//! (the connection broke after the statement was sent) is found recorded and not added
//! twice. Also samples each open tenant's database size and user count into `tenants`.

use crate::registry::Registry;
use crate::registry::pool::TenantPool;
use dashmap::DashMap;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait, Value,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// Rows per INSERT (three parameters each, far under Postgres's 65,535).
const FLUSH_CHUNK: usize = 1000;
/// How many of the busiest tenants get their own metrics series.
const BUSIEST_TENANTS: usize = 10;

/// Counts taken out of memory under an id, to be written once: (id, [(tenant, calls)]).
pub type Batch = (Uuid, Vec<(Uuid, u64)>);

#[derive(Default)]
pub struct Usage {
    calls: DashMap<Uuid, AtomicU64>,
    /// The batch whose last write failed, retried first under the same id.
    unsettled: Mutex<Option<Batch>>,
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
        let unsettled: u64 = self
            .unsettled
            .lock()
            .ok()
            .and_then(|batch| batch.as_ref().map(|(_, rows)| sum(rows)))
            .unwrap_or(0);
        let counting: u64 = self
            .calls
            .iter()
            .map(|calls| calls.load(Ordering::Relaxed))
            .sum();
        unsettled + counting
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

    /// Adds the counts to today's rows (UTC): first a batch a failed flush left, under its
    /// id, then the counts since. On failure the batch waits for the next flush.
    pub async fn flush(&self, db: &DatabaseConnection) -> Result<u64, DbErr> {
        let mut flushed = 0;
        if let Some(batch) = self.unsettled() {
            flushed += self.write_or_keep(db, batch).await?;
        }
        let rows = self.take();
        if rows.is_empty() {
            return Ok(flushed);
        }
        publish_busiest(&rows);
        flushed += self.write_or_keep(db, (Uuid::now_v7(), rows)).await?;
        Ok(flushed)
    }

    fn unsettled(&self) -> Option<Batch> {
        self.unsettled.lock().ok()?.take()
    }

    /// Writes `batch`; keeps it (id and all) when the write fails.
    async fn write_or_keep(&self, db: &DatabaseConnection, batch: Batch) -> Result<u64, DbErr> {
        match write(db, &batch).await {
            Ok(()) => Ok(sum(&batch.1)),
            Err(error) => {
                if let Ok(mut unsettled) = self.unsettled.lock() {
                    *unsettled = Some(batch);
                }
                Err(error)
            }
        }
    }
}

fn sum(rows: &[(Uuid, u64)]) -> u64 {
    rows.iter().map(|(_, calls)| calls).sum()
}

/// One transaction: the batch's id recorded (nothing more when it already was: the batch
/// committed before, unseen), its counts added, ids older than a week pruned. Public for
/// the tests that write a batch twice.
pub async fn write(db: &DatabaseConnection, (id, rows): &Batch) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    let recorded = tx
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO usage_flushes (id) VALUES ($1) ON CONFLICT DO NOTHING",
            [(*id).into()],
        ))
        .await?;
    if recorded.rows_affected() == 1 {
        for chunk in rows.chunks(FLUSH_CHUNK) {
            tx.execute_raw(upsert(chunk)).await?;
        }
        tx.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "DELETE FROM usage_flushes WHERE flushed_at < now() - interval '7 days'",
        ))
        .await?;
    }
    tx.commit().await
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

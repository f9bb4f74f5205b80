//! The event ledger as operators see it: the stored Stripe events, newest first, with how
//! each ended (`pending`, `processed`, `ignored`, `failed`), its attempts and last error;
//! one event with its raw payload; and putting a failed event back in the queue once the
//! cause is fixed.

use super::webhook::CHANNEL;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};
use uuid::Uuid;

/// One stored event (its payload only in [`event`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEvent {
    pub id: String,
    pub event_type: String,
    pub state: String,
    pub tenant_id: Option<Uuid>,
    pub customer_id: Option<String>,
    pub object_id: Option<String>,
    pub deliveries: i32,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub parse_error: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    /// The raw body as Stripe sent it (only when asked for one event).
    pub payload: Option<String>,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub state: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub event_type: Option<String>,
}

/// Where a page starts: after this event in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCursor {
    pub received_at: DateTime<Utc>,
    pub id: String,
}

const COLUMNS: &str = "id, type, state, tenant_id, customer_id, object_id, deliveries, attempts, \
     last_error, parse_error, received_at, processed_at, next_attempt_at";

/// Up to `limit` events matching `filter`, newest first, after `cursor`.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &LedgerFilter,
    cursor: Option<&LedgerCursor>,
    limit: u64,
) -> Result<Vec<LedgerEvent>, DbErr> {
    let sql = format!(
        "SELECT {COLUMNS} FROM stripe_events \
         WHERE ($1::text IS NULL OR state = $1) AND ($2::uuid IS NULL OR tenant_id = $2) \
           AND ($3::text IS NULL OR type = $3) \
           AND ($4::timestamptz IS NULL OR (received_at, id) < ($4, $5)) \
         ORDER BY received_at DESC, id DESC LIMIT $6"
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [
                filter.state.clone().into(),
                filter.tenant_id.into(),
                filter.event_type.clone().into(),
                cursor.map(|c| c.received_at).into(),
                cursor.map(|c| c.id.clone()).into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    rows.iter().map(|row| read(row, false)).collect()
}

/// One event, with its raw payload.
pub async fn event(db: &impl ConnectionTrait, id: &str) -> Result<Option<LedgerEvent>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {COLUMNS}, payload FROM stripe_events WHERE id = $1"),
            [id.into()],
        ))
        .await?;
    row.map(|row| read(&row, true)).transpose()
}

/// Puts a `failed` event back in the queue, due now, and wakes the workers; `false` when
/// there is no failed event by that id.
pub async fn retry(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH queued AS (UPDATE stripe_events SET state = 'pending', attempts = 0, \
               next_attempt_at = now(), lease_until = NULL, processed_at = NULL \
             WHERE id = $1 AND state = 'failed' RETURNING id) \
             SELECT pg_notify($2, id) FROM queued",
            [id.into(), Value::from(CHANNEL)],
        ))
        .await?;
    Ok(row.is_some())
}

fn read(row: &QueryResult, with_payload: bool) -> Result<LedgerEvent, DbErr> {
    Ok(LedgerEvent {
        id: row.try_get("", "id")?,
        event_type: row.try_get("", "type")?,
        state: row.try_get("", "state")?,
        tenant_id: row.try_get("", "tenant_id")?,
        customer_id: row.try_get("", "customer_id")?,
        object_id: row.try_get("", "object_id")?,
        deliveries: row.try_get("", "deliveries")?,
        attempts: row.try_get("", "attempts")?,
        last_error: row.try_get("", "last_error")?,
        parse_error: row.try_get("", "parse_error")?,
        received_at: row.try_get("", "received_at")?,
        processed_at: row.try_get("", "processed_at")?,
        next_attempt_at: row.try_get("", "next_attempt_at")?,
        payload: if with_payload {
            row.try_get("", "payload")?
        } else {
            None
        },
    })
}

//! `Idempotency-Key` for POSTs that create things: the first request with a key runs and
//! its response is stored in the same transaction as its effect; a retry with the same key
//! and body gets that response again (nothing runs twice), a reuse with another body is
//! refused. A concurrent duplicate waits on the key's row lock, then replays. Keys live
//! 24 hours.

use actix_web::HttpRequest;
use common::api_error::{ApiError, ApiResult};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";

/// A key taken from a request, with the fingerprint of the body it came with.
#[derive(Debug, Clone)]
pub struct Key {
    scope: String,
    key: String,
    request_sha256: String,
}

/// A stored response to send again.
#[derive(Debug, Clone)]
pub struct Replay {
    pub status: u16,
    pub body: Value,
}

impl Key {
    /// The request's key, if it sent one; `scope` separates callers and endpoints.
    pub fn from_request(
        request: &HttpRequest,
        scope: String,
        body: &impl Serialize,
    ) -> ApiResult<Option<Self>> {
        match request.headers().get(HEADER) {
            Some(value) => Self::new(value.to_str().unwrap_or_default(), scope, body).map(Some),
            None => Ok(None),
        }
    }

    /// A key given some other way (the portal's create form carries one per form shown,
    /// so a form submitted twice creates one tenant).
    pub fn new(key: &str, scope: String, body: &impl Serialize) -> ApiResult<Self> {
        if !(1..=255).contains(&key.len()) || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ApiError::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        let canonical = serde_json::to_vec(body).map_err(ApiError::internal)?;
        Ok(Self {
            scope,
            key: key.to_owned(),
            request_sha256: format!("{:x}", Sha256::digest(&canonical)),
        })
    }

    /// Claims the key inside `txn`. `Some(replay)` when an earlier request already used it
    /// (the caller must roll back and answer the replay).
    pub async fn claim(&self, txn: &DatabaseTransaction) -> ApiResult<Option<Replay>> {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 \
             AND created_at < now() - interval '24 hours'",
            [self.scope.clone().into(), self.key.clone().into()],
        ))
        .await?;
        let inserted = txn
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO idempotency_keys (scope, key, request_sha256, response_status, \
                 response_body) VALUES ($1, $2, $3, 0, 'null'::jsonb) ON CONFLICT DO NOTHING",
                [
                    self.scope.clone().into(),
                    self.key.clone().into(),
                    self.request_sha256.clone().into(),
                ],
            ))
            .await?;
        if inserted.rows_affected() == 1 {
            return Ok(None);
        }
        self.stored(txn).await.map(Some)
    }

    async fn stored(&self, db: &impl ConnectionTrait) -> ApiResult<Replay> {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT request_sha256, response_status, response_body FROM idempotency_keys \
                 WHERE scope = $1 AND key = $2",
                [self.scope.clone().into(), self.key.clone().into()],
            ))
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("idempotency key vanished")))?;
        let fingerprint: String = row.try_get("", "request_sha256")?;
        if fingerprint != self.request_sha256 {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body",
            ));
        }
        let status: i32 = row.try_get("", "response_status")?;
        Ok(Replay {
            status: u16::try_from(status).unwrap_or(500),
            body: row.try_get("", "response_body")?,
        })
    }

    /// Stores the response, in the transaction that made the effect.
    pub async fn remember(
        &self,
        txn: &DatabaseTransaction,
        status: u16,
        body: &Value,
    ) -> ApiResult<()> {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE idempotency_keys SET response_status = $3, response_body = $4 \
             WHERE scope = $1 AND key = $2",
            [
                self.scope.clone().into(),
                self.key.clone().into(),
                i32::from(status).into(),
                body.clone().into(),
            ],
        ))
        .await?;
        Ok(())
    }
}

//! Admin sessions: a short-lived access token (JWT) plus an opaque refresh token stored
//! only as its SHA-256. Each refresh spends the token and issues the next one in the same
//! family; presenting a spent token again means it was stolen (or raced), so the whole
//! family is revoked and both holders must log in again.

use crate::state::AppState;
use common::api_error::{ApiError, ApiResult};
use common::entities::admin_users;
use common::tokens::{CONTROL_PLANE_AUDIENCE, Claims, hash_opaque, new_opaque_token};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryResult, Statement, TransactionTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What login and refresh answer (the same shape on the tenant runtime).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// Starts a new session (a new refresh-token family) for a signed-in admin.
pub async fn start(state: &AppState, admin: &admin_users::Model) -> ApiResult<TokenPair> {
    let refresh_token = insert_refresh_token(state, &state.db, admin.id, Uuid::now_v7()).await?;
    issue(state, admin, refresh_token)
}

/// Spends `presented` and returns the next pair; see the module doc for reuse.
pub async fn rotate(state: &AppState, presented: &str) -> ApiResult<TokenPair> {
    let txn = state.db.begin().await?;
    let row = find_for_update(&txn, presented)
        .await?
        .ok_or_else(invalid)?;
    let family: Uuid = row.try_get("", "family_id")?;
    if row.try_get::<bool>("", "revoked")? {
        return Err(ApiError::unauthorized(
            "refresh_token_revoked",
            "this session has been ended; log in again",
        ));
    }
    if row.try_get::<bool>("", "used")? {
        revoke_family(&txn, family).await?;
        txn.commit().await?;
        tracing::warn!(%family, "a spent refresh token was presented again; session revoked");
        return Err(ApiError::unauthorized(
            "refresh_token_reused",
            "this refresh token was already used; the session has been revoked, log in again",
        ));
    }
    if row.try_get::<bool>("", "expired")? {
        return Err(ApiError::unauthorized(
            "refresh_token_expired",
            "the session has expired; log in again",
        ));
    }
    let admin_id: Uuid = row.try_get("", "admin_id")?;
    let admin = admin_users::Entity::find_by_id(admin_id)
        .one(&txn)
        .await?
        .filter(|admin| !admin.disabled)
        .ok_or_else(invalid)?;
    mark_used(&txn, row.try_get("", "id")?).await?;
    let next = insert_refresh_token(state, &txn, admin.id, family).await?;
    txn.commit().await?;
    issue(state, &admin, next)
}

/// Ends the session `presented` belongs to (idempotent; unknown tokens are ignored so
/// logout never tells an attacker whether a token existed).
pub async fn end(state: &AppState, presented: &str) -> ApiResult<()> {
    state
        .db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE admin_refresh_tokens SET revoked_at = now() \
             WHERE revoked_at IS NULL AND family_id = \
               (SELECT family_id FROM admin_refresh_tokens WHERE token_hash = $1)",
            [hash_opaque(presented).into()],
        ))
        .await?;
    Ok(())
}

fn invalid() -> ApiError {
    ApiError::unauthorized("invalid_refresh_token", "the refresh token is not valid")
}

fn issue(
    state: &AppState,
    admin: &admin_users::Model,
    refresh_token: String,
) -> ApiResult<TokenPair> {
    let ttl = state.config.access_token_ttl_secs;
    let mut claims = Claims::new(CONTROL_PLANE_AUDIENCE, &admin.id.to_string(), ttl);
    claims.roles = vec![admin.role.as_str().to_owned()];
    let access_token = state.tokens.sign(&claims).map_err(ApiError::internal)?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        expires_in: ttl,
    })
}

async fn insert_refresh_token(
    state: &AppState,
    db: &impl ConnectionTrait,
    admin_id: Uuid,
    family: Uuid,
) -> ApiResult<String> {
    let token = new_opaque_token();
    let ttl = i64::try_from(state.config.refresh_token_ttl_secs).unwrap_or(i64::MAX);
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO admin_refresh_tokens (id, admin_id, family_id, token_hash, expires_at) \
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        [
            Uuid::now_v7().into(),
            admin_id.into(),
            family.into(),
            hash_opaque(&token).into(),
            (ttl as f64).into(),
        ],
    ))
    .await?;
    Ok(token)
}

async fn find_for_update(
    db: &impl ConnectionTrait,
    presented: &str,
) -> ApiResult<Option<QueryResult>> {
    Ok(db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, admin_id, family_id, used_at IS NOT NULL AS used, \
                    revoked_at IS NOT NULL AS revoked, expires_at <= now() AS expired \
             FROM admin_refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            [hash_opaque(presented).into()],
        ))
        .await?)
}

async fn mark_used(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE admin_refresh_tokens SET used_at = now() WHERE id = $1",
        [id.into()],
    ))
    .await?;
    Ok(())
}

async fn revoke_family(db: &impl ConnectionTrait, family: Uuid) -> ApiResult<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE admin_refresh_tokens SET revoked_at = now() \
         WHERE family_id = $1 AND revoked_at IS NULL",
        [family.into()],
    ))
    .await?;
    Ok(())
}

/// Revokes every session of an admin (after a password change, disabling, 2FA change):
/// the API's refresh tokens and the portal's sessions alike.
pub async fn revoke_all_of(db: &impl ConnectionTrait, admin_id: Uuid) -> ApiResult<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE admin_refresh_tokens SET revoked_at = now() \
         WHERE admin_id = $1 AND revoked_at IS NULL",
        [admin_id.into()],
    ))
    .await?;
    crate::auth::portal_sessions::end_all_of(db, admin_id).await
}

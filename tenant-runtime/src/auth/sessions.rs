//! Sessions of tenant users: a short-lived access token (JWT, `aud=tenant-runtime`, `tid`,
//! `sub`, roles) and an opaque refresh token stored as its SHA-256 in the tenant database.
//! Refreshing spends the token and issues the next one of the same family; presenting a
//! spent token again revokes the whole family (it was stolen, or replayed).

use crate::state::AppState;
use common::api_error::{ApiError, ApiResult};
use common::tokens::{Claims, hash_opaque, new_opaque_token};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub token_type: &'static str,
}

/// Issues a pair for `user` of `tenant`, starting (or continuing) refresh `family`.
pub async fn issue(
    state: &AppState,
    db: &impl tokio_postgres::GenericClient,
    tenant: Uuid,
    user: Uuid,
    roles: Vec<String>,
    family: Uuid,
) -> ApiResult<TokenPair> {
    let ttl = state.config.access_token_ttl_secs;
    let claims = Claims::tenant_user(tenant, user, roles, ttl);
    let access_token = state.tokens.sign(&claims).map_err(ApiError::internal)?;
    let refresh_token = new_opaque_token();
    db.execute(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at) \
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        &[
            &Uuid::now_v7(),
            &user,
            &family,
            &hash_opaque(&refresh_token),
            &(state.config.refresh_token_ttl_secs as f64),
        ],
    )
    .await?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        expires_in: ttl,
        token_type: "Bearer",
    })
}

/// What a presented refresh token turned out to be.
pub enum Refresh {
    /// Valid: spent now; continue its family for this user.
    Spent { user: Uuid, family: Uuid },
    /// Unknown, expired or revoked.
    Invalid,
    /// Already spent: its family is now revoked.
    Reused,
}

/// Spends a refresh token, atomically: of two concurrent refreshes only one wins.
pub async fn spend(db: &impl tokio_postgres::GenericClient, token: &str) -> ApiResult<Refresh> {
    let hash = hash_opaque(token);
    let spent = db
        .query_opt(
            "UPDATE refresh_tokens SET used_at = now() \
             WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL \
               AND expires_at > now() \
             RETURNING user_id, family_id",
            &[&hash],
        )
        .await?;
    if let Some(row) = spent {
        return Ok(Refresh::Spent {
            user: row.get(0),
            family: row.get(1),
        });
    }
    let revoked = db
        .execute(
            "UPDATE refresh_tokens SET revoked_at = now() \
             WHERE revoked_at IS NULL AND family_id = \
               (SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NOT NULL)",
            &[&hash],
        )
        .await?;
    Ok(if revoked > 0 {
        Refresh::Reused
    } else {
        Refresh::Invalid
    })
}

/// Revokes the family of a refresh token (logout); unknown tokens are ignored.
pub async fn revoke_family(db: &impl tokio_postgres::GenericClient, token: &str) -> ApiResult<()> {
    db.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND family_id = \
           (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
        &[&hash_opaque(token)],
    )
    .await?;
    Ok(())
}

/// Revokes every session of a user, API and web app alike (password set, user disabled).
pub async fn revoke_user(db: &impl tokio_postgres::GenericClient, user: Uuid) -> ApiResult<()> {
    db.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        &[&user],
    )
    .await?;
    super::web_sessions::end_all_of(db, user).await
}

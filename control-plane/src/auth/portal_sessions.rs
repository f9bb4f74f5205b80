//! The admin portal's sessions (table `portal_sessions`). The browser holds a random token
//! in a strict cookie; the table holds its SHA-256, the session's CSRF token, whether the
//! second factor is still to come, and when it lapses: after
//! `control_plane.portal_idle_timeout_secs` without a request, and
//! `control_plane.portal_session_max_secs` after sign-in in any case. Each request reloads
//! the admin, so disabling one (or a changed role) takes effect on their next click. A
//! session that passes its second factor gets a new token (no fixation).

use crate::auth::guard::CurrentAdmin;
use crate::state::AppState;
use common::api_error::ApiResult;
use common::entities::admin_users;
use common::tokens::{hash_opaque, new_opaque_token};
use common::web::csrf;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement};
use uuid::Uuid;

/// A live session, found by its cookie.
#[derive(Debug, Clone)]
pub struct PortalSession {
    pub id: Uuid,
    pub admin: CurrentAdmin,
    pub csrf: String,
    /// Signed in with the password; the TOTP step is still to come.
    pub second_factor_pending: bool,
}

/// What the browser is given when a session starts or is renewed.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The cookie's value (never stored).
    pub token: String,
    pub csrf: String,
}

/// Starts a session for `admin_id`; `second_factor_pending` when the TOTP step follows.
/// Lapsed sessions are swept on the way, so the table only holds live ones.
pub async fn start(
    state: &AppState,
    admin_id: Uuid,
    second_factor_pending: bool,
) -> ApiResult<Issued> {
    sweep(&state.db).await?;
    let issued = new_tokens();
    state
        .db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO portal_sessions \
                 (id, token_hash, admin_id, csrf_token, second_factor_pending, expires_at) \
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
            [
                Uuid::now_v7().into(),
                hash_opaque(&issued.token).into(),
                admin_id.into(),
                issued.csrf.clone().into(),
                second_factor_pending.into(),
                (state.config.portal_session_max_secs as f64).into(),
            ],
        ))
        .await?;
    Ok(issued)
}

/// The live session `token` opens (its idle clock restarted), or `None` when it is
/// unknown, lapsed, or its admin is disabled or gone.
pub async fn find(state: &AppState, token: &str) -> ApiResult<Option<PortalSession>> {
    let row = state
        .db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE portal_sessions SET last_seen_at = now() \
             WHERE token_hash = $1 AND expires_at > now() \
               AND last_seen_at > now() - make_interval(secs => $2) \
             RETURNING id, admin_id, csrf_token, second_factor_pending",
            [
                hash_opaque(token).into(),
                (state.config.portal_idle_timeout_secs as f64).into(),
            ],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let admin_id: Uuid = row.try_get("", "admin_id")?;
    let admin = admin_users::Entity::find_by_id(admin_id)
        .one(&state.db)
        .await?
        .filter(|admin| !admin.disabled);
    Ok(admin.map(|admin| PortalSession {
        id: row.try_get("", "id").unwrap_or(admin.id),
        csrf: row.try_get("", "csrf_token").unwrap_or_default(),
        second_factor_pending: row.try_get("", "second_factor_pending").unwrap_or(true),
        admin: CurrentAdmin {
            id: admin.id,
            email: admin.email,
            role: admin.role,
        },
    }))
}

/// The second factor passed: the session is complete and gets a new token and CSRF
/// token, so a token planted before sign-in is worth nothing after it.
pub async fn complete_second_factor(state: &AppState, session_id: Uuid) -> ApiResult<Issued> {
    let issued = new_tokens();
    state
        .db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE portal_sessions \
             SET token_hash = $2, csrf_token = $3, second_factor_pending = false, \
                 last_seen_at = now() \
             WHERE id = $1",
            [
                session_id.into(),
                hash_opaque(&issued.token).into(),
                issued.csrf.clone().into(),
            ],
        ))
        .await?;
    Ok(issued)
}

/// Ends the session `token` opens (sign-out); unknown tokens are ignored.
pub async fn end(db: &impl ConnectionTrait, token: &str) -> ApiResult<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM portal_sessions WHERE token_hash = $1",
        [hash_opaque(token).into()],
    ))
    .await?;
    Ok(())
}

/// Ends every portal session of an admin (part of `sessions::revoke_all_of`).
pub async fn end_all_of(db: &impl ConnectionTrait, admin_id: Uuid) -> ApiResult<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM portal_sessions WHERE admin_id = $1",
        [admin_id.into()],
    ))
    .await?;
    Ok(())
}

async fn sweep(db: &impl ConnectionTrait) -> ApiResult<()> {
    db.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        "DELETE FROM portal_sessions WHERE expires_at < now()",
    ))
    .await?;
    Ok(())
}

fn new_tokens() -> Issued {
    Issued {
        token: new_opaque_token(),
        csrf: csrf::new_token(),
    }
}

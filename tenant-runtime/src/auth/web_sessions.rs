//! The ERP web app's sessions (tenant table `web_sessions`). The browser holds a random
//! token in a strict cookie scoped to the company's own host; the table holds its SHA-256,
//! the session's CSRF token, the super-admin behind an impersonated session, and when it
//! lapses: `tenant_runtime.web_idle_timeout_secs` after the last request and
//! `tenant_runtime.web_session_max_secs` after sign-in (an impersonation: when its token
//! would have expired). Ending a user's API sessions (`sessions::revoke_user`: password
//! set, user disabled) ends these too.

use common::api_error::ApiResult;
use common::tokens::{hash_opaque, new_opaque_token};
use common::web::csrf;
use uuid::Uuid;

/// A live session, found by its cookie.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub csrf: String,
    /// The super-admin acting as the user (`None` for the user themself).
    pub impersonator: Option<String>,
    /// Unix seconds when it ends at the latest.
    pub expires_at: i64,
}

/// What the browser is given when a session starts.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The cookie's value (never stored).
    pub token: String,
    pub csrf: String,
}

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle_secs: u64,
    pub max_secs: u64,
}

/// Starts a session for `user` (lapsed sessions are swept on the way). An impersonation
/// lasts no longer than `max_secs` from now, whatever the configured maximum.
pub async fn start(
    db: &impl tokio_postgres::GenericClient,
    lifetimes: Lifetimes,
    user: Uuid,
    impersonator: Option<&str>,
) -> ApiResult<Issued> {
    db.execute(
        "DELETE FROM web_sessions WHERE expires_at <= now() OR idle_until <= now()",
        &[],
    )
    .await?;
    let issued = Issued {
        token: new_opaque_token(),
        csrf: csrf::new_token(),
    };
    db.execute(
        "INSERT INTO web_sessions \
             (id, token_hash, user_id, impersonator, csrf_token, idle_until, expires_at) \
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6), \
                 now() + make_interval(secs => $7))",
        &[
            &Uuid::now_v7(),
            &hash_opaque(&issued.token),
            &user,
            &impersonator,
            &issued.csrf,
            &(lifetimes.idle_secs as f64),
            &(lifetimes.max_secs as f64),
        ],
    )
    .await?;
    Ok(issued)
}

/// The live session `token` opens, its idle deadline pushed on; `None` when there is none
/// (made up, signed out, lapsed).
///
/// The deadline is written only when the last push is older than [`touch_slack`]: a page
/// view is then a read, not a row update (and its WAL) per click, at the price of a session
/// lapsing up to that much earlier than the idle timeout after its last request.
pub async fn find(
    db: &impl tokio_postgres::GenericClient,
    lifetimes: Lifetimes,
    token: &str,
) -> ApiResult<Option<WebSession>> {
    let row = db
        .query_opt(
            "WITH live AS ( \
                 SELECT id, user_id, csrf_token, impersonator, expires_at, last_seen_at \
                 FROM web_sessions \
                 WHERE token_hash = $1 AND expires_at > now() AND idle_until > now()), \
             touched AS ( \
                 UPDATE web_sessions s \
                 SET last_seen_at = now(), \
                     idle_until = least(s.expires_at, now() + make_interval(secs => $2)) \
                 FROM live \
                 WHERE s.id = live.id \
                   AND live.last_seen_at < now() - make_interval(secs => $3)) \
             SELECT id, user_id, csrf_token, impersonator, \
                    extract(epoch FROM expires_at)::bigint \
             FROM live",
            &[
                &hash_opaque(token),
                &(lifetimes.idle_secs as f64),
                &touch_slack(lifetimes),
            ],
        )
        .await?;
    Ok(row.map(|row| WebSession {
        id: row.get(0),
        user_id: row.get(1),
        csrf: row.get(2),
        impersonator: row.get(3),
        expires_at: row.get(4),
    }))
}

/// How stale a session's idle deadline may get before a request pushes it on: a minute, or
/// half a short idle timeout.
fn touch_slack(lifetimes: Lifetimes) -> f64 {
    (lifetimes.idle_secs as f64 / 2.0).min(60.0)
}

/// Ends one session (sign-out).
pub async fn end(db: &impl tokio_postgres::GenericClient, id: Uuid) -> ApiResult<()> {
    db.execute("DELETE FROM web_sessions WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

/// Ends every web session of a user.
pub async fn end_all_of(db: &impl tokio_postgres::GenericClient, user: Uuid) -> ApiResult<()> {
    db.execute("DELETE FROM web_sessions WHERE user_id = $1", &[&user])
        .await?;
    Ok(())
}

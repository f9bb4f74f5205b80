//! Sign-in for tenant users: login (with lock-out), refresh (rotating), logout, password
//! reset by emailed token, and set-password (for invited users and resets alike).

use crate::auth::load_user;
use crate::auth::sessions::{self, Refresh, TokenPair};
use crate::db;
use crate::gate::Tenant;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use common::api_error::{ApiError, ApiResult};
use common::http::Body;
use common::lockout;
use common::tenant_audit::{self as audit, Actor};
use common::tokens::{hash_opaque, new_opaque_token};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// How long an emailed password-reset link works.
const RESET_TTL_SECS: f64 = 3600.0;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// From the emailed link; a made-up or spent one answers 400.
    pub token: String,
    #[schema(schema_with = common::openapi::password)]
    pub password: String,
}

/// Signs a user in. Each attempt on a known, unlocked account is counted *before* the
/// password is checked, in one statement that also starts the lock at the fifth failure,
/// so parallel guesses cannot outrun the lock. The connection goes back to the pool while
/// argon2 runs. Unknown emails are checked against a dummy hash: same work, same answer.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "invalid_credentials"),
              (status = 429, description = "`account_locked`, `rate_limited` (too many attempts from one address)")))]
pub async fn login(
    state: web::Data<AppState>,
    request: HttpRequest,
    tenant: Tenant,
    body: Body<LoginRequest>,
) -> ApiResult<web::Json<TokenPair>> {
    let body = body.into_inner()?;
    let user = check_credentials(&state, &request, &tenant, &body.email, body.password).await?;
    let db = db::connect(&tenant).await?;
    let roles = load_user(db.client(), user)
        .await?
        .map(|user| user.roles)
        .unwrap_or_default();
    let pair = sessions::issue(
        &state,
        db.client(),
        tenant.0.id,
        user,
        roles,
        Uuid::now_v7(),
    )
    .await?;
    Ok(web::Json(pair))
}

/// The active user these credentials prove, the one check both doors use (this API and
/// the web app's sign-in form): 401 `invalid_credentials` for a wrong email or password or
/// a user who may not sign in, 429 `account_locked` while locked, 429 `rate_limited` when
/// the client's address made too many attempts (on any tenant: `limits.sign_ins_per_ip_per_minute`,
/// fleet-wide). A success clears the failure count.
pub async fn check_credentials(
    state: &AppState,
    request: &HttpRequest,
    tenant: &Tenant,
    email: &str,
    password: String,
) -> ApiResult<Uuid> {
    let client = common::http::client_ip(request, state.config.trust_forwarded_for);
    state.sign_in_limiter.check(client).await?;
    let email = email.trim();
    let attempt = {
        let db = db::connect(tenant).await?;
        reserve_attempt(db.client(), email).await?
    };
    let (user, hash) = match attempt {
        Attempt::Locked { seconds } => return Err(lockout::locked(seconds)),
        Attempt::Unknown => (None, None),
        Attempt::Counted { user, hash, active } => (active.then_some(user), hash),
    };
    let verified = common::passwords::verify_off_thread(password, hash).await;
    let Some(user) = user.filter(|_| verified) else {
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "the email or password is wrong",
        ));
    };
    let db = db::connect(tenant).await?;
    db.execute(
        &format!("UPDATE users SET {} WHERE id = $1", lockout::CLEAR_SQL),
        &[&user],
    )
    .await?;
    Ok(user)
}

enum Attempt {
    /// No such user.
    Unknown,
    Locked {
        seconds: f64,
    },
    /// Counted as a failure until the password proves right.
    Counted {
        user: Uuid,
        hash: Option<String>,
        active: bool,
    },
}

/// Counts one attempt against an unlocked account (starting or lengthening the lock as
/// `common::lockout` says), or says it is locked or unknown; two round trips either way.
async fn reserve_attempt(
    db: &impl tokio_postgres::GenericClient,
    email: &str,
) -> ApiResult<Attempt> {
    let count = format!(
        "UPDATE users SET {} \
         WHERE lower(email) = lower($1) AND (locked_until IS NULL OR locked_until <= now()) \
         RETURNING id, password_hash, status",
        lockout::count_failure_sql()
    );
    let counted = db.query_opt(&count, &[&email]).await?;
    let lock = db
        .query_opt(
            "SELECT extract(epoch FROM locked_until - now())::float8 FROM users \
             WHERE lower(email) = lower($1)",
            &[&email],
        )
        .await?;
    if let Some(row) = counted {
        return Ok(Attempt::Counted {
            user: row.get(0),
            hash: row.get(1),
            active: row.get::<_, String>(2) == "active",
        });
    }
    Ok(match lock.and_then(|row| row.get::<_, Option<f64>>(0)) {
        Some(seconds) if seconds > 0.0 => Attempt::Locked { seconds },
        _ => Attempt::Unknown,
    })
}

/// Trades a refresh token for a new pair (the old one is spent).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "invalid_refresh_token")))]
pub async fn refresh(
    state: web::Data<AppState>,
    tenant: Tenant,
    body: Body<RefreshRequest>,
) -> ApiResult<web::Json<TokenPair>> {
    let body = body.into_inner()?;
    let mut db = db::connect(&tenant).await?;
    let invalid = || {
        ApiError::unauthorized(
            "invalid_refresh_token",
            "the refresh token is not valid; sign in",
        )
    };
    // Spent and reissued together: a failure in between must not leave the client
    // holding a spent token whose retry would look like theft.
    let transaction = db.begin().await?;
    let (user, family) = match sessions::spend(&transaction, &body.refresh_token).await? {
        Refresh::Spent { user, family } => (user, family),
        Refresh::Invalid => return Err(invalid()),
        Refresh::Reused => {
            transaction.commit().await?; // keep the family revoked
            return Err(invalid());
        }
    };
    let user = load_user(&transaction, user)
        .await?
        .filter(|user| user.status == "active")
        .ok_or_else(invalid)?;
    let pair = sessions::issue(
        &state,
        &transaction,
        tenant.0.id,
        user.id,
        user.roles,
        family,
    )
    .await?;
    transaction.commit().await?;
    Ok(web::Json(pair))
}

/// Ends the session the refresh token belongs to.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "signed out")))]
pub async fn logout(tenant: Tenant, body: Body<RefreshRequest>) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let db = db::connect(&tenant).await?;
    sessions::revoke_family(db.client(), &body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Emails a password-reset link. Answers 202 whether or not the email is known.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, description = "a link is on its way if the address is known")))]
pub async fn request_reset(
    state: web::Data<AppState>,
    tenant: Tenant,
    body: Body<ResetRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    send_reset_link(&state, &tenant, &body.email).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Emails a password-reset link to `email` if a user who may sign in has it; says nothing
/// either way (no one learns which addresses exist).
pub async fn send_reset_link(state: &AppState, tenant: &Tenant, email: &str) -> ApiResult<()> {
    let db = db::connect(tenant).await?;
    let token = new_opaque_token();
    let updated = db
        .query_opt(
            "UPDATE users SET set_password_token_hash = $2, \
               set_password_expires_at = now() + make_interval(secs => $3), updated_at = now() \
             WHERE lower(email) = lower($1) AND status <> 'disabled' RETURNING email",
            &[&email.trim(), &hash_opaque(&token), &RESET_TTL_SECS],
        )
        .await?;
    if let Some(row) = updated {
        let email: String = row.get(0);
        let link = state
            .tenant_origin()
            .set_password_link(&tenant.0.slug, &token);
        state.mailer.send_later(
            email,
            format!("Reset your {} password", tenant.0.name),
            format!(
                "Someone asked to reset your password for {}.\n\nSet a new one within an hour:\n{link}\n\n\
                 If it was not you, ignore this message.\n",
                tenant.0.name
            ),
        );
    }
    Ok(())
}

/// Sets a password with an emailed token (an invitation or a reset); the user becomes
/// active and every earlier session ends.
#[utoipa::path(post, path = "/api/v1/auth/set-password", tag = "auth", request_body = SetPasswordRequest,
    responses((status = 204, description = "password set"), (status = 400, description = "invalid_set_password_token"),
              (status = 422, description = "validation_failed")))]
pub async fn set_password(
    request: HttpRequest,
    tenant: Tenant,
    body: Body<SetPasswordRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    set_password_with_token(&request, &tenant, &body.token, body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sets the password of the user an emailed `token` names (an invitation or a reset) and
/// returns who it was: 400 `invalid_set_password_token` for a made-up, spent or expired
/// token, 422 for a password too weak. The user becomes active and every earlier session
/// of theirs ends.
pub async fn set_password_with_token(
    request: &HttpRequest,
    tenant: &Tenant,
    token: &str,
    password: String,
) -> ApiResult<Uuid> {
    common::passwords::acceptable(&password)
        .map_err(|message| ApiError::invalid("password", message))?;
    let hash = common::passwords::hash_off_thread(password)
        .await
        .map_err(ApiError::internal)?;
    let mut db = db::connect(tenant).await?;
    let transaction = db.begin().await?;
    let user: Option<Uuid> = transaction
        .query_opt(
            "UPDATE users SET password_hash = $2, status = 'active', \
               set_password_token_hash = NULL, set_password_expires_at = NULL, \
               failed_login_count = 0, locked_until = NULL, updated_at = now() \
             WHERE set_password_token_hash = $1 AND set_password_expires_at > now() \
               AND status <> 'disabled' RETURNING id",
            &[&hash_opaque(token), &hash],
        )
        .await?
        .map(|row| row.get(0));
    let Some(user) = user else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_set_password_token",
            "the link is not valid or has expired; ask for a new one",
        ));
    };
    sessions::revoke_user(&transaction, user).await?;
    let actor = Actor::new(request, Some(user), None);
    let entry = audit::Entry {
        action: "user.password_set",
        target_kind: "user",
        target_id: user.to_string(),
        before: None,
        after: None,
    };
    audit::record(&transaction, &actor, entry).await?;
    transaction.commit().await?;
    Ok(user)
}

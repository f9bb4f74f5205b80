//! `/api/v1/auth/*` and `/api/v1/me*`: login, refresh, logout, the signed-in admin, and
//! their TOTP enrolment.

use crate::api::meta::RequestMeta;
use crate::audit::{self, Entry};
use crate::auth::guard::CurrentAdmin;
use crate::auth::login::{self, Credentials};
use crate::auth::sessions::{self, TokenPair};
use crate::auth::totp;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult, Validator};
use common::entities::admin_users;
use common::http::Body;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// A current TOTP code, or one of the recovery codes, when 2FA is on.
    #[serde(default)]
    pub totp: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminView {
    pub id: Uuid,
    pub email: String,
    /// `owner`, `operator`, `billing` or `support`.
    pub role: String,
    pub totp_enabled: bool,
    pub recovery_codes_left: usize,
    pub disabled: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&admin_users::Model> for AdminView {
    fn from(admin: &admin_users::Model) -> Self {
        Self {
            id: admin.id,
            email: admin.email.clone(),
            role: admin.role.as_str().to_owned(),
            totp_enabled: admin.totp_enabled,
            recovery_codes_left: admin.recovery_code_hashes.as_array().map_or(0, Vec::len),
            disabled: admin.disabled,
            last_login_at: admin.last_login_at.map(|at| at.with_timezone(&Utc)),
            created_at: admin.created_at.with_timezone(&Utc),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrollment {
    /// The secret in base32, for typing into an authenticator by hand.
    pub secret: String,
    /// `otpauth://totp/...`, usually shown as a QR code.
    pub otpauth_uri: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TotpCode {
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Shown once: each works once in place of a TOTP code.
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    #[schema(schema_with = common::openapi::password)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableTotp {
    pub password: String,
    /// A current TOTP code or a recovery code.
    pub code: String,
}

/// Log in with email, password and (when enrolled) a TOTP code.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair),
        (status = 401, description = "`invalid_credentials`, `totp_required`, `invalid_totp`", body = crate::api::openapi::ProblemDoc),
        (status = 429, description = "`account_locked`, `rate_limited` (too many attempts from one address)", body = crate::api::openapi::ProblemDoc)))]
pub async fn login(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: Body<LoginRequest>,
) -> ApiResult<web::Json<TokenPair>> {
    // Read as `Body` (not `web::Json`): text holding a NUL is refused (422) here rather
    // than reaching Postgres, which cannot store it (a 500 before).
    let body = body.into_inner()?;
    state.sign_in_limiter.check(meta.ip).await?;
    let credentials = Credentials {
        email: body.email,
        password: body.password,
        totp: body.totp,
    };
    let admin = login::check(&state, &credentials).await?;
    Ok(web::Json(sessions::start(&state, &admin).await?))
}

/// Trade a refresh token for a new pair; a spent token revokes its whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair),
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_reused`, `refresh_token_expired`, `refresh_token_revoked`", body = crate::api::openapi::ProblemDoc)))]
pub async fn refresh(
    state: web::Data<AppState>,
    body: Body<RefreshRequest>,
) -> ApiResult<web::Json<TokenPair>> {
    let body = body.into_inner()?;
    Ok(web::Json(
        sessions::rotate(&state, &body.refresh_token).await?,
    ))
}

/// End the session the refresh token belongs to.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "the session is over")))]
pub async fn logout(
    state: web::Data<AppState>,
    body: Body<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    sessions::end(&state, &body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in admin.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = AdminView), (status = 401, body = crate::api::openapi::ProblemDoc)))]
pub async fn me(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> ApiResult<web::Json<AdminView>> {
    Ok(web::Json(show_me(&state, &admin).await?))
}

/// The signed-in admin's own account (any role: it is their own).
pub async fn show_me(state: &AppState, admin: &CurrentAdmin) -> ApiResult<AdminView> {
    let row = load(state, admin.id).await?;
    Ok(AdminView::from(&row))
}

async fn load(state: &AppState, id: Uuid) -> ApiResult<admin_users::Model> {
    admin_users::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the account no longer exists"))
}

/// Start TOTP enrolment: a new secret, not active until confirmed with a code.
#[utoipa::path(post, path = "/api/v1/me/2fa/enroll", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TotpEnrollment),
        (status = 409, description = "`totp_already_enabled`", body = crate::api::openapi::ProblemDoc)))]
pub async fn enroll_totp(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> ApiResult<web::Json<TotpEnrollment>> {
    Ok(web::Json(start_totp_enrolment(&state, &admin).await?))
}

/// A new TOTP secret for the admin, stored sealed, not in force until confirmed (409
/// `totp_already_enabled` while 2FA is on).
pub async fn start_totp_enrolment(
    state: &AppState,
    admin: &CurrentAdmin,
) -> ApiResult<TotpEnrollment> {
    let row = load(state, admin.id).await?;
    if row.totp_enabled {
        return Err(ApiError::conflict(
            "totp_already_enabled",
            "two-factor authentication is already on; disable it first to re-enrol",
        ));
    }
    let secret = totp::new_secret();
    let uri = totp::otpauth_uri(&secret, &row.email).map_err(ApiError::internal)?;
    let sealed = state
        .keyring
        .seal(&secret, admin.id.as_bytes())
        .map_err(ApiError::internal)?;
    state
        .db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE admin_users SET totp_secret_ciphertext = $2, totp_key_id = $3, \
               totp_last_step = NULL, updated_at = now() WHERE id = $1",
            [
                admin.id.into(),
                sealed.ciphertext.into(),
                sealed.key_id.into(),
            ],
        ))
        .await?;
    Ok(TotpEnrollment {
        secret: totp::secret_base32(&secret),
        otpauth_uri: uri,
    })
}

/// Confirm enrolment with a current code; answers the recovery codes (shown once).
#[utoipa::path(post, path = "/api/v1/me/2fa/confirm", tag = "auth", security(("bearer" = [])),
    request_body = TotpCode,
    responses((status = 200, body = RecoveryCodes),
        (status = 409, description = "`totp_not_enrolled`, `totp_already_enabled`", body = crate::api::openapi::ProblemDoc),
        (status = 422, description = "`invalid_totp`", body = crate::api::openapi::ProblemDoc)))]
pub async fn confirm_totp(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    meta: RequestMeta,
    body: Body<TotpCode>,
) -> ApiResult<web::Json<RecoveryCodes>> {
    let codes = confirm_totp_enrolment(&state, &admin, &meta, body.into_inner()?).await?;
    Ok(web::Json(codes))
}

/// Puts 2FA in force once a current code proves the authenticator has the secret; the
/// recovery codes are answered once and only their hashes kept (audited).
pub async fn confirm_totp_enrolment(
    state: &AppState,
    admin: &CurrentAdmin,
    meta: &RequestMeta,
    body: TotpCode,
) -> ApiResult<RecoveryCodes> {
    let row = load(state, admin.id).await?;
    if row.totp_enabled {
        return Err(ApiError::conflict(
            "totp_already_enabled",
            "already confirmed",
        ));
    }
    if row.totp_secret_ciphertext.is_none() {
        return Err(ApiError::conflict("totp_not_enrolled", "call enroll first"));
    }
    if !login::accept_code(state, &row, &body.code).await? {
        return Err(ApiError::invalid("code", "the code is wrong or expired"));
    }
    let (codes, hashes) = totp::new_recovery_codes();
    let txn = state.db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE admin_users SET totp_enabled = true, recovery_code_hashes = $2, \
           updated_at = now() WHERE id = $1",
        [admin.id.into(), json!(hashes).into()],
    ))
    .await?;
    audit::record(
        &txn,
        meta,
        Entry::new(admin, "admin.2fa_enabled", "admin", admin.id),
    )
    .await?;
    txn.commit().await?;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// Turn TOTP off (needs the password and a code); ends every session of the admin.
#[utoipa::path(post, path = "/api/v1/me/2fa/disable", tag = "auth", security(("bearer" = [])),
    request_body = DisableTotp,
    responses((status = 204, description = "2FA is off"),
        (status = 401, description = "`invalid_credentials`, `invalid_totp`", body = crate::api::openapi::ProblemDoc)))]
pub async fn disable_totp(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    meta: RequestMeta,
    body: Body<DisableTotp>,
) -> ApiResult<HttpResponse> {
    turn_totp_off(&state, &admin, &meta, body.into_inner()?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Turns 2FA off after the password and a code check out as at sign-in; every session
/// of the admin ends (audited).
pub async fn turn_totp_off(
    state: &AppState,
    admin: &CurrentAdmin,
    meta: &RequestMeta,
    body: DisableTotp,
) -> ApiResult<()> {
    let row = load(state, admin.id).await?;
    let credentials = Credentials {
        email: row.email.clone(),
        password: body.password.clone(),
        totp: Some(body.code.clone()),
    };
    login::check(state, &credentials).await?;
    let txn = state.db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE admin_users SET totp_enabled = false, totp_secret_ciphertext = NULL, \
           totp_key_id = NULL, totp_last_step = NULL, recovery_code_hashes = '[]'::jsonb, \
           updated_at = now() WHERE id = $1",
        [admin.id.into()],
    ))
    .await?;
    sessions::revoke_all_of(&txn, admin.id).await?;
    audit::record(
        &txn,
        meta,
        Entry::new(admin, "admin.2fa_disabled", "admin", admin.id),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Change one's own password (the current one is checked under the sign-in lock-out).
/// Every session of the admin ends, so one opened with the old password does not outlive
/// it; the portal opens a fresh session for the browser that made the change.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204, description = "the password is changed; sign in again"),
        (status = 403, description = "`wrong_password`: the current password is wrong", body = crate::api::openapi::ProblemDoc),
        (status = 422, description = "`validation_failed` (`new_password` unacceptable)", body = crate::api::openapi::ProblemDoc),
        (status = 429, description = "`account_locked`", body = crate::api::openapi::ProblemDoc)))]
pub async fn change_password(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    meta: RequestMeta,
    body: Body<PasswordChange>,
) -> ApiResult<HttpResponse> {
    change_own_password(&state, &admin, &meta, body.into_inner()?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sets the admin's new password once the current one checks out (field errors on
/// `current_password` and `new_password`); ends every session of theirs (audited).
pub async fn change_own_password(
    state: &AppState,
    admin: &CurrentAdmin,
    meta: &RequestMeta,
    body: PasswordChange,
) -> ApiResult<()> {
    Validator::default()
        .check(
            "new_password",
            common::passwords::acceptable(&body.new_password),
        )
        .finish()?;
    let row = load(state, admin.id).await?;
    if !login::check_current_password(state, &row, &body.current_password).await? {
        // A wrong password is a refusal, not a malformed request: 403, like the API's
        // other checks of who the caller is.
        return Err(ApiError::forbidden(
            "wrong_password",
            "the current password is wrong",
        ));
    }
    let hash = common::passwords::hash_off_thread(body.new_password)
        .await
        .map_err(ApiError::internal)?;
    let txn = state.db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE admin_users SET password_hash = $2, updated_at = now() WHERE id = $1",
        [admin.id.into(), hash.into()],
    ))
    .await?;
    sessions::revoke_all_of(&txn, admin.id).await?;
    audit::record(
        &txn,
        meta,
        Entry::new(admin, "admin.password_changed", "admin", admin.id),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

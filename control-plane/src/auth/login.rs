//! Checking an admin's credentials: password (argon2id, the same cost whether or not the
//! account exists), lock-out with back-off after repeated failures (the policy all
//! sign-ins share, `common::lockout`), and the second factor
//! (a TOTP code, or a one-time recovery code) when the admin enrolled one.

use crate::auth::totp;
use crate::state::AppState;
use chrono::Utc;
use common::api_error::{ApiError, ApiResult};
use common::crypto::Sealed;
use common::entities::admin_users;
use common::lockout;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement, sea_query::Expr};

/// What the admin typed.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub email: String,
    pub password: String,
    pub totp: Option<String>,
}

/// The admin, when every factor checks out; the error otherwise.
pub async fn check(state: &AppState, credentials: &Credentials) -> ApiResult<admin_users::Model> {
    let admin = find_by_email(state, &credentials.email).await?;
    if let Some(admin) = &admin {
        refuse_if_locked(admin)?;
    }
    // argon2 is deliberately slow: it runs off the async workers.
    let stored = admin.as_ref().map(|admin| admin.password_hash.clone());
    let password_ok =
        common::passwords::verify_off_thread(credentials.password.clone(), stored).await;
    let admin = match admin {
        Some(admin) if password_ok && !admin.disabled => admin,
        other => {
            if let Some(admin) = other {
                record_failure(&state.db, &admin).await?;
            }
            return Err(bad_credentials());
        }
    };
    if admin.totp_enabled {
        check_second_factor(state, &admin, credentials.totp.as_deref()).await?;
    }
    record_success(&state.db, &admin).await?;
    Ok(admin)
}

/// The second step of a sign-in that stopped at `totp_required` (the portal's TOTP page):
/// the same lock-out, code check and bookkeeping as a one-step login.
pub async fn check_second_step(
    state: &AppState,
    admin: &admin_users::Model,
    code: &str,
) -> ApiResult<()> {
    refuse_if_locked(admin)?;
    if admin.disabled {
        return Err(bad_credentials());
    }
    check_second_factor(state, admin, Some(code)).await?;
    record_success(&state.db, admin).await
}

pub async fn find_by_email(state: &AppState, email: &str) -> ApiResult<Option<admin_users::Model>> {
    Ok(admin_users::Entity::find()
        .filter(Expr::cust_with_values(
            "lower(email) = $1",
            [email.trim().to_lowercase()],
        ))
        .one(&state.db)
        .await?)
}

fn bad_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "the email or password is wrong")
}

fn refuse_if_locked(admin: &admin_users::Model) -> ApiResult<()> {
    let Some(until) = admin.locked_until else {
        return Ok(());
    };
    let remaining = (until.with_timezone(&Utc) - Utc::now()).num_milliseconds();
    if remaining <= 0 {
        return Ok(());
    }
    Err(lockout::locked(remaining as f64 / 1000.0))
}

async fn check_second_factor(
    state: &AppState,
    admin: &admin_users::Model,
    presented: Option<&str>,
) -> ApiResult<()> {
    let Some(presented) = presented.filter(|code| !code.trim().is_empty()) else {
        return Err(ApiError::unauthorized(
            "totp_required",
            "this account has two-factor authentication: send `totp` (a code or a recovery code)",
        ));
    };
    let accepted = if totp::looks_like_code(presented) {
        accept_code(state, admin, presented).await?
    } else {
        spend_recovery_code(&state.db, admin, presented).await?
    };
    if accepted {
        return Ok(());
    }
    record_failure(&state.db, admin).await?;
    Err(ApiError::unauthorized(
        "invalid_totp",
        "the two-factor code is wrong or was already used",
    ))
}

/// The admin's TOTP secret, opened with the keyring.
pub fn totp_secret(state: &AppState, admin: &admin_users::Model) -> ApiResult<Option<Vec<u8>>> {
    let (Some(ciphertext), Some(key_id)) = (&admin.totp_secret_ciphertext, &admin.totp_key_id)
    else {
        return Ok(None);
    };
    let sealed = Sealed {
        key_id: key_id.clone(),
        ciphertext: ciphertext.clone(),
    };
    state
        .keyring
        .open(&sealed, admin.id.as_bytes())
        .map(Some)
        .map_err(ApiError::internal)
}

/// Checks a TOTP code and records its step so it cannot be used again. The update is
/// conditional on the step, so two logins racing with the same code cannot both pass.
pub async fn accept_code(
    state: &AppState,
    admin: &admin_users::Model,
    code: &str,
) -> ApiResult<bool> {
    let Some(secret) = totp_secret(state, admin)? else {
        return Ok(false);
    };
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
    let Some(step) = totp::accept(&secret, code, now, admin.totp_last_step) else {
        return Ok(false);
    };
    let updated = state
        .db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE admin_users SET totp_last_step = $2 \
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
            [admin.id.into(), step.into()],
        ))
        .await?;
    Ok(updated.rows_affected() == 1)
}

async fn spend_recovery_code(
    db: &impl ConnectionTrait,
    admin: &admin_users::Model,
    code: &str,
) -> ApiResult<bool> {
    let hash = totp::hash_recovery_code(code);
    let updated = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE admin_users SET recovery_code_hashes = recovery_code_hashes - $2 \
             WHERE id = $1 AND recovery_code_hashes ? $2",
            [admin.id.into(), hash.into()],
        ))
        .await?;
    Ok(updated.rows_affected() == 1)
}

async fn record_failure(db: &impl ConnectionTrait, admin: &admin_users::Model) -> ApiResult<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "UPDATE admin_users SET {} WHERE id = $1",
            lockout::count_failure_sql()
        ),
        [admin.id.into()],
    ))
    .await?;
    Ok(())
}

async fn record_success(db: &impl ConnectionTrait, admin: &admin_users::Model) -> ApiResult<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "UPDATE admin_users SET {} WHERE id = $1",
            lockout::CLEAR_SQL
        ),
        [admin.id.into()],
    ))
    .await?;
    Ok(())
}

/// Whether `password` is the signed-in admin's current one (to change it), under the same
/// lock-out as a sign-in: a locked account is refused, a wrong password counts as a
/// failed attempt, so a stolen session cannot guess the password at leisure.
pub async fn check_current_password(
    state: &AppState,
    admin: &admin_users::Model,
    password: &str,
) -> ApiResult<bool> {
    refuse_if_locked(admin)?;
    let stored = Some(admin.password_hash.clone());
    if common::passwords::verify_off_thread(password.to_owned(), stored).await {
        record_success(&state.db, admin).await?;
        Ok(true)
    } else {
        record_failure(&state.db, admin).await?;
        Ok(false)
    }
}

//! Users of a company: list, show, invite (within the plan's `max_users`), change name,
//! status and roles. Every change is written to the tenant's audit log in the same
//! transaction.

use crate::auth::perm::{UsersManage, UsersRead};
use crate::auth::{Authorized, UserRecord, load_user, load_users, sessions};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use common::api_error::{ApiError, ApiResult};
use common::http::Body;
use common::tenant_audit as audit;
use common::tokens::{hash_opaque, new_opaque_token};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Invitations work for a week.
const INVITE_TTL_SECS: f64 = 7.0 * 24.0 * 3600.0;
/// Serializes changes to users (the seat count, the last-admin rule), per transaction.
const USERS_LOCK: i64 = 0x7573_6572_735f_6c69; // "users_li"

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteUser {
    #[schema(schema_with = common::openapi::email)]
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    /// Names of existing roles; at least one.
    #[schema(min_items = 1)]
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    /// `active` or `disabled`.
    #[schema(schema_with = status_schema)]
    pub status: Option<String>,
    /// Replaces the user's roles (names of existing roles; at least one).
    #[schema(min_items = 1)]
    pub roles: Option<Vec<String>>,
}

fn status_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(["active", "disabled"])
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = [UserRecord])))]
pub async fn list(auth: Authorized<UsersRead>) -> ApiResult<web::Json<Vec<UserRecord>>> {
    Ok(web::Json(load_users(auth.current.db.client()).await?))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = UserRecord), (status = 404)))]
pub async fn show(
    auth: Authorized<UsersRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<UserRecord>> {
    let user = load_user(auth.current.db.client(), *id)
        .await?
        .ok_or_else(user_not_found)?;
    Ok(web::Json(user))
}

/// Invites a user: created `invited`, emailed a link to set a password.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    request_body = InviteUser,
    responses((status = 201, body = UserRecord), (status = 409, description = "limit_exceeded or email_taken"),
              (status = 422, description = "validation_failed")))]
pub async fn invite(
    state: web::Data<AppState>,
    auth: Authorized<UsersManage>,
    body: Body<InviteUser>,
) -> ApiResult<HttpResponse> {
    let user = invite_user(&state, auth, body.into_inner()?).await?;
    Ok(HttpResponse::Created().json(user))
}

/// Invites a user within the plan's seats, with roles the caller may grant, and emails
/// them the link to choose a password (the one rule both doors use).
pub async fn invite_user(
    state: &AppState,
    auth: Authorized<UsersManage>,
    body: InviteUser,
) -> ApiResult<UserRecord> {
    let email = common::ids::normalize_email(&body.email)
        .ok_or_else(|| ApiError::invalid("email", "not an email address"))?;
    if body.roles.is_empty() {
        return Err(ApiError::invalid("roles", "give at least one role"));
    }
    let mut current = auth.current;
    let max_users = current.tenant.0.plan.max_users;
    let token = new_opaque_token();
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    lock_users(&transaction).await?;
    let taken = transaction
        .query_opt(
            "SELECT 1 FROM users WHERE lower(email) = lower($1)",
            &[&email],
        )
        .await?;
    if taken.is_some() {
        return Err(ApiError::conflict(
            "email_taken",
            "a user with this email exists",
        ));
    }
    ensure_room_for_one_more(&transaction, max_users).await?;
    let id = Uuid::now_v7();
    transaction
        .execute(
            "INSERT INTO users (id, email, display_name, status, set_password_token_hash, \
               set_password_expires_at) \
             VALUES ($1, $2, $3, 'invited', $4, now() + make_interval(secs => $5))",
            &[
                &id,
                &email,
                &body.display_name.trim(),
                &hash_opaque(&token),
                &INVITE_TTL_SECS,
            ],
        )
        .await?;
    set_roles(&transaction, &current.user.permissions, id, &body.roles).await?;
    let user = load_user(&transaction, id)
        .await?
        .ok_or_else(user_not_found)?;
    let entry = audit::Entry {
        action: "user.invited",
        target_kind: "user",
        target_id: id.to_string(),
        before: None,
        after: Some(serde_json::json!({"email": user.email, "roles": user.roles})),
    };
    audit::record(&transaction, &actor, entry).await?;
    transaction.commit().await?;
    let tenant = &current.tenant.0;
    let link = state
        .tenant_origin()
        .set_password_link(&tenant.slug, &token);
    state.mailer.send_later(
        email,
        format!("You are invited to {}", tenant.name),
        format!(
            "You have been invited to {} on the ERP.\n\nChoose your password within a week:\n{link}\n",
            tenant.name
        ),
    );
    Ok(user)
}

/// Changes a user's name, status or roles.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = UpdateUser,
    responses((status = 200, body = UserRecord), (status = 404), (status = 409, description = "limit_exceeded or last_admin"),
              (status = 422, description = "validation_failed")))]
pub async fn update(
    auth: Authorized<UsersManage>,
    id: web::Path<Uuid>,
    body: Body<UpdateUser>,
) -> ApiResult<web::Json<UserRecord>> {
    Ok(web::Json(update_user(auth, *id, body.into_inner()?).await?))
}

/// Changes a user's name, status or roles (the one rule both doors use): seats counted,
/// roles only up to the caller's own permissions, an active admin always left.
pub async fn update_user(
    auth: Authorized<UsersManage>,
    id: Uuid,
    body: UpdateUser,
) -> ApiResult<UserRecord> {
    let status = match body.status.as_deref() {
        None => None,
        Some(status @ ("active" | "disabled")) => Some(status),
        Some(_) => return Err(ApiError::invalid("status", "`active` or `disabled`")),
    };
    if body.roles.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::invalid("roles", "give at least one role"));
    }
    let mut current = auth.current;
    let max_users = current.tenant.0.plan.max_users;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    lock_users(&transaction).await?;
    let before = load_user(&transaction, id)
        .await?
        .ok_or_else(user_not_found)?;
    if status == Some("active") && before.status == "disabled" {
        ensure_room_for_one_more(&transaction, max_users).await?;
    }
    if let Some(name) = &body.display_name {
        transaction
            .execute(
                "UPDATE users SET display_name = $2, updated_at = now() WHERE id = $1",
                &[&id, &name.trim()],
            )
            .await?;
    }
    if let Some(status) = status.filter(|status| *status != before.status) {
        // An invited user becomes active by setting a password, not by an admin.
        let next = if before.status == "invited" && status == "active" {
            "invited"
        } else {
            status
        };
        transaction
            .execute(
                "UPDATE users SET status = $2, updated_at = now() WHERE id = $1",
                &[&id, &next],
            )
            .await?;
        if next == "disabled" {
            sessions::revoke_user(&transaction, id).await?;
        }
    }
    if let Some(roles) = &body.roles {
        set_roles(&transaction, &current.user.permissions, id, roles).await?;
    }
    ensure_an_admin_remains(&transaction).await?;
    let after = load_user(&transaction, id)
        .await?
        .ok_or_else(user_not_found)?;
    let entry = audit::Entry {
        action: "user.updated",
        target_kind: "user",
        target_id: id.to_string(),
        before: Some(snapshot(&before)),
        after: Some(snapshot(&after)),
    };
    audit::record(&transaction, &actor, entry).await?;
    transaction.commit().await?;
    Ok(after)
}

fn snapshot(user: &UserRecord) -> serde_json::Value {
    serde_json::json!({"display_name": user.display_name, "status": user.status, "roles": user.roles})
}

/// 409 `limit_exceeded` when the users that count (not disabled) already fill the plan.
/// Takes the users lock for the rest of the transaction: seat counts and the last-admin
/// rule are checked, and the change made, with no other user change in between.
async fn lock_users(db: &impl tokio_postgres::GenericClient) -> ApiResult<()> {
    db.execute("SELECT pg_advisory_xact_lock($1)", &[&USERS_LOCK])
        .await?;
    Ok(())
}

/// 409 `limit_exceeded` when the users that count (not disabled) already fill the plan.
/// Call under [`lock_users`].
async fn ensure_room_for_one_more(
    db: &impl tokio_postgres::GenericClient,
    max_users: i32,
) -> ApiResult<()> {
    let counted: i64 = db
        .query_one("SELECT count(*) FROM users WHERE status <> 'disabled'", &[])
        .await?
        .get(0);
    if counted >= i64::from(max_users) {
        return Err(ApiError::conflict(
            "limit_exceeded",
            format!("the plan allows {max_users} users; disable one or upgrade"),
        ));
    }
    Ok(())
}

/// Replaces a user's roles: 422 naming a role that does not exist, 403 when a role
/// grants a permission the caller does not hold (no one hands out more than they have).
async fn set_roles(
    db: &impl tokio_postgres::GenericClient,
    grantor: &[String],
    user: Uuid,
    roles: &[String],
) -> ApiResult<()> {
    let found: Vec<String> = db
        .query("SELECT name FROM roles WHERE name = ANY($1)", &[&roles])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if let Some(missing) = roles.iter().find(|role| !found.contains(role)) {
        return Err(ApiError::invalid(
            "roles",
            format!("no role is called `{missing}`"),
        ));
    }
    let granted: Vec<String> = db
        .query(
            "SELECT DISTINCT rp.permission_code FROM role_permissions rp \
             JOIN roles r ON r.id = rp.role_id WHERE r.name = ANY($1)",
            &[&roles],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    crate::auth::ensure_may_grant(grantor, &granted)?;
    db.execute("DELETE FROM user_roles WHERE user_id = $1", &[&user])
        .await?;
    db.execute(
        "INSERT INTO user_roles (user_id, role_id) SELECT $1, id FROM roles WHERE name = ANY($2)",
        &[&user, &roles],
    )
    .await?;
    Ok(())
}

/// A company must keep at least one active user with the `admin` role.
async fn ensure_an_admin_remains(db: &impl tokio_postgres::GenericClient) -> ApiResult<()> {
    let admins: i64 = db
        .query_one(
            "SELECT count(*) FROM users u JOIN user_roles ur ON ur.user_id = u.id \
             JOIN roles r ON r.id = ur.role_id WHERE r.name = 'admin' AND u.status = 'active'",
            &[],
        )
        .await?
        .get(0);
    if admins == 0 {
        return Err(ApiError::conflict(
            "last_admin",
            "this would leave the company without an active admin",
        ));
    }
    Ok(())
}

fn user_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "user_not_found",
        "no user has this id",
    )
}

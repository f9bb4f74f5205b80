//! `/api/v1/admins`: owners create admins, change their roles and disable them.

use crate::api::auth::AdminView;
use crate::api::meta::RequestMeta;
use crate::api::pagination::Page;
use crate::audit::{self, Entry};
use crate::auth::guard::{Authorized, perm};
use crate::auth::sessions;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use common::api_error::{ApiError, ApiResult, Validator};
use common::db::is_unique_violation;
use common::entities::{AdminRole, admin_users};
use common::http::Body;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryOrder, Statement, TransactionTrait};
use serde::Deserialize;
use serde_json::json;
use std::str::FromStr;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAdmin {
    #[schema(schema_with = common::openapi::email)]
    pub email: String,
    #[schema(schema_with = common::openapi::password)]
    pub password: String,
    /// `owner`, `operator`, `billing` or `support`.
    #[schema(schema_with = role_schema)]
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AdminPatch {
    #[schema(schema_with = role_schema)]
    pub role: Option<String>,
    pub disabled: Option<bool>,
}

/// Every admin (a short list: no cursor).
#[utoipa::path(get, path = "/api/v1/admins", tag = "admins", security(("bearer" = [])),
    responses((status = 200, body = Page<AdminView>), (status = 403, body = crate::api::openapi::ProblemDoc)))]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageAdmins>,
) -> ApiResult<web::Json<Page<AdminView>>> {
    Ok(web::Json(list_admins(&state, &admin).await?))
}

/// Every admin, oldest first (owners only: the list names who holds which power).
pub async fn list_admins(
    state: &AppState,
    _admin: &Authorized<perm::ManageAdmins>,
) -> ApiResult<Page<AdminView>> {
    let rows = admin_users::Entity::find()
        .order_by_asc(admin_users::Column::CreatedAt)
        .all(&state.db)
        .await?;
    Ok(Page {
        items: rows.iter().map(AdminView::from).collect(),
        next_cursor: None,
    })
}

fn role_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(AdminRole::ALL.iter().map(|role| role.as_str()))
}

fn parse_role(role: &str) -> Result<AdminRole, String> {
    AdminRole::from_str(role).map_err(|_| "must be owner, operator, billing or support".to_owned())
}

/// Create an admin.
#[utoipa::path(post, path = "/api/v1/admins", tag = "admins", security(("bearer" = [])),
    request_body = NewAdmin,
    responses((status = 201, body = AdminView), (status = 409, description = "`email_taken`", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn create(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageAdmins>,
    meta: RequestMeta,
    body: Body<NewAdmin>,
) -> ApiResult<HttpResponse> {
    let view = create_admin(&state, &admin, &meta, body.into_inner()?).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Create an admin (validated, audited).
pub async fn create_admin(
    state: &AppState,
    admin: &Authorized<perm::ManageAdmins>,
    meta: &RequestMeta,
    body: NewAdmin,
) -> ApiResult<AdminView> {
    let email = body.email.trim().to_lowercase();
    Validator::default()
        .check("email", crate::api::validate::email(&email))
        .check("password", common::passwords::acceptable(&body.password))
        .check("role", parse_role(&body.role).map(drop))
        .finish()?;
    let hash = common::passwords::hash_off_thread(body.password.clone())
        .await
        .map_err(ApiError::internal)?;
    let id = Uuid::now_v7();
    let txn = state.db.begin().await?;
    let inserted = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO admin_users (id, email, password_hash, role) VALUES ($1, $2, $3, $4)",
            [
                id.into(),
                email.clone().into(),
                hash.into(),
                body.role.clone().into(),
            ],
        ))
        .await;
    match inserted {
        Err(error) if is_unique_violation(&error) => {
            return Err(ApiError::conflict(
                "email_taken",
                format!("an admin `{email}` exists"),
            ));
        }
        other => {
            other?;
        }
    }
    let after = json!({ "email": email, "role": body.role });
    audit::record(
        &txn,
        meta,
        Entry::new(admin, "admin.created", "admin", id).after(after),
    )
    .await?;
    txn.commit().await?;
    let row = admin_users::Entity::find_by_id(id).one(&state.db).await?;
    let row = row.ok_or_else(|| ApiError::internal(anyhow::anyhow!("admin vanished")))?;
    Ok(AdminView::from(&row))
}

/// Change an admin's role or disable them (which ends their sessions at once).
#[utoipa::path(patch, path = "/api/v1/admins/{id}", tag = "admins", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AdminPatch,
    responses((status = 200, body = AdminView), (status = 404, body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`last_owner`", body = crate::api::openapi::ProblemDoc)))]
pub async fn update(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageAdmins>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<AdminPatch>,
) -> ApiResult<web::Json<AdminView>> {
    let view = update_admin(&state, &admin, &meta, path.into_inner(), body.into_inner()?).await?;
    Ok(web::Json(view))
}

/// Change an admin's role or disable them (sessions ended at once; audited; 409
/// `last_owner` if no enabled owner would be left).
pub async fn update_admin(
    state: &AppState,
    admin: &Authorized<perm::ManageAdmins>,
    meta: &RequestMeta,
    id: Uuid,
    body: AdminPatch,
) -> ApiResult<AdminView> {
    let mut validator = Validator::default();
    if let Some(role) = &body.role {
        validator.check("role", parse_role(role).map(drop));
    }
    validator.finish()?;
    let txn = state.db.begin().await?;
    let before = admin_users::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("admin_not_found", format!("no admin {id}")))?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE admin_users SET role = coalesce($2, role), disabled = coalesce($3, disabled), \
           updated_at = now() WHERE id = $1",
        [id.into(), body.role.clone().into(), body.disabled.into()],
    ))
    .await?;
    refuse_if_no_owner_left(&txn).await?;
    if body.disabled == Some(true) {
        sessions::revoke_all_of(&txn, id).await?;
    }
    let entry = Entry::new(admin, "admin.updated", "admin", id)
        .before(json!({ "role": before.role, "disabled": before.disabled }))
        .after(json!({ "role": body.role, "disabled": body.disabled }));
    audit::record(&txn, meta, entry).await?;
    let row = admin_users::Entity::find_by_id(id).one(&txn).await?;
    txn.commit().await?;
    let row = row.ok_or_else(|| ApiError::internal(anyhow::anyhow!("admin vanished")))?;
    Ok(AdminView::from(&row))
}

/// The platform must keep one enabled owner, or nobody could manage admins again.
async fn refuse_if_no_owner_left(db: &impl ConnectionTrait) -> ApiResult<()> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM admin_users WHERE role = 'owner' AND NOT disabled",
        ))
        .await?;
    let owners: i64 = row.map_or(Ok(0), |row| row.try_get("", "n"))?;
    if owners == 0 {
        return Err(ApiError::conflict(
            "last_owner",
            "this would leave no enabled owner",
        ));
    }
    Ok(())
}

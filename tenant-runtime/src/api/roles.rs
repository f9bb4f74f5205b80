//! Roles of a company: the four seeded system roles (read-only permissions) and custom
//! roles made of `module.action` permissions. Changes go to the tenant's audit log.

use crate::auth::Authorized;
use crate::auth::perm::{RolesManage, RolesRead};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use common::api_error::{ApiError, ApiResult};
use common::http::Body;
use common::tenant_audit as audit;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct Role {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// Seeded with the company; its permissions cannot change.
    pub is_system: bool,
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionInfo {
    pub code: String,
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// Stored lower case.
    #[schema(pattern = "^[A-Za-z0-9_-]{2,40}$")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Codes from `GET /permissions`.
    pub permissions: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    pub description: Option<String>,
    /// Codes from `GET /permissions`.
    pub permissions: Option<Vec<String>>,
}

const ROLE_COLUMNS: &str = "SELECT r.id, r.name, r.description, r.is_system, \
      coalesce(array_agg(rp.permission_code ORDER BY rp.permission_code) \
               FILTER (WHERE rp.permission_code IS NOT NULL), '{}') \
    FROM roles r LEFT JOIN role_permissions rp ON rp.role_id = r.id";

fn role(row: &tokio_postgres::Row) -> Role {
    Role {
        id: row.get(0),
        name: row.get(1),
        description: row.get(2),
        is_system: row.get(3),
        permissions: row.get(4),
    }
}

async fn find(db: &impl tokio_postgres::GenericClient, id: Uuid) -> ApiResult<Role> {
    db.query_opt(
        &format!("{ROLE_COLUMNS} WHERE r.id = $1 GROUP BY r.id"),
        &[&id],
    )
    .await?
    .map(|row| role(&row))
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "role_not_found",
            "no role has this id",
        )
    })
}

#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", security(("bearer" = [])),
    responses((status = 200, body = [Role])))]
pub async fn list(auth: Authorized<RolesRead>) -> ApiResult<web::Json<Vec<Role>>> {
    Ok(web::Json(list_roles(&auth).await?))
}

/// Every role of the company with its permissions, by name.
pub async fn list_roles(auth: &Authorized<RolesRead>) -> ApiResult<Vec<Role>> {
    let rows = auth
        .current
        .db
        .query(
            &format!("{ROLE_COLUMNS} GROUP BY r.id ORDER BY r.name"),
            &[],
        )
        .await?;
    Ok(rows.iter().map(role).collect())
}

#[utoipa::path(get, path = "/api/v1/permissions", tag = "roles", security(("bearer" = [])),
    responses((status = 200, body = [PermissionInfo])))]
pub async fn permissions(auth: Authorized<RolesRead>) -> ApiResult<web::Json<Vec<PermissionInfo>>> {
    let rows = auth
        .current
        .db
        .query(
            "SELECT code, description FROM permissions ORDER BY code",
            &[],
        )
        .await?;
    let list = rows
        .iter()
        .map(|row| PermissionInfo {
            code: row.get(0),
            description: row.get(1),
        })
        .collect();
    Ok(web::Json(list))
}

#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", security(("bearer" = [])),
    request_body = NewRole,
    responses((status = 201, body = Role), (status = 409, description = "role_name_taken"),
              (status = 422, description = "validation_failed")))]
pub async fn create(auth: Authorized<RolesManage>, body: Body<NewRole>) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let name = body.name.trim().to_ascii_lowercase();
    let valid_name = (2..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid_name {
        return Err(ApiError::invalid(
            "name",
            "2 to 40 characters: lower-case letters, digits, `_` and `-`",
        ));
    }
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let id = Uuid::now_v7();
    let inserted = transaction
        .execute(
            "INSERT INTO roles (id, name, description) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
            &[&id, &name, &body.description.trim()],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::conflict(
            "role_name_taken",
            format!("a role `{name}` exists"),
        ));
    }
    set_permissions(
        &transaction,
        &current.user.permissions,
        id,
        &body.permissions,
    )
    .await?;
    let created = find(&transaction, id).await?;
    let entry = audit::Entry {
        action: "role.created",
        target_kind: "role",
        target_id: id.to_string(),
        before: None,
        after: Some(serde_json::json!({"name": created.name, "permissions": created.permissions})),
    };
    audit::record(&transaction, &actor, entry).await?;
    transaction.commit().await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(patch, path = "/api/v1/roles/{id}", tag = "roles", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = UpdateRole,
    responses((status = 200, body = Role), (status = 404), (status = 409, description = "system_role"),
              (status = 422, description = "validation_failed")))]
pub async fn update(
    auth: Authorized<RolesManage>,
    id: web::Path<Uuid>,
    body: Body<UpdateRole>,
) -> ApiResult<web::Json<Role>> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let before = find(&transaction, *id).await?;
    if let Some(description) = &body.description {
        transaction
            .execute(
                "UPDATE roles SET description = $2, updated_at = now() WHERE id = $1",
                &[&before.id, &description.trim()],
            )
            .await?;
    }
    if let Some(permissions) = &body.permissions {
        if before.is_system {
            return Err(ApiError::conflict(
                "system_role",
                "the permissions of a built-in role cannot change; make a custom role",
            ));
        }
        set_permissions(
            &transaction,
            &current.user.permissions,
            before.id,
            permissions,
        )
        .await?;
    }
    let after = find(&transaction, before.id).await?;
    let entry = audit::Entry {
        action: "role.updated",
        target_kind: "role",
        target_id: before.id.to_string(),
        before: Some(
            serde_json::json!({"description": before.description, "permissions": before.permissions}),
        ),
        after: Some(
            serde_json::json!({"description": after.description, "permissions": after.permissions}),
        ),
    };
    audit::record(&transaction, &actor, entry).await?;
    transaction.commit().await?;
    Ok(web::Json(after))
}

/// Replaces a role's permissions: 422 naming a code not in the catalogue, 403 for one the
/// caller does not hold.
async fn set_permissions(
    db: &impl tokio_postgres::GenericClient,
    grantor: &[String],
    role: Uuid,
    codes: &[String],
) -> ApiResult<()> {
    let mut codes = codes.to_vec();
    codes.sort_unstable();
    codes.dedup();
    let known: Vec<String> = db
        .query(
            "SELECT code FROM permissions WHERE code = ANY($1)",
            &[&codes],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if let Some(unknown) = codes.iter().find(|code| !known.contains(code)) {
        return Err(ApiError::invalid(
            "permissions",
            format!("`{unknown}` is not a permission"),
        ));
    }
    crate::auth::ensure_may_grant(grantor, &codes)?;
    db.execute("DELETE FROM role_permissions WHERE role_id = $1", &[&role])
        .await?;
    db.execute(
        "INSERT INTO role_permissions (role_id, permission_code) SELECT $1, unnest($2::text[])",
        &[&role, &codes],
    )
    .await?;
    Ok(())
}

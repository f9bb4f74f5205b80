//! `/api/v1/servers`: the tenant database servers: list with their load, register (the
//! admin URL must connect before it is saved; it is stored sealed and never shown), resize,
//! drain and re-activate.

use crate::api::error::provision_error;
use crate::api::meta::RequestMeta;
use crate::api::pagination::Page;
use crate::audit::{self, Entry};
use crate::auth::guard::{Authorized, perm};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use common::Secret;
use common::api_error::{ApiError, ApiResult, Validator};
use common::http::Body;
use provisioner::servers::{self, NewServer};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerView {
    pub id: Uuid,
    pub name: String,
    /// `host:port`, for display.
    pub host: String,
    /// `active` or `draining`.
    pub state: String,
    pub capacity: i32,
    /// Live tenants placed on it.
    pub tenants: i64,
    pub spare_target: i32,
    pub connection_budget: i32,
    /// While the server is being emptied: how many of its tenants are relocated at once.
    pub evacuation_concurrency: Option<i32>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterServer {
    #[schema(min_length = 1, max_length = 63, pattern = "^[A-Za-z0-9_-]+$")]
    pub name: String,
    /// `postgres://superuser:password@host:port/postgres`: checked, then stored sealed
    /// (a server it cannot connect to is refused with 422 `server_unreachable`).
    #[schema(pattern = "^postgres(ql)?://")]
    pub admin_url: String,
    #[schema(minimum = 0)]
    pub capacity: i32,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub spare_target: Option<i32>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ServerPatch {
    #[schema(minimum = 0)]
    pub capacity: Option<i32>,
    #[schema(minimum = 0, maximum = 100)]
    pub spare_target: Option<i32>,
    /// Connections all runtimes together may open on the server; they resize at once.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100000)]
    pub connection_budget: Option<i32>,
    /// A new address of the same server (a failover): checked like at registration, stored
    /// sealed, never echoed; the runtimes reconnect their pools to it.
    #[serde(default)]
    #[schema(pattern = "^postgres(ql)?://", write_only)]
    pub admin_url: Option<String>,
}

/// Every server with how many live tenants it holds.
#[utoipa::path(get, path = "/api/v1/servers", tag = "servers", security(("bearer" = [])),
    responses((status = 200, body = Page<ServerView>)))]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
) -> ApiResult<web::Json<Page<ServerView>>> {
    Ok(web::Json(list_servers(&state, &admin).await?))
}

/// Every server by name, with how many live tenants it holds.
pub async fn list_servers(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
) -> ApiResult<Page<ServerView>> {
    Ok(Page {
        items: load(&state.db, None).await?,
        next_cursor: None,
    })
}

/// One server with its load (404 `server_not_found`).
pub async fn show_server(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    id: Uuid,
) -> ApiResult<ServerView> {
    load_one(&state.db, id).await
}

async fn load(db: &impl ConnectionTrait, only: Option<Uuid>) -> ApiResult<Vec<ServerView>> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT s.id, s.name, s.host, s.state, s.capacity, s.spare_target, \
                    s.connection_budget, s.evacuation_concurrency, s.created_at, \
                    (SELECT count(*) FROM tenants t WHERE t.server_id = s.id \
                       AND t.status NOT IN ('deleted', 'failed')) AS tenants \
             FROM database_servers s WHERE $1::uuid IS NULL OR s.id = $1 ORDER BY s.name",
            [only.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let created_at: DateTime<chrono::FixedOffset> = row.try_get("", "created_at")?;
            Ok(ServerView {
                id: row.try_get("", "id")?,
                name: row.try_get("", "name")?,
                host: row.try_get("", "host")?,
                state: row.try_get("", "state")?,
                capacity: row.try_get("", "capacity")?,
                tenants: row.try_get("", "tenants")?,
                spare_target: row.try_get("", "spare_target")?,
                connection_budget: row.try_get("", "connection_budget")?,
                evacuation_concurrency: row.try_get("", "evacuation_concurrency")?,
                created_at: created_at.with_timezone(&Utc),
            })
        })
        .collect()
}

pub(crate) async fn load_one(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<ServerView> {
    load(db, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("server_not_found", format!("no server {id}")))
}

/// Register a server after connecting to it.
#[utoipa::path(post, path = "/api/v1/servers", tag = "servers", security(("bearer" = [])),
    request_body = RegisterServer,
    responses((status = 201, body = ServerView),
        (status = 409, description = "`server_name_taken`", body = crate::api::openapi::ProblemDoc),
        (status = 422, description = "`validation_failed`, `server_unreachable`", body = crate::api::openapi::ProblemDoc)))]
pub async fn register(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageServers>,
    meta: RequestMeta,
    body: Body<RegisterServer>,
) -> ApiResult<HttpResponse> {
    let view = register_server(&state, &admin, &meta, body.into_inner()?).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Register a server after connecting to it (audited; the admin URL is never echoed).
pub async fn register_server(
    state: &AppState,
    admin: &Authorized<perm::ManageServers>,
    meta: &RequestMeta,
    body: RegisterServer,
) -> ApiResult<ServerView> {
    Validator::default()
        .check("admin_url", postgres_url(&body.admin_url))
        .finish()?;
    let txn = state.db.begin().await?;
    let new = NewServer {
        name: body.name.clone(),
        admin_url: Secret::new(body.admin_url),
        capacity: body.capacity,
    };
    let id = servers::register(&txn, &state.keyring, new)
        .await
        .map_err(provision_error)?;
    if let Some(spares) = body.spare_target {
        servers::set_spare_target(&txn, id, spares)
            .await
            .map_err(provision_error)?;
    }
    let view = load_one(&txn, id).await?;
    let after = json!({ "name": view.name, "host": view.host, "capacity": view.capacity });
    audit::record(
        &txn,
        meta,
        Entry::new(admin, "server.registered", "server", id).after(after),
    )
    .await?;
    txn.commit().await?;
    Ok(view)
}

fn postgres_url(url: &str) -> Result<(), String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        Err("must be a postgres:// URL".into())
    }
}

/// Resize a server, change how many spare databases it keeps ready or its connection
/// budget, or point it at a new address (every runtime follows without a restart).
#[utoipa::path(patch, path = "/api/v1/servers/{id}", tag = "servers", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ServerPatch,
    responses((status = 200, body = ServerView), (status = 404, body = crate::api::openapi::ProblemDoc),
        (status = 422, description = "`validation_failed`, `server_unreachable`", body = crate::api::openapi::ProblemDoc)))]
pub async fn update(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageServers>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<ServerPatch>,
) -> ApiResult<web::Json<ServerView>> {
    let view = update_server(&state, &admin, &meta, path.into_inner(), body.into_inner()?).await?;
    Ok(web::Json(view))
}

/// Resize a server or change its spare target (audited).
pub async fn update_server(
    state: &AppState,
    admin: &Authorized<perm::ManageServers>,
    meta: &RequestMeta,
    id: Uuid,
    body: ServerPatch,
) -> ApiResult<ServerView> {
    if let Some(url) = &body.admin_url {
        Validator::default()
            .check("admin_url", postgres_url(url))
            .finish()?;
    }
    let txn = state.db.begin().await?;
    let before = load_one(&txn, id).await?;
    if let Some(budget) = body.connection_budget {
        servers::set_connection_budget(&txn, id, budget)
            .await
            .map_err(provision_error)?;
    }
    if let Some(url) = &body.admin_url {
        servers::set_admin_url(&txn, &state.keyring, id, &Secret::new(url.clone()))
            .await
            .map_err(provision_error)?;
    }
    if let Some(capacity) = body.capacity {
        servers::set_capacity(&txn, id, capacity)
            .await
            .map_err(provision_error)?;
    }
    if let Some(spares) = body.spare_target {
        servers::set_spare_target(&txn, id, spares)
            .await
            .map_err(provision_error)?;
    }
    let entry = Entry::new(admin, "server.updated", "server", id)
        .before(
            json!({ "capacity": before.capacity, "spare_target": before.spare_target,
            "connection_budget": before.connection_budget, "host": before.host }),
        )
        .after(
            json!({ "capacity": body.capacity, "spare_target": body.spare_target,
            "connection_budget": body.connection_budget,
            "host": body.admin_url.as_deref().map(common::db::describe_url) }),
        );
    audit::record(&txn, meta, entry).await?;
    let view = load_one(&txn, id).await?;
    txn.commit().await?;
    Ok(view)
}

/// Stop placing new tenants on the server (its tenants stay).
#[utoipa::path(post, path = "/api/v1/servers/{id}/drain", tag = "servers", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ServerView), (status = 404, body = crate::api::openapi::ProblemDoc)))]
pub async fn drain(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageServers>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> ApiResult<web::Json<ServerView>> {
    Ok(web::Json(
        set_draining(&state, &admin, &meta, path.into_inner(), true).await?,
    ))
}

/// Place new tenants on the server again.
#[utoipa::path(post, path = "/api/v1/servers/{id}/activate", tag = "servers", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ServerView), (status = 404, body = crate::api::openapi::ProblemDoc)))]
pub async fn activate(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageServers>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> ApiResult<web::Json<ServerView>> {
    Ok(web::Json(
        set_draining(&state, &admin, &meta, path.into_inner(), false).await?,
    ))
}

/// Drain a server (`draining`: no new tenants placed on it) or activate it again (audited).
pub async fn set_draining(
    state: &AppState,
    admin: &Authorized<perm::ManageServers>,
    meta: &RequestMeta,
    id: Uuid,
    draining: bool,
) -> ApiResult<ServerView> {
    let txn = state.db.begin().await?;
    let before = load_one(&txn, id).await?;
    servers::set_draining(&txn, id, draining)
        .await
        .map_err(provision_error)?;
    let view = load_one(&txn, id).await?;
    let action = if draining {
        "server.drained"
    } else {
        "server.activated"
    };
    let entry = Entry::new(admin, action, "server", id)
        .before(json!({ "state": before.state }))
        .after(json!({ "state": view.state }));
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    Ok(view)
}

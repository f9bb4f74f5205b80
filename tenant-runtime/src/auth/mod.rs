//! Tenant users' authentication and authorization. [`CurrentUser`] verifies the bearer
//! token (`aud=tenant-runtime`, its `tid` must be the request's tenant) and reloads the
//! user with roles and permissions from the tenant database on every request, so a
//! disabled user or a changed role takes effect at once. [`Authorized<P>`] adds the
//! permission check each handler declares in its signature.

pub mod sessions;
pub mod web_sessions;

use crate::db;
use crate::gate::Tenant;
use crate::registry::pool::TenantConnection;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use common::api_error::{ApiError, ApiResult};
use common::bearer;
use common::tenant_audit::Actor;
use common::tokens::{Claims, TENANT_RUNTIME_AUDIENCE};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use std::marker::PhantomData;
use uuid::Uuid;

/// A user as the request path sees them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub status: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

/// A user with role names and permission codes, aggregated; callers add the filter.
const USER_SELECT: &str = "SELECT u.id, u.email, u.display_name, u.status, \
       coalesce(array_agg(DISTINCT r.name) FILTER (WHERE r.name IS NOT NULL), '{}'), \
       coalesce(array_agg(DISTINCT rp.permission_code) \
                FILTER (WHERE rp.permission_code IS NOT NULL), '{}') \
     FROM users u \
     LEFT JOIN user_roles ur ON ur.user_id = u.id \
     LEFT JOIN roles r ON r.id = ur.role_id \
     LEFT JOIN role_permissions rp ON rp.role_id = r.id";

fn user_record(row: &tokio_postgres::Row) -> UserRecord {
    UserRecord {
        id: row.get(0),
        email: row.get(1),
        display_name: row.get(2),
        status: row.get(3),
        roles: row.get(4),
        permissions: row.get(5),
    }
}

/// Loads a user with role names and permission codes in one round trip.
pub async fn load_user(
    db: &impl tokio_postgres::GenericClient,
    id: Uuid,
) -> Result<Option<UserRecord>, tokio_postgres::Error> {
    let sql = format!("{USER_SELECT} WHERE u.id = $1 GROUP BY u.id");
    Ok(db.query_opt(&sql, &[&id]).await?.as_ref().map(user_record))
}

/// Every user, by email, in one round trip.
pub async fn load_users(
    db: &impl tokio_postgres::GenericClient,
) -> Result<Vec<UserRecord>, tokio_postgres::Error> {
    let sql = format!("{USER_SELECT} GROUP BY u.id ORDER BY lower(u.email)");
    Ok(db.query(&sql, &[]).await?.iter().map(user_record).collect())
}

/// The signed-in user of this tenant, and a connection to its database.
pub struct CurrentUser {
    pub user: UserRecord,
    pub claims: Claims,
    pub tenant: Tenant,
    pub db: TenantConnection,
    request: HttpRequest,
}

impl CurrentUser {
    pub fn can(&self, permission: &str) -> bool {
        self.user.permissions.iter().any(|code| code == permission)
    }

    /// Who acts, for the audit log (built only by the handlers that write one).
    pub fn actor(&self) -> Actor {
        Actor::new(&self.request, Some(self.user.id), self.claims.imp.clone())
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, ApiResult<Self>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let tenant = Tenant::from_request(&request, payload);
        Box::pin(async move {
            let tenant = tenant.await?;
            let state = request
                .app_data::<web::Data<AppState>>()
                .expect("AppState is registered");
            let claims = bearer::verified_claims(&request, &state.tokens, TENANT_RUNTIME_AUDIENCE)?;
            Self::with_claims(request, tenant, claims).await
        })
    }
}

impl CurrentUser {
    /// The user verified `claims` name, if they are this tenant's and the user is active:
    /// for doors that carry the token otherwise than in `Authorization` (the web app's
    /// impersonation form).
    pub async fn with_claims(
        request: HttpRequest,
        tenant: Tenant,
        claims: Claims,
    ) -> ApiResult<Self> {
        ensure_own_tenant(&claims, &tenant)?;
        let db = db::connect(&tenant).await?;
        Self::on_connection(request, tenant, db, claims).await
    }

    /// The user `claims` name on a connection already open to the tenant's database (the
    /// web app's session lookup opened it), if the user is active.
    pub async fn on_connection(
        request: HttpRequest,
        tenant: Tenant,
        db: TenantConnection,
        claims: Claims,
    ) -> ApiResult<Self> {
        let user_id: Uuid = claims.sub.parse().map_err(|_| bearer::invalid_token())?;
        let user = load_user(db.client(), user_id)
            .await?
            .filter(|user| user.status == "active")
            .ok_or_else(|| {
                ApiError::unauthorized("invalid_token", "this user can no longer sign in")
            })?;
        Ok(Self {
            user,
            claims,
            tenant,
            db,
            request,
        })
    }
}

fn ensure_own_tenant(claims: &Claims, tenant: &Tenant) -> ApiResult<()> {
    let token_tenant = claims
        .tid
        .as_deref()
        .and_then(|tid| tid.parse::<Uuid>().ok());
    if token_tenant != Some(tenant.0.id) {
        return Err(ApiError::forbidden(
            "tenant_mismatch",
            "this token belongs to another company",
        ));
    }
    Ok(())
}

/// 403 `forbidden` when `granted` holds a permission `grantor` lacks: a user manager can
/// hand out roles and permissions only up to their own.
pub fn ensure_may_grant(grantor: &[String], granted: &[String]) -> ApiResult<()> {
    match granted.iter().find(|code| !grantor.contains(code)) {
        None => Ok(()),
        Some(code) => Err(ApiError::forbidden(
            "forbidden",
            format!("you cannot grant `{code}`, which you do not hold"),
        )),
    }
}

/// A permission code a handler requires.
pub trait Permission {
    const CODE: &'static str;
}

/// The current user, known to hold `P`.
pub struct Authorized<P> {
    pub current: CurrentUser,
    _permission: PhantomData<P>,
}

impl<P: Permission> Authorized<P> {
    /// The proof that `current` holds `P`, or 403 `forbidden`: the one check both doors
    /// (a bearer token's extractor, a web page's session) go through.
    pub fn check(current: CurrentUser) -> ApiResult<Self> {
        if !current.can(P::CODE) {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("this needs the `{}` permission", P::CODE),
            ));
        }
        Ok(Self {
            current,
            _permission: PhantomData,
        })
    }
}

impl<P: Permission + 'static> FromRequest for Authorized<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, ApiResult<Self>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let current = CurrentUser::from_request(request, payload);
        Box::pin(async move { Self::check(current.await?) })
    }
}

/// The permissions handlers name.
pub mod perm {
    macro_rules! permissions {
        ($($name:ident = $code:literal),+ $(,)?) => {
            $(
                pub struct $name;
                impl super::Permission for $name {
                    const CODE: &'static str = $code;
                }
            )+
        };
    }

    permissions! {
        UsersRead = "users.read",
        UsersManage = "users.manage",
        RolesRead = "roles.read",
        RolesManage = "roles.manage",
        BillingManage = "billing.manage",
        MasterDataRead = "master_data.read",
        MasterDataWrite = "master_data.write",
        SettingsRead = "settings.read",
        SettingsManage = "settings.manage",
        InventoryRead = "inventory.read",
        InventoryWrite = "inventory.write",
        SalesRead = "sales.read",
        SalesWrite = "sales.write",
        PurchasingRead = "purchasing.read",
        PurchasingWrite = "purchasing.write",
        ProductionRead = "production.read",
        ProductionWrite = "production.write",
        ApprovalsRead = "approvals.read",
        ApprovalsDecide = "approvals.decide",
        QualityRead = "quality.read",
        QualityWrite = "quality.write",
        QualityRelease = "quality.release",
    }
}

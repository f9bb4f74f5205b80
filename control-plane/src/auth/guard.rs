//! The signed-in admin of a request: `Authorization: Bearer <access token>` verified
//! (`aud=control-plane`), then the admin loaded, so a disabled admin or a changed role
//! takes effect on the next request rather than when the token expires.
//!
//! Handlers take [`Authorized<P>`] (the admin, checked for permission `P`) rather than
//! checking inside: extractors run before the body is parsed, so a caller without the
//! role gets 403 and learns nothing about what a valid body would be.
//!
//! The actions themselves are plain functions taking `&Authorized<P>` as proof, called
//! by the API handler and by the portal page alike (the portal builds the proof with
//! [`Authorized::check`] from its session's admin): one permission per action, whichever
//! door the request came through.

use crate::auth::roles::{Action, allows};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use common::api_error::{ApiError, ApiResult};
use common::bearer::{invalid_token, verified_claims};
use common::entities::{AdminRole, admin_users};
use common::tokens::{CONTROL_PLANE_AUDIENCE, Claims};
use sea_orm::EntityTrait;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use uuid::Uuid;

/// The admin making the request.
#[derive(Debug, Clone)]
pub struct CurrentAdmin {
    pub id: Uuid,
    pub email: String,
    pub role: AdminRole,
}

impl CurrentAdmin {
    /// 403 `forbidden` unless the admin's role allows `action`.
    pub fn require(&self, action: Action) -> ApiResult<()> {
        if allows(self.role, action) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "forbidden",
                format!("the {} role may not {}", self.role, action.describe()),
            ))
        }
    }
}

impl FromRequest for CurrentAdmin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verified = request
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no state")))
            .and_then(|state| {
                let claims = verified_claims(request, &state.tokens, CONTROL_PLANE_AUDIENCE)?;
                Ok((state, claims))
            });
        Box::pin(async move {
            let (state, claims) = verified?;
            authenticate(&state, claims).await
        })
    }
}

/// Permissions as types, for [`Authorized`].
pub mod perm {
    use crate::auth::roles::Action;

    /// A permission an [`super::Authorized`] extractor checks.
    pub trait Permission {
        const ACTION: Action;
    }

    macro_rules! permissions {
        ($($name:ident),+) => {$(
            #[derive(Debug)]
            pub struct $name;
            impl Permission for $name {
                const ACTION: Action = Action::$name;
            }
        )+};
    }

    permissions!(
        Read,
        ManageTenants,
        ManageServers,
        ManagePlans,
        ManageBilling,
        Impersonate,
        ManageAdmins
    );
}

/// The admin making the request, known to hold permission `P` (403 `forbidden` if not).
#[derive(Debug)]
pub struct Authorized<P> {
    admin: CurrentAdmin,
    permission: PhantomData<P>,
}

impl<P: perm::Permission> Authorized<P> {
    /// The admin, checked for permission `P`: how a door other than a bearer token (the
    /// portal's session) obtains the proof the shared action functions ask for.
    pub fn check(admin: CurrentAdmin) -> ApiResult<Self> {
        admin.require(P::ACTION)?;
        Ok(Self {
            admin,
            permission: PhantomData,
        })
    }
}

impl<P> Deref for Authorized<P> {
    type Target = CurrentAdmin;

    fn deref(&self) -> &CurrentAdmin {
        &self.admin
    }
}

impl<P: perm::Permission + 'static> FromRequest for Authorized<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let admin = CurrentAdmin::from_request(request, payload);
        Box::pin(async move { Self::check(admin.await?) })
    }
}

async fn authenticate(state: &AppState, claims: Claims) -> ApiResult<CurrentAdmin> {
    // Impersonation tokens are for tenants; refuse them here even if the audience matched.
    if claims.imp.is_some() || claims.tid.is_some() {
        return Err(invalid_token());
    }
    let id = Uuid::parse_str(&claims.sub).map_err(|_| invalid_token())?;
    let admin = admin_users::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|admin| !admin.disabled)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_token",
                "the account no longer exists or is disabled",
            )
        })?;
    Ok(CurrentAdmin {
        id: admin.id,
        email: admin.email,
        role: admin.role,
    })
}

//! Approvals (`/api/v1/approvals`, plan module `approvals`): the caller's inbox, one
//! request with its history, approve / reject, and the rules. Thin handlers over
//! `crate::erp::approvals`. Reads need `approvals.read`; deciding `approvals.decide` and
//! the level's role (checked by the engine); changing the rules `settings.manage`.

use crate::auth::Authorized;
use crate::auth::perm::{ApprovalsDecide, ApprovalsRead, SettingsManage};
use crate::erp::approvals::{self, ApprovalRequest, Rules};
use actix_web::web;
use common::api_error::ApiResult;
use common::http::Body;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The caller's inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct Inbox {
    pub items: Vec<ApprovalRequest>,
}

/// A decision's comment (a rejection needs one).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub comment: String,
}

#[utoipa::path(get, path = "/api/v1/approvals/pending", tag = "approvals", security(("bearer" = [])),
    responses((status = 200, body = Inbox, description = "pending requests whose current level the caller may decide, never their own, oldest first (at most 200)")))]
pub async fn pending(auth: Authorized<ApprovalsRead>) -> ApiResult<web::Json<Inbox>> {
    let current = auth.current;
    let items = approvals::pending_for(current.db.client(), &current.user).await?;
    Ok(web::Json(Inbox { items }))
}

#[utoipa::path(get, path = "/api/v1/approvals/{id}", tag = "approvals", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ApprovalRequest), (status = 404, description = "`approval_not_found`")))]
pub async fn show(
    auth: Authorized<ApprovalsRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ApprovalRequest>> {
    Ok(web::Json(
        approvals::find(auth.current.db.client(), *id).await?,
    ))
}

async fn decide(
    auth: Authorized<ApprovalsDecide>,
    id: Uuid,
    approve: bool,
    body: DecisionBody,
) -> ApiResult<web::Json<ApprovalRequest>> {
    let mut current = auth.current;
    let actor = current.actor();
    let user = current.user.clone();
    let transaction = current.db.begin().await?;
    let request =
        approvals::decide(&transaction, &actor, &user, id, approve, &body.comment).await?;
    transaction.commit().await?;
    Ok(web::Json(request))
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "approvals", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = DecisionBody,
    responses((status = 200, body = ApprovalRequest, description = "the next level waits, or the document is approved"),
              (status = 403, description = "`own_document` (the requester), `forbidden` (not the level's role)"),
              (status = 404, description = "`approval_not_found`"),
              (status = 409, description = "`already_decided`"),
              (status = 422, description = "`validation_failed`: comment too long")))]
pub async fn approve(
    auth: Authorized<ApprovalsDecide>,
    id: web::Path<Uuid>,
    body: Body<DecisionBody>,
) -> ApiResult<web::Json<ApprovalRequest>> {
    decide(auth, *id, true, body.into_inner()?).await
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/reject", tag = "approvals", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = DecisionBody,
    responses((status = 200, body = ApprovalRequest, description = "rejected: the document goes back to its author"),
              (status = 403, description = "`own_document` (the requester), `forbidden` (not the level's role)"),
              (status = 404, description = "`approval_not_found`"),
              (status = 409, description = "`already_decided`"),
              (status = 422, description = "`validation_failed`: no comment, or too long")))]
pub async fn reject(
    auth: Authorized<ApprovalsDecide>,
    id: web::Path<Uuid>,
    body: Body<DecisionBody>,
) -> ApiResult<web::Json<ApprovalRequest>> {
    decide(auth, *id, false, body.into_inner()?).await
}

#[utoipa::path(get, path = "/api/v1/approvals/rules", tag = "approvals", security(("bearer" = [])),
    responses((status = 200, body = Rules)))]
pub async fn rules(auth: Authorized<ApprovalsRead>) -> ApiResult<web::Json<Rules>> {
    Ok(web::Json(approvals::rules(auth.current.db.client()).await?))
}

#[utoipa::path(put, path = "/api/v1/approvals/rules", tag = "approvals", security(("bearer" = [])),
    request_body = Rules,
    responses((status = 200, body = Rules),
              (status = 422, description = "`validation_failed`: an unknown role, a negative or repeated amount")))]
pub async fn replace_rules(
    auth: Authorized<SettingsManage>,
    body: Body<Rules>,
) -> ApiResult<web::Json<Rules>> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let rules = approvals::replace_rules(&transaction, &actor, body).await?;
    transaction.commit().await?;
    Ok(web::Json(rules))
}

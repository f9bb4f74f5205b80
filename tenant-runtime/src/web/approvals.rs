//! The approvals inbox page: the requests the signed-in user may decide now (never their
//! own), each with a comment box and approve / reject buttons. It calls
//! `erp::approvals`, the same functions as the API; a refused decision (a rejection
//! without a comment, someone else's level, one already decided) is shown on the page.

use crate::auth::perm::{ApprovalsDecide, ApprovalsRead};
use crate::erp::approvals::{self, ApprovalRequest, DocumentKind};
use crate::erp::stock::held;
use crate::web::errors::PageResult;
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::api_error::ApiError;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "app/approvals/inbox.html")]
struct InboxPage {
    layout: Layout,
    requests: Vec<ApprovalRequest>,
    /// What each held stock adjustment would post, by its request id.
    adjustments: HashMap<Uuid, String>,
    may_decide: bool,
    errors: FormErrors,
}

impl InboxPage {
    /// The role deciding a request's current level.
    fn role_of(&self, request: &ApprovalRequest) -> String {
        usize::try_from(request.current_level - 1)
            .ok()
            .and_then(|index| request.level_roles.get(index))
            .cloned()
            .unwrap_or_default()
    }

    /// A held stock adjustment's line, for the approver to see what they approve.
    fn adjustment_of(&self, request: &ApprovalRequest) -> String {
        self.adjustments
            .get(&request.document_id)
            .cloned()
            .unwrap_or_default()
    }
}

/// The decision form: `decision` is `approve` or `reject`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
}

/// `GET /approvals`.
pub async fn inbox(signed: Signed) -> PageResult {
    inbox_page(signed, FormErrors::default(), StatusCode::OK).await
}

async fn inbox_page(signed: Signed, errors: FormErrors, status: StatusCode) -> PageResult {
    let may_decide = signed.can(approvals::DECIDE_PERMISSION);
    let layout = nav::layout(&signed, "Approvals");
    let auth = signed.authorize::<ApprovalsRead>()?;
    let db = auth.current.db.client();
    let requests = approvals::pending_for(db, &auth.current.user).await?;
    let mut adjustments = HashMap::new();
    for request in &requests {
        if request.document_type == DocumentKind::StockAdjustment {
            let held = held::find(db, request.document_id).await?;
            adjustments.insert(request.document_id, held.summary());
        }
    }
    let page = InboxPage {
        layout,
        requests,
        adjustments,
        may_decide,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /approvals/{id}`: approves or rejects the request's current level.
pub async fn decide(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<DecisionForm>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let approve = form.decision == "approve";
    let auth = signed.authorize::<ApprovalsDecide>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let user = current.user.clone();
    let decided = async {
        let transaction = current.db.begin().await?;
        let decided =
            approvals::decide(&transaction, &actor, &user, *id, approve, &form.comment).await?;
        transaction.commit().await?;
        Ok::<_, ApiError>(decided)
    }
    .await;
    match decided {
        Ok(decided) => Ok(render::redirect(
            &request,
            "/approvals",
            Some(Flash::success(format!(
                "Request {}: {}.",
                decided.id,
                if decided.status == "pending" {
                    "approved at this level, now with the next"
                } else {
                    decided.status.as_str()
                }
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(
                error,
                &[("own_document", "comment"), ("forbidden", "comment")],
            )?;
            let signed = Signed::again(&request).await?;
            inbox_page(signed, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

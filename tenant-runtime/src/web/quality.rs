//! Quality pages: the inspections list, one inspection with its decision form (a result
//! per criterion, an outcome, a comment), and the quarantine list with release and scrap
//! buttons shown only to holders of `quality.release`. They call `erp::quality`, the same
//! functions as the API; a refused decision (a conditional without a comment, a missing
//! result) is shown on the page.

use crate::auth::perm::{QualityRead, QualityRelease, QualityWrite};
use crate::erp::quality::inspections::{
    self, Inspection, InspectionDecision, InspectionFilter, Outcome, ResultInput,
};
use crate::erp::quality::plans::CriterionKind;
use crate::erp::quality::quarantine::{self, Quarantine, Resolution};
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
use rust_decimal::Decimal;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "app/quality/quarantine.html")]
struct QuarantinePage {
    layout: Layout,
    lots: Vec<Quarantine>,
    may_release: bool,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "app/quality/inspections.html")]
struct InspectionsPage {
    layout: Layout,
    inspections: Vec<Inspection>,
}

#[derive(Template)]
#[template(path = "app/quality/inspection.html")]
struct InspectionPage {
    layout: Layout,
    inspection: Inspection,
    may_decide: bool,
    errors: FormErrors,
}

impl InspectionPage {
    fn measured(&self, kind: &CriterionKind) -> bool {
        *kind == CriterionKind::Measured
    }
}

/// `GET /quality/quarantine`.
pub async fn quarantine_list(signed: Signed) -> PageResult {
    quarantine_page(signed, FormErrors::default(), StatusCode::OK).await
}

async fn quarantine_page(signed: Signed, errors: FormErrors, status: StatusCode) -> PageResult {
    let may_release = signed.can("quality.release");
    let layout = nav::layout(&signed, "Quarantine");
    let auth = signed.authorize::<QualityRead>()?;
    let lots = quarantine::list(auth.current.db.client()).await?;
    let page = QuarantinePage {
        layout,
        lots,
        may_release,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /quality/quarantine/{id}/{release|scrap}`: needs `quality.release`.
pub async fn resolve(
    request: HttpRequest,
    path: web::Path<(Uuid, String)>,
    submitted: AppForm<HashMap<String, String>>,
) -> PageResult {
    let (id, action) = path.into_inner();
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<QualityRelease>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let input = Resolution {
        note: form.get("note").cloned(),
    };
    let done = async {
        let tx = current.db.begin().await?;
        let done = match action.as_str() {
            "scrap" => quarantine::scrap(&tx, &actor, id, input).await?,
            _ => quarantine::release(&tx, &actor, id, input).await?,
        };
        tx.commit().await?;
        Ok::<_, ApiError>(done)
    }
    .await;
    match done {
        Ok(done) => Ok(render::redirect(
            &request,
            "/quality/quarantine",
            Some(Flash::success(format!(
                "Lot {} {}.",
                done.lot_code,
                done.resolution.as_deref().unwrap_or_default()
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            quarantine_page(signed, errors, StatusCode::CONFLICT).await
        }
    }
}

/// `GET /quality/inspections`: the newest inspections.
pub async fn inspection_list(signed: Signed) -> PageResult {
    let layout = nav::layout(&signed, "Inspections");
    let auth = signed.authorize::<QualityRead>()?;
    let inspections =
        inspections::list(auth.current.db.client(), &InspectionFilter::default()).await?;
    let page = InspectionsPage {
        layout,
        inspections,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// `GET /quality/inspections/{id}`.
pub async fn inspection(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    inspection_page(signed, *id, FormErrors::default(), StatusCode::OK).await
}

async fn inspection_page(
    signed: Signed,
    id: Uuid,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_decide = signed.can("quality.write");
    let layout = nav::layout(&signed, "Inspection");
    let auth = signed.authorize::<QualityRead>()?;
    let inspection = inspections::find(auth.current.db.client(), id).await?;
    let page = InspectionPage {
        layout,
        inspection,
        may_decide,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// The decision a form describes: `outcome`, `comment`, and per criterion `passed_{n}`
/// (`yes`/`no`) or `value_{n}`, `note_{n}`, `defect_{n}`.
fn decision(
    form: &HashMap<String, String>,
    positions: &[i32],
) -> Result<InspectionDecision, ApiError> {
    let outcome = match form.get("outcome").map(String::as_str) {
        Some("pass") => Outcome::Pass,
        Some("fail") => Outcome::Fail,
        Some("conditional") => Outcome::Conditional,
        _ => {
            return Err(ApiError::invalid(
                "outcome",
                "choose pass, fail or conditional",
            ));
        }
    };
    let given = |name: &str, n: i32| {
        form.get(&format!("{name}_{n}"))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut results = Vec::new();
    for &n in positions {
        let value =
            match given("value", n) {
                Some(text) => Some(text.parse::<Decimal>().map_err(|_| {
                    ApiError::invalid(&format!("value_{n}"), "a number such as 3.5")
                })?),
                None => None,
            };
        results.push(ResultInput {
            position: n,
            passed: given("passed", n).map(|v| v == "yes"),
            value,
            note: given("note", n),
            defect_type: given("defect", n),
            defect_quantity: None,
        });
    }
    Ok(InspectionDecision {
        outcome,
        results,
        defects: Vec::new(),
        comment: form.get("comment").cloned(),
    })
}

/// `POST /quality/inspections/{id}`: records the decision.
pub async fn decide(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<HashMap<String, String>>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<QualityWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let decided = async {
        let before = inspections::find(current.db.client(), *id).await?;
        let positions: Vec<i32> = before.results.iter().map(|r| r.position).collect();
        let input = decision(&form, &positions)?;
        let tx = current.db.begin().await?;
        let decided = inspections::decide(&tx, &actor, *id, input).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(decided)
    }
    .await;
    match decided {
        Ok(decided) => Ok(render::redirect(
            &request,
            &format!("/quality/inspections/{}", decided.id),
            Some(Flash::success(format!(
                "Inspection {}: {}.",
                decided.number,
                decided.status.as_str()
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            inspection_page(signed, *id, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

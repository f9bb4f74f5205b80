//! The stock move forms, for `inventory.write`: a receipt, an issue, a transfer between
//! locations, or an adjustment, one form per kind. They post through the same
//! `erp::stock` functions as the API (adjustments through `held::adjust`, which holds one
//! for approval when the company's `stock_adjustment` rules cover its value: the page says
//! so, and nothing moves). Each form carries a fresh reference, so a double submit posts
//! once; a refusal (insufficient stock, an unknown unit...) comes back on the form with
//! the values typed.

use crate::auth::perm::InventoryWrite;
use crate::erp::approvals;
use crate::erp::stock::held::{self, Adjusted, HeldAdjustment};
use crate::erp::stock::{self, Adjustment, Issue, Posted, Receipt, Transfer};
use crate::web::errors::{PageError, PageResult};
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use crate::web::stock::{Places, item_choices};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, ResponseError, web};
use askama::Template;
use common::api_error::{ApiError, ApiResult};
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

/// A submitted form: its fields by name.
type Fields = HashMap<String, String>;

/// The kinds of move a form posts, and their titles.
const KINDS: [(&str, &str); 4] = [
    ("receipt", "Receive"),
    ("issue", "Issue"),
    ("transfer", "Transfer"),
    ("adjustment", "Adjust"),
];

/// Problem codes that belong next to a field of the form.
const FIELDS_BY_CODE: [(&str, &str); 7] = [
    ("insufficient_stock", "quantity"),
    ("lot_not_found", "lot_code"),
    ("item_not_found", "item_id"),
    ("item_inactive", "item_id"),
    ("location_not_found", "location_id"),
    ("location_inactive", "location_id"),
    ("adjustment_request_not_found", "reference"),
];

/// Fields each kind's form shows (any other error is listed above the form).
const SHOWN: [&str; 10] = [
    "item_id",
    "location_id",
    "to_location_id",
    "quantity",
    "unit",
    "unit_cost",
    "lot_code",
    "lot_expires_on",
    "note",
    "reason",
];

/// An adjustment held for approval, as the page tells it.
struct HeldNotice {
    adjustment: HeldAdjustment,
    /// The deciding roles, in order (`manager, then admin`).
    roles: String,
}

#[derive(Template)]
#[template(path = "app/stock/move.html")]
struct MovePage {
    layout: Layout,
    kind: &'static str,
    kinds: [(&'static str, &'static str); 4],
    items: Vec<(String, String)>,
    locations: Vec<(String, String)>,
    form: Fields,
    errors: FormErrors,
    problems: Vec<(String, String)>,
    held: Option<HeldNotice>,
}

impl MovePage {
    fn value(&self, name: &str) -> &str {
        self.form.get(name).map(String::as_str).unwrap_or_default()
    }
}

/// `?kind=receipt|issue|transfer|adjustment`.
#[derive(Debug, Deserialize)]
pub struct KindQuery {
    #[serde(default)]
    kind: String,
}

/// The kind named `text` (404 page for another word).
fn kind_of(text: &str) -> Result<&'static str, PageError> {
    KINDS
        .iter()
        .map(|(kind, _)| *kind)
        .find(|kind| *kind == text)
        .ok_or_else(|| PageError::Api(ApiError::not_found("not_found", "no such stock move")))
}

/// A fresh form of `kind`: its own reference.
fn fresh(kind: &str) -> Fields {
    let mut form = Fields::new();
    form.insert("kind".to_owned(), kind.to_owned());
    form.insert("reference".to_owned(), Uuid::now_v7().to_string());
    form
}

/// `GET /stock/moves/new?kind=`.
pub async fn new_form(signed: Signed, query: web::Query<KindQuery>) -> PageResult {
    let kind = kind_of(&query.kind)?;
    page(
        signed,
        kind,
        fresh(kind),
        FormErrors::default(),
        None,
        StatusCode::OK,
    )
    .await
}

async fn page(
    signed: Signed,
    kind: &'static str,
    form: Fields,
    errors: FormErrors,
    held: Option<HeldNotice>,
    status: StatusCode,
) -> PageResult {
    let title = KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("Stock move", |(_, title)| *title);
    let layout = nav::layout(&signed, format!("{title} stock"));
    let auth = signed.authorize::<InventoryWrite>()?;
    let db = auth.current.db.client();
    let mut items = vec![(String::new(), "—".to_owned())];
    items.extend(item_choices(db).await?);
    let mut locations = vec![(String::new(), "—".to_owned())];
    locations.extend(Places::load(db).await?.active());
    let page = MovePage {
        layout,
        kind,
        kinds: KINDS,
        items,
        locations,
        form,
        problems: errors.fields_except(&SHOWN),
        errors,
        held,
    };
    Ok(render::page(status, &page.layout, &page))
}

fn field<'a>(form: &'a Fields, name: &str) -> Option<&'a str> {
    form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn id(form: &Fields, name: &str, message: &str) -> ApiResult<Uuid> {
    field(form, name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::invalid(name, message))
}

fn number(form: &Fields, name: &str) -> ApiResult<Option<Decimal>> {
    field(form, name)
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::invalid(name, "not a number"))
        })
        .transpose()
}

fn text(form: &Fields, name: &str) -> Option<String> {
    field(form, name).map(str::to_owned)
}

/// The move a form describes; 422 on a field that cannot be read.
enum Move {
    Receipt(Receipt),
    Issue(Issue),
    Transfer(Transfer),
    Adjustment(Adjustment),
}

fn read(kind: &str, form: &Fields) -> ApiResult<Move> {
    let item_id = id(form, "item_id", "choose an item")?;
    let location_id = id(form, "location_id", "choose a location")?;
    let quantity =
        number(form, "quantity")?.ok_or_else(|| ApiError::invalid("quantity", "enter a number"))?;
    let expires = field(form, "lot_expires_on")
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::invalid("lot_expires_on", "a date, YYYY-MM-DD"))
        })
        .transpose()?;
    let note = form.get("note").cloned().unwrap_or_default();
    let (unit, lot_code, reference) = (
        text(form, "unit"),
        text(form, "lot_code"),
        text(form, "reference"),
    );
    Ok(match kind {
        "receipt" => Move::Receipt(Receipt {
            item_id,
            location_id,
            quantity,
            unit,
            unit_cost: number(form, "unit_cost")?,
            lot_code,
            lot_expires_on: expires,
            reference,
            note,
            ..Receipt::default()
        }),
        "issue" => Move::Issue(Issue {
            item_id,
            location_id,
            quantity,
            unit,
            lot_code,
            reference,
            note,
            ..Issue::default()
        }),
        "transfer" => Move::Transfer(Transfer {
            item_id,
            from_location_id: location_id,
            to_location_id: id(form, "to_location_id", "choose where it goes")?,
            quantity,
            unit,
            lot_code,
            reference,
            note,
        }),
        _ => Move::Adjustment(Adjustment {
            item_id,
            location_id,
            quantity,
            unit,
            unit_cost: number(form, "unit_cost")?,
            lot_code,
            lot_expires_on: expires,
            reason: form.get("reason").cloned().unwrap_or_default(),
            reference,
        }),
    })
}

/// What a submitted form did.
enum Done {
    Posted(Posted),
    Held(HeldNotice),
}

/// `POST /stock/moves`: posts the move (or holds an adjustment for approval).
pub async fn submit(request: HttpRequest, submitted: AppForm<Fields>) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<InventoryWrite>()?;
    let kind = kind_of(form.get("kind").map(String::as_str).unwrap_or_default())?;
    let mut current = auth.current;
    let actor = current.actor();
    let done = async {
        let input = read(kind, &form)?;
        let mut tx = current.db.begin().await?;
        let done = match input {
            Move::Receipt(r) => Done::Posted(stock::post_receipt(&tx, &actor, r).await?),
            Move::Issue(i) => Done::Posted(stock::post_issue(&tx, &actor, i).await?),
            Move::Transfer(t) => Done::Posted(stock::post_transfer(&tx, &actor, t).await?),
            Move::Adjustment(a) => match held::adjust(&mut tx, &actor, a).await? {
                Adjusted::Posted(posted) => Done::Posted(posted),
                Adjusted::Held(adjustment) => {
                    let approval = approvals::find(&tx, adjustment.approval_id).await?;
                    let roles = approval.level_roles.join(", then ");
                    Done::Held(HeldNotice { adjustment, roles })
                }
            },
        };
        tx.commit().await?;
        Ok::<_, ApiError>(done)
    }
    .await;
    let signed_again = || Signed::again(&request);
    match done {
        Ok(Done::Posted(posted)) => Ok(render::redirect(
            &request,
            "/stock/movements",
            Some(Flash::success(posted_message(&posted))),
        )),
        Ok(Done::Held(notice)) => {
            page(
                signed_again().await?,
                kind,
                fresh(kind),
                FormErrors::default(),
                Some(notice),
                StatusCode::ACCEPTED,
            )
            .await
        }
        Err(error) => {
            let status = error.status_code();
            let errors = FormErrors::from_api_error(error, &FIELDS_BY_CODE)?;
            // The refusal's own status: 409 for insufficient stock, 422 for a field.
            page(signed_again().await?, kind, form, errors, None, status).await
        }
    }
}

/// The flash after a posted move.
fn posted_message(posted: &Posted) -> String {
    let what = match posted.movement.kind.as_str() {
        "receipt" => "Receipt",
        "issue" => "Issue",
        "transfer" => "Transfer",
        _ => "Adjustment",
    };
    if posted.created {
        format!("{what} posted.")
    } else {
        format!("{what} had been posted already; nothing more was moved.")
    }
}

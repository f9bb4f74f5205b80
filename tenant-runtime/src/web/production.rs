//! Production pages: the manufacturing orders (a list with a form for a new order, and an
//! order's page with its components, the allocation preview and shortages, release /
//! complete / cancel / close and its work orders), and a work order's daily-input page made for a tablet on the shop floor (large
//! targets, few fields). They call `erp::production`, the same functions as the API; each
//! form carries a fresh reference, so a double-submitted form acts once.

use crate::auth::perm::{ProductionRead, ProductionWrite};
use crate::erp::masters::PageQuery;
use crate::erp::masters::warehouses::{self, WarehouseFilter};
use crate::erp::production::allocation::{self, Allocation, ReleaseRequest};
use crate::erp::production::boms::{self, BomFilter};
use crate::erp::production::completion::{self, Completion};
use crate::erp::production::orders::{
    self, ManufacturingOrder, NewOrder, OrderFilter, OrderSummary, Status,
};
use crate::erp::production::work_orders::{
    self, NewInput, NewWorkOrder, WorkOrder, WorkOrderFilter,
};
use crate::web::errors::PageResult;
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use chrono::Utc;
use common::api_error::{ApiError, ApiResult};
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::str::FromStr;
use uuid::Uuid;

/// A submitted form: its fields by name.
type Fields = HashMap<String, String>;

#[derive(Template)]
#[template(path = "app/production/orders.html")]
struct OrdersPage {
    layout: Layout,
    orders: Vec<OrderSummary>,
    may_write: bool,
    /// Items with an active BOM.
    items: Vec<(String, String)>,
    /// `{warehouse}:{location}` of every active location.
    places: Vec<(String, String)>,
    reference: String,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "app/production/order.html")]
struct OrderPage {
    layout: Layout,
    order: ManufacturingOrder,
    allocation: Allocation,
    work_orders: Vec<WorkOrder>,
    may_write: bool,
    draft: bool,
    running: bool,
    reference: String,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "app/production/work_order.html")]
struct WorkOrderPage {
    layout: Layout,
    work_order: WorkOrder,
    may_write: bool,
    open: bool,
    today: String,
    reference: String,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map(|v| v.trim()).unwrap_or_default()
}

fn uuid_field(fields: &Fields, name: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(field(fields, name)).map_err(|_| ApiError::invalid(name, "choose one"))
}

/// A decimal field; `empty` when left blank.
fn decimal_field(fields: &Fields, name: &str, empty: Option<Decimal>) -> ApiResult<Decimal> {
    match (field(fields, name), empty) {
        ("", Some(value)) => Ok(value),
        (text, _) => Decimal::from_str(text).map_err(|_| ApiError::invalid(name, "not a number")),
    }
}

fn reference(fields: &Fields) -> Option<String> {
    Some(field(fields, "reference").to_owned()).filter(|r| !r.is_empty())
}

/// (id, label) of the items with an active BOM, and (`warehouse:location`, label) of every
/// active location, for the new-order form.
async fn order_choices(
    db: &impl tokio_postgres::GenericClient,
) -> ApiResult<(Vec<(String, String)>, Vec<(String, String)>)> {
    let paging = PageQuery {
        limit: Some(200),
        after: None,
    };
    let filter = BomFilter {
        active: Some(true),
        ..BomFilter::default()
    };
    let items = boms::list(db, &filter, &paging)
        .await?
        .items
        .into_iter()
        .map(|b| {
            (
                b.item_id.to_string(),
                format!("{} {} (BOM v{})", b.sku, b.item_name, b.version),
            )
        })
        .collect();
    let active = WarehouseFilter {
        active: Some(true),
        ..WarehouseFilter::default()
    };
    let mut places = Vec::new();
    for store in warehouses::list(db, &active, &paging).await?.items {
        for place in warehouses::locations(db, store.id).await? {
            if place.active {
                places.push((
                    format!("{}:{}", store.id, place.id),
                    format!("{} / {} {}", store.code, place.code, place.name),
                ));
            }
        }
    }
    Ok((items, places))
}

/// `GET /production/orders`.
pub async fn orders(signed: Signed) -> PageResult {
    orders_page(signed, FormErrors::default(), StatusCode::OK).await
}

async fn orders_page(signed: Signed, errors: FormErrors, status: StatusCode) -> PageResult {
    let may_write = signed.can("production.write");
    let layout = nav::layout(&signed, "Manufacturing orders");
    let auth = signed.authorize::<ProductionRead>()?;
    let db = auth.current.db.client();
    let paging = PageQuery {
        limit: Some(100),
        after: None,
    };
    let list = orders::list(db, &OrderFilter::default(), &paging).await?;
    let (items, places) = if may_write {
        order_choices(db).await?
    } else {
        Default::default()
    };
    let page = OrdersPage {
        layout,
        orders: list.items,
        may_write,
        items,
        places,
        reference: Uuid::now_v7().to_string(),
        problems: errors.fields_except(&[]),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

fn new_order(form: &Fields) -> ApiResult<NewOrder> {
    let (warehouse, location) = field(form, "place")
        .split_once(':')
        .ok_or_else(|| ApiError::invalid("place", "choose where the goods go"))?;
    let parse =
        |text: &str| Uuid::parse_str(text).map_err(|_| ApiError::invalid("place", "choose one"));
    Ok(NewOrder {
        item_id: uuid_field(form, "item_id")?,
        quantity: decimal_field(form, "quantity", None)?,
        unit: None,
        warehouse_id: parse(warehouse)?,
        output_location_id: parse(location)?,
        due_on: None,
        notes: form.get("notes").cloned().unwrap_or_default(),
        reference: reference(form),
    })
}

/// `POST /production/orders`: drafts an order.
pub async fn create(request: HttpRequest, submitted: AppForm<Fields>) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let created = async {
        let input = new_order(&form)?;
        let tx = current.db.begin().await?;
        let (order, _) = orders::create(&tx, &actor, input).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(order)
    }
    .await;
    match created {
        Ok(order) => Ok(render::redirect(
            &request,
            &format!("/production/orders/{}", order.order.id),
            Some(Flash::success(format!(
                "Order {} drafted.",
                order.order.number
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            orders_page(signed, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// `GET /production/orders/{id}`.
pub async fn order(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    order_page(signed, *id, FormErrors::default(), StatusCode::OK).await
}

async fn order_page(
    signed: Signed,
    id: Uuid,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("production.write");
    let layout = nav::layout(&signed, "Manufacturing order");
    let auth = signed.authorize::<ProductionRead>()?;
    let db = auth.current.db.client();
    let order = orders::find(db, id).await?;
    let allocation = allocation::preview(db, id).await?;
    let filter = WorkOrderFilter { order_id: Some(id) };
    let work_orders = work_orders::list(db, &filter).await?;
    let page = OrderPage {
        layout: Layout {
            title: format!("{} {}", order.order.number, order.order.sku),
            ..layout
        },
        draft: order.order.status == Status::Draft,
        running: order.order.status.is_running(),
        order,
        allocation,
        work_orders,
        may_write,
        reference: Uuid::now_v7().to_string(),
        problems: errors.fields_except(&[]),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// The order's page after a write: `done` as the flash, or the page again with the
/// refusal (a 409 or 422; anything else is an error page).
async fn after_write(request: &HttpRequest, id: Uuid, result: ApiResult<String>) -> PageResult {
    match result {
        Ok(done) => Ok(render::redirect(
            request,
            &format!("/production/orders/{id}"),
            Some(Flash::success(done)),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(request).await?;
            order_page(signed, id, errors, StatusCode::CONFLICT).await
        }
    }
}

/// `POST /production/orders/{id}/{action}`: release (all or nothing, or `release-partial`),
/// complete, cancel, close, or add a work order.
pub async fn act(
    request: HttpRequest,
    path: web::Path<(Uuid, String)>,
    submitted: AppForm<Fields>,
) -> PageResult {
    let (id, action) = path.into_inner();
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let result = async {
        let tx = current.db.begin().await?;
        let done = match action.as_str() {
            "release" | "release-partial" => {
                let request = ReleaseRequest {
                    allow_partial: action == "release-partial",
                };
                let released = allocation::release(&tx, &actor, id, request).await?;
                let short: Vec<String> = released
                    .shortages
                    .iter()
                    .map(|s| format!("{} short {}", s.sku, s.short))
                    .collect();
                match short.is_empty() {
                    true => "Released: every component reserved.".to_owned(),
                    false => format!("Released with shortages: {}.", short.join(", ")),
                }
            }
            "complete" => {
                let input = Completion {
                    quantity: decimal_field(&form, "quantity", None)?,
                    reference: reference(&form),
                };
                let (order, _) = completion::complete(&tx, &actor, id, input).await?;
                format!(
                    "Completed {} of {}.",
                    order.order.completed_quantity, order.order.quantity
                )
            }
            "cancel" => orders::cancel(&tx, &actor, id)
                .await
                .map(|_| "Canceled.".to_owned())?,
            "close" => orders::close(&tx, &actor, id)
                .await
                .map(|_| "Closed.".to_owned())?,
            "work-orders" => {
                let input = NewWorkOrder {
                    order_id: id,
                    operation: Some(field(&form, "operation").to_owned()).filter(|o| !o.is_empty()),
                    department_id: None,
                    target_quantity: decimal_field(&form, "target_quantity", None)?,
                };
                let made = work_orders::create(&tx, &actor, input).await?;
                format!("Work order {} added.", made.number)
            }
            _ => {
                return Err(ApiError::not_found(
                    "not_found",
                    "no such action on a manufacturing order",
                ));
            }
        };
        tx.commit().await?;
        Ok(done)
    }
    .await;
    after_write(&request, id, result).await
}

/// `GET /production/work-orders/{id}`: the daily-input page.
pub async fn work_order(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    work_order_page(signed, *id, FormErrors::default(), StatusCode::OK).await
}

async fn work_order_page(
    signed: Signed,
    id: Uuid,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("production.write");
    let layout = nav::layout(&signed, "Work order");
    let auth = signed.authorize::<ProductionRead>()?;
    let work_order = work_orders::find(auth.current.db.client(), id).await?;
    let page = WorkOrderPage {
        layout: Layout {
            title: format!("{} {}", work_order.number, work_order.operation),
            ..layout
        },
        open: work_order.order_status.is_running(),
        work_order,
        may_write,
        today: Utc::now().date_naive().to_string(),
        reference: Uuid::now_v7().to_string(),
        problems: errors.fields_except(&[]),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

fn new_input(form: &Fields) -> ApiResult<NewInput> {
    let work_date = field(form, "work_date")
        .parse()
        .map_err(|_| ApiError::invalid("work_date", "a date, YYYY-MM-DD"))?;
    Ok(NewInput {
        work_date,
        shift: field(form, "shift").to_owned(),
        operator: field(form, "operator").to_owned(),
        good_quantity: decimal_field(form, "good_quantity", Some(Decimal::ZERO))?,
        reject_quantity: Some(decimal_field(form, "reject_quantity", Some(Decimal::ZERO))?),
        scrap_quantity: Some(decimal_field(form, "scrap_quantity", Some(Decimal::ZERO))?),
        note: String::new(),
        reference: reference(form),
    })
}

/// `POST /production/work-orders/{id}`: records one day's input.
pub async fn record_input(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<Fields>,
) -> PageResult {
    let id = *id;
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let result = async {
        let input = new_input(&form)?;
        let tx = current.db.begin().await?;
        let (recorded, _) = work_orders::record_input(&tx, &actor, id, input).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(recorded)
    }
    .await;
    match result {
        Ok(recorded) => Ok(render::redirect(
            &request,
            &format!("/production/work-orders/{id}"),
            Some(Flash::success(format!(
                "Recorded: {} good of {} ({} %).",
                recorded.good_quantity, recorded.target_quantity, recorded.progress_percent
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            work_order_page(signed, id, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

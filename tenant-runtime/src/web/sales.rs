//! Sales order pages: the list with a form for a new order (up to five lines), and an
//! order's page with its lines, the confirm / cancel / invoice / close buttons and a
//! delivery form. They call `erp::sales`, the same functions as the API; each form carries
//! a fresh reference, so a double-submitted form makes one order or one delivery. The list
//! links the order-lines CSV (all, or open orders only).

use crate::api::stock::order_lines_download;
use crate::auth::perm::{SalesRead, SalesWrite};
use crate::erp::masters::partners::{self, PartnerFilter, PartnerRole};
use crate::erp::masters::warehouses::{self, WarehouseFilter};
use crate::erp::masters::{PageQuery, items};
use crate::erp::reports::{OrderKind, OrderLinesFilter};
use crate::erp::sales::{
    self, Delivery, DeliveryLine, NewLine, NewSalesOrder, OrderFilter, SalesOrder,
    SalesOrderSummary,
};
use crate::web::errors::PageResult;
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::api_error::{ApiError, ApiResult};
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::paging::Pager;
use common::web::render;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::HashMap;
use std::str::FromStr;
use uuid::Uuid;

/// Line rows the new-order form offers.
const FORM_LINES: usize = 5;

/// A submitted form: its fields by name (line fields are numbered).
type Fields = HashMap<String, String>;

/// One line row of the new-order form, as typed.
struct LineRow {
    n: usize,
    item: String,
    quantity: String,
    price: String,
}

#[derive(Template)]
#[template(path = "app/sales/list.html")]
struct ListPage {
    layout: Layout,
    orders: Vec<SalesOrderSummary>,
    pager: Pager,
    may_write: bool,
    customers: Vec<(String, String)>,
    warehouses: Vec<(String, String)>,
    items: Vec<(String, String)>,
    customer: String,
    warehouse: String,
    notes: String,
    rows: Vec<LineRow>,
    reference: String,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "app/sales/show.html")]
struct OrderPage {
    layout: Layout,
    order: SalesOrder,
    may_write: bool,
    locations: Vec<(String, String)>,
    reference: String,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

/// `?cursor=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
}

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map(|v| v.trim()).unwrap_or_default()
}

/// (id, label) pairs of the active customers, warehouses and items a new order offers
/// (the form needs them: a sales user may lack `master_data.read`).
async fn choices(
    db: &impl tokio_postgres::GenericClient,
) -> ApiResult<(
    Vec<(String, String)>,
    Vec<(String, String)>,
    Vec<(String, String)>,
)> {
    let paging = PageQuery {
        limit: Some(200),
        after: None,
    };
    let customers = partners::list(
        db,
        &PartnerFilter {
            role: Some(PartnerRole::Customer),
            active: Some(true),
            ..PartnerFilter::default()
        },
        &paging,
    )
    .await?
    .items
    .into_iter()
    .map(|p| (p.id.to_string(), format!("{} {}", p.code, p.name)))
    .collect();
    let stores = warehouses::list(
        db,
        &WarehouseFilter {
            active: Some(true),
            ..WarehouseFilter::default()
        },
        &paging,
    )
    .await?
    .items
    .into_iter()
    .map(|w| (w.id.to_string(), format!("{} {}", w.code, w.name)))
    .collect();
    let mut goods = vec![(String::new(), "—".to_owned())];
    goods.extend(
        items::list(
            db,
            &items::ItemFilter {
                active: Some(true),
                ..items::ItemFilter::default()
            },
            &paging,
        )
        .await?
        .items
        .into_iter()
        .map(|i| (i.id.to_string(), format!("{} {}", i.sku, i.name))),
    );
    Ok((customers, stores, goods))
}

/// `GET /sales-orders`.
pub async fn list(signed: Signed, query: web::Query<ListQuery>) -> PageResult {
    list_page(
        signed,
        &query,
        Fields::new(),
        FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

async fn list_page(
    signed: Signed,
    query: &ListQuery,
    form: Fields,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("sales.write");
    let layout = nav::layout(&signed, "Sales orders");
    let auth = signed.authorize::<SalesRead>()?;
    let paging = PageQuery {
        limit: Some(50),
        after: query.cursor.clone().filter(|cursor| !cursor.is_empty()),
    };
    let db = auth.current.db.client();
    let page = sales::list(db, &OrderFilter::default(), &paging).await?;
    let (customers, warehouses, items) = if may_write {
        choices(db).await?
    } else {
        Default::default()
    };
    let params = [("cursor", query.cursor.clone().unwrap_or_default())];
    let rows = (1..=FORM_LINES)
        .map(|n| LineRow {
            n,
            item: field(&form, &format!("item_{n}")).to_owned(),
            quantity: field(&form, &format!("quantity_{n}")).to_owned(),
            price: field(&form, &format!("price_{n}")).to_owned(),
        })
        .collect();
    let page = ListPage {
        layout,
        pager: Pager::new("/sales-orders", &params, page.next.as_deref()),
        orders: page.items,
        may_write,
        customers,
        warehouses,
        items,
        customer: field(&form, "customer_id").to_owned(),
        warehouse: field(&form, "warehouse_id").to_owned(),
        notes: field(&form, "notes").to_owned(),
        rows,
        // A repeat of the same form (its reference) is one order; a fresh form a new one.
        reference: Uuid::now_v7().to_string(),
        problems: errors.fields_except(&[]),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

fn uuid_field(fields: &Fields, name: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(field(fields, name)).map_err(|_| ApiError::invalid(name, "choose one"))
}

fn decimal_field(fields: &Fields, name: &str) -> ApiResult<Decimal> {
    Decimal::from_str(field(fields, name)).map_err(|_| ApiError::invalid(name, "not a number"))
}

/// The typed order of the new-order form: rows without an item are left out.
fn new_order(form: &Fields) -> ApiResult<NewSalesOrder> {
    let mut lines = Vec::new();
    for n in 1..=FORM_LINES {
        if field(form, &format!("item_{n}")).is_empty() {
            continue;
        }
        let price = match field(form, &format!("price_{n}")) {
            "" => Decimal::ZERO,
            _ => decimal_field(form, &format!("price_{n}"))?,
        };
        lines.push(NewLine {
            item_id: uuid_field(form, &format!("item_{n}"))?,
            quantity: decimal_field(form, &format!("quantity_{n}"))?,
            unit: None,
            unit_price: price,
        });
    }
    let requested_date = match field(form, "requested_date") {
        "" => None,
        text => Some(
            text.parse()
                .map_err(|_| ApiError::invalid("requested_date", "a date, YYYY-MM-DD"))?,
        ),
    };
    Ok(NewSalesOrder {
        customer_id: uuid_field(form, "customer_id")?,
        warehouse_id: uuid_field(form, "warehouse_id")?,
        requested_date,
        notes: form.get("notes").cloned().unwrap_or_default(),
        reference: Some(field(form, "reference").to_owned()).filter(|r| !r.is_empty()),
        lines,
    })
}

/// `POST /sales-orders`: makes a draft order.
pub async fn create(request: HttpRequest, submitted: AppForm<Fields>) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<SalesWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let created = async {
        let input = new_order(&form)?;
        let transaction = current.db.begin().await?;
        let (order, _) = sales::create(&transaction, &actor, input).await?;
        transaction.commit().await?;
        Ok::<_, ApiError>(order)
    }
    .await;
    match created {
        Ok(order) => Ok(render::redirect(
            &request,
            &format!("/sales-orders/{}", order.order.id),
            Some(Flash::success(format!(
                "Order {} drafted.",
                order.order.number
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            list_page(
                signed,
                &ListQuery::default(),
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// `GET /sales-orders/export?status=&open=`: the orders' lines as CSV, the API's own
/// download (`/api/v1/sales-orders/export`) for a signed-in user.
pub async fn export(signed: Signed, filter: web::Query<OrderLinesFilter>) -> PageResult {
    let auth = signed.authorize::<SalesRead>()?;
    Ok(order_lines_download(
        auth.current.db,
        OrderKind::Sales,
        filter.into_inner(),
    )?)
}

/// `GET /sales-orders/{id}`.
pub async fn show(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    order_page(signed, *id, FormErrors::default(), StatusCode::OK).await
}

async fn order_page(
    signed: Signed,
    id: Uuid,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("sales.write");
    let layout = nav::layout(&signed, "Sales order");
    let auth = signed.authorize::<SalesRead>()?;
    let db = auth.current.db.client();
    let order = sales::find(db, id).await?;
    let locations = warehouses::locations(db, order.order.warehouse_id)
        .await?
        .into_iter()
        .filter(|l| l.active)
        .map(|l| (l.id.to_string(), format!("{} {}", l.code, l.name)))
        .collect();
    let page = OrderPage {
        layout: Layout {
            title: format!("{} {}", order.order.number, order.order.customer_name),
            ..layout
        },
        order,
        may_write,
        locations,
        reference: Uuid::now_v7().to_string(),
        problems: errors.fields_except(&[]),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// The page after a write: the order's page with `done` as the flash, or the page again
/// with the refusal (a 409 or 422 about the form; anything else is an error page).
async fn after_write(request: &HttpRequest, id: Uuid, result: ApiResult<String>) -> PageResult {
    match result {
        Ok(done) => Ok(render::redirect(
            request,
            &format!("/sales-orders/{id}"),
            Some(Flash::success(done)),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(request).await?;
            order_page(signed, id, errors, StatusCode::CONFLICT).await
        }
    }
}

/// `POST /sales-orders/{id}/{action}`: confirm, cancel, invoice or close.
pub async fn act(
    request: HttpRequest,
    path: web::Path<(Uuid, String)>,
    submitted: AppForm<Fields>,
) -> PageResult {
    let (id, action) = path.into_inner();
    let auth = submitted.signed.authorize::<SalesWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let result = async {
        let tx = current.db.begin().await?;
        let order = match action.as_str() {
            "confirm" => sales::confirm(&tx, &actor, id).await?,
            "cancel" => sales::cancel(&tx, &actor, id).await?,
            "invoice" => sales::invoice(&tx, &actor, id).await?,
            "close" => sales::close(&tx, &actor, id).await?,
            _ => {
                return Err(ApiError::not_found(
                    "not_found",
                    "no such action on a sales order",
                ));
            }
        };
        tx.commit().await?;
        Ok(format!(
            "Order {} is {}.",
            order.order.number,
            order.order.status.as_str().replace('_', " ")
        ))
    }
    .await;
    after_write(&request, id, result).await
}

/// The typed delivery of the delivery form: a quantity per line (`quantity_{line}`,
/// empty ones left out), all from one location.
fn delivery(form: &Fields) -> ApiResult<Delivery> {
    let location_id = uuid_field(form, "location_id")?;
    let mut lines = Vec::new();
    let mut names: Vec<&String> = form.keys().filter(|k| k.starts_with("quantity_")).collect();
    names.sort();
    for name in names {
        let Some(line) = name
            .strip_prefix("quantity_")
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if field(form, name).is_empty() {
            continue;
        }
        lines.push(DeliveryLine {
            line,
            quantity: decimal_field(form, name)?,
            location_id,
            lot_code: None,
        });
    }
    Ok(Delivery {
        lines,
        reference: Some(field(form, "reference").to_owned()).filter(|r| !r.is_empty()),
    })
}

/// `POST /sales-orders/{id}/deliveries`: posts a delivery.
pub async fn deliver(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<Fields>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let id = *id;
    let auth = signed.authorize::<SalesWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let result = async {
        let input = delivery(&form)?;
        let tx = current.db.begin().await?;
        let (order, _) = sales::deliver(&tx, &actor, id, input).await?;
        tx.commit().await?;
        Ok(format!(
            "Delivered; order {} is {}.",
            order.order.number,
            order.order.status.as_str().replace('_', " ")
        ))
    }
    .await;
    after_write(&request, id, result).await
}

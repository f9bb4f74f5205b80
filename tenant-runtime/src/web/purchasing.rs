//! Purchase order pages: the list (newest first, a status filter), an order's page with
//! its lines, its submit / cancel / close buttons and a receive form (one quantity per
//! line into one location; a reference rendered into the form makes a double submit
//! receive once). They call `erp::purchasing`, the same functions as the API; refusals
//! (`over_receipt`, a canceled order...) are shown on the page. The list links the
//! order-lines CSV (all, or open orders only).

use crate::api::stock::order_lines_download;
use crate::auth::perm::{PurchasingRead, PurchasingWrite};
use crate::erp::masters::items::ItemFilter;
use crate::erp::masters::partners::{PartnerFilter, PartnerRole};
use crate::erp::masters::warehouses::WarehouseFilter;
use crate::erp::masters::{PageQuery, items, partners, warehouses};
use crate::erp::purchasing::{
    self, NewLine, NewPurchaseOrder, PurchaseOrder, PurchaseOrderChanges, PurchaseOrderFilter,
    ReceiptInput, ReceiptLineInput,
};
use crate::erp::reports::{OrderKind, OrderLinesFilter};
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
use common::web::paging::{Pager, href};
use common::web::render;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "app/purchasing/list.html")]
struct ListPage {
    layout: Layout,
    orders: Vec<PurchaseOrder>,
    pager: Pager,
    status: String,
    may_write: bool,
    /// The order-lines CSV of the orders listed (the status filter kept).
    lines_export: String,
}

#[derive(Template)]
#[template(path = "app/purchasing/show.html")]
struct OrderPage {
    layout: Layout,
    order: PurchaseOrder,
    supplier: String,
    /// Each line's item SKU.
    skus: Vec<(i32, String)>,
    locations: Vec<(String, String)>,
    may_write: bool,
    receivable: bool,
    reference: String,
    errors: FormErrors,
}

impl OrderPage {
    fn sku(&self, line: &i32) -> &str {
        self.skus
            .iter()
            .find(|(number, _)| number == line)
            .map(|(_, sku)| sku.as_str())
            .unwrap_or_default()
    }
}

/// Line rows the new-order form offers.
const FORM_LINES: usize = 5;

#[derive(Template)]
#[template(path = "app/purchasing/new.html")]
struct NewPage {
    layout: Layout,
    /// Where the form posts: a new draft, or the edit of draft `{id}`.
    action: String,
    heading: String,
    suppliers: Vec<(String, String)>,
    warehouses: Vec<(String, String)>,
    items: Vec<(String, String)>,
    rows: Vec<usize>,
    form: HashMap<String, String>,
    errors: FormErrors,
}

impl NewPage {
    fn value(&self, name: &str) -> &str {
        self.form.get(name).map(String::as_str).unwrap_or_default()
    }

    fn row_value(&self, name: &str, row: &usize) -> &str {
        self.value(&format!("{name}_{row}"))
    }
}

/// Which order the form page is for: a new one, or draft `id` with its line count.
#[derive(Debug, Clone, Copy)]
enum Drafting {
    New,
    Edit(Uuid, usize),
}

/// `GET /purchase-orders/new`.
pub async fn new_form(signed: Signed) -> PageResult {
    let mut form = HashMap::new();
    form.insert("reference".to_owned(), Uuid::now_v7().to_string());
    let ok = StatusCode::OK;
    new_page(signed, Drafting::New, form, FormErrors::default(), ok).await
}

/// `GET /purchase-orders/{id}/edit`: the draft in the order form (409 once submitted).
pub async fn edit_form(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    if !signed.can("purchasing.write") {
        return Err(ApiError::forbidden(
            "forbidden",
            "this needs the `purchasing.write` permission",
        )
        .into());
    }
    let order = purchasing::find(signed.current.db.client(), *id).await?;
    if order.status != "draft" {
        return Err(not_a_draft(&order.number).into());
    }
    let mut form = HashMap::from([
        ("supplier_id".to_owned(), order.supplier_id.to_string()),
        ("warehouse_id".to_owned(), order.warehouse_id.to_string()),
        ("notes".to_owned(), order.notes.clone()),
        (
            "expected_on".to_owned(),
            order.expected_on.map(|d| d.to_string()).unwrap_or_default(),
        ),
    ]);
    for (row, line) in order.lines.iter().enumerate() {
        let row = row + 1;
        form.insert(format!("item_{row}"), line.item_id.to_string());
        form.insert(
            format!("quantity_{row}"),
            line.quantity.normalize().to_string(),
        );
        form.insert(
            format!("price_{row}"),
            line.unit_price.normalize().to_string(),
        );
    }
    let drafting = Drafting::Edit(order.id, order.lines.len());
    new_page(
        signed,
        drafting,
        form,
        FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

fn not_a_draft(number: &str) -> ApiError {
    ApiError::conflict(
        "purchase_order_not_draft",
        format!("{number} is no longer a draft: only drafts can be edited"),
    )
}

async fn new_page(
    signed: Signed,
    drafting: Drafting,
    form: HashMap<String, String>,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let (action, heading, lines) = match drafting {
        Drafting::New => (
            "/purchase-orders".to_owned(),
            "New purchase order".to_owned(),
            FORM_LINES,
        ),
        // Room for two more lines than the draft has.
        Drafting::Edit(id, count) => (
            format!("/purchase-orders/{id}/edit"),
            "Edit draft".to_owned(),
            (count + 2).max(FORM_LINES),
        ),
    };
    let layout = nav::layout(&signed, &heading);
    let auth = signed.authorize::<PurchasingWrite>()?;
    let db = auth.current.db.client();
    let all = PageQuery {
        limit: Some(200),
        after: None,
    };
    let suppliers = partners::list(
        db,
        &PartnerFilter {
            role: Some(PartnerRole::Supplier),
            active: Some(true),
            ..PartnerFilter::default()
        },
        &all,
    )
    .await?
    .items
    .into_iter()
    .map(|p| (p.id.to_string(), format!("{} {}", p.code, p.name)))
    .collect();
    let warehouses = warehouses::list(
        db,
        &WarehouseFilter {
            active: Some(true),
            ..WarehouseFilter::default()
        },
        &all,
    )
    .await?
    .items
    .into_iter()
    .map(|w| (w.id.to_string(), format!("{} {}", w.code, w.name)))
    .collect();
    let mut items: Vec<(String, String)> = vec![(String::new(), "—".to_owned())];
    items.extend(
        items::list(
            db,
            &ItemFilter {
                active: Some(true),
                ..ItemFilter::default()
            },
            &all,
        )
        .await?
        .items
        .into_iter()
        .map(|i| {
            (
                i.id.to_string(),
                format!("{} {} ({})", i.sku, i.name, i.base_unit),
            )
        }),
    );
    let page = NewPage {
        layout,
        action,
        heading,
        suppliers,
        warehouses,
        items,
        rows: (1..=lines).collect(),
        form,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /purchase-orders`: creates a draft from the rows with an item (a repeated form,
/// same rendered reference, makes one order).
pub async fn create(
    request: HttpRequest,
    submitted: AppForm<HashMap<String, String>>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<PurchasingWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let done = async {
        let input = order_from_form(&form)?;
        let transaction = current.db.begin().await?;
        let created = purchasing::create(&transaction, &actor, input).await?;
        transaction.commit().await?;
        Ok::<_, ApiError>(created.order)
    }
    .await;
    match done {
        Ok(order) => Ok(render::redirect(
            &request,
            &format!("/purchase-orders/{}", order.id),
            Some(Flash::success(format!("{} drafted.", order.number))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            new_page(signed, Drafting::New, form, errors, status).await
        }
    }
}

/// `POST /purchase-orders/{id}/edit`: replaces a draft's header and lines (the API's
/// `PATCH`, so a submitted order is refused the same way).
pub async fn edit(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<HashMap<String, String>>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<PurchasingWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let done = async {
        let input = order_from_form(&form)?;
        let changes = PurchaseOrderChanges {
            supplier_id: Some(input.supplier_id),
            warehouse_id: Some(input.warehouse_id),
            expected_on: Some(input.expected_on),
            notes: Some(input.notes),
            lines: Some(input.lines),
        };
        let transaction = current.db.begin().await?;
        let order = purchasing::update(&transaction, &actor, *id, changes).await?;
        transaction.commit().await?;
        Ok::<_, ApiError>(order)
    }
    .await;
    match done {
        Ok(order) => Ok(render::redirect(
            &request,
            &format!("/purchase-orders/{}", order.id),
            Some(Flash::success(format!("{} saved.", order.number))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            let rows = form.keys().filter(|key| key.starts_with("item_")).count();
            let drafting = Drafting::Edit(*id, rows.saturating_sub(2));
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            new_page(signed, drafting, form, errors, status).await
        }
    }
}

/// The order the form describes; 422 on an unreadable field.
fn order_from_form(form: &HashMap<String, String>) -> Result<NewPurchaseOrder, ApiError> {
    let id = |field: &str, message: &str| {
        form.get(field)
            .and_then(|value| value.parse::<Uuid>().ok())
            .ok_or_else(|| ApiError::invalid(field, message))
    };
    let expected_on = match form
        .get("expected_on")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        Some(date) => Some(
            date.parse()
                .map_err(|_| ApiError::invalid("expected_on", "a date as YYYY-MM-DD"))?,
        ),
        None => None,
    };
    let mut lines = Vec::new();
    // As many rows as the form has (a draft's edit shows more than a new order's five).
    let rows = form.keys().filter(|key| key.starts_with("item_")).count();
    for row in 1..=rows.max(FORM_LINES) {
        let Some(item_id) = form
            .get(&format!("item_{row}"))
            .and_then(|value| value.parse::<Uuid>().ok())
        else {
            continue;
        };
        let number = |name: &str| {
            form.get(&format!("{name}_{row}"))
                .and_then(|value| value.trim().parse::<Decimal>().ok())
                .ok_or_else(|| {
                    ApiError::invalid(&format!("{name}_{row}"), format!("row {row}: a number"))
                })
        };
        lines.push(NewLine {
            item_id,
            quantity: number("quantity")?,
            unit: None,
            unit_price: number("price")?,
        });
    }
    Ok(NewPurchaseOrder {
        supplier_id: id("supplier_id", "choose a supplier")?,
        warehouse_id: id("warehouse_id", "choose a warehouse")?,
        expected_on,
        notes: form.get("notes").cloned().unwrap_or_default(),
        lines,
        reference: form.get("reference").cloned().filter(|r| !r.is_empty()),
    })
}

/// `?status=&cursor=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
}

/// `GET /purchase-orders`.
pub async fn list(signed: Signed, query: web::Query<ListQuery>) -> PageResult {
    let may_write = signed.can("purchasing.write");
    let layout = nav::layout(&signed, "Purchase orders");
    let auth = signed.authorize::<PurchasingRead>()?;
    let status = query.status.clone().filter(|s| !s.is_empty());
    let filter = PurchaseOrderFilter {
        status: status.clone(),
        ..PurchaseOrderFilter::default()
    };
    let paging = PageQuery {
        limit: Some(50),
        after: query.cursor.clone().filter(|cursor| !cursor.is_empty()),
    };
    let page = purchasing::list(auth.current.db.client(), &filter, &paging).await?;
    let params = [
        ("status", status.clone().unwrap_or_default()),
        ("cursor", query.cursor.clone().unwrap_or_default()),
    ];
    let page = ListPage {
        layout,
        pager: Pager::new("/purchase-orders", &params, page.next.as_deref()),
        orders: page.items,
        lines_export: match &status {
            Some(status) => href("/purchase-orders/export", &[("status", status)]),
            None => "/purchase-orders/export".to_owned(),
        },
        status: status.unwrap_or_default(),
        may_write,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// `GET /purchase-orders/export?status=&open=`: the orders' lines as CSV, the API's own
/// download (`/api/v1/purchase-orders/export`) for a signed-in user.
pub async fn export(signed: Signed, filter: web::Query<OrderLinesFilter>) -> PageResult {
    let auth = signed.authorize::<PurchasingRead>()?;
    let filter = filter.into_inner();
    Ok(order_lines_download(
        auth.current.db,
        OrderKind::Purchase,
        filter,
    )?)
}

/// `GET /purchase-orders/{id}`.
pub async fn show(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    order_page(signed, *id, FormErrors::default(), StatusCode::OK).await
}

async fn order_page(
    signed: Signed,
    id: Uuid,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("purchasing.write");
    let layout = nav::layout(&signed, "Purchase order");
    let auth = signed.authorize::<PurchasingRead>()?;
    let db = auth.current.db.client();
    let order = purchasing::find(db, id).await?;
    let supplier = partners::find(db, order.supplier_id).await?;
    let mut skus = Vec::with_capacity(order.lines.len());
    for line in &order.lines {
        skus.push((line.line, items::find(db, line.item_id).await?.sku));
    }
    let locations = warehouses::locations(db, order.warehouse_id)
        .await?
        .into_iter()
        .filter(|location| location.active)
        .map(|location| (location.id.to_string(), location.code))
        .collect();
    let page = OrderPage {
        layout: Layout {
            title: order.number.clone(),
            ..layout
        },
        receivable: ["approved", "partially_received"].contains(&order.status.as_str()),
        supplier: format!("{} {}", supplier.code, supplier.name),
        skus,
        locations,
        may_write,
        reference: Uuid::now_v7().to_string(),
        order,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /purchase-orders/{id}/{action}` for `submit`, `cancel` and `close`.
pub async fn action(
    request: HttpRequest,
    path: web::Path<(Uuid, String)>,
    submitted: AppForm<HashMap<String, String>>,
) -> PageResult {
    let (id, action) = path.into_inner();
    let auth = submitted.signed.authorize::<PurchasingWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let done = async {
        let transaction = current.db.begin().await?;
        let order = match action.as_str() {
            "submit" => purchasing::submit(&transaction, &actor, id).await?,
            "cancel" => purchasing::cancel(&transaction, &actor, id).await?,
            _ => purchasing::close(&transaction, &actor, id).await?,
        };
        transaction.commit().await?;
        Ok::<_, ApiError>(order)
    }
    .await;
    after_write(
        &request,
        id,
        done.map(|order| format!("{} is {}.", order.number, order.status)),
    )
    .await
}

/// `POST /purchase-orders/{id}/receive`: `location_id`, `reference`, and `quantity_{line}`
/// / `lot_{line}` per line (empty quantities are skipped).
pub async fn receive(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<HashMap<String, String>>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<PurchasingWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let done = async {
        let input = receipt_from_form(&form)?;
        let transaction = current.db.begin().await?;
        let receipt = purchasing::receive(&transaction, &actor, *id, input).await?;
        transaction.commit().await?;
        let inspections = match receipt.inspection_ids.len() {
            0 => String::new(),
            n => format!(" {n} incoming inspection(s) opened: see Quality."),
        };
        Ok::<_, ApiError>(format!(
            "Received against {}: it is {}.{inspections}",
            receipt.purchase_order.number, receipt.purchase_order.status
        ))
    }
    .await;
    after_write(&request, *id, done).await
}

/// The receipt the form describes; 422 on a quantity that is not a number.
fn receipt_from_form(form: &HashMap<String, String>) -> Result<ReceiptInput, ApiError> {
    let location_id = form
        .get("location_id")
        .and_then(|value| value.parse::<Uuid>().ok())
        .ok_or_else(|| ApiError::invalid("location_id", "choose a location"))?;
    let mut lines = Vec::new();
    for (key, value) in form {
        let Some(line) = key.strip_prefix("quantity_") else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let line: i32 = line
            .parse()
            .map_err(|_| ApiError::invalid(key, "not a line of this order"))?;
        let quantity: Decimal = value
            .parse()
            .map_err(|_| ApiError::invalid("quantity", format!("line {line}: not a number")))?;
        let lot_code = form
            .get(&format!("lot_{line}"))
            .map(|lot| lot.trim().to_owned())
            .filter(|lot| !lot.is_empty());
        lines.push(ReceiptLineInput {
            line,
            quantity,
            location_id,
            lot_code,
            lot_expires_on: None,
        });
    }
    lines.sort_by_key(|line| line.line);
    if lines.is_empty() {
        return Err(ApiError::invalid(
            "quantity",
            "enter a quantity on at least one line",
        ));
    }
    Ok(ReceiptInput {
        lines,
        reference: form.get("reference").cloned().filter(|r| !r.is_empty()),
    })
}

/// Back to the order's page: with a flash when `done`, else its errors on the page.
async fn after_write(
    request: &HttpRequest,
    id: Uuid,
    done: Result<String, ApiError>,
) -> PageResult {
    match done {
        Ok(message) => Ok(render::redirect(
            request,
            &format!("/purchase-orders/{id}"),
            Some(Flash::success(message)),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(request).await?;
            order_page(signed, id, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

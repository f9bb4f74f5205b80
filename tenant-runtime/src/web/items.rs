//! Items pages: the list (search and keyset paging by SKU) with a form to add an item,
//! and an item's page with its edit form. Both call `erp::masters::items`, the same
//! functions as the API, and show the API's own field errors next to their fields.

use crate::auth::perm::{MasterDataRead, MasterDataWrite};
use crate::erp::masters::items::{
    self, Item, ItemChanges, ItemFilter, ItemKind, ItemUnit, NewItem, parse_units,
};
use crate::erp::masters::{PageQuery, categories, units};
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
use common::web::paging::Pager;
use common::web::render;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::str::FromStr;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "app/items/list.html")]
struct ListPage {
    layout: Layout,
    items: Vec<Item>,
    q: String,
    pager: Pager,
    may_write: bool,
    kinds: Vec<(String, String)>,
    units: Vec<(String, String)>,
    categories: Vec<(String, String)>,
    form: ItemForm,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "app/items/show.html")]
struct ItemPage {
    layout: Layout,
    item: Item,
    may_write: bool,
    kinds: Vec<(String, String)>,
    units: Vec<(String, String)>,
    categories: Vec<(String, String)>,
    form: ItemForm,
    errors: FormErrors,
}

/// `?q=&cursor=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    cursor: Option<String>,
}

/// The fields of the add and edit forms, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ItemForm {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    base_unit: String,
    #[serde(default)]
    reorder_point: String,
    #[serde(default)]
    standard_cost: String,
    #[serde(default)]
    active: String,
    /// A category id, or empty for none.
    #[serde(default)]
    category_id: String,
    /// Conversions as `box=12;kg=0.5` (what the CSV's `units` column holds).
    #[serde(default)]
    units: String,
    #[serde(default)]
    lot_tracked: String,
}

/// An item form's values, read.
struct Parsed {
    kind: ItemKind,
    reorder_point: Decimal,
    standard_cost: Decimal,
    category_id: Option<Uuid>,
    units: Vec<ItemUnit>,
    lot_tracked: bool,
}

impl ItemForm {
    fn of(item: &Item) -> Self {
        Self {
            sku: item.sku.clone(),
            name: item.name.clone(),
            description: item.description.clone(),
            kind: item.kind.as_str().to_owned(),
            base_unit: item.base_unit.clone(),
            reorder_point: item.reorder_point.to_string(),
            standard_cost: item.standard_cost.to_string(),
            active: if item.active { "true" } else { "false" }.to_owned(),
            category_id: item
                .category_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            units: item
                .units
                .iter()
                .map(|u| format!("{}={}", u.unit, u.factor))
                .collect::<Vec<_>>()
                .join(";"),
            lot_tracked: if item.lot_tracked { "true" } else { "false" }.to_owned(),
        }
    }

    /// The typed values, or the fields that do not even parse.
    fn parsed(&self) -> Result<Parsed, FormErrors> {
        let mut errors = FormErrors::default();
        let kind = ItemKind::parse(&self.kind);
        if kind.is_none() {
            errors.add("kind", "choose a kind");
        }
        let decimal = |errors: &mut FormErrors, field: &str, text: &str| {
            let text = text.trim();
            if text.is_empty() {
                return Decimal::ZERO;
            }
            Decimal::from_str(text).unwrap_or_else(|_| {
                errors.add(field, "a decimal number, like 12.5");
                Decimal::ZERO
            })
        };
        let reorder_point = decimal(&mut errors, "reorder_point", &self.reorder_point);
        let standard_cost = decimal(&mut errors, "standard_cost", &self.standard_cost);
        let units = parse_units(&self.units).unwrap_or_else(|message| {
            errors.add("units", &message);
            Vec::new()
        });
        let category_id = match self.category_id.trim() {
            "" => None,
            id => Uuid::parse_str(id)
                .inspect_err(|_| errors.add("category_id", "choose a category"))
                .ok(),
        };
        match kind {
            Some(kind) if errors.is_empty() => Ok(Parsed {
                kind,
                reorder_point,
                standard_cost,
                category_id,
                units,
                lot_tracked: self.lot_tracked == "true",
            }),
            _ => {
                errors.summary = Some("Some fields need attention: see the messages below.".into());
                Err(errors)
            }
        }
    }
}

fn kinds() -> Vec<(String, String)> {
    ["raw", "semi_finished", "finished", "service"]
        .into_iter()
        .map(|kind| (kind.to_owned(), kind.replace('_', "-")))
        .collect()
}

/// The category select: none, then each category by name.
async fn category_options(signed: &Signed) -> Result<Vec<(String, String)>, ApiError> {
    let list = categories::list(signed.current.db.client()).await?;
    Ok(std::iter::once((String::new(), "—".to_owned()))
        .chain(list.into_iter().map(|c| (c.id.to_string(), c.name)))
        .collect())
}

async fn unit_options(signed: &Signed) -> Result<Vec<(String, String)>, ApiError> {
    let list = units::list(signed.current.db.client()).await?;
    Ok(list
        .into_iter()
        .map(|unit| (unit.code.clone(), format!("{} ({})", unit.name, unit.code)))
        .collect())
}

/// `GET /items`.
pub async fn list(signed: Signed, query: web::Query<ListQuery>) -> PageResult {
    let form = ItemForm {
        kind: "raw".into(),
        base_unit: "pcs".into(),
        ..ItemForm::default()
    };
    list_page(signed, &query, form, FormErrors::default(), StatusCode::OK).await
}

async fn list_page(
    signed: Signed,
    query: &ListQuery,
    form: ItemForm,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("master_data.write");
    let layout = nav::layout(&signed, "Items");
    let units = unit_options(&signed).await?;
    let categories = category_options(&signed).await?;
    let auth = signed.authorize::<MasterDataRead>()?;
    let filter = ItemFilter {
        q: Some(query.q.clone()),
        ..ItemFilter::default()
    };
    let paging = PageQuery {
        limit: Some(50),
        after: query.cursor.clone().filter(|cursor| !cursor.is_empty()),
    };
    let page = items::list(auth.current.db.client(), &filter, &paging).await?;
    let params = [
        ("q", query.q.clone()),
        ("cursor", query.cursor.clone().unwrap_or_default()),
    ];
    let page = ListPage {
        layout,
        pager: Pager::new("/items", &params, page.next.as_deref()),
        items: page.items,
        q: query.q.clone(),
        may_write,
        kinds: kinds(),
        units,
        categories,
        form,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /items`: adds an item.
pub async fn create(request: HttpRequest, submitted: AppForm<ItemForm>) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let parsed = match form.parsed() {
        Ok(values) => values,
        Err(errors) => {
            return list_page(
                signed,
                &ListQuery::default(),
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let input = NewItem {
        sku: form.sku.trim().to_owned(),
        name: form.name.clone(),
        description: form.description.clone(),
        kind: parsed.kind,
        base_unit: form.base_unit.clone(),
        category_id: parsed.category_id,
        reorder_point: parsed.reorder_point,
        standard_cost: parsed.standard_cost,
        lot_tracked: parsed.lot_tracked,
        active: true,
        units: parsed.units,
    };
    let auth = signed.authorize::<MasterDataWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let created = async {
        let transaction = current.db.begin().await?;
        let item = items::create(&transaction, &actor, &input).await?;
        transaction.commit().await?;
        Ok::<_, ApiError>(item)
    }
    .await;
    match created {
        Ok(item) => Ok(render::redirect(
            &request,
            &format!("/items/{}", item.id),
            Some(Flash::success(format!("Item {} added.", item.sku))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("sku_taken", "sku")])?;
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

/// `GET /items/{id}`.
pub async fn show(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    item_page(signed, *id, None, FormErrors::default(), StatusCode::OK).await
}

async fn item_page(
    signed: Signed,
    id: Uuid,
    form: Option<ItemForm>,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("master_data.write");
    let layout = nav::layout(&signed, "Item");
    let units = unit_options(&signed).await?;
    let categories = category_options(&signed).await?;
    let auth = signed.authorize::<MasterDataRead>()?;
    let item = items::find(auth.current.db.client(), id).await?;
    let page = ItemPage {
        layout: Layout {
            title: format!("{} {}", item.sku, item.name),
            ..layout
        },
        form: form.unwrap_or_else(|| ItemForm::of(&item)),
        item,
        may_write,
        kinds: kinds(),
        units,
        categories,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /items/{id}`: saves the edit form.
pub async fn update(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<ItemForm>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let parsed = match form.parsed() {
        Ok(values) => values,
        Err(errors) => {
            return item_page(
                signed,
                *id,
                Some(form),
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let changes = ItemChanges {
        name: Some(form.name.clone()),
        description: Some(form.description.clone()),
        kind: Some(parsed.kind),
        base_unit: Some(form.base_unit.clone()),
        category_id: Some(parsed.category_id),
        reorder_point: Some(parsed.reorder_point),
        standard_cost: Some(parsed.standard_cost),
        lot_tracked: Some(parsed.lot_tracked),
        active: Some(form.active == "true"),
        units: Some(parsed.units),
    };
    let auth = signed.authorize::<MasterDataWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let saved = async {
        let transaction = current.db.begin().await?;
        let item = items::update(&transaction, &actor, *id, &changes).await?;
        transaction.commit().await?;
        Ok::<_, ApiError>(item)
    }
    .await;
    match saved {
        Ok(item) => Ok(render::redirect(
            &request,
            &format!("/items/{}", item.id),
            Some(Flash::success("Saved.")),
        )),
        Err(error) => {
            let status = actix_web::ResponseError::status_code(&error);
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            item_page(signed, *id, Some(form), errors, status).await
        }
    }
}

//! Bill of materials pages: the active versions (`/production/boms`), a version with its
//! item's other versions and the exploded tree (`/production/boms/{id}`, with "make active"),
//! and the editor (`/production/boms/new`) that saves a new version: the item and its
//! component rows typed by SKU (a datalist suggests them, so the form scales past any
//! dropdown), quantity, unit and scrap, optionally started from an existing version. They
//! call `erp::production::boms`, the same functions as the API, so a cycle or a unit with no
//! conversion is refused with the API's message.

use crate::auth::perm::{ProductionRead, ProductionWrite};
use crate::erp::masters::PageQuery;
use crate::erp::production::boms::{self, Bom, BomFilter, Explosion, NewBom, NewComponent};
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
use common::web::render;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::HashMap;
use std::str::FromStr;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// Blank component rows the editor offers beyond those filled in.
const BLANK_ROWS: usize = 5;

type Fields = HashMap<String, String>;

#[derive(Template)]
#[template(path = "app/production/boms.html")]
struct BomsPage {
    layout: Layout,
    boms: Vec<Bom>,
    may_write: bool,
}

#[derive(Template)]
#[template(path = "app/production/bom.html")]
struct BomPage {
    layout: Layout,
    bom: Bom,
    versions: Vec<Bom>,
    explosion: Explosion,
    may_write: bool,
}

/// One component row of the editor, as typed.
#[derive(Debug, Clone, Default)]
struct Row {
    sku: String,
    quantity: String,
    unit: String,
    scrap: String,
}

#[derive(Template)]
#[template(path = "app/production/bom_form.html")]
struct EditorPage {
    layout: Layout,
    item: String,
    notes: String,
    activate: bool,
    rows: Vec<Row>,
    /// (SKU, label) of active stocked items, for the datalist.
    skus: Vec<(String, String)>,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

/// `GET /production/boms`: the active versions.
pub async fn list(signed: Signed) -> PageResult {
    let may_write = signed.can("production.write");
    let layout = nav::layout(&signed, "Bills of materials");
    let auth = signed.authorize::<ProductionRead>()?;
    let paging = PageQuery {
        limit: Some(200),
        after: None,
    };
    let filter = BomFilter {
        active: Some(true),
        ..BomFilter::default()
    };
    let list = boms::list(auth.current.db.client(), &filter, &paging).await?;
    let page = BomsPage {
        layout,
        boms: list.items,
        may_write,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// `GET /production/boms/{id}`: a version, its item's other versions, and its exploded
/// tree for one unit of the item.
pub async fn show(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    let may_write = signed.can("production.write");
    let layout = nav::layout(&signed, "Bill of materials");
    let auth = signed.authorize::<ProductionRead>()?;
    let db = auth.current.db.client();
    let bom = boms::find(db, *id).await?;
    let explosion = boms::explode(db, *id, Decimal::ONE).await?;
    let filter = BomFilter {
        item_id: Some(bom.item_id),
        active: None,
    };
    let paging = PageQuery {
        limit: Some(200),
        after: None,
    };
    let versions = boms::list(db, &filter, &paging).await?.items;
    let page = BomPage {
        layout: Layout {
            title: format!("{} BOM v{}", bom.sku, bom.version),
            ..layout
        },
        bom,
        versions,
        explosion,
        may_write,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// `POST /production/boms/{id}/activate`: makes the version its item's active one; a
/// refusal (a cycle through the BOMs now active below it) comes back as the page's message.
pub async fn activate(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<Fields>,
) -> PageResult {
    let id = *id;
    let auth = submitted.signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let result = async {
        let tx = current.db.begin().await?;
        let bom = boms::activate(&tx, &actor, id).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(bom)
    }
    .await;
    let flash = match result {
        Ok(bom) => Flash::success(format!(
            "Version {} is now the active BOM of {}.",
            bom.version, bom.sku
        )),
        Err(ApiError::Client(problem)) => Flash::error(problem.detail),
        Err(error) => return Err(error.into()),
    };
    Ok(render::redirect(
        &request,
        &format!("/production/boms/{id}"),
        Some(flash),
    ))
}

/// `?from=` (a version to start from) and `?item=` (a SKU) of the editor.
#[derive(Debug, Default, Deserialize)]
pub struct EditorQuery {
    from: Option<Uuid>,
    item: Option<String>,
}

/// `GET /production/boms/new`: the editor, blank or started from a version.
pub async fn new_form(signed: Signed, query: web::Query<EditorQuery>) -> PageResult {
    let mut form = Fields::new();
    form.insert("activate".into(), "on".into());
    if let Some(item) = &query.item {
        form.insert("item".into(), item.clone());
    }
    if let Some(from) = query.from {
        let bom = boms::find(signed.current.db.client(), from).await?;
        form.insert("item".into(), bom.sku.clone());
        form.insert("notes".into(), bom.notes.clone());
        for (index, component) in bom.components.iter().enumerate() {
            let row = index + 1;
            form.insert(format!("sku_{row}"), component.sku.clone());
            form.insert(
                format!("quantity_{row}"),
                component.entered_quantity.to_string(),
            );
            form.insert(
                format!("unit_{row}"),
                component.entered_unit.clone().unwrap_or_default(),
            );
            form.insert(format!("scrap_{row}"), component.scrap_percent.to_string());
        }
    }
    editor(signed, form, FormErrors::default(), StatusCode::OK).await
}

async fn editor(
    signed: Signed,
    form: Fields,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let layout = nav::layout(&signed, "New BOM version");
    let auth = signed.authorize::<ProductionWrite>()?;
    let skus = sku_choices(auth.current.db.client()).await?;
    let value = |name: &str| form.get(name).cloned().unwrap_or_default();
    let mut rows: Vec<Row> = (1..=row_count(&form))
        .map(|row| Row {
            sku: value(&format!("sku_{row}")),
            quantity: value(&format!("quantity_{row}")),
            unit: value(&format!("unit_{row}")),
            scrap: value(&format!("scrap_{row}")),
        })
        .filter(|row| !row.sku.trim().is_empty())
        .collect();
    rows.extend((0..BLANK_ROWS).map(|_| Row::default()));
    let page = EditorPage {
        layout,
        item: value("item"),
        notes: value("notes"),
        activate: form.contains_key("activate"),
        rows,
        skus,
        problems: readable(errors.fields_except(&["item"])),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// The highest row number the form holds.
fn row_count(form: &Fields) -> usize {
    form.keys()
        .filter_map(|key| key.strip_prefix("sku_"))
        .filter_map(|row| row.parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// The API names a component's field `components[i].x`; the editor's rows count from 1.
fn readable(problems: Vec<(String, String)>) -> Vec<(String, String)> {
    problems
        .into_iter()
        .map(|(name, message)| {
            let renamed = name
                .strip_prefix("components[")
                .and_then(|rest| rest.split_once(']'))
                .and_then(|(index, field)| {
                    let row = index.parse::<usize>().ok()? + 1;
                    Some(format!("row {row}{}", field.replace('.', " ")))
                });
            (renamed.unwrap_or(name), message)
        })
        .collect()
}

/// (SKU, name) of active stocked items, for the editor's datalist.
async fn sku_choices(db: &impl GenericClient) -> ApiResult<Vec<(String, String)>> {
    let rows = db
        .query(
            "SELECT sku, name FROM items WHERE active AND kind <> 'service' ORDER BY lower(sku) \
             LIMIT 5000",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// The ids of the SKUs typed, in one query; 422 on the field of the first unknown one.
async fn resolve_skus(
    db: &impl GenericClient,
    typed: &[(String, String)],
) -> ApiResult<HashMap<String, Uuid>> {
    let lowered: Vec<String> = typed.iter().map(|(_, sku)| sku.to_lowercase()).collect();
    let found: HashMap<String, Uuid> = db
        .query(
            "SELECT lower(sku), id FROM items WHERE lower(sku) = ANY($1)",
            &[&lowered],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    if let Some((field, sku)) = typed
        .iter()
        .find(|(_, sku)| !found.contains_key(&sku.to_lowercase()))
    {
        return Err(ApiError::invalid(field, format!("no item has SKU {sku}")));
    }
    Ok(found)
}

fn decimal(form: &Fields, name: &str, row: usize) -> ApiResult<Option<Decimal>> {
    match form.get(name).map(|v| v.trim()).unwrap_or_default() {
        "" => Ok(None),
        text => Decimal::from_str(text)
            .map(Some)
            .map_err(|_| ApiError::invalid(name, format!("row {row}: a number"))),
    }
}

/// The new version as the API takes it, SKUs resolved to items.
async fn new_bom(db: &impl GenericClient, form: &Fields) -> ApiResult<NewBom> {
    let item = form.get("item").map(|v| v.trim()).unwrap_or_default();
    if item.is_empty() {
        return Err(ApiError::invalid("item", "type the SKU of the item made"));
    }
    let rows: Vec<usize> = (1..=row_count(form))
        .filter(|row| {
            form.get(&format!("sku_{row}"))
                .is_some_and(|sku| !sku.trim().is_empty())
        })
        .collect();
    let mut typed = vec![("item".to_owned(), item.to_owned())];
    typed.extend(rows.iter().map(|row| {
        let name = format!("sku_{row}");
        let sku = form[&name].trim().to_owned();
        (name, sku)
    }));
    let ids = resolve_skus(db, &typed).await?;
    let id_of = |sku: &str| ids[&sku.to_lowercase()];
    let mut components = Vec::with_capacity(rows.len());
    for row in rows {
        let quantity = decimal(form, &format!("quantity_{row}"), row)?.ok_or_else(|| {
            ApiError::invalid(&format!("quantity_{row}"), format!("row {row}: a quantity"))
        })?;
        let unit = form
            .get(&format!("unit_{row}"))
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        components.push(NewComponent {
            item_id: id_of(form[&format!("sku_{row}")].trim()),
            quantity,
            unit,
            scrap_percent: decimal(form, &format!("scrap_{row}"), row)?,
        });
    }
    Ok(NewBom {
        item_id: id_of(item),
        components,
        activate: form.contains_key("activate"),
        notes: form.get("notes").cloned().unwrap_or_default(),
    })
}

/// `POST /production/boms/new`: saves the new version.
pub async fn create(request: HttpRequest, submitted: AppForm<Fields>) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let saved = async {
        let tx = current.db.begin().await?;
        let input = new_bom(&tx, &form).await?;
        let bom = boms::create(&tx, &actor, input).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(bom)
    }
    .await;
    match saved {
        Ok(bom) => Ok(render::redirect(
            &request,
            &format!("/production/boms/{}", bom.id),
            Some(Flash::success(format!(
                "Saved version {} of the BOM of {}{}.",
                bom.version,
                bom.sku,
                if bom.active { " (active)" } else { "" }
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            editor(signed, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_fields_are_named_by_their_row() {
        let named = readable(vec![
            ("components[2].unit".into(), "no conversion".into()),
            ("notes".into(), "too long".into()),
        ]);
        assert_eq!(named[0].0, "row 3 unit");
        assert_eq!(named[1].0, "notes");
    }
}

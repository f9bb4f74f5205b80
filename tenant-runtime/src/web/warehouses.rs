//! Warehouses pages: the list with a form to add one (it comes with its `MAIN` storage
//! location), and a warehouse's page with its locations and a form to add one. Both call
//! `erp::masters::warehouses`, the same functions as the API.

use crate::auth::perm::{MasterDataRead, MasterDataWrite};
use crate::erp::masters::PageQuery;
use crate::erp::masters::warehouses::{
    self, Location, LocationKind, NewLocation, NewWarehouse, Warehouse, WarehouseFilter,
};
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
use serde::Deserialize;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "app/warehouses/list.html")]
struct ListPage {
    layout: Layout,
    warehouses: Vec<Warehouse>,
    pager: Pager,
    may_write: bool,
    form: WarehouseForm,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "app/warehouses/show.html")]
struct WarehousePage {
    layout: Layout,
    warehouse: Warehouse,
    locations: Vec<Location>,
    may_write: bool,
    kinds: Vec<(String, String)>,
    form: LocationForm,
    errors: FormErrors,
}

/// `?cursor=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct WarehouseForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct LocationForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

const KINDS: [LocationKind; 6] = [
    LocationKind::Storage,
    LocationKind::Receiving,
    LocationKind::Shipping,
    LocationKind::Department,
    LocationKind::Production,
    LocationKind::Quarantine,
];

/// `GET /warehouses`.
pub async fn list(signed: Signed, query: web::Query<ListQuery>) -> PageResult {
    list_page(
        signed,
        &query,
        WarehouseForm::default(),
        FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

async fn list_page(
    signed: Signed,
    query: &ListQuery,
    form: WarehouseForm,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("master_data.write");
    let layout = nav::layout(&signed, "Warehouses");
    let auth = signed.authorize::<MasterDataRead>()?;
    let paging = PageQuery {
        limit: Some(50),
        after: query.cursor.clone().filter(|cursor| !cursor.is_empty()),
    };
    let page = warehouses::list(
        auth.current.db.client(),
        &WarehouseFilter::default(),
        &paging,
    )
    .await?;
    let params = [("cursor", query.cursor.clone().unwrap_or_default())];
    let page = ListPage {
        layout,
        pager: Pager::new("/warehouses", &params, page.next.as_deref()),
        warehouses: page.items,
        may_write,
        form,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /warehouses`: adds a warehouse (with its `MAIN` location).
pub async fn create(request: HttpRequest, submitted: AppForm<WarehouseForm>) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let input = NewWarehouse {
        code: form.code.trim().to_owned(),
        name: form.name.clone(),
        address: form.address.clone(),
    };
    let auth = signed.authorize::<MasterDataWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let created = async {
        let transaction = current.db.begin().await?;
        let warehouse = warehouses::create(&transaction, &actor, &input).await?;
        transaction.commit().await?;
        Ok::<_, ApiError>(warehouse)
    }
    .await;
    match created {
        Ok(warehouse) => Ok(render::redirect(
            &request,
            &format!("/warehouses/{}", warehouse.id),
            Some(Flash::success(format!(
                "Warehouse {} added.",
                warehouse.code
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("warehouse_code_taken", "code")])?;
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

/// `GET /warehouses/{id}`.
pub async fn show(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    warehouse_page(
        signed,
        *id,
        LocationForm::default(),
        FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

async fn warehouse_page(
    signed: Signed,
    id: Uuid,
    form: LocationForm,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("master_data.write");
    let layout = nav::layout(&signed, "Warehouse");
    let auth = signed.authorize::<MasterDataRead>()?;
    let db = auth.current.db.client();
    let warehouse = warehouses::find(db, id).await?;
    let locations = warehouses::locations(db, id).await?;
    let page = WarehousePage {
        layout: Layout {
            title: format!("{} {}", warehouse.code, warehouse.name),
            ..layout
        },
        warehouse,
        locations,
        may_write,
        kinds: KINDS
            .iter()
            .map(|kind| (kind.as_str().to_owned(), kind.as_str().to_owned()))
            .collect(),
        form,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /warehouses/{id}/locations`: adds a location.
pub async fn add_location(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<LocationForm>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let kind = KINDS
        .into_iter()
        .find(|kind| kind.as_str() == form.kind)
        .unwrap_or(LocationKind::Storage);
    let input = NewLocation {
        code: form.code.trim().to_owned(),
        name: form.name.clone(),
        kind,
    };
    let auth = signed.authorize::<MasterDataWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let created = async {
        let transaction = current.db.begin().await?;
        let location = warehouses::create_location(&transaction, &actor, *id, &input).await?;
        transaction.commit().await?;
        Ok::<_, ApiError>(location)
    }
    .await;
    match created {
        Ok(location) => Ok(render::redirect(
            &request,
            &format!("/warehouses/{}", location.warehouse_id),
            Some(Flash::success(format!("Location {} added.", location.code))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("location_code_taken", "code")])?;
            let signed = Signed::again(&request).await?;
            warehouse_page(signed, *id, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

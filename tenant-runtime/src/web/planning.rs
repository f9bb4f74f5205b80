//! Planning pages: the PPIC dashboard (`/planning`: orders by state and this week's output
//! against plan as SVG charts, late orders, component shortages, the QC pass rate) and
//! MRP (`/planning/mrp`: run it for a warehouse; a run's page lists its suggestions with a
//! checkbox each and makes the chosen ones draft orders in one click). They call
//! `erp::planning`, the same functions as the API.

use crate::auth::perm::{ProductionRead, ProductionWrite};
use crate::erp::masters::PageQuery;
use crate::erp::masters::partners::{self, PartnerFilter, PartnerRole};
use crate::erp::masters::warehouses::{self, WarehouseFilter};
use crate::erp::planning::dashboard::{self, Dashboard};
use crate::erp::planning::runs::{self, Action, NewRun, Run, RunSummary};
use crate::erp::planning::suggestions::{self, MakeDrafts};
use crate::web::errors::PageResult;
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::api_error::{ApiError, ApiResult};
use common::web::chart::BarChart;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use uuid::Uuid;

/// A submitted form as pairs: the suggestions' checkboxes repeat one name.
type Pairs = Vec<(String, String)>;

#[derive(Template)]
#[template(path = "app/planning/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    dashboard: Dashboard,
    states_chart: String,
    week_chart: String,
}

#[derive(Template)]
#[template(path = "app/planning/mrp.html")]
struct MrpPage {
    layout: Layout,
    runs: Vec<RunSummary>,
    may_write: bool,
    warehouses: Vec<(String, String)>,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "app/planning/run.html")]
struct RunPage {
    layout: Layout,
    run: Run,
    warehouse: String,
    may_write: bool,
    /// Open suggestions (no draft yet) of the latest run.
    open: usize,
    suppliers: Vec<(String, String)>,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

fn whole(value: Decimal) -> i64 {
    value.round().to_i64().unwrap_or(i64::MAX)
}

/// `GET /planning`: the PPIC dashboard.
pub async fn dashboard(signed: Signed) -> PageResult {
    let layout = nav::layout(&signed, "Planning (PPIC)");
    let auth = signed.authorize::<ProductionRead>()?;
    let dashboard = dashboard::load(auth.current.db.client()).await?;
    let states_chart = BarChart {
        title: "Manufacturing orders by state".into(),
        series: vec!["orders"],
        groups: dashboard
            .orders_by_status
            .iter()
            .map(|state| (state.status.replace('_', " "), vec![state.count]))
            .collect(),
    }
    .to_svg();
    let week_chart = BarChart {
        title: "Output against plan this week".into(),
        series: vec!["planned", "produced"],
        groups: dashboard
            .week
            .iter()
            .map(|day| {
                (
                    day.date.format("%a %d").to_string(),
                    vec![whole(day.planned), whole(day.produced)],
                )
            })
            .collect(),
    }
    .to_svg();
    let page = DashboardPage {
        layout,
        dashboard,
        states_chart,
        week_chart,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// (id, label) of every active warehouse.
async fn warehouse_choices(
    db: &impl tokio_postgres::GenericClient,
) -> ApiResult<Vec<(String, String)>> {
    let active = WarehouseFilter {
        active: Some(true),
        ..WarehouseFilter::default()
    };
    let paging = PageQuery {
        limit: Some(200),
        after: None,
    };
    Ok(warehouses::list(db, &active, &paging)
        .await?
        .items
        .into_iter()
        .map(|w| (w.id.to_string(), format!("{} {}", w.code, w.name)))
        .collect())
}

/// `GET /planning/mrp`.
pub async fn mrp(signed: Signed) -> PageResult {
    mrp_page(signed, FormErrors::default(), StatusCode::OK).await
}

async fn mrp_page(signed: Signed, errors: FormErrors, status: StatusCode) -> PageResult {
    let may_write = signed.can("production.write");
    let layout = nav::layout(&signed, "Material requirements (MRP)");
    let auth = signed.authorize::<ProductionRead>()?;
    let db = auth.current.db.client();
    let page = MrpPage {
        layout,
        runs: runs::list(db).await?,
        may_write,
        warehouses: warehouse_choices(db).await?,
        problems: errors.fields_except(&[]),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

fn field<'a>(pairs: &'a Pairs, name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.trim())
        .unwrap_or_default()
}

fn optional_uuid(pairs: &Pairs, name: &str) -> ApiResult<Option<Uuid>> {
    match field(pairs, name) {
        "" => Ok(None),
        text => Uuid::parse_str(text)
            .map(Some)
            .map_err(|_| ApiError::invalid(name, "choose one")),
    }
}

/// `POST /planning/mrp`: runs MRP for the chosen warehouse and shows the run.
pub async fn run(request: HttpRequest, submitted: AppForm<Pairs>) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let result = async {
        let warehouse_id = optional_uuid(&form, "warehouse_id")?
            .ok_or_else(|| ApiError::invalid("warehouse_id", "choose the warehouse to plan"))?;
        let input = NewRun {
            warehouse_id,
            output_location_id: None,
        };
        let tx = current.db.begin().await?;
        tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .await?;
        let run = runs::run(&tx, &actor, input).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(run)
    }
    .await;
    match result {
        Ok(run) => Ok(render::redirect(
            &request,
            &format!("/planning/mrp/{}", run.run.id),
            Some(Flash::success(format!(
                "Planned {} item(s) in {} ms: {} suggestion(s).",
                run.run.items_planned, run.run.duration_ms, run.run.suggestions
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            mrp_page(signed, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// `GET /planning/mrp/{id}`.
pub async fn show(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    run_page(signed, *id, FormErrors::default(), StatusCode::OK).await
}

async fn run_page(signed: Signed, id: Uuid, errors: FormErrors, status: StatusCode) -> PageResult {
    let may_write = signed.can("production.write");
    let layout = nav::layout(&signed, "MRP run");
    let auth = signed.authorize::<ProductionRead>()?;
    let db = auth.current.db.client();
    let run = runs::find(db, id).await?;
    let warehouse = warehouses::find(db, run.run.warehouse_id).await?;
    let open = if run.run.superseded {
        0
    } else {
        run.lines
            .iter()
            .filter(|line| line.action != Action::None && line.document_id.is_none())
            .count()
    };
    let suppliers = if may_write && open > 0 {
        supplier_choices(db).await?
    } else {
        Vec::new()
    };
    let page = RunPage {
        layout: Layout {
            title: format!(
                "MRP {} {}",
                warehouse.code,
                run.run.created_at.format("%Y-%m-%d %H:%M")
            ),
            ..layout
        },
        warehouse: format!("{} {}", warehouse.code, warehouse.name),
        run,
        may_write,
        open,
        suppliers,
        problems: errors.fields_except(&[]),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// (id, label) of active suppliers, for buy suggestions of items never bought.
async fn supplier_choices(
    db: &impl tokio_postgres::GenericClient,
) -> ApiResult<Vec<(String, String)>> {
    let filter = PartnerFilter {
        role: Some(PartnerRole::Supplier),
        active: Some(true),
        ..PartnerFilter::default()
    };
    let paging = PageQuery {
        limit: Some(200),
        after: None,
    };
    let listed = partners::list(db, &filter, &paging).await?.items;
    let none = (
        String::new(),
        "(none: every buy line has its supplier)".to_owned(),
    );
    Ok(std::iter::once(none)
        .chain(
            listed
                .into_iter()
                .map(|p| (p.id.to_string(), format!("{} {}", p.code, p.name))),
        )
        .collect())
}

/// `POST /planning/mrp/{id}/drafts`: the ticked suggestions become draft orders.
pub async fn make_drafts(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<Pairs>,
) -> PageResult {
    let id = *id;
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<ProductionWrite>()?;
    let can_buy = auth.current.can("purchasing.write");
    let mut current = auth.current;
    let actor = current.actor();
    let result = async {
        let item_ids = form
            .iter()
            .filter(|(key, _)| key == "item_id")
            .map(|(_, value)| {
                Uuid::parse_str(value).map_err(|_| ApiError::invalid("item_id", "not an item"))
            })
            .collect::<ApiResult<Vec<Uuid>>>()?;
        if item_ids.is_empty() {
            return Err(ApiError::invalid(
                "item_id",
                "tick the suggestions to order",
            ));
        }
        let input = MakeDrafts {
            item_ids: Some(item_ids),
            supplier_id: optional_uuid(&form, "supplier_id")?,
        };
        let tx = current.db.begin().await?;
        let drafts = suggestions::make_drafts(&tx, &actor, id, input, can_buy).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(drafts)
    }
    .await;
    match result {
        Ok(drafts) => {
            let numbers: Vec<String> = drafts.created.into_iter().map(|d| d.number).collect();
            let message = if numbers.is_empty() {
                "Those suggestions had their drafts already.".to_owned()
            } else {
                format!("Drafted {}.", numbers.join(", "))
            };
            Ok(render::redirect(
                &request,
                &format!("/planning/mrp/{id}"),
                Some(Flash::success(message)),
            ))
        }
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            run_page(signed, id, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

//! `GET /`: the dashboard. Tenants by status and plan, signups and cancellations per week
//! (an SVG chart drawn here), jobs in flight and failed, each server's fill, and billing
//! problems: all from the same `overview` the API answers at `/api/v1/overview`.

use crate::api::overview::{self, Overview, ServerFill};
use crate::auth::guard::perm;
use crate::portal::errors::PageResult;
use crate::portal::nav;
use crate::portal::session::Signed;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::web::badge::Badge;
use common::web::chart::BarChart;
use common::web::layout::Layout;
use common::web::render;
use common::web::usage::{Unit, UsageBar};

#[derive(Template)]
#[template(path = "portal/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    overview: Overview,
    chart: String,
    statuses: Vec<(Badge, i64)>,
    servers: Vec<ServerRow>,
}

struct ServerRow {
    server: ServerFill,
    bar: UsageBar,
    badge: Badge,
}

impl DashboardPage {
    fn count_of(&self, status: &str) -> i64 {
        self.overview
            .tenants_by_status
            .iter()
            .find(|count| count.key == status)
            .map_or(0, |count| count.count)
    }
}

/// `GET /`.
pub async fn show(state: web::Data<AppState>, signed: Signed) -> PageResult {
    let overview = overview::overview(&state, &signed.authorize::<perm::Read>()?).await?;
    let page = DashboardPage {
        layout: nav::layout(&signed, "Dashboard"),
        chart: signups_chart(&overview).to_svg(),
        statuses: overview
            .tenants_by_status
            .iter()
            .map(|count| (Badge::status(&count.key), count.count))
            .collect(),
        servers: overview
            .servers
            .iter()
            .map(|server| ServerRow {
                bar: UsageBar::new(
                    server.name.clone(),
                    server.tenants,
                    Some(i64::from(server.capacity)),
                    Unit::Count,
                ),
                badge: Badge::status(&server.state),
                server: server.clone(),
            })
            .collect(),
        overview,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

fn signups_chart(overview: &Overview) -> BarChart {
    BarChart {
        title: format!(
            "Signups and cancellations per week, last {} weeks",
            overview::WEEKS
        ),
        series: vec!["signups", "cancellations"],
        groups: overview
            .weeks
            .iter()
            .map(|week| {
                (
                    week.starts.format("%d %b").to_string(),
                    vec![week.signups, week.cancellations],
                )
            })
            .collect(),
    }
}

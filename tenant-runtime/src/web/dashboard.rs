//! The app's start page: the ERP's figures the user may see (stock value, items below
//! their reorder point, open purchase and sales orders, approvals waiting for them: see
//! `erp::overview`), each a link to its list, then the company's plan and the user's roles.

use crate::erp::overview::{self, Overview};
use crate::web::errors::PageResult;
use crate::web::nav;
use crate::web::session::Signed;
use actix_web::http::StatusCode;
use askama::Template;
use common::web::layout::Layout;
use common::web::render;

#[derive(Template)]
#[template(path = "app/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    company: String,
    plan: String,
    modules: Vec<String>,
    roles: Vec<String>,
    figures: Overview,
}

/// `GET /`.
pub async fn show(signed: Signed) -> PageResult {
    let figures = overview::figures(&signed.current).await?;
    let handle = &signed.current.tenant.0;
    let page = DashboardPage {
        layout: nav::layout(&signed, "Dashboard"),
        company: handle.name.clone(),
        plan: handle.plan.code.clone(),
        modules: handle.plan.features.clone(),
        roles: signed.current.user.roles.clone(),
        figures,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

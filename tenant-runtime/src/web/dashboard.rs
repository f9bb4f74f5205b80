//! The app's start page: the company, its plan and the signed-in user's roles, and a card
//! per area the user may open (the navigation's entries). The ERP's figures (stock value,
//! items below their reorder point, open orders, pending approvals) join it as their
//! modules land.

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
}

/// `GET /`.
pub async fn show(signed: Signed) -> PageResult {
    let handle = &signed.current.tenant.0;
    let page = DashboardPage {
        layout: nav::layout(&signed, "Dashboard"),
        company: handle.name.clone(),
        plan: handle.plan.code.clone(),
        modules: handle.plan.features.clone(),
        roles: signed.current.user.roles.clone(),
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

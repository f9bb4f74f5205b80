//! The ERP web app, served on each company's own host (`{slug}.{base_domain}`) with the UI
//! kit the admin portal uses (`common::web`): server-rendered pages, htmx, vendored
//! assets, strict cookies, a CSRF token on every form, and a CSP without inline script.
//! Every page sits behind the gate (the company is resolved and admitted first; a module
//! the plan lacks answers a page saying so) and calls the same library functions as the
//! JSON API, so one rule decides each action whichever door it comes through.
//!
//! - `session`: the signed-in user of a request, and CSRF-checked forms.
//! - `errors`: every failure as a page. `nav`: the frame, navigation and banners.
//! - `sign_in`: sign in and out, forgot password, set a password from an emailed link.
//! - `impersonation`: the door a super-admin's impersonation opens (a marked session).
//! - `dashboard`: the start page.
//! - `items`, `partners`: their lists (search, paging), add and edit forms.
//! - `warehouses`: warehouses and their locations.
//! - `stock`: on hand, valuation, below reorder point, movements (with reversal), a lot's
//!   trace, and their CSV downloads. `stock_moves`: the receipt / issue / transfer /
//!   adjustment forms.
//! - `purchasing`: purchase orders, drafts and their edits, submission and receiving.
//! - `approvals`: the approvals inbox.
//! - `sales`: sales orders, their confirmation and deliveries.
//! - `quality`: inspections with their decision form, and the quarantine list.
//! - `production`: manufacturing orders (allocation, release, completion) and the work
//!   orders' daily input for a tablet.
//! - `boms`: bills of materials: active versions, a version with its exploded tree, and
//!   the editor that saves a new version.
//! - `planning`: the PPIC dashboard with its charts, MRP runs and their suggestions.
//! - `kanban`: kanban boards, their cards moved by drag and drop or by keyboard.
//! - `imports`: the CSV import page of items and partners with its report, and downloads.
//! - `users`: users (invite, roles, status) and roles, for the company's admins.
//! - `billing`: plan, subscription, usage, and the ways to pay.
//! - `webhooks`: outbound webhook endpoints, their delivery log, test events and secrets.

pub mod approvals;
pub mod billing;
pub mod boms;
pub mod dashboard;
pub mod errors;
pub mod impersonation;
pub mod imports;
pub mod items;
pub mod kanban;
pub mod nav;
pub mod partners;
pub mod planning;
pub mod production;
pub mod purchasing;
pub mod quality;
pub mod sales;
pub mod session;
pub mod sign_in;
pub mod stock;
pub mod stock_moves;
pub mod users;
pub mod warehouses;
pub mod webhooks;

use actix_web::web;

/// The web app's name in the title bar.
pub const PRODUCT: &str = "ERP";

/// A page's resource behind the gate (only the app's own paths: any other path stays a
/// plain 404, whatever the host), with the webhook worker nudged when a page's action
/// raised a business event, as for the API.
macro_rules! page {
    ($path:expr) => {
        web::resource($path)
            .wrap(actix_web::middleware::from_fn(
                crate::erp::webhooks::nudge_after_events,
            ))
            .wrap(actix_web::middleware::from_fn(crate::gate::gate))
    };
}

/// Mounts the pages, each behind the gate.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(page!("/").route(web::get().to(dashboard::show)))
        .service(
            page!("/sign-in")
                .route(web::get().to(sign_in::form))
                .route(web::post().to(sign_in::submit)),
        )
        .service(page!("/sign-out").route(web::post().to(sign_in::sign_out)))
        .service(
            page!("/forgot-password")
                .route(web::get().to(sign_in::forgot_form))
                .route(web::post().to(sign_in::forgot_submit)),
        )
        .service(
            page!("/set-password")
                .route(web::get().to(sign_in::set_form))
                .route(web::post().to(sign_in::set_submit)),
        )
        .service(page!("/impersonate").route(web::post().to(impersonation::impersonate)))
        .service(
            page!("/users")
                .route(web::get().to(users::list))
                .route(web::post().to(users::invite)),
        )
        .service(
            page!("/users/{id}")
                .route(web::get().to(users::show))
                .route(web::post().to(users::update)),
        )
        .service(page!("/roles").route(web::get().to(users::roles)))
        .service(
            page!("/{what:items|partners}/import")
                .route(web::get().to(imports::form))
                .route(web::post().to(imports::submit)),
        )
        .service(page!("/{what:items|partners}/export").route(web::get().to(imports::export)))
        .service(
            page!("/items")
                .route(web::get().to(items::list))
                .route(web::post().to(items::create)),
        )
        .service(
            page!("/items/{id}")
                .route(web::get().to(items::show))
                .route(web::post().to(items::update)),
        )
        .service(
            page!("/partners")
                .route(web::get().to(partners::list))
                .route(web::post().to(partners::create)),
        )
        .service(
            page!("/partners/{id}")
                .route(web::get().to(partners::show))
                .route(web::post().to(partners::update)),
        )
        .service(
            page!("/warehouses")
                .route(web::get().to(warehouses::list))
                .route(web::post().to(warehouses::create)),
        )
        .service(page!("/warehouses/{id}").route(web::get().to(warehouses::show)))
        .service(
            page!("/warehouses/{id}/locations").route(web::post().to(warehouses::add_location)),
        )
        .service(page!("/stock").route(web::get().to(stock::on_hand)))
        .service(page!("/stock/export").route(web::get().to(stock::on_hand_export)))
        .service(page!("/stock/valuation").route(web::get().to(stock::valuation)))
        .service(page!("/stock/valuation/export").route(web::get().to(stock::valuation_export)))
        .service(page!("/stock/below-reorder").route(web::get().to(stock::below_reorder)))
        .service(
            page!("/stock/below-reorder/export").route(web::get().to(stock::below_reorder_export)),
        )
        .service(page!("/stock/movements").route(web::get().to(stock::movements)))
        .service(page!("/stock/movements/export").route(web::get().to(stock::movements_export)))
        .service(page!("/stock/movements/{id}/reverse").route(web::post().to(stock::reverse)))
        .service(page!("/stock/moves/new").route(web::get().to(stock_moves::new_form)))
        .service(page!("/stock/moves").route(web::post().to(stock_moves::submit)))
        .service(page!("/lots/{id}").route(web::get().to(stock::lot)))
        .service(page!("/sales-orders/export").route(web::get().to(sales::export)))
        .service(
            page!("/sales-orders")
                .route(web::get().to(sales::list))
                .route(web::post().to(sales::create)),
        )
        .service(page!("/quality/quarantine").route(web::get().to(quality::quarantine_list)))
        .service(
            page!("/quality/quarantine/{id}/{action:release|scrap}")
                .route(web::post().to(quality::resolve)),
        )
        .service(page!("/quality/inspections").route(web::get().to(quality::inspection_list)))
        .service(
            page!("/quality/inspections/{id}")
                .route(web::get().to(quality::inspection))
                .route(web::post().to(quality::decide)),
        )
        .service(page!("/sales-orders/{id}").route(web::get().to(sales::show)))
        .service(page!("/sales-orders/{id}/deliveries").route(web::post().to(sales::deliver)))
        .service(page!("/sales-orders/{id}/{action}").route(web::post().to(sales::act)))
        .service(
            page!("/purchase-orders")
                .route(web::get().to(purchasing::list))
                .route(web::post().to(purchasing::create)),
        )
        .service(page!("/purchase-orders/export").route(web::get().to(purchasing::export)))
        .service(page!("/purchase-orders/new").route(web::get().to(purchasing::new_form)))
        .service(page!("/purchase-orders/{id}").route(web::get().to(purchasing::show)))
        .service(
            page!("/purchase-orders/{id}/edit")
                .route(web::get().to(purchasing::edit_form))
                .route(web::post().to(purchasing::edit)),
        )
        .service(page!("/purchase-orders/{id}/receive").route(web::post().to(purchasing::receive)))
        .service(
            page!("/purchase-orders/{id}/{action:submit|cancel|close}")
                .route(web::post().to(purchasing::action)),
        )
        .service(
            page!("/production/orders")
                .route(web::get().to(production::orders))
                .route(web::post().to(production::create)),
        )
        .service(page!("/production/orders/{id}").route(web::get().to(production::order)))
        .service(page!("/production/orders/{id}/{action}").route(web::post().to(production::act)))
        .service(page!("/production/boms").route(web::get().to(boms::list)))
        .service(
            page!("/production/boms/new")
                .route(web::get().to(boms::new_form))
                .route(web::post().to(boms::create)),
        )
        .service(page!("/production/boms/{id}").route(web::get().to(boms::show)))
        .service(page!("/production/boms/{id}/activate").route(web::post().to(boms::activate)))
        .service(page!("/planning").route(web::get().to(planning::dashboard)))
        .service(
            page!("/planning/mrp")
                .route(web::get().to(planning::mrp))
                .route(web::post().to(planning::run)),
        )
        .service(page!("/planning/mrp/{id}").route(web::get().to(planning::show)))
        .service(page!("/planning/mrp/{id}/drafts").route(web::post().to(planning::make_drafts)))
        .service(
            page!("/production/work-orders/{id}")
                .route(web::get().to(production::work_order))
                .route(web::post().to(production::record_input)),
        )
        .service(
            page!("/kanban")
                .route(web::get().to(kanban::list))
                .route(web::post().to(kanban::create)),
        )
        .service(page!("/kanban/boards/{id}").route(web::get().to(kanban::show)))
        .service(page!("/kanban/boards/{id}/columns").route(web::post().to(kanban::add_column)))
        .service(page!("/kanban/boards/{id}/cards").route(web::post().to(kanban::add_card)))
        .service(page!("/kanban/columns/{id}").route(web::post().to(kanban::update_column)))
        .service(page!("/kanban/cards/{id}/move").route(web::post().to(kanban::move_card)))
        .service(page!("/kanban/cards/{id}/delete").route(web::post().to(kanban::delete_card)))
        .service(page!("/approvals").route(web::get().to(approvals::inbox)))
        .service(page!("/approvals/{id}").route(web::post().to(approvals::decide)))
        .service(
            page!("/webhooks")
                .route(web::get().to(webhooks::list))
                .route(web::post().to(webhooks::create)),
        )
        .service(
            page!("/webhooks/{id}")
                .route(web::get().to(webhooks::show))
                .route(web::post().to(webhooks::update)),
        )
        .service(
            page!("/webhooks/{id}/{action:test|rotate-secret|delete}")
                .route(web::post().to(webhooks::act)),
        )
        .service(page!("/billing").route(web::get().to(billing::show)))
        .service(page!("/billing/checkout").route(web::post().to(billing::checkout)))
        .service(page!("/billing/portal").route(web::post().to(billing::portal)))
        .service(page!("/billing/plan").route(web::post().to(billing::change_plan)))
        .service(page!("/billing/cancel").route(web::post().to(billing::cancel)));
}

//! The tenant API under `/api/v1`, every route behind the gate, and its OpenAPI document
//! (served at `/openapi.json`, Swagger UI at `/docs/`, committed as
//! `tenant-runtime/openapi.json`; a test fails when the two drift apart).

/// Runs one write in a transaction of the user's company: `$body` gets the transaction
/// and the actor (for the audit log); committed when it succeeds, rolled back (dropped)
/// when it fails. Defined before the modules so every handler module uses this one.
macro_rules! in_transaction {
    ($auth:expr, |$tx:ident, $actor:ident| $body:expr) => {{
        let mut current = $auth.current;
        let $actor = current.actor();
        let $tx = current.db.begin().await?;
        let result = $body.await?;
        $tx.commit().await?;
        result
    }};
}

pub mod approvals;
pub mod auth;
pub mod billing;
pub mod items;
pub mod kanban;
pub mod links;
pub mod masters;
pub mod me;
pub mod partners;
pub mod planning;
pub mod production;
pub mod purchasing;
pub mod quality;
pub mod roles;
pub mod sales;
pub mod stock;
pub mod users;
pub mod warehouses;
pub mod webhooks;

use actix_web::web;
use common::openapi::{
    BODY_ERRORS, ErrorResponses, INTERNAL_ERROR, STARTING_ERROR, StandardError, UNAUTHORIZED_ERROR,
    When,
};
use links::LINKS;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// Mounts the routes (the caller wraps them in the gate).
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/auth/login", web::post().to(auth::login))
        .route("/auth/refresh", web::post().to(auth::refresh))
        .route("/auth/logout", web::post().to(auth::logout))
        .route("/auth/password-reset", web::post().to(auth::request_reset))
        .route("/auth/set-password", web::post().to(auth::set_password))
        .route("/me", web::get().to(me::me))
        .route("/users", web::get().to(users::list))
        .route("/users", web::post().to(users::invite))
        .route("/users/{id}", web::get().to(users::show))
        .route("/users/{id}", web::patch().to(users::update))
        .route("/roles", web::get().to(roles::list))
        .route("/roles", web::post().to(roles::create))
        .route("/roles/{id}", web::patch().to(roles::update))
        .route("/permissions", web::get().to(roles::permissions))
        .route("/billing", web::get().to(billing::show))
        .route("/billing/checkout", web::post().to(billing::checkout))
        .route("/billing/portal", web::post().to(billing::portal))
        .route("/billing/plan", web::post().to(billing::change_plan))
        .route("/billing/cancel", web::post().to(billing::cancel))
        .route("/units", web::get().to(masters::list_units))
        .route("/units", web::post().to(masters::create_unit))
        .route("/categories", web::get().to(masters::list_categories))
        .route("/categories", web::post().to(masters::create_category))
        .route(
            "/categories/{id}",
            web::patch().to(masters::update_category),
        )
        .route("/items/export", web::get().to(items::export))
        .route("/items/import", web::post().to(items::import))
        .route("/items", web::get().to(items::list))
        .route("/items", web::post().to(items::create))
        .route("/items/{id}", web::get().to(items::show))
        .route("/items/{id}", web::patch().to(items::update))
        .route("/partners/export", web::get().to(partners::export))
        .route("/partners/import", web::post().to(partners::import))
        .route("/partners", web::get().to(partners::list))
        .route("/partners", web::post().to(partners::create))
        .route("/partners/{id}", web::get().to(partners::show))
        .route("/partners/{id}", web::patch().to(partners::update))
        .route("/warehouses", web::get().to(warehouses::list))
        .route("/warehouses", web::post().to(warehouses::create))
        .route("/warehouses/{id}", web::patch().to(warehouses::update))
        .route(
            "/warehouses/{id}/locations",
            web::get().to(warehouses::locations),
        )
        .route(
            "/warehouses/{id}/locations",
            web::post().to(warehouses::create_location),
        )
        .route(
            "/warehouses/{id}/locations/{location_id}",
            web::patch().to(warehouses::update_location),
        )
        .route("/webhooks/endpoints", web::get().to(webhooks::list))
        .route("/webhooks/endpoints", web::post().to(webhooks::create))
        .route("/webhooks/endpoints/{id}", web::get().to(webhooks::show))
        .route(
            "/webhooks/endpoints/{id}",
            web::patch().to(webhooks::update),
        )
        .route(
            "/webhooks/endpoints/{id}",
            web::delete().to(webhooks::delete),
        )
        .route(
            "/webhooks/endpoints/{id}/rotate-secret",
            web::post().to(webhooks::rotate_secret),
        )
        .route(
            "/webhooks/endpoints/{id}/test",
            web::post().to(webhooks::send_test),
        )
        .route(
            "/webhooks/endpoints/{id}/deliveries",
            web::get().to(webhooks::deliveries),
        )
        .route("/stock/receipts", web::post().to(stock::receipt))
        .route("/stock/issues", web::post().to(stock::issue))
        .route("/stock/transfers", web::post().to(stock::transfer))
        .route("/stock/adjustments", web::post().to(stock::adjustment))
        .route(
            "/stock/adjustment-requests/{id}",
            web::get().to(stock::adjustment_request),
        )
        .route("/stock/movements", web::get().to(stock::movements))
        .route(
            "/stock/movements/export",
            web::get().to(stock::movements_export),
        )
        .route(
            "/stock/on-hand/export",
            web::get().to(stock::on_hand_export),
        )
        .route(
            "/stock/valuation/export",
            web::get().to(stock::valuation_export),
        )
        .route(
            "/stock/below-reorder/export",
            web::get().to(stock::below_reorder_export),
        )
        .route(
            "/purchase-orders/export",
            web::get().to(purchasing::lines_export),
        )
        .route("/sales-orders/export", web::get().to(sales::lines_export))
        .route(
            "/stock/movements/{movement_id}/reverse",
            web::post().to(stock::reverse),
        )
        .route("/stock/on-hand", web::get().to(stock::on_hand))
        .route("/stock/items/{item_id}", web::get().to(stock::item))
        .route("/stock/valuation", web::get().to(stock::valuation))
        .route("/stock/below-reorder", web::get().to(stock::below_reorder))
        .route("/lots", web::get().to(stock::lots))
        .route("/lots/{id}", web::get().to(stock::lot))
        .route("/sales-orders", web::get().to(sales::list))
        .route("/sales-orders", web::post().to(sales::create))
        .route("/sales-orders/{id}", web::get().to(sales::show))
        .route("/sales-orders/{id}", web::patch().to(sales::update))
        .route("/sales-orders/{id}/confirm", web::post().to(sales::confirm))
        .route(
            "/sales-orders/{id}/deliveries",
            web::post().to(sales::deliver),
        )
        .route("/sales-orders/{id}/invoice", web::post().to(sales::invoice))
        .route("/sales-orders/{id}/close", web::post().to(sales::close))
        .route("/sales-orders/{id}/cancel", web::post().to(sales::cancel))
        .route("/purchase-orders", web::get().to(purchasing::list))
        .route("/purchase-orders", web::post().to(purchasing::create))
        .route("/purchase-orders/{id}", web::get().to(purchasing::show))
        .route("/purchase-orders/{id}", web::patch().to(purchasing::update))
        .route(
            "/purchase-orders/{id}/submit",
            web::post().to(purchasing::submit),
        )
        .route(
            "/purchase-orders/{id}/cancel",
            web::post().to(purchasing::cancel),
        )
        .route(
            "/purchase-orders/{id}/close",
            web::post().to(purchasing::close),
        )
        .route(
            "/purchase-orders/{id}/receipts",
            web::post().to(purchasing::receive),
        )
        .route("/production/boms", web::get().to(production::list_boms))
        .route("/production/boms", web::post().to(production::create_bom))
        .route("/production/boms/{id}", web::get().to(production::show_bom))
        .route(
            "/production/boms/{id}/activate",
            web::post().to(production::activate_bom),
        )
        .route(
            "/production/boms/{id}/explosion",
            web::get().to(production::explode_bom),
        )
        .route("/production/orders", web::get().to(production::list_orders))
        .route(
            "/production/orders",
            web::post().to(production::create_order),
        )
        .route(
            "/production/orders/{id}",
            web::get().to(production::show_order),
        )
        .route(
            "/production/orders/{id}/allocation",
            web::get().to(production::allocation_preview),
        )
        .route(
            "/production/orders/{id}/release",
            web::post().to(production::release),
        )
        .route(
            "/production/orders/{id}/completions",
            web::post().to(production::complete),
        )
        .route(
            "/production/orders/{id}/close",
            web::post().to(production::close),
        )
        .route(
            "/production/orders/{id}/cancel",
            web::post().to(production::cancel),
        )
        .route(
            "/production/work-orders",
            web::get().to(production::list_work_orders),
        )
        .route(
            "/production/work-orders",
            web::post().to(production::create_work_order),
        )
        .route(
            "/production/work-orders/{id}",
            web::get().to(production::show_work_order),
        )
        .route(
            "/production/work-orders/{id}",
            web::patch().to(production::update_work_order),
        )
        .route(
            "/production/work-orders/{id}/edit-requests",
            web::post().to(production::request_edit),
        )
        .route(
            "/production/work-orders/{id}/inputs",
            web::post().to(production::record_input),
        )
        .route("/planning/mrp-runs", web::post().to(planning::run_mrp))
        .route("/planning/mrp-runs", web::get().to(planning::list_runs))
        .route("/planning/mrp-runs/{id}", web::get().to(planning::show_run))
        .route(
            "/planning/mrp-runs/{id}/drafts",
            web::post().to(planning::make_drafts),
        )
        .route(
            "/planning/dashboard",
            web::get().to(planning::show_dashboard),
        )
        .route("/approvals/pending", web::get().to(approvals::pending))
        .route("/approvals/rules", web::get().to(approvals::rules))
        .route("/approvals/rules", web::put().to(approvals::replace_rules))
        .route("/approvals/{id}", web::get().to(approvals::show))
        .route(
            "/approvals/{id}/approve",
            web::post().to(approvals::approve),
        )
        .route("/approvals/{id}/reject", web::post().to(approvals::reject))
        .route("/quality/plans", web::get().to(quality::list_plans))
        .route("/quality/plans", web::post().to(quality::create_plan))
        .route("/quality/plans/{id}", web::get().to(quality::show_plan))
        .route(
            "/quality/inspections",
            web::get().to(quality::list_inspections),
        )
        .route(
            "/quality/inspections",
            web::post().to(quality::create_inspection),
        )
        .route(
            "/quality/inspections/{id}",
            web::get().to(quality::show_inspection),
        )
        .route(
            "/quality/inspections/{id}/decision",
            web::post().to(quality::decide),
        )
        .route(
            "/quality/quarantine",
            web::get().to(quality::list_quarantine),
        )
        .route(
            "/quality/quarantine",
            web::post().to(quality::quarantine_lot),
        )
        .route(
            "/quality/quarantine/{id}",
            web::get().to(quality::show_quarantine),
        )
        .route(
            "/quality/quarantine/{id}/release",
            web::post().to(quality::release),
        )
        .route(
            "/quality/quarantine/{id}/scrap",
            web::post().to(quality::scrap),
        )
        .route("/quality/lab-tests", web::get().to(quality::list_lab_tests))
        .route(
            "/quality/lab-tests",
            web::post().to(quality::create_lab_test),
        )
        .route("/quality/defects", web::get().to(quality::defects))
        .route("/kanban/boards", web::get().to(kanban::list_boards))
        .route("/kanban/boards", web::post().to(kanban::create_board))
        .route("/kanban/boards/{id}", web::get().to(kanban::show_board))
        .route("/kanban/boards/{id}", web::patch().to(kanban::update_board))
        .route(
            "/kanban/boards/{id}",
            web::delete().to(kanban::delete_board),
        )
        .route(
            "/kanban/boards/{id}/columns",
            web::post().to(kanban::add_column),
        )
        .route(
            "/kanban/boards/{id}/cards",
            web::post().to(kanban::create_card),
        )
        .route("/kanban/boards/{id}/moves", web::get().to(kanban::moves))
        .route(
            "/kanban/columns/{id}",
            web::patch().to(kanban::update_column),
        )
        .route(
            "/kanban/columns/{id}",
            web::delete().to(kanban::delete_column),
        )
        .route("/kanban/cards/{id}", web::get().to(kanban::show_card))
        .route("/kanban/cards/{id}", web::delete().to(kanban::delete_card))
        .route("/kanban/cards/{id}/move", web::post().to(kanban::move_card));
}

#[derive(OpenApi)]
#[openapi(
    info(title = "ERP tenant API", description = "Each company's API. Name the company with \
        its subdomain or the `X-Tenant` header."),
    paths(
        auth::login, auth::refresh, auth::logout, auth::request_reset, auth::set_password,
        me::me, users::list, users::show, users::invite, users::update,
        roles::list, roles::create, roles::update, roles::permissions,
        billing::show, billing::checkout, billing::portal, billing::change_plan, billing::cancel,
        masters::list_units, masters::create_unit,
        masters::list_categories, masters::create_category, masters::update_category,
        items::list, items::show, items::create, items::update, items::export, items::import,
        partners::list, partners::show, partners::create, partners::update, partners::export, partners::import,
        warehouses::list, warehouses::create, warehouses::update,
        warehouses::locations, warehouses::create_location, warehouses::update_location,
        webhooks::list, webhooks::create, webhooks::show, webhooks::update, webhooks::delete,
        webhooks::rotate_secret, webhooks::send_test, webhooks::deliveries,
        stock::receipt, stock::issue, stock::transfer, stock::adjustment, stock::reverse,
        stock::movements, stock::on_hand, stock::item, stock::valuation, stock::below_reorder,
        stock::adjustment_request, stock::movements_export, stock::on_hand_export, stock::valuation_export,
        stock::below_reorder_export, purchasing::lines_export, sales::lines_export,
        stock::lots, stock::lot,
        sales::list, sales::show, sales::create, sales::update, sales::confirm, sales::deliver,
        sales::invoice, sales::close, sales::cancel,
        purchasing::list, purchasing::show, purchasing::create, purchasing::update,
        purchasing::submit, purchasing::cancel, purchasing::close, purchasing::receive,
        approvals::pending, approvals::show, approvals::approve, approvals::reject,
        approvals::rules, approvals::replace_rules,
        quality::list_plans, quality::show_plan, quality::create_plan,
        quality::list_inspections, quality::show_inspection, quality::create_inspection,
        quality::decide, quality::list_quarantine, quality::show_quarantine,
        quality::quarantine_lot, quality::release, quality::scrap,
        quality::list_lab_tests, quality::create_lab_test, quality::defects,
        production::list_boms, production::show_bom, production::create_bom,
        production::activate_bom, production::explode_bom,
        production::list_orders, production::show_order, production::create_order,
        production::allocation_preview, production::release, production::complete,
        production::close, production::cancel,
        production::list_work_orders, production::show_work_order,
        production::create_work_order, production::update_work_order,
        production::request_edit, production::record_input,
        planning::run_mrp, planning::list_runs, planning::show_run, planning::make_drafts,
        planning::show_dashboard,
        kanban::list_boards, kanban::create_board, kanban::show_board, kanban::update_board,
        kanban::delete_board, kanban::add_column, kanban::update_column, kanban::delete_column,
        kanban::create_card, kanban::show_card, kanban::delete_card, kanban::move_card,
        kanban::moves,
    ),
    modifiers(&BearerAuth, &ERROR_RESPONSES, &LINKS, &PLAN_TARGET)
)]
pub struct ApiDoc;

/// Errors every tenant operation can get beside those its handler annotates: the JSON
/// body's, the sign-in check's (operations with a bearer token), and the gate's (`crate::gate`), which answers before any
/// handler, plus the tenant database connection's (`crate::db`).
const STANDARD_ERRORS: [StandardError; 15] = [
    BODY_ERRORS[0],
    BODY_ERRORS[1],
    BODY_ERRORS[2],
    BODY_ERRORS[3],
    INTERNAL_ERROR,
    STARTING_ERROR,
    StandardError {
        status: 400,
        name: "TenantRequired",
        description: "`tenant_required` (neither the host nor `X-Tenant` names a company), \
                      `tenant_conflict` (they name different ones)",
        retry_after: false,
        when: When::Always,
    },
    StandardError {
        status: 402,
        name: "PaymentRequired",
        description: "`payment_required`: the company is suspended for billing (all but \
                      sign-in, `/me` and `/billing...`, which its admin needs to pay)",
        retry_after: false,
        when: When::Always,
    },
    StandardError {
        status: 403,
        name: "TenantRefused",
        description: "`tenant_suspended`, `feature_not_in_plan`",
        retry_after: false,
        when: When::Always,
    },
    StandardError {
        status: 404,
        name: "TenantNotFound",
        description: "`tenant_not_found`: no company by that name; `not_found`: a malformed id \
                      in the path",
        retry_after: false,
        when: When::Always,
    },
    StandardError {
        status: 409,
        name: "StorageLimit",
        description: "`limit_exceeded`: the company is over its plan's storage (writes, but not \
                      sign-in or billing)",
        retry_after: false,
        when: When::Body,
    },
    StandardError {
        status: 429,
        name: "RateLimited",
        description: "`rate_limited` (the plan's requests a minute), \
                      `too_many_concurrent_requests`",
        retry_after: true,
        when: When::Always,
    },
    StandardError {
        status: 503,
        name: "Unavailable",
        description: "`tenant_provisioning` (still being set up), `tenant_migrating` (its \
                      database is behind this version's schema until the migration run \
                      reaches it), `tenant_maintenance` (its data is being restored or \
                      moved: writes frozen for a moment), `service_unavailable` (the tenant \
                      directory), `connection_budget_exhausted`, `tenant_busy`, \
                      `tenant_database_unavailable`",
        retry_after: true,
        when: When::Always,
    },
    UNAUTHORIZED_ERROR,
    StandardError {
        status: 403,
        name: "Forbidden",
        description: "`forbidden` (the user lacks the permission), `tenant_mismatch` (the token \
                      is another company's)",
        retry_after: false,
        when: When::Secured,
    },
];

const ERROR_RESPONSES: ErrorResponses = ErrorResponses(&STANDARD_ERRORS);

/// A quality plan is for an item or for a category, exactly one of them.
const PLAN_TARGET: common::openapi::ExactlyOneOf = common::openapi::ExactlyOneOf {
    schema: "NewPlan",
    fields: ["item_id", "category_id"],
};

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regenerate with `cargo run -p tenant-runtime -- openapi > tenant-runtime/openapi.json`
    /// when this fails.
    #[test]
    fn the_committed_document_matches_the_code() {
        let committed = include_str!("../../openapi.json");
        assert!(
            committed == document(),
            "tenant-runtime/openapi.json is stale: run \
             `cargo run -p tenant-runtime -- openapi > tenant-runtime/openapi.json`"
        );
    }

    /// A quality plan names an item or a category, exactly one (what the server checks):
    /// the document must say so, or a client (schemathesis found it) sends a body the
    /// document allows and gets 422.
    #[test]
    fn a_new_quality_plan_names_exactly_one_target_in_the_document() {
        let document: serde_json::Value = serde_json::from_str(&document()).expect("json");
        let schema = &document["components"]["schemas"]["NewPlan"];
        let fields = &schema["allOf"][0]["properties"];
        let branches = schema["allOf"][1]["oneOf"].as_array().expect("a oneOf");
        let mut named = Vec::new();
        for branch in branches {
            let field = branch["required"][0].as_str().expect("a required field");
            assert!(fields.get(field).is_some(), "{field} is a field of NewPlan");
            let properties = branch["properties"].as_object().expect("properties");
            let other = properties
                .keys()
                .find(|name| *name != field)
                .expect("the other field");
            assert_eq!(properties[other]["type"], "null", "{other} absent or null");
            named.push(field.to_owned());
        }
        named.sort();
        assert_eq!(named, ["category_id", "item_id"]);
    }
}

//! The admin API under `/api/v1`: one module per resource, what provisioner errors mean,
//! pagination, idempotency, request metadata, and the OpenAPI document; beside it, outside
//! `/api/v1` and admin auth, Stripe's webhook (`webhooks`).

pub mod admins;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod billing;
pub mod billing_events;
pub mod error;
pub mod idempotency;
pub mod impersonation;
pub mod jobs;
pub mod keys;
pub mod links;
pub mod meta;
pub mod migrations;
pub mod openapi;
pub mod overview;
pub mod pagination;
pub mod plans;
pub mod servers;
pub mod signup;
pub mod tenants;
pub mod validate;
pub mod webhooks;

use actix_web::web;

/// Registers every `/api/v1` route.
pub fn configure(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/api/v1")
            .route("/auth/login", web::post().to(auth::login))
            .route("/auth/refresh", web::post().to(auth::refresh))
            .route("/auth/logout", web::post().to(auth::logout))
            .route("/me", web::get().to(auth::me))
            .route("/me/2fa/enroll", web::post().to(auth::enroll_totp))
            .route("/me/2fa/confirm", web::post().to(auth::confirm_totp))
            .route("/me/2fa/disable", web::post().to(auth::disable_totp))
            .route("/me/password", web::post().to(auth::change_password))
            .route("/admins", web::get().to(admins::list))
            .route("/admins", web::post().to(admins::create))
            .route("/admins/{id}", web::patch().to(admins::update))
            .route("/tenants", web::get().to(tenants::list))
            .route("/tenants", web::post().to(tenants::create))
            .route("/tenants/{id}", web::get().to(tenants::show))
            .route("/tenants/{id}", web::patch().to(tenants::update))
            .route("/tenants/{id}", web::delete().to(tenants::delete))
            .route("/tenants/{id}/suspend", web::post().to(tenants::suspend))
            .route("/tenants/{id}/resume", web::post().to(tenants::resume))
            .route("/tenants/{id}/backups", web::get().to(backups::list))
            .route("/tenants/{id}/backups", web::post().to(backups::create))
            .route("/tenants/{id}/restores", web::post().to(backups::restore))
            .route("/tenants/{id}/relocate", web::post().to(backups::relocate))
            .route("/tenants/{id}/billing", web::get().to(billing::show))
            .route(
                "/tenants/{id}/billing/plan",
                web::post().to(billing::change_plan),
            )
            .route(
                "/tenants/{id}/billing/cancel",
                web::post().to(billing::cancel),
            )
            .route(
                "/tenants/{id}/impersonate",
                web::post().to(impersonation::impersonate),
            )
            .route("/billing/events", web::get().to(billing_events::list))
            .route("/billing/events/{id}", web::get().to(billing_events::show))
            .route(
                "/billing/events/{id}/retry",
                web::post().to(billing_events::retry),
            )
            .route("/jobs", web::get().to(jobs::list))
            .route("/jobs/{id}", web::get().to(jobs::show))
            .route("/migrations/runs", web::post().to(migrations::start))
            .route("/migrations/runs", web::get().to(migrations::list))
            .route("/migrations/runs/{id}", web::get().to(migrations::show))
            .route(
                "/migrations/runs/{id}/resume",
                web::post().to(migrations::resume),
            )
            .route(
                "/migrations/runs/{id}/cancel",
                web::post().to(migrations::cancel),
            )
            .route("/keys", web::get().to(keys::list))
            .route("/overview", web::get().to(overview::show))
            .route("/plans", web::get().to(plans::list))
            .route("/plans", web::post().to(plans::create))
            .route("/plans/{code}", web::get().to(plans::show))
            .route("/plans/{code}", web::patch().to(plans::update))
            .route("/servers", web::get().to(servers::list))
            .route("/servers", web::post().to(servers::register))
            .route("/servers/{id}", web::patch().to(servers::update))
            .route("/servers/{id}/drain", web::post().to(servers::drain))
            .route("/servers/{id}/activate", web::post().to(servers::activate))
            .route("/servers/{id}/evacuate", web::post().to(backups::evacuate))
            .route("/signup", web::post().to(signup::signup))
            .route(
                "/signup/slug-availability",
                web::get().to(signup::slug_availability),
            )
            .route("/audit", web::get().to(audit::list)),
    );
}

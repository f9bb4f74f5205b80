//! The admin portal: super-admins' web interface, served by the control plane at `/`.
//! Server-rendered askama pages on the shared UI kit (`common::web`), enhanced with htmx.
//!
//! Pages never hold SQL and never call the API over HTTP: each calls the same function
//! the admin API handler calls, with the same `Authorized<P>` proof of permission (built
//! from the session's admin by [`session::Signed::authorize`]), so an action has one rule
//! whichever door it comes through. Buttons a role may not use are not shown
//! ([`session::Signed::can`]), and the server refuses them anyway if forged.
//!
//! - [`session`]: the signed-in admin of a request (cookie session) and CSRF-checked forms;
//! - [`errors`]: every failure as a page (or a redirect to sign-in);
//! - [`nav`]: the layout around every page;
//! - one module per area: [`sign_in`], [`dashboard`], [`tenants`] (with
//!   [`tenant_actions`]), [`plans`], [`servers`], [`jobs`], [`admins`], [`audit`],
//!   [`account`], [`migrations`], [`billing`].

pub mod account;
pub mod admins;
pub mod audit;
pub mod billing;
pub mod dashboard;
pub mod errors;
pub mod jobs;
pub mod migrations;
pub mod nav;
pub mod plans;
pub mod servers;
pub mod session;
pub mod sign_in;
pub mod tenant_actions;
pub mod tenants;

use actix_web::web;

/// Registers the portal's pages and the UI kit's assets.
pub fn configure(config: &mut web::ServiceConfig) {
    common::web::assets::configure(config);
    config
        .route("/", web::get().to(dashboard::show))
        .route("/sign-in", web::get().to(sign_in::form))
        .route("/sign-in", web::post().to(sign_in::submit))
        .route("/sign-in/code", web::post().to(sign_in::submit_code))
        .route("/sign-out", web::post().to(sign_in::sign_out));
    tenants::configure(config);
    // The areas beyond tenants.
    plans::configure(config);
    servers::configure(config);
    jobs::configure(config);
    admins::configure(config);
    audit::configure(config);
    account::configure(config);
    migrations::configure(config);
    billing::configure(config);
}

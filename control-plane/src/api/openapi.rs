//! The admin API's OpenAPI document, generated from the handlers' annotations. It is
//! served at `/openapi.json` (with Swagger UI at `/docs/`), committed as
//! `control-plane/openapi.json`, and a test fails when the two drift apart
//! (`cargo run -p control-plane -- openapi > control-plane/openapi.json` regenerates it).

use super::links::LINKS;
use crate::api::{
    admins, audit, auth, backups, billing, billing_events, impersonation, jobs, keys, migrations,
    overview, plans, servers, signup, tenants, webhooks,
};
use common::openapi::{
    BODY_ERRORS, ErrorResponses, INTERNAL_ERROR, PATH_ERROR, QUERY_ERROR, STARTING_ERROR,
    StandardError, UNAUTHORIZED_ERROR, When,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The error body (`common::problem::Problem`), under the name the handlers' annotations use.
pub use common::problem::Problem as ProblemDoc;

/// Errors every admin operation can get beside those its handler annotates.
const STANDARD_ERRORS: [StandardError; 10] = [
    BODY_ERRORS[0],
    BODY_ERRORS[1],
    BODY_ERRORS[2],
    BODY_ERRORS[3],
    QUERY_ERROR,
    PATH_ERROR,
    INTERNAL_ERROR,
    STARTING_ERROR,
    UNAUTHORIZED_ERROR,
    StandardError {
        status: 403,
        name: "Forbidden",
        description: "`forbidden`: the admin's role does not allow this",
        retry_after: false,
        when: When::Secured,
    },
];

const ERROR_RESPONSES: ErrorResponses = ErrorResponses(&STANDARD_ERRORS);

struct BearerAuth;

impl Modify for BearerAuth {
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

#[derive(OpenApi)]
#[openapi(
    info(title = "ERP platform: control plane admin API", version = "1"),
    paths(
        auth::login, auth::refresh, auth::logout, auth::me,
        auth::enroll_totp, auth::confirm_totp, auth::disable_totp, auth::change_password,
        admins::list, admins::create, admins::update,
        tenants::list, tenants::create, tenants::show, tenants::update,
        tenants::suspend, tenants::resume, tenants::delete,
        backups::create, backups::list, backups::restore, backups::relocate, backups::evacuate,
        billing::show, billing::change_plan, billing::cancel,
        billing_events::list, billing_events::show, billing_events::retry,
        impersonation::impersonate,
        jobs::list, jobs::show,
        migrations::start, migrations::list, migrations::show, migrations::resume,
        migrations::cancel,
        keys::list,
        overview::show,
        plans::list, plans::create, plans::show, plans::update,
        servers::list, servers::register, servers::update, servers::drain, servers::activate,
        signup::signup, signup::slug_availability,
        audit::list,
        webhooks::receive_stripe_event,
    ),
    modifiers(&BearerAuth, &ERROR_RESPONSES, &LINKS),
    tags(
        (name = "auth", description = "Admin login, sessions and 2FA"),
        (name = "admins", description = "Admin accounts (owners only)"),
        (name = "tenants", description = "Tenant lifecycle"),
        (name = "backups", description = "A tenant's backups, restores and relocation"),
        (name = "billing", description = "A tenant's billing through Stripe (409 `billing_disabled` without a Stripe key)"),
        (name = "jobs", description = "Provisioning progress"),
        (name = "migrations", description = "Fleet migration runs: every tenant database to the newest schema"),
        (name = "keys", description = "Encryption keys and the secrets each seals (key rotation)"),
        (name = "overview", description = "The fleet at a glance (the portal's dashboard)"),
        (name = "plans", description = "Plans and limits"),
        (name = "servers", description = "Tenant database servers"),
        (name = "signup", description = "Self-serve signup (public)"),
        (name = "audit", description = "The append-only audit log"),
        (name = "webhooks", description = "Stripe's event deliveries (public; the `Stripe-Signature` header authenticates them)"),
    )
)]
pub struct ApiDoc;

/// The document as served and committed (pretty JSON, trailing newline).
pub fn document() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CI's drift check: regenerate with `cargo run -p control-plane -- openapi >
    /// control-plane/openapi.json` when this fails.
    #[test]
    fn the_committed_document_matches_the_code() {
        let committed = include_str!("../../openapi.json");
        assert!(
            committed == document(),
            "control-plane/openapi.json is stale: run \
             `cargo run -p control-plane -- openapi > control-plane/openapi.json`"
        );
    }

    #[test]
    fn every_admin_route_requires_the_bearer_scheme_except_public_ones() {
        let doc: serde_json::Value =
            serde_json::from_str(&document()).expect("the document is JSON");
        let public = [
            "/api/v1/auth/login",
            "/api/v1/auth/refresh",
            "/api/v1/auth/logout",
            "/api/v1/signup",
            "/api/v1/signup/slug-availability",
            "/webhooks/stripe",
        ];
        for (path, operations) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in operations.as_object().expect("operations") {
                let secured = operation.get("security").is_some();
                assert_eq!(secured, !public.contains(&path.as_str()), "{method} {path}");
            }
        }
    }
}

//! What the provisioner's errors mean to an admin API client. The error type itself is
//! the one both services share ([`common::api_error::ApiError`]); the provisioner knows
//! nothing of HTTP, so its errors are mapped here, in one exhaustive match, by a function
//! callers name (`.map_err(provision_error)`) rather than a `From` (neither type is ours).

use actix_web::http::StatusCode;
use common::api_error::ApiError;
use provisioner::ProvisionError;

/// How long a client waits before retrying a tenant database that did not answer.
const TENANT_DATABASE_RETRY_SECS: u64 = 30;

/// The problem+json answer to a provisioner error (5xx ones logged, opaque).
pub fn provision_error(error: ProvisionError) -> ApiError {
    let detail = error.to_string();
    let status = match &error {
        ProvisionError::InvalidSlug(_) => return ApiError::invalid("slug", detail),
        ProvisionError::Invalid { field, message } => return ApiError::invalid(field, message),
        ProvisionError::Crypto(_) | ProvisionError::Db(_) | ProvisionError::TenantDb(_) => {
            return ApiError::internal(error);
        }
        ProvisionError::TenantDatabaseUnreachable { .. } => {
            return ApiError::retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                error.code(),
                "the tenant's database server does not answer; try again shortly",
                TENANT_DATABASE_RETRY_SECS,
            );
        }
        ProvisionError::SlugTaken(_)
        | ProvisionError::InvalidTransition(_)
        | ProvisionError::TenantDeleted(_)
        | ProvisionError::TenantNotActive { .. }
        | ProvisionError::ServerNameTaken(_)
        | ProvisionError::TenantBusy(_)
        | ProvisionError::BackupNotRestorable { .. }
        | ProvisionError::TargetDraining(_)
        | ProvisionError::TargetFull(_)
        | ProvisionError::SameServer(_) => StatusCode::CONFLICT,
        ProvisionError::UnknownPlan(_) | ProvisionError::ServerUnreachable { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ProvisionError::NoCapacity => StatusCode::SERVICE_UNAVAILABLE,
        ProvisionError::TenantNotFound(_)
        | ProvisionError::ServerNotFound(_)
        | ProvisionError::BackupNotFound(_) => StatusCode::NOT_FOUND,
    };
    ApiError::new(status, error.code(), detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    #[test]
    fn changing_a_deleted_tenant_is_a_409_invalid_transition() {
        let error = provision_error(ProvisionError::TenantDeleted(uuid::Uuid::now_v7()));
        assert_eq!(error.status_code(), StatusCode::CONFLICT);
        let ApiError::Client(problem) = error else {
            panic!("a client error")
        };
        assert_eq!(problem.code, "invalid_transition");
        assert!(problem.detail.contains("deleted"), "{}", problem.detail);
    }

    #[test]
    fn control_database_errors_are_opaque_500s() {
        let error = provision_error(ProvisionError::Db(sea_orm::DbErr::Custom("x".into())));
        assert_eq!(error.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

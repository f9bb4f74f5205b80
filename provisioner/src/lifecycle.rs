//! The tenant state machine: which status changes are allowed. Every writer of
//! `tenants.status` asks [`check_transition`] first, so an invalid change is refused with a
//! clear error instead of corrupting the lifecycle.
//!
//! ```text
//! pending -> provisioning -> active <-> suspended -> deleting -> deleted
//!     \            \            \______________________/^
//!      \            +--> failed --> provisioning (retry) | deleting
//!       +--> deleting (cancelled before any work)
//! ```

use common::entities::TenantStatus::{self, *};

/// A status change the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a tenant cannot go from {from} to {to}")]
pub struct InvalidTransition {
    pub from: TenantStatus,
    pub to: TenantStatus,
}

/// Whether `from -> to` is a legal step.
pub fn can_transition(from: TenantStatus, to: TenantStatus) -> bool {
    matches!(
        (from, to),
        (Pending, Provisioning | Failed | Deleting)
            | (Provisioning, Active | Failed | Deleting)
            | (Active, Suspended | Deleting)
            | (Suspended, Active | Deleting)
            | (Failed, Provisioning | Deleting)
            | (Deleting, Deleted)
    )
}

pub fn check_transition(from: TenantStatus, to: TenantStatus) -> Result<(), InvalidTransition> {
    if can_transition(from, to) {
        Ok(())
    } else {
        Err(InvalidTransition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        for (from, to) in [
            (Pending, Provisioning),
            (Provisioning, Active),
            (Active, Suspended),
            (Suspended, Active),
            (Active, Deleting),
            (Deleting, Deleted),
        ] {
            assert!(can_transition(from, to), "{from} -> {to}");
        }
    }

    #[test]
    fn a_deleted_tenant_never_comes_back() {
        for to in TenantStatus::ALL {
            assert!(!can_transition(Deleted, *to), "deleted -> {to}");
        }
    }

    #[test]
    fn a_tenant_cannot_skip_provisioning() {
        assert_eq!(
            check_transition(Pending, Active),
            Err(InvalidTransition {
                from: Pending,
                to: Active
            })
        );
        assert!(!can_transition(Failed, Active));
    }

    #[test]
    fn suspending_needs_an_active_tenant() {
        assert!(!can_transition(Provisioning, Suspended));
        assert!(!can_transition(Pending, Suspended));
        assert!(!can_transition(Suspended, Suspended));
    }

    #[test]
    fn any_live_tenant_can_be_deleted() {
        for from in [Pending, Provisioning, Active, Suspended, Failed] {
            assert!(can_transition(from, Deleting), "{from} -> deleting");
        }
    }

    #[test]
    fn the_error_message_names_both_states() {
        let error = check_transition(Active, Provisioning).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a tenant cannot go from active to provisioning"
        );
    }
}

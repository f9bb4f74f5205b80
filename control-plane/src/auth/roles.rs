//! What each admin role may do: the whole authorization matrix in one `match`. Every role
//! may read; mutations need the role named here.

use common::entities::AdminRole;

/// A kind of admin action, as checked by handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Any `GET` of the admin API.
    Read,
    /// Create, rename, re-plan, suspend, resume, delete tenants.
    ManageTenants,
    /// Register, resize and drain database servers.
    ManageServers,
    /// Create and edit plans and their limits.
    ManagePlans,
    /// Change a tenant's paid plan or cancel its subscription (through Stripe).
    ManageBilling,
    /// Obtain a short-lived token as a tenant's user.
    Impersonate,
    /// Create admins and change their roles.
    ManageAdmins,
}

impl Action {
    /// Wording for the 403 detail ("may not manage tenants").
    pub fn describe(self) -> &'static str {
        match self {
            Self::Read => "read the admin API",
            Self::ManageTenants => "manage tenants",
            Self::ManageServers => "manage database servers",
            Self::ManagePlans => "manage plans",
            Self::ManageBilling => "manage billing",
            Self::Impersonate => "impersonate tenant users",
            Self::ManageAdmins => "manage admins",
        }
    }
}

/// Whether `role` may perform `action`.
pub fn allows(role: AdminRole, action: Action) -> bool {
    use Action::*;
    match role {
        AdminRole::Owner => true,
        AdminRole::Operator => matches!(action, Read | ManageTenants | ManageServers),
        AdminRole::Billing => matches!(action, Read | ManagePlans | ManageBilling),
        AdminRole::Support => matches!(action, Read | Impersonate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_manage_admins() {
        for role in AdminRole::ALL {
            assert_eq!(
                allows(*role, Action::ManageAdmins),
                *role == AdminRole::Owner
            );
        }
    }

    #[test]
    fn support_reads_and_impersonates_but_changes_nothing() {
        assert!(allows(AdminRole::Support, Action::Read));
        assert!(allows(AdminRole::Support, Action::Impersonate));
        for action in [
            Action::ManageTenants,
            Action::ManageServers,
            Action::ManagePlans,
            Action::ManageBilling,
        ] {
            assert!(!allows(AdminRole::Support, action));
        }
    }

    #[test]
    fn billing_is_managed_by_owners_and_the_billing_role_only() {
        for role in AdminRole::ALL {
            let expected = matches!(role, AdminRole::Owner | AdminRole::Billing);
            assert_eq!(allows(*role, Action::ManageBilling), expected, "{role}");
        }
    }
}

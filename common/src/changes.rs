//! The tenant change feed's contract: the `NOTIFY` channel and its payload format, shared
//! by the one sender (the provisioner, in the transaction of each change) and the
//! listeners (every tenant runtime). A payload is a tenant id (that tenant changed),
//! `plan:<code>` (the plan's limits changed, so every tenant on it did), `server:<id>` (a
//! database server's connection budget or address changed), or anything else (nobody can
//! say what changed: drop everything).

use std::fmt;
use uuid::Uuid;

/// The channel runtimes `LISTEN` on.
pub const CHANNEL: &str = "tenant_changed";

const PLAN_PREFIX: &str = "plan:";
const SERVER_PREFIX: &str = "server:";

/// What one notification announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantChange {
    Tenant(Uuid),
    Plan(String),
    /// A database server's settings (budget, address).
    Server(Uuid),
    /// Everything may have changed.
    All,
}

impl TenantChange {
    /// Reads a payload; what is neither a tenant id nor a plan is [`TenantChange::All`].
    pub fn parse(payload: &str) -> Self {
        if let Some(plan) = payload.strip_prefix(PLAN_PREFIX) {
            Self::Plan(plan.to_owned())
        } else if let Some(Ok(server)) = payload.strip_prefix(SERVER_PREFIX).map(str::parse) {
            Self::Server(server)
        } else if let Ok(tenant) = payload.parse::<Uuid>() {
            Self::Tenant(tenant)
        } else {
            Self::All
        }
    }

    /// The payload to send.
    pub fn payload(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TenantChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tenant(id) => write!(f, "{id}"),
            Self::Plan(code) => write!(f, "{PLAN_PREFIX}{code}"),
            Self::Server(id) => write!(f, "{SERVER_PREFIX}{id}"),
            Self::All => f.write_str("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_reads_back_as_itself() {
        for change in [
            TenantChange::Tenant(Uuid::now_v7()),
            TenantChange::Plan("starter".into()),
            TenantChange::Server(Uuid::now_v7()),
            TenantChange::All,
        ] {
            assert_eq!(TenantChange::parse(&change.payload()), change);
        }
    }

    #[test]
    fn a_plan_change_names_the_plan_after_its_prefix() {
        assert_eq!(TenantChange::Plan("growth".into()).payload(), "plan:growth");
    }

    #[test]
    fn an_unknown_payload_means_everything() {
        for payload in ["", "*", "tenant:42", "not-a-uuid", "server:nope"] {
            assert_eq!(TenantChange::parse(payload), TenantChange::All, "{payload}");
        }
    }
}

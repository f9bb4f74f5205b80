//! sea-orm entities of the control database (one module per table, matching the `control`
//! migrator of the `migrations` crate) and the string enums stored in its `text` columns.
//!
//! Each enum's strings are exactly the values allowed by the table's `CHECK` constraint.

pub mod admin_refresh_tokens;
pub mod admin_users;
pub mod audit_log;
pub mod database_servers;
pub mod jobs;
pub mod plans;
pub mod tenant_backups;
pub mod tenant_db_copies;
pub mod tenants;

use std::fmt;
use std::str::FromStr;

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A string that names no variant of the enum it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariant {
    /// Name of the enum type, e.g. `TenantStatus`.
    pub kind: &'static str,
    /// The rejected string.
    pub value: String,
}

impl fmt::Display for UnknownVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}: {:?}", self.kind, self.value)
    }
}

impl std::error::Error for UnknownVariant {}

/// Declares a `text`-backed enum: sea-orm `ActiveEnum`, serde, `as_str`, `Display`, `FromStr`.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:tt),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize,
            Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "Text")]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[sea_orm(string_value = $value)]
                #[serde(rename = $value)]
                $variant,
            )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The string stored in the database and used on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($value => Ok(Self::$variant),)+
                    _ => Err(UnknownVariant { kind: stringify!($name), value: value.to_owned() }),
                }
            }
        }
    };
}

string_enum! {
    /// Lifecycle of a tenant (`tenants.status`).
    TenantStatus {
        /// Signed up or created, not yet picked up by the provisioner.
        Pending = "pending",
        /// Database and role being created.
        Provisioning = "provisioning",
        /// Serving requests.
        Active = "active",
        /// Refused at the runtime; see `suspension_kind`.
        Suspended = "suspended",
        /// Being backed up and dropped.
        Deleting = "deleting",
        /// Database dropped; row kept until `purge_after`.
        Deleted = "deleted",
        /// Provisioning gave up; see `failure_reason`.
        Failed = "failed",
    }
}

string_enum! {
    /// Why a tenant is suspended (`tenants.suspension_kind`).
    SuspensionKind {
        /// Suspended by a super-admin.
        Admin = "admin",
        /// Unpaid invoice or cancelled subscription.
        Billing = "billing",
        /// The trial ended without a subscription.
        TrialExpired = "trial_expired",
    }
}

string_enum! {
    /// A tenant's billing state (`tenants.billing_state`): Stripe's subscription status as
    /// mirrored by the platform, or `none` (no subscription, no trial) and `trialing` for a
    /// trial the platform gave without one.
    BillingState {
        /// No subscription and no trial: plans are assigned by admins (billing disabled).
        None = "none",
        /// On a trial (ours, or the subscription's).
        Trialing = "trialing",
        /// Paid and current.
        Active = "active",
        /// A payment failed; still served for the grace period.
        PastDue = "past_due",
        /// Stripe gave up collecting: suspended for billing.
        Unpaid = "unpaid",
        /// The subscription is paused: suspended for billing.
        Paused = "paused",
        /// Checkout started but the first payment is not done.
        Incomplete = "incomplete",
        /// The subscription ended: suspended, deleted after the retention period.
        Canceled = "canceled",
    }
}

string_enum! {
    /// Role of a super-admin (`admin_users.role`).
    AdminRole {
        /// Everything, including managing other admins.
        Owner = "owner",
        /// Tenants, servers, jobs.
        Operator = "operator",
        /// Plans and billing state.
        Billing = "billing",
        /// Read access and impersonation for support.
        Support = "support",
    }
}

string_enum! {
    /// State of a queued job (`jobs.state`).
    JobState {
        /// Waiting for `run_after`.
        Queued = "queued",
        /// Leased by a worker until `lease_expires_at`.
        Running = "running",
        /// Finished successfully.
        Succeeded = "succeeded",
        /// Gave up after `max_attempts` or a permanent error.
        Failed = "failed",
        /// Cancelled before finishing.
        Cancelled = "cancelled",
    }
}

string_enum! {
    /// Placement state of a database server (`database_servers.state`).
    ServerState {
        /// Receives new tenants.
        Active = "active",
        /// Keeps its tenants, receives no new ones.
        Draining = "draining",
    }
}

string_enum! {
    /// Why a backup was taken (`tenant_backups.kind`).
    BackupKind {
        /// Asked for through the admin API.
        Manual = "manual",
        /// Taken on the plan's schedule.
        Scheduled = "scheduled",
        /// Taken by the delete saga before the database is dropped.
        Final = "final",
    }
}

string_enum! {
    /// Where a backup is (`tenant_backups.state`).
    BackupState {
        /// Its job has not finished it yet.
        Pending = "pending",
        /// Stored, measured, checksummed, its row counts recorded: restorable.
        Completed = "completed",
        /// Its job gave up (see `error`).
        Failed = "failed",
        /// Removed from storage by retention.
        Pruned = "pruned",
    }
}

string_enum! {
    /// Who performed an audited action (`audit_log.actor_kind`).
    AuditActorKind {
        /// A super-admin (`actor_id` is the admin's id).
        Admin = "admin",
        /// The platform itself (provisioner, sweeps).
        System = "system",
        /// A Stripe webhook.
        Stripe = "stripe",
        /// Self-serve signup.
        Signup = "signup",
    }
}

/// Whether a tenant in `status` (suspended for `kind`) is suspended until it pays: an
/// unpaid or canceled subscription, or a trial that ended. Paying lifts it; its admin may
/// still sign in and reach billing. An admin's suspension is not one.
pub fn suspended_for_payment(status: TenantStatus, kind: Option<SuspensionKind>) -> bool {
    status == TenantStatus::Suspended
        && matches!(
            kind,
            Some(SuspensionKind::Billing | SuspensionKind::TrialExpired)
        )
}

#[cfg(test)]
mod tests;

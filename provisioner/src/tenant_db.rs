//! The way into one active tenant's own database for what the control plane must do
//! there: find the user a super-admin impersonates, and write the impersonation to the
//! tenant's own audit log (so the tenant can always see it). The control plane holds no
//! server credentials; this is the only door.
//!
//! It connects **as the tenant's own role**, as the runtime does, never as the server's
//! superuser: the tenant role owns its database and that database's `public` schema, so
//! anything it defined there (a view shadowing `users`, a trigger on `audit_log`, a
//! database-level `search_path`) would otherwise run with superuser rights. `SET ROLE`
//! would not do: the session could `RESET ROLE`.

use crate::error::ProvisionError;
use crate::provision::stored_role_password;
use crate::servers::{self, url_for_database};
use crate::tenants;
use common::crypto::Keyring;
use common::entities::TenantStatus;
use common::tenant_audit::{self, Actor, Entry};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

/// A connection to one active tenant's database as the tenant's role.
pub struct TenantDatabase {
    client: tokio_postgres::Client,
}

/// An active user of a tenant, with their role names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantUser {
    pub id: Uuid,
    pub roles: Vec<String>,
}

impl TenantDatabase {
    /// Connects to the database of tenant `tenant_id`, which must be active.
    pub async fn open(
        db: &impl ConnectionTrait,
        keyring: &Keyring,
        tenant_id: Uuid,
    ) -> Result<Self, ProvisionError> {
        let tenant = tenants::find(db, tenant_id).await?;
        let not_active = || ProvisionError::TenantNotActive {
            status: tenant.status,
        };
        let (TenantStatus::Active, Some(server_id), Some(database), Some(role)) = (
            tenant.status,
            tenant.server_id,
            &tenant.db_name,
            &tenant.db_role,
        ) else {
            return Err(not_active());
        };
        let password = stored_role_password(keyring, &tenant)?.ok_or_else(not_active)?;
        let server = servers::find(db, server_id).await?;
        let admin_url = servers::admin_url(keyring, &server)?;
        let unreachable = |reason: String| {
            tracing::warn!(tenant = %tenant_id, "tenant database unreachable: {reason}");
            ProvisionError::TenantDatabaseUnreachable {
                tenant: tenant_id,
                reason,
            }
        };
        // The server's address and options from its admin URL; the tenant's own login.
        let mut config: tokio_postgres::Config = url_for_database(admin_url.expose(), database)
            .parse()
            .map_err(|error: tokio_postgres::Error| unreachable(error.to_string()))?;
        config.user(role).password(password.expose());
        let client = servers::connect(config)
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        Ok(Self { client })
    }

    /// The active user with this email (any case), if there is one.
    pub async fn active_user(&self, email: &str) -> Result<Option<TenantUser>, ProvisionError> {
        let row = self
            .client
            .query_opt(
                "SELECT u.id, coalesce(array_agg(r.name ORDER BY r.name) \
                          FILTER (WHERE r.name IS NOT NULL), '{}') AS roles \
                 FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id \
                 LEFT JOIN roles r ON r.id = ur.role_id \
                 WHERE lower(u.email) = lower($1) AND u.status = 'active' GROUP BY u.id",
                &[&email.trim()],
            )
            .await?;
        Ok(row.map(|row| TenantUser {
            id: row.get("id"),
            roles: row.get("roles"),
        }))
    }

    /// Appends an entry to the tenant's own audit log.
    pub async fn record_audit(
        &self,
        actor: &Actor,
        entry: Entry<'_>,
    ) -> Result<(), ProvisionError> {
        tenant_audit::record(&self.client, actor, entry).await?;
        Ok(())
    }
}

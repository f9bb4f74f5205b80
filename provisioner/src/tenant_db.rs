//! The way into one active tenant's own database for what the control plane must do
//! there, as the server's admin: find the user a super-admin impersonates, and write the
//! impersonation to the tenant's own audit log (so the tenant can always see it). The
//! control plane holds no server credentials; this is the only door.

use crate::error::ProvisionError;
use crate::servers::{self, connect_admin, url_for_database};
use crate::tenants;
use common::crypto::Keyring;
use common::entities::TenantStatus;
use common::tenant_audit::{self, Actor, Entry};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

/// An admin connection to one active tenant's database.
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
        let (TenantStatus::Active, Some(server_id), Some(database)) =
            (tenant.status, tenant.server_id, &tenant.db_name)
        else {
            return Err(ProvisionError::TenantNotActive {
                status: tenant.status,
            });
        };
        let server = servers::find(db, server_id).await?;
        let url = servers::admin_url(keyring, &server)?;
        let client = connect_admin(&url_for_database(url.expose(), database))
            .await
            .map_err(|error| {
                tracing::warn!(tenant = %tenant_id, "tenant database unreachable: {error}");
                ProvisionError::TenantDatabaseUnreachable {
                    tenant: tenant_id,
                    reason: error.to_string(),
                }
            })?;
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

//! The provisioning saga's steps: start -> place -> create_role -> create_database (a
//! spare, or a clone of the server's template) -> grant_and_seed -> activate; and its
//! compensation. Each step is idempotent: it checks what exists before making it.

use crate::billing::access;
use crate::error::ProvisionError;
use crate::jobs::{self, PayloadKey};
use crate::provisioner::{DatabaseSource, Provisioner};
use crate::servers::{self, connect_admin, url_for_database};
use crate::steps::StepError;
use crate::tenants::{self, transition};
use crate::{invitation, seed, spares, template};
use common::Secret;
use common::crypto::{CryptoError, Keyring, Sealed};
use common::entities::{TenantStatus, database_servers, jobs as job_rows, tenants as tenant_rows};
use common::ids::TenantId;
use rand::Rng;
use rand::distr::Alphanumeric;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionTrait, Value};
use std::time::Duration;
use tokio_postgres::Client;
use uuid::Uuid;

/// Default `statement_timeout` of every tenant role.
const TENANT_STATEMENT_TIMEOUT: &str = "30s";
/// Length of generated role passwords (alphanumeric, so ~238 bits).
const PASSWORD_LEN: usize = 40;

/// The tenant role's password, opened from the control database; `None` before the
/// provisioning step that makes it.
pub(crate) fn stored_role_password(
    keyring: &Keyring,
    tenant: &tenant_rows::Model,
) -> Result<Option<Secret>, CryptoError> {
    let (Some(ciphertext), Some(key_id)) =
        (&tenant.db_password_ciphertext, &tenant.db_password_key_id)
    else {
        return Ok(None);
    };
    let sealed = Sealed {
        key_id: key_id.clone(),
        ciphertext: ciphertext.clone(),
    };
    keyring.open_str(&sealed, tenant.id.as_bytes()).map(Some)
}

impl Provisioner {
    pub(crate) async fn provision(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
    ) -> Result<(), StepError> {
        self.step(job, "start", || self.start_provisioning(tenant_id))
            .await?;
        self.step(job, "place", || self.place(tenant_id)).await?;
        self.step(job, "create_role", || self.create_role(tenant_id))
            .await?;
        self.step(job, "create_database", || self.create_database(tenant_id))
            .await?;
        self.step(job, "grant_and_seed", || {
            self.grant_and_seed(job, tenant_id)
        })
        .await?;
        self.step(job, "activate", || self.activate(job.id, tenant_id))
            .await
    }

    async fn start_provisioning(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        match tenant.status {
            TenantStatus::Provisioning => Ok(()),
            TenantStatus::Deleting | TenantStatus::Deleted => Err(StepError::Cancelled),
            _ => {
                let txn = self.control_db.begin().await?;
                transition(&txn, tenant_id, TenantStatus::Provisioning).await?;
                txn.commit().await?;
                Ok(())
            }
        }
    }

    /// The tenant, if it is still being provisioned.
    async fn live_tenant(&self, tenant_id: Uuid) -> Result<tenant_rows::Model, StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        match tenant.status {
            TenantStatus::Provisioning => Ok(tenant),
            TenantStatus::Deleting | TenantStatus::Deleted => Err(StepError::Cancelled),
            other => Err(StepError::Permanent(format!(
                "tenant is {other}, not provisioning"
            ))),
        }
    }

    async fn place(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = self.live_tenant(tenant_id).await?;
        if tenant.server_id.is_none() {
            servers::place_tenant(&self.control_db, tenant_id).await?;
        }
        let name = TenantId(tenant_id).database_name();
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE tenants SET db_name = $2, db_role = $2, updated_at = now() WHERE id = $1",
                [tenant_id.into(), name.into()],
            ))
            .await?;
        Ok(())
    }

    /// The admin URL of the tenant's server.
    async fn server_url(&self, tenant: &tenant_rows::Model) -> Result<Secret, StepError> {
        Ok(self.server_of(tenant).await?.1)
    }

    /// The tenant's server (its row, for the name) and its unsealed admin URL.
    async fn server_of(
        &self,
        tenant: &tenant_rows::Model,
    ) -> Result<(database_servers::Model, Secret), StepError> {
        let server_id = tenant
            .server_id
            .ok_or_else(|| StepError::Permanent("the tenant has no server".into()))?;
        let server = servers::find(&self.control_db, server_id).await?;
        let url = servers::admin_url(&self.keyring, &server)?;
        Ok((server, url))
    }

    /// The server's admin URL and an admin connection to it.
    pub(crate) async fn server_admin(
        &self,
        tenant: &tenant_rows::Model,
    ) -> Result<(Secret, Client), StepError> {
        let (server, url) = self.server_of(tenant).await?;
        let client = connect_admin(url.expose()).await.map_err(|error| {
            StepError::Transient(format!("server `{}` unreachable: {error}", server.name))
        })?;
        Ok((url, client))
    }

    async fn create_role(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = self.live_tenant(tenant_id).await?;
        let password = self.role_password(&tenant).await?;
        let limit = self.plan_connection_limit(&tenant.plan_code).await?;
        let (_, admin) = self.server_admin(&tenant).await?;
        let role = names(&tenant)?.1;
        ensure_role(&admin, &role, &password, limit).await
    }

    /// The tenant's role password: generated and stored sealed on first use, so a rerun of
    /// the step sets the same password.
    async fn role_password(&self, tenant: &tenant_rows::Model) -> Result<Secret, StepError> {
        if let Some(password) =
            stored_role_password(&self.keyring, tenant).map_err(ProvisionError::from)?
        {
            return Ok(password);
        }
        let password: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(PASSWORD_LEN)
            .map(char::from)
            .collect();
        let sealed = self
            .keyring
            .seal_str(&password, tenant.id.as_bytes())
            .map_err(ProvisionError::from)?;
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE tenants SET db_password_ciphertext = $2, db_password_key_id = $3, \
                 updated_at = now() WHERE id = $1 AND db_password_ciphertext IS NULL",
                [
                    tenant.id.into(),
                    sealed.ciphertext.into(),
                    sealed.key_id.into(),
                ],
            ))
            .await?;
        let stored = tenants::find(&self.control_db, tenant.id).await?;
        Box::pin(self.role_password(&stored)).await
    }

    /// The `max_db_connections` of plan `plan` (what the tenant role's `CONNECTION LIMIT` is).
    pub(crate) async fn plan_connection_limit(&self, plan: &str) -> Result<i32, StepError> {
        let row = self
            .control_db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT max_db_connections FROM plans WHERE code = $1",
                [plan.into()],
            ))
            .await?
            .ok_or_else(|| StepError::Permanent(format!("plan `{plan}` is gone")))?;
        Ok(row.try_get("", "max_db_connections")?)
    }

    async fn create_database(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = self.live_tenant(tenant_id).await?;
        let (url, admin) = self.server_admin(&tenant).await?;
        let (database, role) = names(&tenant)?;
        let server_id = tenant.server_id.unwrap_or_default();
        if self.database_source == DatabaseSource::Migrate {
            migrate_from_scratch(&admin, url.expose(), &database).await?;
        } else if !template::database_exists(&admin, &database).await?
            && !spares::claim(&admin, server_id, &database).await?
        {
            clone_fresh_template(&admin, url.expose(), &database).await?;
        }
        // Ownership and the closed door are part of this step, so that a clone never stays
        // open to every role until the grant step runs.
        admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{database}\" OWNER TO \"{role}\"; {}",
                servers::close_to_public(&database)
            ))
            .await?;
        Ok(())
    }

    /// Locks the tenant role into its own database (it may read and write the ERP tables,
    /// not the audit log's past or the migration history), then seeds roles, permissions
    /// and the first admin, in one transaction on one connection: a crash leaves either
    /// all of it or none. An admin who chose a password at signup is created active;
    /// otherwise their set-password token is kept sealed in the job's payload
    /// (`admin_invite`) for whoever sends the invitation.
    async fn grant_and_seed(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
    ) -> Result<(), StepError> {
        let tenant = self.live_tenant(tenant_id).await?;
        let url = self.server_url(&tenant).await?;
        let (database, role) = names(&tenant)?;
        let first_admin = match jobs::payload_value(job, PayloadKey::AdminPasswordHash).as_str() {
            Some(hash) => seed::FirstAdmin::WithPassword(hash.to_owned()),
            None => seed::FirstAdmin::Invited(self.invite_for(job.id).await?),
        };
        let mut tenant_db = connect_admin(&url_for_database(url.expose(), &database)).await?;
        let txn = tenant_db.transaction().await?;
        txn.batch_execute(&grant_statements(&database, &role))
            .await?;
        seed::seed(&txn, &tenant.admin_email, &first_admin).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The first admin's invite: made and stored (sealed) on the job the first time; a rerun
    /// of the step reuses it, so the hash seeded in the tenant database always matches the
    /// token that will be sent.
    async fn invite_for(&self, job_id: Uuid) -> Result<seed::InviteToken, StepError> {
        if let Some(token) =
            invitation::admin_invite(&self.control_db, &self.keyring, job_id).await?
        {
            return Ok(seed::InviteToken::from_token(token.expose().to_owned()));
        }
        let invite = seed::new_invite_token();
        invitation::store(&self.control_db, &self.keyring, job_id, &invite.token).await?;
        Ok(invite)
    }

    /// Marks the tenant active and, in the same transaction, enforces its billing mirror
    /// (see [`access::enforce_at_activation`]) and forgets the signup password hash the
    /// seed step needed (it has no business staying on the job).
    async fn activate(&self, job_id: Uuid, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        // Activated already, by this step before a crash: since then it may have been
        // suspended (by an admin, or for billing), which a rerun must not undo.
        if matches!(
            tenant.status,
            TenantStatus::Active | TenantStatus::Suspended
        ) {
            return Ok(());
        }
        self.live_tenant(tenant_id).await?;
        let txn = self.control_db.begin().await?;
        transition(&txn, tenant_id, TenantStatus::Active).await?;
        // The database is a clone of this build's template (or migrated from scratch).
        crate::fleet::record_provisioned(&txn, tenant_id, &crate::fleet::TenantSchema::current())
            .await?;
        if let Ok(billing) = self.billing.settings() {
            access::enforce_at_activation(&txn, billing, tenant_id, self.clock.now())
                .await
                .map_err(|error| StepError::Transient(format!("billing: {error}")))?;
        }
        jobs::remove_from_payload(&txn, job_id, PayloadKey::AdminPasswordHash).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Compensation: drops what provisioning made and marks the tenant `failed` with the
    /// reason. When the server is unreachable the names are kept so the reconciler can
    /// find and drop the leftovers later.
    pub(crate) async fn undo_provision(&self, tenant_id: Uuid, reason: &str) -> Result<(), DbErr> {
        let Ok(tenant) = tenants::find(&self.control_db, tenant_id).await else {
            return Ok(());
        };
        if tenant.status != TenantStatus::Provisioning && tenant.status != TenantStatus::Pending {
            return Ok(());
        }
        let dropped = self.drop_tenant_objects(&tenant).await.is_ok();
        let txn = self.control_db.begin().await?;
        if transition(&txn, tenant_id, TenantStatus::Failed)
            .await
            .is_err()
        {
            return Ok(());
        }
        let clear = if dropped {
            ", server_id = NULL, db_name = NULL, db_role = NULL, \
             db_password_ciphertext = NULL, db_password_key_id = NULL"
        } else {
            ""
        };
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("UPDATE tenants SET failure_reason = $2{clear} WHERE id = $1"),
            [tenant_id.into(), Value::String(Some(reason.to_owned()))],
        ))
        .await?;
        txn.commit().await
    }

    /// Drops the tenant's database and role on its server, if it has one.
    pub(crate) async fn drop_tenant_objects(
        &self,
        tenant: &tenant_rows::Model,
    ) -> Result<(), StepError> {
        if tenant.server_id.is_none() {
            return Ok(());
        }
        let (_, admin) = self.server_admin(tenant).await?;
        // The names are set at placement; a tenant that crashed before has made nothing.
        let name = tenant
            .db_name
            .clone()
            .unwrap_or_else(|| TenantId(tenant.id).database_name());
        servers::drop_database_and_role(&admin, &name).await?;
        Ok(())
    }
}

/// Makes the tenant's login role on a server, or brings an existing one back to what it
/// must be (a relocation's source left it `NOLOGIN`): the password (Postgres receives a
/// SCRAM verifier, never the password itself), the plan's connection limit, and the
/// statement timeout.
pub(crate) async fn ensure_role(
    admin: &Client,
    role: &str,
    password: &Secret,
    connection_limit: i32,
) -> Result<(), StepError> {
    let verifier = postgres_protocol::password::scram_sha_256(password.expose().as_bytes());
    let exists = admin
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await?
        .is_some();
    let verb = if exists { "ALTER" } else { "CREATE" };
    admin
        .batch_execute(&format!(
            "{verb} ROLE \"{role}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT \
             NOREPLICATION CONNECTION LIMIT {connection_limit} PASSWORD '{verifier}'; \
             ALTER ROLE \"{role}\" SET statement_timeout = '{TENANT_STATEMENT_TIMEOUT}'"
        ))
        .await?;
    Ok(())
}

/// What the tenant role may do in its database, run in that database: connect and make
/// temporary tables there alone, read and write the ERP tables, but not rewrite the audit
/// log's past or the migration history. The same for a provisioned, restored or relocated
/// database. Every statement is idempotent: every fleet migration runs them again in its
/// transaction, so tables a migration adds are the role's to use from the commit.
pub(crate) fn grant_statements(database: &str, role: &str) -> String {
    format!(
        "GRANT CONNECT, TEMPORARY ON DATABASE \"{database}\" TO \"{role}\"; \
         REVOKE ALL ON SCHEMA public FROM PUBLIC; \
         GRANT USAGE ON SCHEMA public TO \"{role}\"; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{role}\"; \
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \"{role}\"; \
         REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM \"{role}\"; \
         REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM \"{role}\"",
        migrations::tenant::MIGRATION_TABLE
    )
}

/// The tenant's database and role names, once placed.
pub(crate) fn names(tenant: &tenant_rows::Model) -> Result<(String, String), StepError> {
    match (&tenant.db_name, &tenant.db_role) {
        (Some(database), Some(role)) => Ok((database.clone(), role.clone())),
        _ => Err(StepError::Permanent(
            "the tenant has no database name yet".into(),
        )),
    }
}

/// The benchmark's baseline: an empty database, then every tenant migration (idempotent:
/// a rerun migrates whatever is still pending).
async fn migrate_from_scratch(
    admin: &Client,
    admin_url: &str,
    database: &str,
) -> Result<(), StepError> {
    if !template::database_exists(admin, database).await? {
        let statements = [
            format!("CREATE DATABASE \"{database}\""),
            servers::close_to_public(database),
        ];
        servers::run_each(admin, &statements).await?;
    }
    template::migrate(&url_for_database(admin_url, database)).await
}

/// `CREATE DATABASE ... TEMPLATE`, retried briefly while another clone holds the template.
async fn clone_template(admin: &Client, template: &str, database: &str) -> Result<(), StepError> {
    let sql = format!(
        "CREATE DATABASE \"{database}\" TEMPLATE \"{template}\" STRATEGY {}",
        template::CLONE_STRATEGY
    );
    let mut delay = Duration::from_millis(20);
    for _ in 0..8 {
        match admin.batch_execute(&sql).await {
            Ok(()) => return Ok(()),
            Err(error) if matches!(crate::steps::classify(&error), StepError::Transient(_)) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(StepError::Transient(format!(
        "template `{template}` stayed busy"
    )))
}

/// Clones the server's current template into `database`, building the template first if
/// needed. Workers of another version (a rolling upgrade; two checkouts testing against one
/// server) drop templates that are not theirs, so the template can vanish between being
/// ensured and being cloned: then it is built again, a few times at most.
async fn clone_fresh_template(
    admin: &tokio_postgres::Client,
    admin_url: &str,
    database: &str,
) -> Result<(), StepError> {
    const ATTEMPTS: usize = 3;
    let mut attempt = 1;
    loop {
        let template = template::ensure(admin, admin_url).await?;
        let cloned = clone_template(admin, &template, database).await;
        if cloned.is_ok()
            || attempt == ATTEMPTS
            || template::database_exists(admin, &template).await?
        {
            return cloned;
        }
        tracing::warn!(
            template,
            "the template vanished before its clone; building it again"
        );
        attempt += 1;
    }
}

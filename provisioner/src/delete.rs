//! The delete saga: backup -> drop_database -> drop_role -> finish. The final backup is a
//! `pg_dump -Fc` written beside a checksum before anything is dropped; the tenant row stays
//! as `deleted` with the backup's path, size and SHA-256 until it is purged.

use crate::provisioner::Provisioner;
use crate::servers::url_for_database;
use crate::steps::StepError;
use crate::template::database_exists;
use crate::tenants::{self, transition};
use common::entities::{TenantStatus, jobs as job_rows, tenants as tenant_rows};
use common::ids::TenantId;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Where a finished backup is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub path: PathBuf,
    pub size_bytes: i64,
    pub sha256: String,
}

impl Provisioner {
    pub(crate) async fn delete(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
    ) -> Result<(), StepError> {
        self.step(job, "wait_for_other_jobs", || self.others_stopped(job))
            .await?;
        self.step(job, "backup", || self.final_backup(tenant_id))
            .await?;
        self.step(job, "drop_database", || self.drop_database(tenant_id))
            .await?;
        self.step(job, "drop_role", || self.drop_role(tenant_id))
            .await?;
        self.step(job, "finish", || self.finish_delete(tenant_id))
            .await
    }

    /// A provisioning job of the tenant still in flight could recreate what this job drops:
    /// wait (with the queue's backoff) until it has noticed the delete and stopped.
    async fn others_stopped(&self, job: &job_rows::Model) -> Result<(), StepError> {
        let busy = self
            .control_db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE tenant_id = $1 AND id <> $2 \
                 AND state IN ('queued', 'running')) AS busy",
                [job.tenant_id.into(), job.id.into()],
            ))
            .await?
            .is_some_and(|row| row.try_get::<bool>("", "busy").unwrap_or(true));
        if busy {
            return Err(StepError::Transient(
                "another job of this tenant has not stopped yet".into(),
            ));
        }
        Ok(())
    }

    async fn deleting_tenant(&self, tenant_id: Uuid) -> Result<tenant_rows::Model, StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        match tenant.status {
            TenantStatus::Deleting => Ok(tenant),
            other => Err(StepError::Permanent(format!(
                "tenant is {other}, not deleting"
            ))),
        }
    }

    async fn final_backup(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = self.deleting_tenant(tenant_id).await?;
        if tenant.server_id.is_none() {
            return Ok(());
        }
        let (url, admin) = self.server_admin(&tenant).await?;
        let database = TenantId(tenant_id).database_name();
        if !database_exists(&admin, &database).await? {
            return Ok(());
        }
        let dir = self.backup_dir.join(tenant_id.to_string());
        let backup = dump(&url_for_database(url.expose(), &database), &dir).await?;
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE tenants SET backup_path = $2, backup_size_bytes = $3, backup_sha256 = $4, \
                 updated_at = now() WHERE id = $1",
                [
                    tenant_id.into(),
                    backup.path.display().to_string().into(),
                    backup.size_bytes.into(),
                    backup.sha256.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    async fn drop_database(&self, tenant_id: Uuid) -> Result<(), StepError> {
        self.drop_object(tenant_id, "DATABASE", " WITH (FORCE)")
            .await
    }

    async fn drop_role(&self, tenant_id: Uuid) -> Result<(), StepError> {
        self.drop_object(tenant_id, "ROLE", "").await
    }

    async fn drop_object(
        &self,
        tenant_id: Uuid,
        kind: &str,
        options: &str,
    ) -> Result<(), StepError> {
        let tenant = self.deleting_tenant(tenant_id).await?;
        if tenant.server_id.is_none() {
            return Ok(());
        }
        let (_, admin) = self.server_admin(&tenant).await?;
        let name = TenantId(tenant_id).database_name();
        admin
            .batch_execute(&format!("DROP {kind} IF EXISTS \"{name}\"{options}"))
            .await?;
        Ok(())
    }

    async fn finish_delete(&self, tenant_id: Uuid) -> Result<(), StepError> {
        let tenant = tenants::find(&self.control_db, tenant_id).await?;
        if tenant.status == TenantStatus::Deleted {
            return Ok(());
        }
        let now = self.clock.now();
        let purge_after =
            now + chrono::Duration::from_std(self.deleted_retention).unwrap_or_default();
        let txn = self.control_db.begin().await?;
        transition(&txn, tenant_id, TenantStatus::Deleted).await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE tenants SET deleted_at = $2, purge_after = $3, \
             db_password_ciphertext = NULL, db_password_key_id = NULL WHERE id = $1",
            [tenant_id.into(), now.into(), purge_after.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(())
    }
}

/// `pg_dump -Fc` of the database at `url` into `dir`, written to a temporary name and
/// renamed when complete, then measured and checksummed.
pub async fn dump(url: &str, dir: &Path) -> Result<Backup, StepError> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|error| StepError::Permanent(format!("bad server URL: {error}")))?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|error| StepError::Transient(format!("creating {}: {error}", dir.display())))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let path = dir.join(format!("{stamp}.dump"));
    let partial = path.with_extension("dump.partial");
    let output = pg_dump_command(&config, &partial)
        .output()
        .await
        .map_err(|error| StepError::Transient(format!("running pg_dump: {error}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(StepError::Transient(format!(
            "pg_dump failed: {}",
            stderr.trim()
        )));
    }
    tokio::fs::rename(&partial, &path)
        .await
        .map_err(|error| StepError::Transient(format!("saving the backup: {error}")))?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|error| StepError::Transient(format!("reading the backup: {error}")))?;
    Ok(Backup {
        size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        sha256: hex(&Sha256::digest(&bytes)),
        path,
    })
}

fn pg_dump_command(config: &tokio_postgres::Config, out: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(pg_dump_binary());
    command
        .arg("--format=custom")
        .arg("--no-password")
        .arg("--file")
        .arg(out);
    if let Some(tokio_postgres::config::Host::Tcp(host)) = config.get_hosts().first() {
        command.arg("--host").arg(host);
    }
    if let Some(port) = config.get_ports().first() {
        command.arg("--port").arg(port.to_string());
    }
    if let Some(user) = config.get_user() {
        command.arg("--username").arg(user);
    }
    if let Some(database) = config.get_dbname() {
        command.arg("--dbname").arg(database);
    }
    // The password travels in the environment of the child only, never on its command line.
    if let Some(password) = config.get_password() {
        command.env("PGPASSWORD", String::from_utf8_lossy(password).into_owned());
    }
    command.kill_on_drop(true);
    command
}

fn pg_dump_binary() -> PathBuf {
    pg_binary("pg_dump")
}

/// A Postgres client program: `$PG_BINDIR/<name>`, else the newest
/// `/usr/lib/postgresql/*/bin/<name>`, else `<name>` from `PATH`.
pub fn pg_binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return PathBuf::from(dir).join(name);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .max();
    match newest {
        Some(version) => PathBuf::from(format!("/usr/lib/postgresql/{version}/bin/{name}")),
        None => PathBuf::from(name),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

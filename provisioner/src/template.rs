//! One template database per server, at the newest tenant schema. New tenant databases are
//! cloned from it (`CREATE DATABASE ... TEMPLATE`), which copies files instead of replaying
//! migrations. The template is built under an advisory lock (several workers may race),
//! renamed into place only when complete, and frozen (`ALLOW_CONNECTIONS false`) because a
//! single open connection to it makes every clone fail. It is closed to `PUBLIC` from the
//! moment it is made, so no tenant role can reach it while it is being migrated either
//! (the ACL follows the rename; clones start with their own, see
//! [`close_to_public`]).

use crate::servers::{close_to_public, run_each, url_for_database};
use crate::steps::StepError;
use sea_orm_migration::MigratorTrait;
use tokio_postgres::Client;

/// How clones copy the template. `WAL_LOG` writes the template's ~8 MB through the WAL
/// (about 4.4 MiB per clone measured) and forces no checkpoint; `FILE_COPY` copies files
/// but forces two checkpoints per clone, each flushing every dirty buffer of every tenant
/// on the server, so a clone's cost would grow with the server's load. Many clones cost
/// WAL volume instead: size `max_wal_size` for it on tenant servers.
pub const CLONE_STRATEGY: &str = "WAL_LOG";

const TEMPLATE_PREFIX: &str = "erp_tenant_tmpl_";
const TEMPLATE_LOCK: i64 = 0x6572_705f_7465_6d70;

/// The template's name: it changes whenever a tenant migration is added, so a newer
/// schema means a new template and the old one is dropped.
pub fn template_name() -> String {
    format!("{TEMPLATE_PREFIX}{}", schema_tag())
}

/// A short tag of the newest tenant schema (`<migration count>_<hash of the newest name>`),
/// safe inside an identifier; templates and spare databases carry it in their names.
pub fn schema_tag() -> String {
    let newest = migrations::latest_tenant_version();
    let count = migrations::tenant::Migrator::migrations().len();
    let digest = newest
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
        });
    format!("{count}_{:08x}", digest as u32)
}

/// Makes sure this server has the current template; returns its name.
pub async fn ensure(admin: &Client, admin_url: &str) -> Result<String, StepError> {
    let name = template_name();
    if database_exists(admin, &name).await? {
        return Ok(name);
    }
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await?;
    let built = build_unless_present(admin, admin_url, &name).await;
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
        .await?;
    built.map(|()| name)
}

async fn build_unless_present(
    admin: &Client,
    admin_url: &str,
    name: &str,
) -> Result<(), StepError> {
    if database_exists(admin, name).await? {
        return Ok(());
    }
    let building = format!("{name}_building");
    let statements = [
        format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
        format!("CREATE DATABASE {building}"),
        close_to_public(&building),
    ];
    run_each(admin, &statements).await?;
    migrate(&url_for_database(admin_url, &building)).await?;
    let statements = [
        format!("ALTER DATABASE {building} RENAME TO {name}"),
        format!("ALTER DATABASE {name} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"),
    ];
    run_each(admin, &statements).await?;
    drop_older_templates(admin, name).await;
    tracing::info!(template = name, "tenant template built");
    Ok(())
}

/// Runs every pending tenant migration on the database at `url`.
pub async fn migrate(url: &str) -> Result<(), StepError> {
    let db = sea_orm::Database::connect(url.to_owned())
        .await
        .map_err(|error| StepError::Transient(format!("connecting to migrate: {error}")))?;
    let migrated = migrations::tenant::Migrator::up(&db, None).await;
    let _ = db.close().await;
    migrated.map_err(|error| StepError::Permanent(format!("migrating: {error}")))
}

/// Best effort: an old template still being cloned is left for the next build.
async fn drop_older_templates(admin: &Client, current: &str) {
    let pattern = format!("{TEMPLATE_PREFIX}%");
    let Ok(rows) = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2",
            &[&pattern, &current],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let old: String = row.get(0);
        let statements = [
            format!("ALTER DATABASE {old} WITH IS_TEMPLATE false"),
            format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)"),
        ];
        if let Err(error) = run_each(admin, &statements).await {
            tracing::warn!(template = old, "old template not dropped: {error}");
        }
    }
}

pub async fn database_exists(admin: &Client, name: &str) -> Result<bool, StepError> {
    let row = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_name_is_a_safe_identifier_tied_to_the_schema() {
        let name = template_name();
        assert!(name.starts_with(TEMPLATE_PREFIX));
        assert!(name.len() < 63);
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
        assert_eq!(name, template_name(), "stable for one schema");
    }
}

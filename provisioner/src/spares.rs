//! Spare databases: per server, up to `spare_target` databases already cloned from the
//! current template, waiting for a tenant. Provisioning claims one with a single
//! `ALTER DATABASE ... RENAME`, which Postgres applies atomically: two provisions racing
//! for the same spare see one succeed and the other told it no longer exists, and move on.
//! That, not the clone, is what makes a signup instant.
//!
//! Spares carry the schema tag and their server registration in their name
//! (`erp_spare_<tag>_<server>_<random>`): a spare of an older schema is never claimed and
//! is dropped at the next refill, and a fleet only ever takes or drops its own spares
//! (one Postgres server may be registered by several fleets). They accept no
//! connection from ordinary roles ([`servers::close_to_public`] when made; the ACL follows
//! the rename).

use crate::provisioner::Provisioner;
use crate::servers::{self, connect_admin};
use crate::steps::StepError;
use crate::template;
use common::entities::{ServerState, database_servers};
use rand::RngCore;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio_postgres::Client;
use uuid::Uuid;

const SPARE_PREFIX: &str = "erp_spare_";
/// Held on the server while refilling, so two workers never overfill it.
const REFILL_LOCK: i64 = 0x6572_705f_7370_6172;
/// SQLSTATEs of a lost race for a spare: gone (renamed by another) or in use.
const LOST_RACE: &[&str] = &["3D000", "55006"];

/// The name prefix of this registration's spares at the current schema.
fn current_prefix(server_id: Uuid) -> String {
    format!(
        "{SPARE_PREFIX}{}_{}_",
        template::schema_tag(),
        namespace(server_id)
    )
}

/// The random tail of the registration's id: short, and distinct between registrations.
fn namespace(server_id: Uuid) -> String {
    server_id.simple().to_string()[20..].to_owned()
}

/// This registration's current spares, oldest name first.
pub async fn list(admin: &Client, server_id: Uuid) -> Result<Vec<String>, StepError> {
    let pattern = format!("{}%", current_prefix(server_id));
    let rows = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname",
            &[&pattern],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Renames a current spare to `database`. `false` when there is none left to take.
pub async fn claim(admin: &Client, server_id: Uuid, database: &str) -> Result<bool, StepError> {
    for spare in list(admin, server_id).await? {
        let sql = format!("ALTER DATABASE \"{spare}\" RENAME TO \"{database}\"");
        match admin.batch_execute(&sql).await {
            Ok(()) => return Ok(true),
            Err(error)
                if error
                    .code()
                    .is_some_and(|state| LOST_RACE.contains(&state.code())) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(false)
}

/// Tops the server up to `target` current spares and drops spares of older schemas.
/// Returns how many were made. Skips (returns 0) while another worker refills it.
pub async fn refill(
    admin: &Client,
    admin_url: &str,
    server_id: Uuid,
    target: i32,
) -> Result<usize, StepError> {
    let locked: bool = admin
        .query_one("SELECT pg_try_advisory_lock($1)", &[&REFILL_LOCK])
        .await?
        .get(0);
    if !locked {
        return Ok(0);
    }
    let made = refill_locked(admin, admin_url, server_id, target).await;
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&REFILL_LOCK])
        .await?;
    made
}

async fn refill_locked(
    admin: &Client,
    admin_url: &str,
    server_id: Uuid,
    target: i32,
) -> Result<usize, StepError> {
    drop_stale(admin, server_id).await?;
    let have = list(admin, server_id).await?.len();
    let want = usize::try_from(target).unwrap_or(0).saturating_sub(have);
    if want == 0 {
        return Ok(0);
    }
    let template = template::ensure(admin, admin_url).await?;
    for _ in 0..want {
        let name = format!("{}{}", current_prefix(server_id), random_suffix());
        let statements = [
            format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" STRATEGY {}",
                template::CLONE_STRATEGY
            ),
            servers::close_to_public(&name),
        ];
        servers::run_each(admin, &statements).await?;
    }
    Ok(want)
}

/// Drops this registration's spares whose schema is not the current one.
async fn drop_stale(admin: &Client, server_id: Uuid) -> Result<(), StepError> {
    let ours = format!("{SPARE_PREFIX}%\\_{}\\_%", namespace(server_id));
    let rows = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname NOT LIKE $2",
            &[&ours, &format!("{}%", current_prefix(server_id))],
        )
        .await?;
    for row in rows {
        let name: String = row.get(0);
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await?;
    }
    Ok(())
}

fn random_suffix() -> String {
    let mut bytes = [0_u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Provisioner {
    /// Refills spares on every active server that wants some. A server that cannot be
    /// reached is skipped (logged); the next pass tries again.
    pub async fn refill_spares(&self) -> Result<usize, StepError> {
        let wanting = database_servers::Entity::find()
            .filter(database_servers::Column::State.eq(ServerState::Active))
            .filter(database_servers::Column::SpareTarget.gt(0))
            .all(&self.control_db)
            .await?;
        let mut made = 0;
        for server in wanting {
            let url = servers::admin_url(&self.keyring, &server)?;
            match connect_admin(url.expose()).await {
                Ok(admin) => {
                    made += refill(&admin, url.expose(), server.id, server.spare_target).await?;
                }
                Err(error) => tracing::warn!(server = %server.name, "spares not refilled: {error}"),
            }
        }
        Ok(made)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_names_carry_the_schema_and_fit_an_identifier() {
        let server = Uuid::now_v7();
        let name = format!("{}{}", current_prefix(server), random_suffix());
        assert!(name.starts_with(SPARE_PREFIX));
        assert!(name.contains(&namespace(server)));
        assert_ne!(namespace(server), namespace(Uuid::now_v7()));
        assert!(name.contains(&template::schema_tag()));
        assert!(name.len() <= 63, "{name}");
    }
}

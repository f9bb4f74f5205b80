//! The database servers as this runtime knows them (address and [`ServerBudget`]), read on
//! first use and kept fresh without a restart: `NOTIFY tenant_changed` with `server:<id>`
//! (sent by the provisioner when an admin changes a server) re-reads one at once, and
//! housekeeping re-reads every known one as a backstop. A new budget resizes the budget in
//! place; a new address replaces the connection settings and drops the handles of the
//! server's tenants, so their next request builds a pool to the new address.

use super::budget::ServerBudget;
use super::{Registry, TenantHandle};
use anyhow::Context as _;
use common::Secret;
use common::crypto::Sealed;
use common::entities::database_servers;
use sea_orm::EntityTrait;
use std::sync::Arc;
use uuid::Uuid;

/// A database server as the runtime knows it: where to connect, and its budget.
pub struct KnownServer {
    pub config: tokio_postgres::Config,
    pub budget: Arc<ServerBudget>,
    /// The admin URL the config was parsed from (to notice a change of address).
    address: Secret,
}

impl Registry {
    /// The server's connection settings and budget, read once and then kept fresh.
    pub(super) async fn server(&self, id: Uuid) -> anyhow::Result<Arc<KnownServer>> {
        if let Some(known) = self.servers.get(&id) {
            return Ok(known.clone());
        }
        let row = self.server_row(id).await?;
        let address = self.open_address(&row)?;
        let budget = usize::try_from(row.connection_budget.max(1)).unwrap_or(1);
        let known = Arc::new(KnownServer {
            config: parse(&address)?,
            budget: Arc::new(ServerBudget::new(
                id,
                budget,
                self.config.budget_wait,
                self.limits.clone(),
            )),
            address,
        });
        // Two loads racing for a new server keep the first one's budget.
        Ok(self.servers.entry(id).or_insert(known).clone())
    }

    /// Re-reads one known server (its change was announced): resizes its budget, and on a
    /// new address rebuilds the pools of its tenants. An unknown server is read when a
    /// tenant first needs it.
    pub async fn refresh_server(&self, id: Uuid) {
        let Some(known) = self.servers.get(&id).map(|known| known.clone()) else {
            return;
        };
        if let Err(error) = self.apply_server_row(&known).await {
            tracing::warn!(error = format!("{error:#}"), server = %id, "re-reading a database server failed");
        }
    }

    /// Re-reads every known server (after the change feed reconnected, and periodically).
    pub async fn refresh_servers(&self) {
        let known: Vec<Uuid> = self.servers.iter().map(|entry| *entry.key()).collect();
        for id in known {
            self.refresh_server(id).await;
        }
    }

    async fn apply_server_row(&self, known: &Arc<KnownServer>) -> anyhow::Result<()> {
        let id = known.budget.server_id;
        let row = self.server_row(id).await?;
        known
            .budget
            .set_budget(usize::try_from(row.connection_budget.max(1)).unwrap_or(1));
        let address = self.open_address(&row)?;
        if address.expose() == known.address.expose() {
            return Ok(());
        }
        let moved = Arc::new(KnownServer {
            config: parse(&address)?,
            budget: known.budget.clone(),
            address,
        });
        self.servers.insert(id, moved);
        tracing::info!(server = %id, "database server moved: rebuilding its tenants' pools");
        metrics::counter!("runtime_server_moves_total").increment(1);
        self.drop_where(move |handle: &TenantHandle| {
            handle
                .server
                .as_ref()
                .is_some_and(|budget| budget.server_id == id)
        })
        .await;
        Ok(())
    }

    async fn server_row(&self, id: Uuid) -> anyhow::Result<database_servers::Model> {
        database_servers::Entity::find_by_id(id)
            .one(&self.control_db)
            .await
            .context("reading the database server")?
            .with_context(|| format!("database server {id} is not registered"))
    }

    fn open_address(&self, row: &database_servers::Model) -> anyhow::Result<Secret> {
        let sealed = Sealed {
            key_id: row.admin_url_key_id.clone(),
            ciphertext: row.admin_url_ciphertext.clone(),
        };
        self.keyring
            .open_str(&sealed, row.id.as_bytes())
            .context("opening the server's URL")
    }
}

fn parse(address: &Secret) -> anyhow::Result<tokio_postgres::Config> {
    address
        .expose()
        .parse()
        .context("the server's URL does not parse")
}

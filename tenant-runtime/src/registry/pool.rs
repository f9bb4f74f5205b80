//! A tenant's connection pool: deadpool over tokio-postgres, whose manager takes a permit
//! from the server's [`ServerBudget`] before it opens a connection and gives it back only
//! once the connection has closed (a moment after, for the server to retire the backend),
//! so the connections the server sees never outnumber the budget. Before it hands out a
//! pooled connection it asks the budget whether the tenant owes one to a tenant under its
//! fair share; if so that connection is closed instead.

use super::budget::{BudgetExhausted, BudgetPermit, IdleConnections, ServerBudget};
use deadpool::managed::{self, Metrics, RecycleResult};
use deadpool_postgres::{ClientWrapper, ManagerConfig, RecyclingMethod};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub type TenantPool = managed::Pool<BudgetedManager>;
/// A pooled connection; derefs to a `tokio_postgres::Client` (with a statement cache).
pub type TenantConnection = managed::Object<BudgetedManager>;

/// Opens connections for one tenant, within its server's budget.
pub struct BudgetedManager {
    tenant: Uuid,
    budget: Arc<ServerBudget>,
    config: tokio_postgres::Config,
    /// deadpool-postgres's own manager, for recycling checks.
    postgres: deadpool_postgres::Manager,
}

/// A pooled connection (its budget permit is held by the task driving it).
pub struct BudgetedClient {
    client: ClientWrapper,
}

/// After a connection closes, how long its permit is kept: the server retires the backend
/// asynchronously, and a new connection must not be counted beside the old one.
const CLOSE_GRACE: Duration = Duration::from_millis(10);

impl Deref for BudgetedClient {
    type Target = ClientWrapper;

    fn deref(&self) -> &ClientWrapper {
        &self.client
    }
}

impl BudgetedClient {
    /// The plain tokio-postgres client (what `GenericClient` helpers take).
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }

    /// Starts a transaction.
    pub async fn begin(
        &mut self,
    ) -> Result<tokio_postgres::Transaction<'_>, tokio_postgres::Error> {
        DerefMut::deref_mut(&mut self.client).transaction().await
    }
}

impl DerefMut for BudgetedClient {
    fn deref_mut(&mut self) -> &mut ClientWrapper {
        &mut self.client
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Budget(#[from] BudgetExhausted),
    #[error("connecting to the tenant database: {0}")]
    Postgres(#[from] tokio_postgres::Error),
}

impl managed::Manager for BudgetedManager {
    type Type = BudgetedClient;
    type Error = ConnectError;

    async fn create(&self) -> Result<BudgetedClient, ConnectError> {
        let permit = self.budget.acquire(self.tenant).await?;
        let (client, connection) = self.config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(drive(connection, permit));
        metrics::counter!("runtime_connections_opened_total").increment(1);
        // The wrapper aborts the task it is given when dropped; it gets an empty one, so
        // dropping the client closes the connection gracefully (Terminate) in `drive`.
        let idle_task = tokio::spawn(async {});
        Ok(BudgetedClient {
            client: ClientWrapper::new(client, idle_task),
        })
    }

    async fn recycle(
        &self,
        connection: &mut BudgetedClient,
        metrics: &Metrics,
    ) -> RecycleResult<ConnectError> {
        if self.budget.owes_a_connection(self.tenant) {
            // Dropped instead of reused: its permit goes to a tenant under its share.
            metrics::counter!("runtime_connections_given_back_total").increment(1);
            return Err(managed::RecycleError::message(
                "given back to a tenant under its fair share",
            ));
        }
        managed::Manager::recycle(&self.postgres, &mut connection.client, metrics)
            .await
            .map_err(|error| match error {
                managed::RecycleError::Backend(error) => {
                    managed::RecycleError::Backend(error.into())
                }
                managed::RecycleError::Message(message) => managed::RecycleError::Message(message),
            })
    }

    fn detach(&self, connection: &mut BudgetedClient) {
        managed::Manager::detach(&self.postgres, &mut connection.client);
    }
}

impl IdleConnections for TenantPool {
    fn close_one_idle(&self) -> bool {
        let mut taken = false;
        let removed = self.retain(|_, _| std::mem::replace(&mut taken, true));
        !removed.removed.is_empty()
    }

    fn close_idle_for(&self, idle: Duration) {
        self.retain(|_, metrics| metrics.last_used() < idle);
    }
}

/// Runs a connection until it closes, then gives its permit back (after the grace).
async fn drive(
    connection: tokio_postgres::Connection<
        tokio_postgres::Socket,
        tokio_postgres::tls::NoTlsStream,
    >,
    permit: BudgetPermit,
) {
    if let Err(error) = connection.await {
        tracing::debug!(%error, "tenant connection ended");
    }
    tokio::time::sleep(CLOSE_GRACE).await;
    drop(permit);
}

/// How a tenant pool is sized and bounded.
#[derive(Debug, Clone, Copy)]
pub struct PoolShape {
    pub max_size: usize,
    /// Bounds a request's wait for a pooled connection (including the budget wait and the
    /// connect itself), so it ends in an error rather than a hang.
    pub wait: Duration,
}

pub fn build(
    tenant: Uuid,
    config: tokio_postgres::Config,
    budget: Arc<ServerBudget>,
    shape: PoolShape,
) -> TenantPool {
    let postgres = deadpool_postgres::Manager::from_config(
        config.clone(),
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let manager = BudgetedManager {
        tenant,
        budget,
        config,
        postgres,
    };
    managed::Pool::builder(manager)
        .max_size(shape.max_size)
        .wait_timeout(Some(shape.wait))
        .create_timeout(Some(shape.wait))
        .recycle_timeout(Some(Duration::from_secs(2)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .expect("a runtime and timeouts are set")
}

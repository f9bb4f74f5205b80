//! Brings a control database to life at start: waits for it, migrates it to the newest
//! schema, seeds the default plans and the bootstrap super-admin. Safe to run from several
//! replicas at once (an advisory lock serialises the seeding) and on every start.

use crate::state::AppState;
use common::config::BootstrapSettings;
use rand::Rng;
use rand::distr::Alphanumeric;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The email of the super-admin made when none is configured and there is no admin at all.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@example.com";
/// An arbitrary constant: the advisory lock key that serialises bootstrap across replicas.
const BOOTSTRAP_LOCK: i64 = 0x6572_705f_626f_6f74;

/// The super-admin that bootstrap made this time, if it made one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedAdmin {
    pub email: String,
    /// Present only when the password was generated (and must be shown once).
    pub generated_password: Option<String>,
}

/// Why bootstrap failed this attempt (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("migrating the control database failed: {0}")]
    Migrate(#[source] DbErr),
    #[error("seeding the control database failed: {0}")]
    Seed(#[source] DbErr),
    #[error("hashing the bootstrap password failed: {0}")]
    Hash(String),
}

/// One default plan and its limits.
struct PlanSeed {
    code: &'static str,
    name: &'static str,
    max_users: i32,
    max_storage_mb: i32,
    api_requests_per_minute: i32,
    api_calls_per_month: i64,
    max_concurrent_requests: i32,
    max_db_connections: i32,
    trial_days: i32,
    price_cents: i64,
    modules: &'static [&'static str],
}

const BASIC_MODULES: &[&str] = &["master_data", "inventory", "sales", "purchasing"];
const MAKER_MODULES: &[&str] = &[
    "master_data",
    "inventory",
    "sales",
    "purchasing",
    "production",
    "quality",
];

/// The ERP modules a plan can enable (`plans.features`).
pub use common::entities::plans::MODULES as ALL_MODULES;

/// The default plans. Limits are starting points an admin edits later; an existing plan is
/// never overwritten.
const DEFAULT_PLANS: &[PlanSeed] = &[
    PlanSeed {
        code: "trial",
        name: "Trial",
        max_users: 5,
        max_storage_mb: 512,
        api_requests_per_minute: 120,
        api_calls_per_month: 50_000,
        max_concurrent_requests: 4,
        max_db_connections: 5,
        trial_days: 14,
        price_cents: 0,
        modules: BASIC_MODULES,
    },
    PlanSeed {
        code: "starter",
        name: "Starter",
        max_users: 10,
        max_storage_mb: 2_048,
        api_requests_per_minute: 300,
        api_calls_per_month: 200_000,
        max_concurrent_requests: 8,
        max_db_connections: 10,
        trial_days: 0,
        price_cents: 4_900,
        modules: BASIC_MODULES,
    },
    PlanSeed {
        code: "growth",
        name: "Growth",
        max_users: 50,
        max_storage_mb: 10_240,
        api_requests_per_minute: 1_200,
        api_calls_per_month: 2_000_000,
        max_concurrent_requests: 16,
        max_db_connections: 20,
        trial_days: 0,
        price_cents: 19_900,
        modules: MAKER_MODULES,
    },
    PlanSeed {
        code: "enterprise",
        name: "Enterprise",
        max_users: 1_000,
        max_storage_mb: 102_400,
        api_requests_per_minute: 6_000,
        api_calls_per_month: 50_000_000,
        max_concurrent_requests: 64,
        max_db_connections: 50,
        trial_days: 0,
        price_cents: 99_900,
        modules: ALL_MODULES,
    },
];

/// Waits for the database, then migrates and seeds, retrying with backoff until it works
/// or `shutdown` fires. Marks the state ready on success; prints a generated password once.
pub async fn run(
    state: &AppState,
    settings: &common::config::Settings,
    shutdown: &CancellationToken,
) -> Option<CreatedAdmin> {
    let mut delay = Duration::from_millis(500);
    loop {
        if !common::db::wait_until_reachable(&state.db, "control", shutdown).await {
            return None;
        }
        match bootstrap_once(&state.db, settings).await {
            Ok(created) => {
                state.bootstrap.set_ready();
                return created;
            }
            Err(error) => {
                tracing::error!("{error}; retrying in {delay:?}");
                state.bootstrap.set_waiting(error.to_string());
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// One attempt: migrate (when configured), seed plans, ensure the super-admin.
pub async fn bootstrap_once(
    db: &DatabaseConnection,
    settings: &common::config::Settings,
) -> Result<Option<CreatedAdmin>, BootstrapError> {
    if settings.database.migrate_on_start {
        migrations::up_exclusively::<migrations::control::Migrator>(db, None)
            .await
            .map_err(BootstrapError::Migrate)?;
    }
    close_to_public(db).await?;
    let txn = db.begin().await.map_err(BootstrapError::Seed)?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [BOOTSTRAP_LOCK.into()],
    ))
    .await
    .map_err(BootstrapError::Seed)?;
    if settings.bootstrap.seed_plans {
        seed_plans(&txn).await.map_err(BootstrapError::Seed)?;
    }
    let created = ensure_admin(&txn, &settings.bootstrap).await?;
    txn.commit().await.map_err(BootstrapError::Seed)?;
    Ok(created)
}

/// Keeps the control database closed to `PUBLIC` (tenant roles live on the same servers):
/// a role that is not its owner cannot, which is worth a warning, not a refusal to start.
async fn close_to_public(db: &DatabaseConnection) -> Result<(), BootstrapError> {
    let closed = migrations::control::ensure_closed_to_public(db)
        .await
        .map_err(BootstrapError::Seed)?;
    if !closed {
        tracing::warn!(
            "the control database is open to every role on its server (tenant roles \
             included): run the platform as the database's owner, or REVOKE CONNECT, \
             TEMPORARY ON DATABASE ... FROM PUBLIC by hand"
        );
    }
    Ok(())
}

/// Creates the default plans that are missing (never changes an existing one).
pub async fn seed_plans(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    for plan in DEFAULT_PLANS {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO plans (code, name, max_users, max_storage_mb, api_requests_per_minute, \
             api_calls_per_month, max_concurrent_requests, max_db_connections, trial_days, \
             price_cents, features) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (code) DO NOTHING",
            [
                plan.code.into(),
                plan.name.into(),
                plan.max_users.into(),
                plan.max_storage_mb.into(),
                plan.api_requests_per_minute.into(),
                plan.api_calls_per_month.into(),
                plan.max_concurrent_requests.into(),
                plan.max_db_connections.into(),
                plan.trial_days.into(),
                plan.price_cents.into(),
                serde_json::json!(plan.modules).into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// Creates the configured super-admin unless it exists; with no email configured, creates
/// [`DEFAULT_ADMIN_EMAIL`] only when there is no admin at all.
async fn ensure_admin(
    db: &impl ConnectionTrait,
    bootstrap: &BootstrapSettings,
) -> Result<Option<CreatedAdmin>, BootstrapError> {
    let email = match &bootstrap.admin_email {
        Some(email) => email.trim().to_lowercase(),
        None if admin_count(db).await.map_err(BootstrapError::Seed)? > 0 => return Ok(None),
        None => DEFAULT_ADMIN_EMAIL.to_owned(),
    };
    let (password, generated) = match &bootstrap.admin_password {
        Some(password) => (password.expose().to_owned(), false),
        None => (generate_password(), true),
    };
    let hash =
        common::passwords::hash(&password).map_err(|e| BootstrapError::Hash(e.to_string()))?;
    let inserted = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO admin_users (id, email, password_hash, role) VALUES ($1, $2, $3, 'owner') \
             ON CONFLICT ((lower(email))) DO NOTHING",
            [
                uuid::Uuid::now_v7().into(),
                email.clone().into(),
                hash.into(),
            ],
        ))
        .await
        .map_err(BootstrapError::Seed)?
        .rows_affected();
    Ok((inserted == 1).then(|| CreatedAdmin {
        email,
        generated_password: generated.then_some(password),
    }))
}

async fn admin_count(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM admin_users",
        ))
        .await?;
    row.map_or(Ok(0), |row| row.try_get("", "n"))
}

fn generate_password() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

//! Fleet migration runs as the admin API shows them (and the admin CLI reads them): a
//! run's settings, state and counts, each tenant's part in it, and what a dry run found.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One fleet migration run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    pub id: Uuid,
    /// `queued`, `running`, `halted` (failures passed the threshold), `cancelled`,
    /// `succeeded` (every tenant migrated) or `failed` (finished with failures below the
    /// threshold). Halted, cancelled and failed runs can be resumed.
    #[schema(example = "running")]
    pub state: String,
    /// The newest tenant migration the run brings tenants to.
    pub target_version: String,
    /// Which tenants the run was asked for (`tenant_ids`, `plan_codes`, `server_ids`).
    pub filter: serde_json::Value,
    /// How many tenants the canary wave holds (they run first, alone).
    pub canary_size: i32,
    /// At most this many migrations run at once on one database server.
    pub max_per_server: i32,
    /// The run halts when more tenants than this have failed.
    pub max_failures: Option<i32>,
    /// The run halts when more than this share of its tenants have failed.
    pub max_failure_ratio: Option<f64>,
    /// How long one tenant's migration waits for a lock before it is retried later.
    pub lock_timeout_ms: i32,
    /// Why the run halted, when it did.
    pub halted_reason: Option<String>,
    /// `admin:<id>` or `boot` (started by a worker because tenants were behind).
    pub started_by: String,
    /// How many of its tenants are in each state (`total`, `pending`, ... beside the run's
    /// other fields).
    #[serde(flatten)]
    pub counts: RunCounts,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How many of a run's tenants are in each state.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct RunCounts {
    pub total: i64,
    pub pending: i64,
    pub running: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Gone or no longer active by the time their turn came.
    pub skipped: i64,
}

/// One tenant's part in a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunTenantView {
    pub tenant_id: Uuid,
    pub slug: String,
    pub server_id: Uuid,
    /// `0`: the canary wave; `1`: the rest.
    pub wave: i16,
    /// `pending`, `running`, `succeeded`, `failed` or `skipped`.
    pub state: String,
    pub attempts: i32,
    /// Times it was put back for later (a lock it could not take, its server unreachable).
    pub waits: i32,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i32>,
}

/// A run and its tenants (those matching the asked state, in pages).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunView,
    pub tenants: Vec<RunTenantView>,
    /// Pass as `cursor` for the next page of tenants; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What a run would do, without doing it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DryRunView {
    pub dry_run: bool,
    pub target_version: String,
    /// The tenant migrations the fleet's code holds, oldest first.
    pub migrations: Vec<String>,
    /// Matching tenants whose schema is behind `target_version`.
    pub tenants_behind: i64,
    /// How many of them the canary wave would hold.
    pub canary_size: i64,
    pub servers: Vec<ServerShare>,
    /// The first tenants (at most 100) that would be migrated.
    pub sample: Vec<BehindTenant>,
}

/// How many tenants of a run sit on one server.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServerShare {
    pub server_id: Uuid,
    pub tenants: i64,
}

/// A tenant behind the newest schema.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BehindTenant {
    pub tenant_id: Uuid,
    pub slug: String,
    pub schema_version: Option<String>,
}

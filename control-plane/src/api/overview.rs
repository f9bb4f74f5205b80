//! `GET /api/v1/overview`: the fleet at a glance, the portal dashboard's data. Tenants by
//! status and plan, signups and cancellations per week, jobs in flight and failed, each
//! server's fill, and billing problems. Every figure is one aggregate query over indexed
//! columns, so the answer costs the same for 100 tenants as for 10,000 (a few ms).

use crate::auth::guard::{Authorized, perm};
use crate::state::AppState;
use actix_web::web;
use chrono::NaiveDate;
use common::api_error::ApiResult;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// How many weeks the signups chart covers.
pub const WEEKS: i32 = 12;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Count {
    /// A status or plan code.
    pub key: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Week {
    /// The Monday the week starts on.
    pub starts: NaiveDate,
    /// Tenants created that week (signups and admin-created alike).
    pub signups: i64,
    /// Tenants deleted that week (by an admin, or after a canceled subscription's
    /// retention).
    pub cancellations: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    /// Jobs that gave up in the last 7 days.
    pub failed_last_7_days: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServerFill {
    pub id: Uuid,
    pub name: String,
    /// `active` or `draining`.
    pub state: String,
    /// Tenants placed on it that are not deleted.
    pub tenants: i64,
    pub capacity: i32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingProblems {
    /// Billing through Stripe is configured.
    pub enabled: bool,
    /// Payments failing, still served for the grace period.
    pub past_due: i64,
    /// Suspended for billing (402 at the runtime).
    pub suspended_for_billing: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Overview {
    pub tenants: i64,
    pub tenants_by_status: Vec<Count>,
    pub tenants_by_plan: Vec<Count>,
    /// The last 12 weeks, oldest first, the current week last.
    pub weeks: Vec<Week>,
    pub jobs: JobCounts,
    pub servers: Vec<ServerFill>,
    pub billing: BillingProblems,
}

/// The fleet at a glance.
#[utoipa::path(get, path = "/api/v1/overview", tag = "overview", security(("bearer" = [])),
    responses((status = 200, body = Overview), (status = 401, body = crate::api::openapi::ProblemDoc)))]
pub async fn show(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
) -> ApiResult<web::Json<Overview>> {
    Ok(web::Json(overview(&state, &admin).await?))
}

/// The overview, for the API and the portal's dashboard alike.
pub async fn overview(state: &AppState, _admin: &Authorized<perm::Read>) -> ApiResult<Overview> {
    let db = &state.db;
    let tenants_by_status = counts(db, "SELECT status AS key, count(*) AS count FROM tenants GROUP BY status ORDER BY count DESC, key").await?;
    Ok(Overview {
        tenants: tenants_by_status.iter().map(|count| count.count).sum(),
        tenants_by_plan: counts(
            db,
            "SELECT plan_code AS key, count(*) AS count FROM tenants \
             WHERE status <> 'deleted' GROUP BY plan_code ORDER BY count DESC, key",
        )
        .await?,
        tenants_by_status,
        weeks: weeks(db).await?,
        jobs: job_counts(db).await?,
        servers: servers(db).await?,
        billing: billing_problems(db, state.billing.is_enabled()).await?,
    })
}

async fn rows(db: &impl ConnectionTrait, sql: &str) -> ApiResult<Vec<QueryResult>> {
    Ok(db
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?)
}

async fn counts(db: &impl ConnectionTrait, sql: &str) -> ApiResult<Vec<Count>> {
    rows(db, sql)
        .await?
        .iter()
        .map(|row| {
            Ok(Count {
                key: row.try_get("", "key")?,
                count: row.try_get("", "count")?,
            })
        })
        .collect()
}

async fn weeks(db: &impl ConnectionTrait) -> ApiResult<Vec<Week>> {
    let sql = format!(
        "WITH weeks AS ( \
             SELECT generate_series(date_trunc('week', now()) - interval '{back} weeks', \
                                    date_trunc('week', now()), interval '1 week') AS starts) \
         SELECT w.starts::date AS starts, \
             (SELECT count(*) FROM tenants t WHERE t.created_at >= w.starts \
                 AND t.created_at < w.starts + interval '1 week') AS signups, \
             (SELECT count(*) FROM tenants t WHERE t.deleted_at >= w.starts \
                 AND t.deleted_at < w.starts + interval '1 week') AS cancellations \
         FROM weeks w ORDER BY w.starts",
        back = WEEKS - 1
    );
    rows(db, &sql)
        .await?
        .iter()
        .map(|row| {
            Ok(Week {
                starts: row.try_get("", "starts")?,
                signups: row.try_get("", "signups")?,
                cancellations: row.try_get("", "cancellations")?,
            })
        })
        .collect()
}

async fn job_counts(db: &impl ConnectionTrait) -> ApiResult<JobCounts> {
    let row = rows(
        db,
        "SELECT count(*) FILTER (WHERE state = 'queued') AS queued, \
                count(*) FILTER (WHERE state = 'running') AS running, \
                count(*) FILTER (WHERE state = 'failed' \
                    AND finished_at > now() - interval '7 days') AS failed \
         FROM jobs WHERE state IN ('queued', 'running', 'failed')",
    )
    .await?;
    let row = row.first();
    let get = |column: &str| -> ApiResult<i64> {
        Ok(match row {
            Some(row) => row.try_get("", column)?,
            None => 0,
        })
    };
    Ok(JobCounts {
        queued: get("queued")?,
        running: get("running")?,
        failed_last_7_days: get("failed")?,
    })
}

async fn servers(db: &impl ConnectionTrait) -> ApiResult<Vec<ServerFill>> {
    rows(
        db,
        "SELECT s.id, s.name, s.state, s.capacity, \
             (SELECT count(*) FROM tenants t WHERE t.server_id = s.id \
                 AND t.status <> 'deleted') AS tenants \
         FROM database_servers s ORDER BY s.name",
    )
    .await?
    .iter()
    .map(|row| {
        Ok(ServerFill {
            id: row.try_get("", "id")?,
            name: row.try_get("", "name")?,
            state: row.try_get("", "state")?,
            tenants: row.try_get("", "tenants")?,
            capacity: row.try_get("", "capacity")?,
        })
    })
    .collect()
}

async fn billing_problems(db: &impl ConnectionTrait, enabled: bool) -> ApiResult<BillingProblems> {
    let row = rows(
        db,
        "SELECT count(*) FILTER (WHERE billing_state = 'past_due' \
                    AND status <> 'deleted') AS past_due, \
                count(*) FILTER (WHERE status = 'suspended' \
                    AND suspension_kind = 'billing') AS suspended \
         FROM tenants",
    )
    .await?;
    let (past_due, suspended) = match row.first() {
        Some(row) => (row.try_get("", "past_due")?, row.try_get("", "suspended")?),
        None => (0, 0),
    };
    Ok(BillingProblems {
        enabled,
        past_due,
        suspended_for_billing: suspended,
    })
}

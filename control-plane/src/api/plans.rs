//! `/api/v1/plans`: plans and the limits they grant, and the Stripe price a paid plan is
//! billed at (`stripe_price_id`, one plan per price). A change is announced through the
//! provisioner (`plan:{code}` on the tenant change feed), so every runtime reloads the
//! limits of that plan's tenants without a restart. A plan also sets its tenants' backup
//! schedule and how many backups are kept.

use crate::api::error::provision_error;
use crate::api::meta::RequestMeta;
use crate::api::pagination::Page;
use crate::api::validate;
use crate::audit::{self, Entry};
use crate::auth::guard::{Authorized, perm};
use crate::bootstrap::ALL_MODULES;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult, Validator};
use common::db::is_unique_violation;
use common::entities::plans;
use common::http::Body;
use sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, QueryOrder, QuerySelect, Statement, TransactionTrait,
    Value,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};

/// The unique index that keeps a Stripe price on one plan (control migration 000010).
const PRICE_INDEX: &str = "plans_stripe_price_id_key";

/// What a plan grants each of its tenants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Limits {
    #[schema(minimum = 0, maximum = 2147483647)]
    pub max_users: i64,
    #[schema(minimum = 0, maximum = 2147483647)]
    pub max_storage_mb: i64,
    #[schema(minimum = 1, maximum = 2147483647)]
    pub api_requests_per_minute: i64,
    #[schema(minimum = 0)]
    pub api_calls_per_month: i64,
    #[schema(minimum = 1, maximum = 10000)]
    pub max_concurrent_requests: i64,
    /// Connection limit of each tenant's database role.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_db_connections: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct LimitsPatch {
    #[schema(minimum = 0, maximum = 2147483647)]
    pub max_users: Option<i64>,
    #[schema(minimum = 0, maximum = 2147483647)]
    pub max_storage_mb: Option<i64>,
    #[schema(minimum = 1, maximum = 2147483647)]
    pub api_requests_per_minute: Option<i64>,
    #[schema(minimum = 0)]
    pub api_calls_per_month: Option<i64>,
    #[schema(minimum = 1, maximum = 10000)]
    pub max_concurrent_requests: Option<i64>,
    #[schema(minimum = 1, maximum = 1000)]
    pub max_db_connections: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanView {
    pub code: String,
    pub name: String,
    pub description: String,
    pub limits: Limits,
    /// The ERP modules the plan includes.
    pub features: Vec<String>,
    pub trial_days: i32,
    pub price_cents: i64,
    pub currency: String,
    /// The Stripe price its subscriptions are billed at; `null`: not billable through
    /// Stripe (free, or assigned by admins).
    pub stripe_price_id: Option<String>,
    pub is_public: bool,
    pub archived: bool,
    /// Hours between scheduled backups of each tenant (0: none scheduled).
    pub backup_interval_hours: i32,
    /// Manual and scheduled backups kept per tenant (older ones are pruned).
    pub backup_retention_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewPlan {
    #[schema(pattern = "^[a-z][a-z0-9_-]{1,39}$")]
    pub code: String,
    #[schema(schema_with = plan_name_schema)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: String,
    pub limits: Limits,
    #[serde(default)]
    #[schema(schema_with = features_schema)]
    pub features: Vec<String>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 365)]
    pub trial_days: i64,
    #[serde(default)]
    #[schema(minimum = 0)]
    pub price_cents: i64,
    /// ISO 4217, any case (stored lower case).
    #[serde(default = "default_currency")]
    #[schema(pattern = "^[A-Za-z]{3}$")]
    pub currency: String,
    /// The Stripe price (`price_...`) the plan is billed at; unique across plans.
    #[serde(default)]
    #[schema(schema_with = price_schema)]
    pub stripe_price_id: Option<String>,
    #[serde(default = "default_true")]
    pub is_public: bool,
    /// Hours between scheduled backups of each tenant; 0 (the default): none scheduled.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 8760)]
    pub backup_interval_hours: i64,
    /// Manual and scheduled backups kept per tenant, newest first (default 7).
    #[serde(default = "default_retention")]
    #[schema(minimum = 1, maximum = 1000)]
    pub backup_retention_count: i64,
}

fn default_retention() -> i64 {
    7
}

/// `price_` and up to 249 visible ASCII characters, or `null`: what [`price_id`] accepts.
fn price_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .min_length(Some(7))
        .max_length(Some(255))
        .pattern(Some("^price_[!-~]+$"))
        .build()
}

fn plan_name_schema() -> utoipa::openapi::Object {
    common::openapi::name(100)
}

fn features_schema() -> utoipa::openapi::Array {
    common::openapi::list_of(ALL_MODULES.iter().copied())
}

fn default_currency() -> String {
    "usd".into()
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct PlanPatch {
    #[schema(schema_with = plan_name_schema)]
    pub name: Option<String>,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    #[serde(default)]
    pub limits: LimitsPatch,
    #[schema(schema_with = features_schema)]
    pub features: Option<Vec<String>>,
    #[schema(minimum = 0, maximum = 365)]
    pub trial_days: Option<i64>,
    #[schema(minimum = 0)]
    pub price_cents: Option<i64>,
    /// A Stripe price (`price_...`), or `null` to clear it; absent keeps it.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = price_schema)]
    pub stripe_price_id: Option<Option<String>>,
    pub is_public: Option<bool>,
    pub archived: Option<bool>,
    #[schema(minimum = 0, maximum = 8760)]
    pub backup_interval_hours: Option<i64>,
    #[schema(minimum = 1, maximum = 1000)]
    pub backup_retention_count: Option<i64>,
}

/// A field that is present, `null` included (`Some(None)`), as opposed to absent (`None`,
/// through `#[serde(default)]`): plain `Option<Option<_>>` would read `null` as absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl From<&plans::Model> for PlanView {
    fn from(plan: &plans::Model) -> Self {
        Self {
            code: plan.code.clone(),
            name: plan.name.clone(),
            description: plan.description.clone(),
            limits: Limits {
                max_users: plan.max_users.into(),
                max_storage_mb: plan.max_storage_mb.into(),
                api_requests_per_minute: plan.api_requests_per_minute.into(),
                api_calls_per_month: plan.api_calls_per_month,
                max_concurrent_requests: plan.max_concurrent_requests.into(),
                max_db_connections: plan.max_db_connections.into(),
            },
            features: serde_json::from_value(plan.features.clone()).unwrap_or_default(),
            trial_days: plan.trial_days,
            price_cents: plan.price_cents,
            currency: plan.currency.clone(),
            stripe_price_id: plan.stripe_price_id.clone(),
            is_public: plan.is_public,
            archived: plan.archived,
            backup_interval_hours: plan.backup_interval_hours,
            backup_retention_count: plan.backup_retention_count,
            created_at: plan.created_at.with_timezone(&Utc),
            updated_at: plan.updated_at.with_timezone(&Utc),
        }
    }
}

fn in_range(value: i64, min: i64, max: i64) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("must be from {min} to {max}"))
    }
}

const INT_MAX: i64 = i32::MAX as i64;

fn check_plan(validator: &mut Validator, plan: &PlanView) {
    let limits = &plan.limits;
    validator
        .check("name", validate::text(&plan.name, 100))
        .check("description", description(&plan.description))
        .check("limits.max_users", in_range(limits.max_users, 0, INT_MAX))
        .check(
            "limits.max_storage_mb",
            in_range(limits.max_storage_mb, 0, INT_MAX),
        )
        .check(
            "limits.api_requests_per_minute",
            in_range(limits.api_requests_per_minute, 1, INT_MAX),
        )
        .check(
            "limits.api_calls_per_month",
            in_range(limits.api_calls_per_month, 0, i64::MAX),
        )
        .check(
            "limits.max_concurrent_requests",
            in_range(limits.max_concurrent_requests, 1, 10_000),
        )
        .check(
            "limits.max_db_connections",
            in_range(limits.max_db_connections, 1, 1_000),
        )
        .check("features", known_modules(&plan.features))
        .check("trial_days", in_range(plan.trial_days.into(), 0, 365))
        .check("price_cents", in_range(plan.price_cents, 0, i64::MAX))
        .check("stripe_price_id", price_id(plan.stripe_price_id.as_deref()))
        .check(
            "backup_interval_hours",
            in_range(plan.backup_interval_hours.into(), 0, 8760),
        )
        .check(
            "backup_retention_count",
            in_range(plan.backup_retention_count.into(), 1, 1000),
        );
}

/// A Stripe price id: `price_` then visible ASCII, 255 characters at most (Stripe's ids
/// are shorter; the bound keeps junk out of the unique index).
fn price_id(price: Option<&str>) -> Result<(), String> {
    let Some(price) = price else {
        return Ok(());
    };
    let ok = price.len() <= 255
        && price
            .strip_prefix("price_")
            .is_some_and(|rest| !rest.is_empty())
        && price.bytes().all(|byte| byte.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err("must be a Stripe price id: `price_` and up to 249 visible characters".into())
    }
}

fn description(text: &str) -> Result<(), String> {
    if text.chars().count() <= 1000 {
        Ok(())
    } else {
        Err("must be at most 1000 characters".into())
    }
}

fn known_modules(features: &[String]) -> Result<(), String> {
    let unknown: Vec<&str> = features
        .iter()
        .map(String::as_str)
        .filter(|module| !ALL_MODULES.contains(module))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unknown modules {unknown:?}; known: {}",
            ALL_MODULES.join(", ")
        ))
    }
}

/// Every plan, archived ones included.
#[utoipa::path(get, path = "/api/v1/plans", tag = "plans", security(("bearer" = [])),
    responses((status = 200, body = Page<PlanView>)))]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
) -> ApiResult<web::Json<Page<PlanView>>> {
    Ok(web::Json(list_plans(&state, &admin).await?))
}

/// Every plan, cheapest first, archived ones included.
pub async fn list_plans(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
) -> ApiResult<Page<PlanView>> {
    let rows = plans::Entity::find()
        .order_by_asc(plans::Column::PriceCents)
        .order_by_asc(plans::Column::Code)
        .all(&state.db)
        .await?;
    Ok(Page {
        items: rows.iter().map(PlanView::from).collect(),
        next_cursor: None,
    })
}

/// One plan.
#[utoipa::path(get, path = "/api/v1/plans/{code}", tag = "plans", security(("bearer" = [])),
    params(("code" = String, Path)),
    responses((status = 200, body = PlanView), (status = 404, description = "`plan_not_found`", body = crate::api::openapi::ProblemDoc)))]
pub async fn show(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    path: web::Path<String>,
) -> ApiResult<web::Json<PlanView>> {
    Ok(web::Json(show_plan(&state, &admin, &path).await?))
}

/// One plan by its code (404 `plan_not_found`).
pub async fn show_plan(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    code: &str,
) -> ApiResult<PlanView> {
    let plan = find(&state.db, code, false).await?;
    Ok(PlanView::from(&plan))
}

async fn find(db: &impl ConnectionTrait, code: &str, lock: bool) -> ApiResult<plans::Model> {
    let mut query = plans::Entity::find_by_id(code.to_owned());
    if lock {
        query = query.lock_exclusive();
    }
    query
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("plan_not_found", format!("there is no plan `{code}`")))
}

/// Create a plan.
#[utoipa::path(post, path = "/api/v1/plans", tag = "plans", security(("bearer" = [])),
    request_body = NewPlan,
    responses((status = 201, body = PlanView), (status = 409, description = "`plan_exists`, `price_in_use` (another plan has this Stripe price)", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn create(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManagePlans>,
    meta: RequestMeta,
    body: Body<NewPlan>,
) -> ApiResult<HttpResponse> {
    let plan = create_plan(&state, &admin, &meta, body.into_inner()?).await?;
    Ok(HttpResponse::Created().json(plan))
}

/// Create a plan (validated field by field, audited).
pub async fn create_plan(
    state: &AppState,
    admin: &Authorized<perm::ManagePlans>,
    meta: &RequestMeta,
    body: NewPlan,
) -> ApiResult<PlanView> {
    let now = Utc::now();
    let plan = PlanView {
        code: body.code.trim().to_owned(),
        name: body.name.trim().to_owned(),
        description: body.description,
        limits: body.limits,
        features: dedup(body.features),
        trial_days: i32::try_from(body.trial_days).unwrap_or(-1),
        price_cents: body.price_cents,
        currency: body.currency.to_lowercase(),
        stripe_price_id: body.stripe_price_id,
        is_public: body.is_public,
        archived: false,
        backup_interval_hours: i32::try_from(body.backup_interval_hours).unwrap_or(-1),
        backup_retention_count: i32::try_from(body.backup_retention_count).unwrap_or(-1),
        created_at: now,
        updated_at: now,
    };
    let mut validator = Validator::default();
    validator
        .check("code", common::ids::valid_plan_code(&plan.code))
        .check("currency", currency(&plan.currency));
    check_plan(&mut validator, &plan);
    validator.finish()?;
    let txn = state.db.begin().await?;
    txn.execute_raw(write(&plan, true))
        .await
        .map_err(|error| write_error(error, &plan))?;
    let entry = Entry::new(admin, "plan.created", "plan", &plan.code).after(json!(plan));
    audit::record(&txn, meta, entry).await?;
    let stored = find(&txn, &plan.code, false).await?;
    txn.commit().await?;
    Ok(PlanView::from(&stored))
}

/// A unique violation is a taken code or a Stripe price another plan has.
fn write_error(error: sea_orm::DbErr, plan: &PlanView) -> ApiError {
    if !is_unique_violation(&error) {
        return error.into();
    }
    if error.to_string().contains(PRICE_INDEX) {
        let price = plan.stripe_price_id.as_deref().unwrap_or_default();
        return ApiError::conflict(
            "price_in_use",
            format!("another plan is billed at the Stripe price `{price}`"),
        );
    }
    ApiError::conflict("plan_exists", format!("a plan `{}` exists", plan.code))
}

fn currency(code: &str) -> Result<(), String> {
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err("must be a three-letter ISO 4217 code".into())
    }
}

fn dedup(mut features: Vec<String>) -> Vec<String> {
    features.sort();
    features.dedup();
    features
}

/// Change a plan; its tenants' runtimes pick the new limits up at once, and a new
/// `max_db_connections` is applied to their database roles by queued jobs.
#[utoipa::path(patch, path = "/api/v1/plans/{code}", tag = "plans", security(("bearer" = [])),
    params(("code" = String, Path)), request_body = PlanPatch,
    responses((status = 200, body = PlanView), (status = 404, body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`price_in_use` (another plan has this Stripe price)", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn update(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManagePlans>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: Body<PlanPatch>,
) -> ApiResult<web::Json<PlanView>> {
    let plan = update_plan(&state, &admin, &meta, &path, body.into_inner()?).await?;
    Ok(web::Json(plan))
}

/// Change a plan (validated, announced to its tenants' runtimes, audited).
pub async fn update_plan(
    state: &AppState,
    admin: &Authorized<perm::ManagePlans>,
    meta: &RequestMeta,
    code: &str,
    patch: PlanPatch,
) -> ApiResult<PlanView> {
    let txn = state.db.begin().await?;
    let before = PlanView::from(&find(&txn, code, true).await?);
    let after = apply(before.clone(), patch);
    let mut validator = Validator::default();
    check_plan(&mut validator, &after);
    validator.finish()?;
    txn.execute_raw(write(&after, false))
        .await
        .map_err(|error| write_error(error, &after))?;
    let limit_changed = before.limits.max_db_connections != after.limits.max_db_connections;
    provisioner::tenants::plan_changed(&txn, &after.code, limit_changed)
        .await
        .map_err(provision_error)?;
    let entry = Entry::new(admin, "plan.updated", "plan", &after.code)
        .before(json!(before))
        .after(json!(after));
    audit::record(&txn, meta, entry).await?;
    let stored = find(&txn, &after.code, false).await?;
    txn.commit().await?;
    Ok(PlanView::from(&stored))
}

fn apply(mut plan: PlanView, patch: PlanPatch) -> PlanView {
    let limits = &mut plan.limits;
    let new = patch.limits;
    limits.max_users = new.max_users.unwrap_or(limits.max_users);
    limits.max_storage_mb = new.max_storage_mb.unwrap_or(limits.max_storage_mb);
    limits.api_requests_per_minute = new
        .api_requests_per_minute
        .unwrap_or(limits.api_requests_per_minute);
    limits.api_calls_per_month = new
        .api_calls_per_month
        .unwrap_or(limits.api_calls_per_month);
    limits.max_concurrent_requests = new
        .max_concurrent_requests
        .unwrap_or(limits.max_concurrent_requests);
    limits.max_db_connections = new.max_db_connections.unwrap_or(limits.max_db_connections);
    if let Some(name) = patch.name {
        plan.name = name.trim().to_owned();
    }
    if let Some(description) = patch.description {
        plan.description = description;
    }
    if let Some(features) = patch.features {
        plan.features = dedup(features);
    }
    if let Some(days) = patch.trial_days {
        plan.trial_days = i32::try_from(days).unwrap_or(-1);
    }
    plan.price_cents = patch.price_cents.unwrap_or(plan.price_cents);
    if let Some(price) = patch.stripe_price_id {
        plan.stripe_price_id = price;
    }
    plan.is_public = patch.is_public.unwrap_or(plan.is_public);
    plan.archived = patch.archived.unwrap_or(plan.archived);
    if let Some(hours) = patch.backup_interval_hours {
        plan.backup_interval_hours = i32::try_from(hours).unwrap_or(-1);
    }
    if let Some(count) = patch.backup_retention_count {
        plan.backup_retention_count = i32::try_from(count).unwrap_or(-1);
    }
    plan
}

/// INSERT (create) or UPDATE (edit) of every column from a validated view.
fn write(plan: &PlanView, insert: bool) -> Statement {
    let limits = &plan.limits;
    let sql = if insert {
        "INSERT INTO plans (code, name, description, max_users, max_storage_mb, \
           api_requests_per_minute, api_calls_per_month, max_concurrent_requests, \
           max_db_connections, features, trial_days, price_cents, currency, is_public, archived, \
           stripe_price_id, backup_interval_hours, backup_retention_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    } else {
        "UPDATE plans SET name = $2, description = $3, max_users = $4, max_storage_mb = $5, \
           api_requests_per_minute = $6, api_calls_per_month = $7, \
           max_concurrent_requests = $8, max_db_connections = $9, features = $10, \
           trial_days = $11, price_cents = $12, currency = $13, is_public = $14, \
           archived = $15, stripe_price_id = $16, backup_interval_hours = $17, \
           backup_retention_count = $18, updated_at = now() WHERE code = $1"
    };
    let int = |value: i64| Value::from(i32::try_from(value).unwrap_or(i32::MAX));
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [
            plan.code.clone().into(),
            plan.name.clone().into(),
            plan.description.clone().into(),
            int(limits.max_users),
            int(limits.max_storage_mb),
            int(limits.api_requests_per_minute),
            limits.api_calls_per_month.into(),
            int(limits.max_concurrent_requests),
            int(limits.max_db_connections),
            json!(plan.features).into(),
            plan.trial_days.into(),
            plan.price_cents.into(),
            plan.currency.clone().into(),
            plan.is_public.into(),
            plan.archived.into(),
            plan.stripe_price_id.clone().into(),
            plan.backup_interval_hours.into(),
            plan.backup_retention_count.into(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stripe_price_id_starts_with_price_and_is_visible_ascii() {
        assert!(price_id(None).is_ok());
        assert!(price_id(Some("price_1PqXyZ")).is_ok());
        assert!(price_id(Some(&format!("price_{}", "a".repeat(249)))).is_ok());
        for bad in ["", "price_", "prod_123", "price_ 1", "price_é", "PRICE_1"] {
            assert!(price_id(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(price_id(Some(&format!("price_{}", "a".repeat(250)))).is_err());
    }

    #[test]
    fn a_patch_tells_a_null_price_from_an_absent_one() {
        let cleared: PlanPatch =
            serde_json::from_str(r#"{"stripe_price_id": null}"#).expect("json");
        assert_eq!(cleared.stripe_price_id, Some(None));
        let kept: PlanPatch = serde_json::from_str("{}").expect("json");
        assert_eq!(kept.stripe_price_id, None);
    }
}

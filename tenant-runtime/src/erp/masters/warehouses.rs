//! Warehouses and their locations (storage places, receiving and shipping docks,
//! departments, production, quarantine). A new warehouse gets a `storage` location `MAIN`
//! in the same transaction, so stock can be received into it at once. Codes are unique
//! regardless of case (locations within their warehouse) and never change; both are
//! deactivated, never deleted.

use super::{Page, PageQuery, check_code, check_name, check_text, page};
use common::api_error::{ApiError, ApiResult, Validator};
use common::tenant_audit::{self as audit, Actor};
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Warehouse {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub address: String,
    pub active: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWarehouse {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,31}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub address: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseChanges {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    #[schema(max_length = 500)]
    pub address: Option<String>,
    pub active: Option<bool>,
}

/// `GET /warehouses` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct WarehouseFilter {
    /// Part of the code or the name, any case.
    pub q: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Storage,
    Receiving,
    Shipping,
    Department,
    Production,
    Quarantine,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Storage => "storage",
            Self::Receiving => "receiving",
            Self::Shipping => "shipping",
            Self::Department => "department",
            Self::Production => "production",
            Self::Quarantine => "quarantine",
        }
    }

    fn parse(text: &str) -> Self {
        [
            Self::Receiving,
            Self::Shipping,
            Self::Department,
            Self::Production,
            Self::Quarantine,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
        .unwrap_or(Self::Storage)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Location {
    pub id: Uuid,
    pub warehouse_id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub active: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,31}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    #[serde(default = "storage")]
    pub kind: LocationKind,
}

fn storage() -> LocationKind {
    LocationKind::Storage
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationChanges {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    pub kind: Option<LocationKind>,
    pub active: Option<bool>,
}

fn warehouse(row: &tokio_postgres::Row) -> Warehouse {
    Warehouse {
        id: row.get(0),
        code: row.get(1),
        name: row.get(2),
        address: row.get(3),
        active: row.get(4),
    }
}

fn location(row: &tokio_postgres::Row) -> Location {
    let kind: String = row.get(4);
    Location {
        id: row.get(0),
        warehouse_id: row.get(1),
        code: row.get(2),
        name: row.get(3),
        kind: LocationKind::parse(&kind),
        active: row.get(5),
    }
}

const WAREHOUSE: &str = "SELECT id, code, name, address, active FROM warehouses";
const LOCATION: &str = "SELECT id, warehouse_id, code, name, kind, active FROM locations";

/// A page of warehouses by code (any case).
pub async fn list(
    db: &impl GenericClient,
    filter: &WarehouseFilter,
    paging: &PageQuery,
) -> ApiResult<Page<Warehouse>> {
    let limit = paging.limit()?;
    let after = paging.after()?;
    let q = super::search_term(filter.q.as_deref());
    let rows = db
        .query(
            &format!(
                "{WAREHOUSE} WHERE ($1::text IS NULL OR strpos(lower(code), $1) > 0 \
                                                 OR strpos(lower(name), $1) > 0) \
                   AND ($2::bool IS NULL OR active = $2) \
                   AND ($3::text IS NULL OR lower(code) > $3) \
                 ORDER BY lower(code) LIMIT $4"
            ),
            &[&q, &filter.active, &after, &(limit + 1)],
        )
        .await?;
    Ok(page(rows.iter().map(warehouse).collect(), limit, |w| {
        w.code.to_lowercase()
    }))
}

/// One warehouse: 404 `warehouse_not_found`.
/// 404 `warehouse_not_found` for an unknown warehouse, 422 on `warehouse_id` for an
/// inactive one: the check of every document that names the warehouse it uses.
pub async fn check_active(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    let active: bool = db
        .query_opt("SELECT active FROM warehouses WHERE id = $1", &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("warehouse_not_found", "no warehouse has this id"))?
        .get(0);
    if !active {
        return Err(ApiError::invalid(
            "warehouse_id",
            "this warehouse is inactive",
        ));
    }
    Ok(())
}

pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Warehouse> {
    db.query_opt(&format!("{WAREHOUSE} WHERE id = $1"), &[&id])
        .await?
        .map(|row| warehouse(&row))
        .ok_or_else(|| ApiError::not_found("warehouse_not_found", "no warehouse has this id"))
}

/// Creates a warehouse and its `MAIN` storage location: 409 `warehouse_code_taken`.
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    input: &NewWarehouse,
) -> ApiResult<Warehouse> {
    Validator::default()
        .check("code", check_code(&input.code, 32))
        .check("name", check_name(&input.name, 200))
        .check("address", check_text(&input.address, 500))
        .finish()?;
    let id = Uuid::now_v7();
    let inserted = db
        .execute(
            "INSERT INTO warehouses (id, code, name, address) VALUES ($1, $2, $3, $4) \
             ON CONFLICT ((lower(code))) DO NOTHING",
            &[&id, &input.code, &input.name, &input.address],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::conflict(
            "warehouse_code_taken",
            format!(
                "a warehouse with code `{}` exists (codes ignore case)",
                input.code
            ),
        ));
    }
    let created = find(db, id).await?;
    record(
        db,
        actor,
        "warehouse.created",
        "warehouse",
        id,
        None,
        serde_json::json!(created),
    )
    .await?;
    let main = NewLocation {
        code: "MAIN".into(),
        name: "Main storage".into(),
        kind: LocationKind::Storage,
    };
    create_location(db, actor, id, &main).await?;
    Ok(created)
}

/// Renames, readdresses, deactivates or reactivates a warehouse.
pub async fn update(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    changes: &WarehouseChanges,
) -> ApiResult<Warehouse> {
    db.query_opt("SELECT 1 FROM warehouses WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("warehouse_not_found", "no warehouse has this id"))?;
    let before = find(db, id).await?;
    let name = changes.name.as_deref().unwrap_or(&before.name);
    let address = changes.address.as_deref().unwrap_or(&before.address);
    let active = changes.active.unwrap_or(before.active);
    Validator::default()
        .check("name", check_name(name, 200))
        .check("address", check_text(address, 500))
        .finish()?;
    db.execute(
        "UPDATE warehouses SET name = $2, address = $3, active = $4, updated_at = now() \
         WHERE id = $1",
        &[&id, &name, &address, &active],
    )
    .await?;
    let after = find(db, id).await?;
    record(
        db,
        actor,
        "warehouse.updated",
        "warehouse",
        id,
        Some(serde_json::json!(before)),
        serde_json::json!(after),
    )
    .await?;
    Ok(after)
}

/// The locations of a warehouse, by code (few per warehouse: not paged).
pub async fn locations(db: &impl GenericClient, warehouse: Uuid) -> ApiResult<Vec<Location>> {
    find(db, warehouse).await?;
    let rows = db
        .query(
            &format!("{LOCATION} WHERE warehouse_id = $1 ORDER BY lower(code)"),
            &[&warehouse],
        )
        .await?;
    Ok(rows.iter().map(location).collect())
}

async fn find_location(db: &impl GenericClient, warehouse: Uuid, id: Uuid) -> ApiResult<Location> {
    db.query_opt(
        &format!("{LOCATION} WHERE warehouse_id = $1 AND id = $2"),
        &[&warehouse, &id],
    )
    .await?
    .map(|row| location(&row))
    .ok_or_else(|| {
        ApiError::not_found(
            "location_not_found",
            "this warehouse has no location with this id",
        )
    })
}

/// Adds a location: 409 `location_code_taken` within the warehouse.
pub async fn create_location(
    db: &impl GenericClient,
    actor: &Actor,
    warehouse: Uuid,
    input: &NewLocation,
) -> ApiResult<Location> {
    find(db, warehouse).await?;
    Validator::default()
        .check("code", check_code(&input.code, 32))
        .check("name", check_name(&input.name, 200))
        .finish()?;
    let id = Uuid::now_v7();
    let inserted = db
        .execute(
            "INSERT INTO locations (id, warehouse_id, code, name, kind) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (warehouse_id, (lower(code))) DO NOTHING",
            &[
                &id,
                &warehouse,
                &input.code,
                &input.name,
                &input.kind.as_str(),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::conflict(
            "location_code_taken",
            format!(
                "this warehouse has a location `{}` (codes ignore case)",
                input.code
            ),
        ));
    }
    let created = find_location(db, warehouse, id).await?;
    record(
        db,
        actor,
        "location.created",
        "location",
        id,
        None,
        serde_json::json!(created),
    )
    .await?;
    Ok(created)
}

/// Renames, retypes, deactivates or reactivates a location.
pub async fn update_location(
    db: &impl GenericClient,
    actor: &Actor,
    warehouse: Uuid,
    id: Uuid,
    changes: &LocationChanges,
) -> ApiResult<Location> {
    let before = find_location(db, warehouse, id).await?;
    let name = changes.name.as_deref().unwrap_or(&before.name);
    check_name(name, 200).map_err(|message| ApiError::invalid("name", message))?;
    let kind = changes.kind.unwrap_or(before.kind);
    let active = changes.active.unwrap_or(before.active);
    db.execute(
        "UPDATE locations SET name = $2, kind = $3, active = $4, updated_at = now() WHERE id = $1",
        &[&id, &name, &kind.as_str(), &active],
    )
    .await?;
    let after = find_location(db, warehouse, id).await?;
    record(
        db,
        actor,
        "location.updated",
        "location",
        id,
        Some(serde_json::json!(before)),
        serde_json::json!(after),
    )
    .await?;
    Ok(after)
}

async fn record(
    db: &impl GenericClient,
    actor: &Actor,
    action: &str,
    target_kind: &str,
    id: Uuid,
    before: Option<serde_json::Value>,
    after: serde_json::Value,
) -> ApiResult<()> {
    let entry = audit::Entry {
        action,
        target_kind,
        target_id: id.to_string(),
        before,
        after: Some(after),
    };
    audit::record(db, actor, entry).await?;
    Ok(())
}

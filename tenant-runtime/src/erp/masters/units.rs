//! Units of measure (`pcs`, `kg`, ...): a few seeded by the migration, more added by the
//! company. Codes are case-sensitive (`m` is not `M`) and never change or go away, since
//! items and (later) the stock ledger refer to them.

use super::check_name;
use common::api_error::{ApiError, ApiResult, Validator};
use common::tenant_audit::{self as audit, Actor};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Unit {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUnit {
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,16}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
}

/// Every unit, by code.
pub async fn list(db: &impl GenericClient) -> ApiResult<Vec<Unit>> {
    let rows = db
        .query("SELECT code, name FROM units ORDER BY code", &[])
        .await?;
    Ok(rows
        .iter()
        .map(|row| Unit {
            code: row.get(0),
            name: row.get(1),
        })
        .collect())
}

/// The codes of every unit (few: loaded whole to check items against).
pub async fn codes(db: &impl GenericClient) -> ApiResult<HashSet<String>> {
    let rows = db.query("SELECT code FROM units", &[]).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

fn check_unit_code(code: &str) -> Result<(), String> {
    let ok = (1..=16).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err("1 to 16 characters: letters, digits, `_`, `.`, `-`".into())
    }
}

/// Adds a unit: 409 `unit_taken` when the code exists.
pub async fn create(db: &impl GenericClient, actor: &Actor, input: &NewUnit) -> ApiResult<Unit> {
    Validator::default()
        .check("code", check_unit_code(&input.code))
        .check("name", check_name(&input.name, 100))
        .finish()?;
    let inserted = db
        .execute(
            "INSERT INTO units (code, name) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING",
            &[&input.code, &input.name],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::conflict(
            "unit_taken",
            format!("a unit `{}` exists", input.code),
        ));
    }
    let unit = Unit {
        code: input.code.clone(),
        name: input.name.clone(),
    };
    let entry = audit::Entry {
        action: "unit.created",
        target_kind: "unit",
        target_id: unit.code.clone(),
        before: None,
        after: Some(serde_json::json!({"code": unit.code, "name": unit.name})),
    };
    audit::record(db, actor, entry).await?;
    Ok(unit)
}

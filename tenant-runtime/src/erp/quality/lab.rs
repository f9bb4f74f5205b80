//! Lab tests per lot (batch): what was tested, how, the result (a value with its unit
//! and/or a text), whether it passed, who tested and when. A failed lab test is a record:
//! quarantining the lot stays a decision (an inspection's or by hand).

use super::{record, text};
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLabTest {
    pub lot_id: Uuid,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub test_name: String,
    #[schema(max_length = 200)]
    pub method: Option<String>,
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub value: Option<Decimal>,
    /// A result in words (`clear`, `no growth`...).
    #[schema(max_length = 2000)]
    pub text_value: Option<String>,
    #[schema(min_length = 1, max_length = 20, pattern = r"\S")]
    pub unit: Option<String>,
    pub passed: bool,
    /// When it was tested; now when omitted.
    pub tested_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabTest {
    pub id: Uuid,
    pub lot_id: Uuid,
    pub lot_code: String,
    pub test_name: String,
    pub method: String,
    #[schema(value_type = Option<String>)]
    pub value: Option<Decimal>,
    pub text_value: String,
    pub unit: Option<String>,
    pub passed: bool,
    pub tested_by: Option<Uuid>,
    pub tested_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LabTestFilter {
    pub lot_id: Option<Uuid>,
}

const SELECT: &str = "SELECT x.id, x.lot_id, t.code, x.test_name, x.method, x.value, \
    x.text_value, x.unit, x.passed, x.tested_by, x.tested_at \
    FROM quality_lab_tests x JOIN lots t ON t.id = x.lot_id";

fn lab_test(r: &tokio_postgres::Row) -> LabTest {
    LabTest {
        id: r.get(0),
        lot_id: r.get(1),
        lot_code: r.get(2),
        test_name: r.get(3),
        method: r.get(4),
        value: r.get::<_, Option<Decimal>>(5).map(|d| d.normalize()),
        text_value: r.get(6),
        unit: r.get(7),
        passed: r.get(8),
        tested_by: r.get(9),
        tested_at: r.get(10),
    }
}

/// Records a lab test; 404 `lot_not_found`.
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    input: NewLabTest,
) -> ApiResult<LabTest> {
    let test_name = text("test_name", &input.test_name, 200, true)?;
    let method = text(
        "method",
        input.method.as_deref().unwrap_or_default(),
        200,
        false,
    )?;
    let text_value = text(
        "text_value",
        input.text_value.as_deref().unwrap_or_default(),
        2000,
        false,
    )?;
    let unit = match input.unit.as_deref() {
        Some(unit) => Some(text("unit", unit, 20, true)?),
        None => None,
    };
    let value = match input.value {
        Some(value) => Some(crate::erp::quantity::fits("value", value)?),
        None => None,
    };
    db.query_opt("SELECT 1 FROM lots WHERE id = $1", &[&input.lot_id])
        .await?
        .ok_or_else(|| ApiError::not_found("lot_not_found", "no lot has this id"))?;
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO quality_lab_tests (id, lot_id, test_name, method, value, text_value, unit, \
         passed, tested_by, tested_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         coalesce($10, now()))",
        &[
            &id,
            &input.lot_id,
            &test_name,
            &method,
            &value,
            &text_value,
            &unit,
            &input.passed,
            &actor.user_id,
            &input.tested_at,
        ],
    )
    .await?;
    let row = db
        .query_one(&format!("{SELECT} WHERE x.id = $1"), &[&id])
        .await?;
    let test = lab_test(&row);
    record(
        db,
        actor,
        "quality.lab_test_recorded",
        "quality_lab_test",
        id.to_string(),
        json!(test),
    )
    .await?;
    Ok(test)
}

/// Lab tests (of one lot), oldest first, at most 500.
pub async fn list(db: &impl GenericClient, filter: &LabTestFilter) -> ApiResult<Vec<LabTest>> {
    let rows = db
        .query(
            &format!("{SELECT} WHERE ($1::uuid IS NULL OR x.lot_id = $1) ORDER BY x.tested_at, x.id LIMIT 500"),
            &[&filter.lot_id],
        )
        .await?;
    Ok(rows.iter().map(lab_test).collect())
}

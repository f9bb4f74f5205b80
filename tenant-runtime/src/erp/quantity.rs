//! Quantities and money: `rust_decimal::Decimal` in Rust, `numeric(20, 6)` in Postgres,
//! decimal strings in JSON (never floats, which cannot hold 0.1). Quantities are stored in
//! the item's base unit; a quantity given in another unit is converted here, through the
//! item's `item_units` factor, and refused when the item has no such conversion.

use common::api_error::{ApiError, ApiResult};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Digits after the point a stored quantity or amount keeps (`numeric(20, 6)`).
pub const SCALE: u32 = 6;
/// The largest magnitude `numeric(20, 6)` holds: 14 digits before the point.
const MAX_INTEGER_DIGITS: u32 = 14;

/// 422 unless `value` is above zero and fits a stored quantity.
pub fn positive(field: &str, value: Decimal) -> ApiResult<Decimal> {
    if value <= Decimal::ZERO {
        return Err(ApiError::invalid(field, "must be greater than zero"));
    }
    fits(field, value)
}

/// 422 unless `value` is zero or more and fits a stored quantity.
pub fn not_negative(field: &str, value: Decimal) -> ApiResult<Decimal> {
    if value < Decimal::ZERO {
        return Err(ApiError::invalid(field, "must not be negative"));
    }
    fits(field, value)
}

/// 422 when `value` has more than six decimals or fourteen integer digits.
pub fn fits(field: &str, value: Decimal) -> ApiResult<Decimal> {
    let value = value.normalize();
    if value.scale() > SCALE {
        return Err(ApiError::invalid(field, "at most 6 digits after the point"));
    }
    if value.abs() >= Decimal::from(10_u64.pow(MAX_INTEGER_DIGITS)) {
        return Err(ApiError::invalid(
            field,
            "at most 14 digits before the point",
        ));
    }
    Ok(value)
}

/// `quantity` of `unit` in the item's base unit: as is for the base unit (or none given),
/// times the item's factor for another unit, 422 on `field` when the item has no
/// conversion from that unit, 404 `item_not_found` for an unknown item.
pub async fn to_base_unit(
    db: &impl tokio_postgres::GenericClient,
    item: Uuid,
    quantity: Decimal,
    unit: Option<&str>,
    field: &str,
) -> ApiResult<Decimal> {
    let row = db
        .query_opt(
            "SELECT i.base_unit, iu.factor FROM items i \
             LEFT JOIN item_units iu ON iu.item_id = i.id AND iu.unit = $2 \
             WHERE i.id = $1",
            &[&item, &unit.unwrap_or_default()],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("item_not_found", "no item has this id"))?;
    let base_unit: String = row.get(0);
    let factor: Option<Decimal> = row.get(1);
    match (unit, factor) {
        (None, _) => Ok(quantity),
        (Some(unit), _) if unit == base_unit => Ok(quantity),
        (Some(_), Some(factor)) => fits(field, quantity * factor),
        (Some(unit), None) => Err(ApiError::invalid(
            field,
            format!("this item has no conversion from `{unit}` to its base unit `{base_unit}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn decimal(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn zero_and_negative_quantities_are_refused_where_a_positive_one_is_needed() {
        assert!(positive("quantity", decimal("0")).is_err());
        assert!(positive("quantity", decimal("-1")).is_err());
        assert_eq!(
            positive("quantity", decimal("2.500")).unwrap(),
            decimal("2.5")
        );
    }

    #[test]
    fn a_quantity_that_does_not_fit_numeric_20_6_is_refused() {
        assert!(fits("quantity", decimal("0.0000001")).is_err());
        assert!(fits("quantity", decimal("100000000000000")).is_err());
        assert!(fits("quantity", decimal("99999999999999.999999")).is_ok());
    }

    #[test]
    fn zero_is_not_negative() {
        assert!(not_negative("cost", Decimal::ZERO).is_ok());
        assert!(not_negative("cost", decimal("-0.01")).is_err());
    }
}

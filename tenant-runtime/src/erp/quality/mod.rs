//! Quality control: checklists per item or category (`plans`), inspections with a result
//! per criterion and an outcome (`inspections`), lots segregated after a failure or by
//! hand until someone with `quality.release` releases or scraps them (`quarantine`), lab
//! tests per lot (`lab`) and defects counted by type, item or work order over a period
//! (`defects`).
//!
//! Quarantine is enforced by the stock module (`erp::stock::lots`), so every caller that
//! issues, delivers, transfers, reserves or allocates stock gets it; this module only sets
//! a lot's status and keeps the record of why and by whom. Every write takes the caller's
//! transaction and writes its audit entry and events there.

pub mod defects;
pub mod inspections;
pub mod lab;
pub mod plans;
pub mod quarantine;

use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::{self as audit, Actor};
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::ToSchema;

/// When an inspection happens: on goods received, on a work order's output, or on a
/// produced lot before it becomes available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Incoming,
    InProcess,
    Final,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incoming => "incoming",
            Self::InProcess => "in_process",
            Self::Final => "final",
        }
    }

    /// The kind stored as `text` (the tables' CHECKs hold only these).
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Incoming, Self::InProcess, Self::Final]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// A stored kind; a value outside the CHECK is a broken database.
fn kind_of(text: &str) -> ApiResult<Kind> {
    Kind::parse(text).ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown kind {text}")))
}

/// 422 on `field` unless `text` is blank-free and at most `max` characters.
fn text(field: &str, value: &str, max: usize, required: bool) -> ApiResult<String> {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err(ApiError::invalid(field, "must not be blank"));
    }
    if trimmed.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// The audit entry of one quality write.
async fn record(
    db: &impl GenericClient,
    actor: &Actor,
    action: &str,
    target_kind: &str,
    target_id: String,
    after: serde_json::Value,
) -> ApiResult<()> {
    let entry = audit::Entry {
        action,
        target_kind,
        target_id,
        before: None,
        after: Some(after),
    };
    audit::record(db, actor, entry).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_text() {
        for kind in [Kind::Incoming, Kind::InProcess, Kind::Final] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("outgoing"), None);
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("f", "  ok ", 5, true).unwrap(), "ok");
        assert!(text("f", "   ", 5, true).is_err());
        assert_eq!(text("f", "", 5, false).unwrap(), "");
        assert!(text("f", "toolong", 5, false).is_err());
    }
}

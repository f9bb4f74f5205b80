//! Checks that the enums' strings agree between `as_str`, `FromStr`, serde and sea-orm.

use sea_orm::ActiveEnum;

use super::*;

fn assert_consistent<E>(all: &[E], as_str: fn(E) -> &'static str)
where
    E: ActiveEnum<Value = String> + FromStr + Serialize + Copy + PartialEq + fmt::Debug,
{
    for &variant in all {
        let text = as_str(variant);
        assert_eq!(variant.to_value(), text);
        assert_eq!(E::from_str(text).ok(), Some(variant));
        let json = serde_json::to_value(variant).expect("serializable");
        assert_eq!(json, serde_json::Value::String(text.to_owned()));
    }
}

#[test]
fn enum_strings_agree_everywhere() {
    assert_consistent(TenantStatus::ALL, TenantStatus::as_str);
    assert_consistent(SuspensionKind::ALL, SuspensionKind::as_str);
    assert_consistent(AdminRole::ALL, AdminRole::as_str);
    assert_consistent(JobState::ALL, JobState::as_str);
    assert_consistent(ServerState::ALL, ServerState::as_str);
    assert_consistent(AuditActorKind::ALL, AuditActorKind::as_str);
    assert_consistent(BillingState::ALL, BillingState::as_str);
    assert_consistent(BackupKind::ALL, BackupKind::as_str);
    assert_consistent(BackupState::ALL, BackupState::as_str);
}

#[test]
fn unknown_strings_are_rejected() {
    let err = TenantStatus::from_str("Active").expect_err("case-sensitive");
    assert_eq!(err.kind, "TenantStatus");
    assert_eq!(SuspensionKind::TrialExpired.to_string(), "trial_expired");
}

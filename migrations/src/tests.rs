//! Database-free checks of the migration lists and version names.

use sea_orm_migration::MigratorTrait;

use crate::{control, latest_control_version, latest_tenant_version, tenant};

fn names<M: MigratorTrait>() -> Vec<String> {
    M::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect()
}

fn assert_well_formed(names: &[String]) {
    assert!(!names.is_empty());
    for name in names {
        let (stamp, rest) = name.split_at(16);
        assert!(stamp.starts_with("m20"), "{name}");
        assert!(stamp[1..].chars().enumerate().all(|(i, c)| match i {
            8 => c == '_',
            _ => c.is_ascii_digit(),
        }));
        assert!(rest.starts_with('_') && rest.len() > 1, "{name}");
    }
    let mut sorted = names.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, names, "migrations must be unique and in time order");
}

#[test]
fn control_migrations_are_ordered_and_named() {
    assert_well_formed(&names::<control::Migrator>());
}

#[test]
fn tenant_migrations_are_ordered_and_named() {
    assert_well_formed(&names::<tenant::Migrator>());
}

#[test]
fn latest_versions_are_the_last_migrations() {
    assert_eq!(latest_control_version(), "m20261205_000017_usage_flushes");
    assert_eq!(latest_tenant_version(), "m20261206_000017_planning");
    assert_eq!(
        names::<tenant::Migrator>().last(),
        Some(&latest_tenant_version())
    );
}

#[test]
fn migrators_use_distinct_tables() {
    assert_eq!(
        control::Migrator::migration_table_name().to_string(),
        "seaql_migrations"
    );
    assert_eq!(
        tenant::Migrator::migration_table_name().to_string(),
        "tenant_schema_migrations"
    );
}

#[test]
fn a_version_is_behind_every_later_migration_and_none_is_behind_all() {
    let names = names::<tenant::Migrator>();
    let (first, last) = (names.first().unwrap(), names.last().unwrap());
    assert!(crate::is_behind(Some(first), last));
    assert!(!crate::is_behind(Some(last), last));
    assert!(
        !crate::is_behind(Some(last), first),
        "newer schemas serve older code"
    );
    assert!(crate::is_behind(None, first));
    assert_eq!(
        crate::pending_tenant_migrations(Some(last)),
        Vec::<String>::new()
    );
    assert_eq!(
        crate::pending_tenant_migrations(Some(first)),
        names[1..].to_vec()
    );
    assert_eq!(crate::pending_tenant_migrations(None), names);
}

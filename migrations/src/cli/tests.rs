//! Tests of argument parsing, URL resolution and password redaction.

use clap::{CommandFactory, Parser};

use super::*;

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |key| {
        pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn clap_definition_is_valid() {
    Cli::command().debug_assert();
}

#[test]
fn parses_target_action_steps_and_url() {
    let cli = Cli::try_parse_from([
        "migrations",
        "tenant",
        "down",
        "-n",
        "2",
        "--database-url",
        "postgres://h/db",
    ])
    .expect("valid command line");
    assert!(matches!(
        cli.target,
        Target::Tenant {
            action: Action::Down { steps: Some(2) }
        }
    ));
    assert_eq!(cli.database_url.as_deref(), Some("postgres://h/db"));
}

#[test]
fn rejects_steps_for_status_and_unknown_target() {
    assert!(Cli::try_parse_from(["migrations", "control", "status", "-n", "1"]).is_err());
    assert!(Cli::try_parse_from(["migrations", "billing", "up"]).is_err());
}

#[test]
fn url_falls_back_to_app_env_then_database_url() {
    let both = env_of(&[
        ("APP_DATABASE__URL", "postgres://app"),
        ("DATABASE_URL", "postgres://db"),
    ]);
    let plain = env_of(&[("APP_DATABASE__URL", ""), ("DATABASE_URL", "postgres://db")]);
    let flag = Some("postgres://flag".to_owned());
    assert_eq!(
        resolve_database_url(flag, &both).as_deref(),
        Some("postgres://flag")
    );
    assert_eq!(
        resolve_database_url(None, &both).as_deref(),
        Some("postgres://app")
    );
    assert_eq!(
        resolve_database_url(None, &plain).as_deref(),
        Some("postgres://db")
    );
    assert_eq!(resolve_database_url(None, env_of(&[])), None);
}

#[test]
fn redacts_passwords() {
    assert_eq!(
        redact_url("postgres://app:s3cret@db:5432/control"),
        "postgres://app:***@db:5432/control"
    );
    assert_eq!(
        redact_url("postgres://a:p@ss/w?rd@h/db"),
        "postgres://a:***@h/db"
    );
    assert_eq!(
        redact_url("postgres://app@h/db?sslmode=disable&password=x&y=1"),
        "postgres://app@h/db?sslmode=disable&password=***&y=1"
    );
    assert_eq!(redact_url("postgres://app@h/db"), "postgres://app@h/db");
}

#[test]
fn scrub_removes_url_and_password() {
    let url = "postgres://app:hunter22@h/db";
    let message = format!("failed {url}; auth hunter22");
    let scrubbed = scrub(&message, url);
    assert!(!scrubbed.contains("hunter22"), "{scrubbed}");
    assert!(scrubbed.contains("postgres://app:***@h/db"));
}

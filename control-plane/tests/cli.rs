//! The binary's configuration contract: a bad value exits 2 naming the key, an unknown key
//! is a warning, `--print-config` redacts secrets.

use std::process::{Command, Output};

fn control_plane(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_control-plane"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("APP_")) {
        command.env_remove(key);
    }
    command.args(args).envs(env.iter().copied());
    command.output().expect("run control-plane")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_malformed_value_exits_2_naming_the_key_and_variable() {
    let output = control_plane(
        &["--print-config"],
        &[("APP_CONTROL_PLANE__PORT", "eighty")],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("`control_plane.port`"), "{stderr}");
    assert!(stderr.contains("APP_CONTROL_PLANE__PORT"), "{stderr}");
}

#[test]
fn a_failed_check_exits_2_before_anything_starts() {
    let output = control_plane(&["serve"], &[("APP_DATABASE__URL", "mysql://nope")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("`database.url`"));
}

#[test]
fn a_missing_config_file_exits_2() {
    let output = control_plane(&["--config", "/nonexistent/app.toml", "serve"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("app.toml"));
}

#[test]
fn print_config_shows_the_effective_values_with_secrets_redacted() {
    let output = control_plane(
        &["--print-config"],
        &[
            (
                "APP_DATABASE__URL",
                "postgres://erp:topsecret@db.internal/control",
            ),
            ("APP_BOOTSTRAP__ADMIN_PASSWORD", "a-long-admin-password"),
            ("APP_TENANT_RUNTIME__BASE_DOMAIN", "erp.example.com"),
        ],
    );
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("base_domain = \"erp.example.com\""),
        "{stdout}"
    );
    assert!(stdout.contains("[redacted]"), "{stdout}");
    assert!(!stdout.contains("topsecret"), "{stdout}");
    assert!(!stdout.contains("a-long-admin-password"), "{stdout}");
}

#[test]
fn an_unknown_key_is_named_in_a_warning_and_does_not_stop_the_process() {
    let output = control_plane(&["--print-config"], &[("APP_CONTROL_PLANE__PROT", "9000")]);
    assert_eq!(output.status.code(), Some(0));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("unknown configuration key `control_plane.prot`"),
        "{stderr}"
    );
    assert!(stderr.contains("APP_CONTROL_PLANE__PROT"), "{stderr}");
}

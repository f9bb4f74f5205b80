//! The admin CLI (`control-plane admin ...`) against a running platform: signing in with
//! a stored session, a tenant's whole life (created with `--wait` until provisioned,
//! listed, shown, suspended, resumed, deleted), a server drained, `--json` output parsed,
//! the access token refreshed when it expires, a fleet migration run, a backup and a
//! restore waited for, and the exit statuses scripts rely on.
//! The CLI library is driven through the same clap parser as the binary.

use clap::Parser as _;
use control_plane::cli::{AdminCli, Console};
use serde_json::Value;
use std::path::PathBuf;
use system_tests::Server;
use system_tests::admin::AdminApi;
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD};

/// A CLI user with their own configuration directory (so their own stored login).
struct CliUser {
    dir: PathBuf,
}

/// What one command did.
#[derive(Debug)]
struct Ran {
    code: i32,
    out: String,
    err: String,
}

impl Ran {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "{self:?}");
        serde_json::from_str(&self.out).unwrap_or_else(|error| panic!("{error}: {self:?}"))
    }
}

impl CliUser {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("erp-cli-{}", uuid::Uuid::now_v7()));
        Self { dir }
    }

    async fn run(&self, args: &[&str]) -> Ran {
        self.run_with_stdin(args, "").await
    }

    async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Ran {
        let dir = self.dir.to_str().expect("a UTF-8 path");
        let head = ["admin", "--config-dir", dir];
        let argv = head.iter().chain(args);
        let cli = AdminCli::try_parse_from(argv).expect("a valid command line");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut input = stdin.as_bytes();
        let mut console = Console {
            out: &mut out,
            err: &mut err,
            stdin: &mut input,
            terminal: false,
        };
        let code = control_plane::cli::run(cli, &mut console).await;
        Ran {
            code,
            out: String::from_utf8(out).expect("UTF-8 output"),
            err: String::from_utf8(err).expect("UTF-8 errors"),
        }
    }

    async fn login(&self, api: &AdminApi, password: &str) -> Ran {
        self.login_with(api, password, &[]).await
    }

    async fn login_with(&self, api: &AdminApi, password: &str, extra: &[&str]) -> Ran {
        let url = api.app.control_plane_url.clone();
        let mut args = vec![
            "login",
            "--url",
            &url,
            "--email",
            ADMIN_EMAIL,
            "--password-stdin",
        ];
        args.extend(extra);
        self.run_with_stdin(&args, &format!("{password}\n")).await
    }

    fn session(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.join("default.json")).expect("a session");
        serde_json::from_str(&text).expect("session JSON")
    }
}

impl Drop for CliUser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn without_a_login_or_with_a_bad_password_the_cli_exits_3() {
    let api = AdminApi::start().await;
    let cli = CliUser::new();
    let ran = cli.run(&["tenants", "list"]).await;
    assert_eq!(ran.code, 3, "{ran:?}");
    assert!(ran.err.contains("not signed in"), "{ran:?}");

    let ran = cli.login(&api, "not the password").await;
    assert_eq!(ran.code, 3, "{ran:?}");
    assert!(ran.err.contains("invalid_credentials"), "{ran:?}");
    assert!(!cli.dir.join("default.json").exists(), "nothing stored");

    let ran = cli.run(&["--json", "tenants", "list"]).await;
    assert_eq!(ran.code, 3, "{ran:?}");
}

#[tokio::test]
async fn the_cli_runs_a_tenant_through_its_life_with_json_and_tables() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let cli = CliUser::new();
    let ran = cli.login(&api, ADMIN_PASSWORD).await;
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_session_is_private(&cli);

    let created = cli
        .run(&[
            "--json",
            "tenants",
            "create",
            "--slug",
            "cli-acme",
            "--name",
            "CLI Acme",
            "--plan",
            "starter",
            "--admin-email",
            "ops@cli-acme.example",
            "--wait",
        ])
        .await
        .json();
    assert_eq!(created["status"], "active", "{created}");
    assert_eq!(created["last_job"]["state"], "succeeded");
    let id = created["id"].as_str().unwrap().to_owned();

    let listed = cli.run(&["--json", "tenants", "list"]).await.json();
    assert_eq!(listed["items"][0]["slug"], "cli-acme");
    let table = cli.run(&["tenants", "list", "--status", "active"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    assert!(table.out.starts_with("ID "), "{table:?}");
    assert!(
        table.out.contains("cli-acme") && table.out.contains("active"),
        "{table:?}"
    );
    let shown = cli
        .run(&["--json", "tenants", "show", "cli-acme"])
        .await
        .json();
    assert_eq!(shown["id"], id.as_str());
    let human = cli.run(&["tenants", "show", &id]).await;
    assert!(
        human.out.contains("status:") && human.out.contains("CLI Acme"),
        "{human:?}"
    );

    let suspended = cli
        .run(&[
            "--json", "tenants", "suspend", "cli-acme", "--reason", "audit",
        ])
        .await
        .json();
    assert_eq!(suspended["status"], "suspended");
    let again = cli
        .run(&[
            "--json", "tenants", "suspend", "cli-acme", "--reason", "audit",
        ])
        .await;
    assert_eq!(again.code, 5, "a conflict: {again:?}");
    let problem: Value = serde_json::from_str(&again.out).expect("the problem as JSON");
    assert_eq!(problem["status"], 409);
    let resumed = cli
        .run(&["--json", "tenants", "resume", &id, "--reason", "cleared"])
        .await
        .json();
    assert_eq!(resumed["status"], "active");

    let drained = cli
        .run(&["--json", "servers", "drain", "primary"])
        .await
        .json();
    assert_eq!(drained["state"], "draining");
    let deleted = cli
        .run(&[
            "--json", "tenants", "delete", "cli-acme", "--reason", "done", "--wait",
        ])
        .await
        .json();
    assert_eq!(deleted["kind"], "delete");
    assert_eq!(deleted["state"], "succeeded");
    let empty = cli
        .run(&["--json", "servers", "drain", "primary", "--wait"])
        .await
        .json();
    assert_eq!(empty["tenants"], 0);
}

fn assert_session_is_private(cli: &CliUser) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = cli.dir.join("default.json");
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn what_does_not_exist_exits_4_and_bad_input_exits_2() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let cli = CliUser::new();
    assert_eq!(cli.login(&api, ADMIN_PASSWORD).await.code, 0);

    let by_slug = cli.run(&["tenants", "show", "nobody"]).await;
    assert_eq!(by_slug.code, 4, "{by_slug:?}");
    let by_id = cli
        .run(&["tenants", "show", &uuid::Uuid::now_v7().to_string()])
        .await;
    assert_eq!(by_id.code, 4, "{by_id:?}");
    assert!(by_id.err.contains("tenant_not_found"), "{by_id:?}");
    let server = cli.run(&["servers", "drain", "no-such-server"]).await;
    assert_eq!(server.code, 4, "{server:?}");
    let invalid = cli
        .run(&[
            "tenants",
            "create",
            "--slug",
            "Not A Slug",
            "--name",
            "x",
            "--plan",
            "starter",
            "--admin-email",
            "ops@example.com",
        ])
        .await;
    assert_eq!(invalid.code, 2, "{invalid:?}");
    assert!(invalid.err.contains("slug"), "{invalid:?}");
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_logout_ends_the_session() {
    let api = AdminApi::start().await;
    let cli = CliUser::new();
    assert_eq!(cli.login(&api, ADMIN_PASSWORD).await.code, 0);
    let before = cli.session();
    let mut expired = before.clone();
    expired["access_expires_at"] = 0.into();
    std::fs::write(cli.dir.join("default.json"), expired.to_string()).unwrap();

    let me = cli.run(&["--json", "whoami"]).await.json();
    assert_eq!(me["email"], ADMIN_EMAIL);
    let after = cli.session();
    assert_ne!(after["refresh_token"], before["refresh_token"], "rotated");
    assert!(after["access_expires_at"].as_u64().unwrap() > 0);

    let out = cli.run(&["logout"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(cli.run(&["whoami"]).await.code, 3);
    // The old refresh token was revoked with the session.
    let reused = api
        .post(
            "/api/v1/auth/refresh",
            serde_json::json!({ "refresh_token": after["refresh_token"] }),
        )
        .await;
    assert_eq!(reused.status, 401, "{reused:?}");
}

#[tokio::test]
async fn an_admin_with_2fa_signs_in_with_a_code() {
    let api = AdminApi::start().await;
    let enrolled = api
        .post("/api/v1/me/2fa/enroll", serde_json::json!({}))
        .await;
    assert_eq!(enrolled.status, 200, "{:?}", enrolled.body);
    let base32 = enrolled.body["secret"].as_str().expect("secret");
    let secret = totp_rs::Secret::try_from_base32(base32).expect("base32");
    let now = chrono::Utc::now().timestamp() as u64;
    let code = control_plane::auth::totp::current_code(secret.as_bytes(), now).expect("code");
    let confirmed = api
        .post(
            "/api/v1/me/2fa/confirm",
            serde_json::json!({ "code": code }),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
    let recovery = confirmed.body["recovery_codes"][0]
        .as_str()
        .expect("a code");

    let cli = CliUser::new();
    let without = cli.login(&api, ADMIN_PASSWORD).await;
    assert_eq!(without.code, 3, "{without:?}");
    assert!(without.err.contains("--totp"), "{without:?}");
    let with = cli
        .login_with(&api, ADMIN_PASSWORD, &["--totp", recovery])
        .await;
    assert_eq!(with.code, 0, "{with:?}");
    assert_eq!(
        cli.run(&["--json", "whoami"]).await.json()["totp_enabled"],
        true
    );
}

#[tokio::test]
async fn the_cli_runs_a_fleet_migration_backs_a_tenant_up_and_restores_it() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let cli = CliUser::new();
    assert_eq!(cli.login(&api, ADMIN_PASSWORD).await.code, 0);
    let tenant = api.active_tenant("cli-fleet").await;
    // As after a deploy whose code holds one tenant migration more than this database.
    let names = migrations::pending_tenant_migrations(None);
    let control = system_tests::fleet::connect(&api.app.db.url()).await;
    let id: uuid::Uuid = tenant.parse().unwrap();
    control
        .execute(
            "UPDATE tenants SET schema_version = $2 WHERE id = $1",
            &[&id, &names[names.len() - 2]],
        )
        .await
        .unwrap();

    let dry = cli
        .run(&["--json", "migrations", "run", "--dry-run"])
        .await
        .json();
    assert_eq!(dry["tenants_behind"], 1, "{dry}");
    let ran = cli
        .run(&[
            "--json",
            "migrations",
            "run",
            "--canary-count",
            "1",
            "--wait",
        ])
        .await;
    let run = ran.json();
    let status = cli
        .run(&[
            "--json",
            "migrations",
            "status",
            run["id"].as_str().unwrap(),
        ])
        .await
        .json();
    assert_eq!(
        (status["state"].as_str(), status["succeeded"].as_i64()),
        (Some("succeeded"), Some(1)),
        "{status}"
    );
    let listed = cli.run(&["migrations", "status"]).await;
    assert!(listed.out.contains("succeeded"), "{listed:?}");
    let resume = cli
        .run(&["migrations", "resume", run["id"].as_str().unwrap()])
        .await;
    assert_eq!(
        resume.code, 5,
        "a finished run is not resumable: {resume:?}"
    );

    let backup = cli
        .run(&["--json", "backups", "create", "cli-fleet", "--wait"])
        .await;
    assert_eq!(backup.code, 0, "{backup:?}");
    let backups = cli
        .run(&["--json", "backups", "list", "cli-fleet"])
        .await
        .json();
    let backup_id = backups["items"][0]["id"]
        .as_str()
        .expect("a backup")
        .to_owned();
    let restored = cli
        .run(&[
            "--json",
            "restore",
            "cli-fleet",
            "--backup",
            &backup_id,
            "--reason",
            "a bad import",
            "--wait",
        ])
        .await;
    assert_eq!(restored.code, 0, "{restored:?}");
    let database: String = control
        .query_one("SELECT db_name FROM tenants WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_ne!(
        database,
        common::ids::TenantId(id).database_name(),
        "switched to the restored copy"
    );

    // Draining with --evacuate moves the tenant to the other server and waits until the
    // drained one holds nothing.
    let second = Server::second().admin_url();
    let other = api.register_server("second", second, second, 10).await;
    let drained = cli
        .run(&[
            "--json",
            "servers",
            "drain",
            "primary",
            "--evacuate",
            "2",
            "--wait",
        ])
        .await;
    assert_eq!(drained.code, 0, "{drained:?}");
    let server: uuid::Uuid = control
        .query_one("SELECT server_id FROM tenants WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(server, other, "the tenant now lives on the other server");
}

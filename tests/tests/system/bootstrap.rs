//! Bootstrap of the control database: default plans, the super-admin, idempotence.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use common::Secret;
use control_plane::bootstrap::{self, DEFAULT_ADMIN_EMAIL};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD, test_settings};
use system_tests::{TestDb, spawn_app};

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
}

async fn password_hash_of(db: &DatabaseConnection, email: &str) -> String {
    let sql = format!("SELECT password_hash FROM admin_users WHERE email = '{email}'");
    rows(db, &sql).await[0]
        .try_get("", "password_hash")
        .unwrap()
}

fn verifies(hash: &str, password: &str) -> bool {
    let parsed = PasswordHash::new(hash).unwrap();
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[tokio::test]
async fn the_four_default_plans_are_seeded_with_limits() {
    let app = spawn_app().await;
    let db = app.db.connect().await;
    let plans = rows(
        &db,
        "SELECT code, max_users, api_requests_per_minute, features FROM plans ORDER BY max_users",
    )
    .await;
    let codes: Vec<String> = plans
        .iter()
        .map(|r| r.try_get("", "code").unwrap())
        .collect();
    assert_eq!(codes, ["trial", "starter", "growth", "enterprise"]);
    for plan in &plans {
        assert!(plan.try_get::<i32>("", "max_users").unwrap() > 0);
        assert!(plan.try_get::<i32>("", "api_requests_per_minute").unwrap() > 0);
        let features: serde_json::Value = plan.try_get("", "features").unwrap();
        assert!(!features.as_array().unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_configured_super_admin_is_an_owner_with_an_argon2id_hash() {
    let app = spawn_app().await;
    let created = app.created_admin.clone().expect("made at first start");
    assert_eq!(created.email, ADMIN_EMAIL);
    assert_eq!(
        created.generated_password, None,
        "the configured one is used"
    );
    let db = app.db.connect().await;
    let hash = password_hash_of(&db, ADMIN_EMAIL).await;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(verifies(&hash, ADMIN_PASSWORD));
    assert!(!verifies(&hash, "wrong password"));
    let role: String = rows(&db, "SELECT role FROM admin_users").await[0]
        .try_get("", "role")
        .unwrap();
    assert_eq!(role, "owner");
}

#[tokio::test]
async fn bootstrapping_again_changes_nothing() {
    let app = spawn_app().await;
    let db = app.db.connect().await;
    let before = password_hash_of(&db, ADMIN_EMAIL).await;
    let again = bootstrap::bootstrap_once(&db, &app.settings).await.unwrap();
    assert_eq!(again, None, "the admin exists: nothing is created");
    assert_eq!(password_hash_of(&db, ADMIN_EMAIL).await, before);
    assert_eq!(rows(&db, "SELECT 1 FROM plans").await.len(), 4);
    assert_eq!(rows(&db, "SELECT 1 FROM admin_users").await.len(), 1);
}

#[tokio::test]
async fn with_no_admin_configured_a_default_owner_gets_a_generated_password_once() {
    system_tests::init();
    let test_db = TestDb::control().await;
    let mut settings = test_settings(&test_db);
    settings.bootstrap.admin_email = None;
    settings.bootstrap.admin_password = None;
    let db = test_db.connect().await;

    let created = bootstrap::bootstrap_once(&db, &settings)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.email, DEFAULT_ADMIN_EMAIL);
    let password = created.generated_password.expect("generated");
    assert!(password.len() >= 20);
    assert!(verifies(
        &password_hash_of(&db, DEFAULT_ADMIN_EMAIL).await,
        &password
    ));

    let second = bootstrap::bootstrap_once(&db, &settings).await.unwrap();
    assert_eq!(
        second, None,
        "an admin exists: no second password is generated"
    );
}

#[tokio::test]
async fn a_newly_configured_admin_is_added_beside_existing_ones() {
    system_tests::init();
    let test_db = TestDb::control().await;
    let mut settings = test_settings(&test_db);
    let db = test_db.connect().await;
    bootstrap::bootstrap_once(&db, &settings).await.unwrap();

    settings.bootstrap.admin_email = Some("Second@Tests.example".into());
    settings.bootstrap.admin_password = Some(Secret::new("another long password"));
    let created = bootstrap::bootstrap_once(&db, &settings)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        created.email, "second@tests.example",
        "emails are stored lower case"
    );
    assert_eq!(rows(&db, "SELECT 1 FROM admin_users").await.len(), 2);
}

#[tokio::test]
async fn two_replicas_bootstrapping_at_once_create_one_admin() {
    system_tests::init();
    let test_db = TestDb::control().await;
    let mut settings = test_settings(&test_db);
    settings.bootstrap.admin_email = None;
    settings.bootstrap.admin_password = None;
    let (a, b) = (test_db.connect().await, test_db.connect().await);
    let (first, second) = tokio::join!(
        bootstrap::bootstrap_once(&a, &settings),
        bootstrap::bootstrap_once(&b, &settings)
    );
    let made = [first.unwrap(), second.unwrap()];
    assert_eq!(made.iter().filter(|m| m.is_some()).count(), 1, "{made:?}");
    assert_eq!(rows(&a, "SELECT 1 FROM admin_users").await.len(), 1);
}

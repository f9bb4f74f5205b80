//! Two independent Postgres servers at once: the shape every multi-server test (placement,
//! relocation, a server down) builds on.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;
use system_tests::Server;

async fn scalar<T: sea_orm::TryGetable>(db: &DatabaseConnection, sql: &str) -> T {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

#[tokio::test]
async fn the_tenant_schema_migrates_on_two_servers_independently() {
    system_tests::init();
    let (first, second) = (Server::primary(), Server::second());
    let a = first.empty_database().await;
    let b = second.empty_database().await;
    let (db_a, db_b) = (a.connect().await, b.connect().await);

    let id_a: i64 = scalar(&db_a, "SELECT system_identifier FROM pg_control_system()").await;
    let id_b: i64 = scalar(&db_b, "SELECT system_identifier FROM pg_control_system()").await;
    assert_ne!(id_a, id_b, "two distinct clusters, not two names for one");

    migrations::tenant::Migrator::up(&db_a, None).await.unwrap();
    let users_a: i64 = scalar(
        &db_a,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'users'",
    )
    .await;
    let users_b: i64 = scalar(
        &db_b,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'users'",
    )
    .await;
    assert_eq!(
        (users_a, users_b),
        (1, 0),
        "migrating one server leaves the other alone"
    );

    migrations::tenant::Migrator::up(&db_b, None).await.unwrap();
    for db in [&db_a, &db_b] {
        let pending = migrations::tenant::Migrator::get_pending_migrations(db)
            .await
            .unwrap();
        assert!(pending.is_empty());
    }
}

#[tokio::test]
async fn each_server_serves_its_own_control_database_clone() {
    system_tests::init();
    let on_first = Server::primary()
        .fresh_database::<migrations::control::Migrator>("control")
        .await;
    let on_second = Server::second()
        .fresh_database::<migrations::control::Migrator>("control")
        .await;
    for test_db in [&on_first, &on_second] {
        let db = test_db.connect().await;
        let pending = migrations::control::Migrator::get_pending_migrations(&db)
            .await
            .unwrap();
        assert!(
            pending.is_empty(),
            "{} is cloned at the newest schema",
            test_db.name()
        );
    }
}

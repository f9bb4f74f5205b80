//! The `migrations` command line against real databases: up, status, down, on both schemas.

use clap::Parser;
use migrations::cli::{Cli, migration_statuses, run_cli};
use sea_orm_migration::{MigrationStatus, MigratorTrait};
use std::process::ExitCode;
use system_tests::Server;

async fn run(args: &[&str]) -> ExitCode {
    let cli = Cli::try_parse_from(std::iter::once("migrations").chain(args.iter().copied()))
        .expect("arguments parse");
    run_cli(cli).await
}

async fn pending_count<M: sea_orm_migration::MigratorTrait>(url: &str) -> usize {
    let db = sea_orm::Database::connect(url.to_owned()).await.unwrap();
    migration_statuses::<M, _>(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, status)| *status == MigrationStatus::Pending)
        .count()
}

#[tokio::test]
async fn tenant_up_status_and_down_move_the_schema_as_asked() {
    system_tests::init();
    let db = Server::primary().empty_database().await;
    let url = db.url();
    let total = migrations::tenant::Migrator::migrations().len();
    type Tenant = migrations::tenant::Migrator;

    assert_eq!(
        run(&["tenant", "status", "--database-url", &url]).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        pending_count::<Tenant>(&url).await,
        total,
        "status changes nothing"
    );

    assert_eq!(
        run(&["tenant", "up", "--database-url", &url]).await,
        ExitCode::SUCCESS
    );
    assert_eq!(pending_count::<Tenant>(&url).await, 0);

    assert_eq!(
        run(&["--database-url", &url, "tenant", "down", "-n", "2"]).await,
        ExitCode::SUCCESS
    );
    assert_eq!(pending_count::<Tenant>(&url).await, 2);

    assert_eq!(
        run(&["tenant", "up", "-n", "1", "--database-url", &url]).await,
        ExitCode::SUCCESS
    );
    assert_eq!(pending_count::<Tenant>(&url).await, 1);
}

#[tokio::test]
async fn control_up_on_the_second_server_brings_it_to_the_newest_version() {
    system_tests::init();
    let db = Server::second().empty_database().await;
    let url = db.url();
    assert_eq!(
        run(&["control", "up", "--database-url", &url]).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        pending_count::<migrations::control::Migrator>(&url).await,
        0
    );
}

#[tokio::test]
async fn an_unreachable_database_fails_with_status_1() {
    system_tests::init();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres:pw@127.0.0.1:{port}/none");
    assert_eq!(
        run(&["control", "status", "--database-url", &url]).await,
        ExitCode::from(1)
    );
}

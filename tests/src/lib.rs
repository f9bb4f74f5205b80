//! The whole-system test harness: real Postgres servers, a fresh control database per test
//! cloned from a template migrated once per run, and the platform spawned on port 0.

pub mod abuse;
pub mod admin;
pub mod app;
pub mod bench;
pub mod browser;
pub mod chaos;
pub mod erp_bench;
pub mod fake_stripe;
pub mod fleet;
pub mod migration_bench;
pub mod moto;
pub mod overload;
pub mod planning_bench;
pub mod portal;
pub mod portal_bench;
pub mod postgres;
pub mod proxy;
pub mod relocation_bench;
pub mod replicas;
pub mod replicas_bench;
pub mod runtime;
pub mod runtime_bench;
pub mod signup_bench;
pub mod upgrade;
pub mod webhook_bench;

pub use admin::AdminApi;
pub use app::{Replica, TestApp, spawn_app, spawn_app_with};
pub use browser::Browser;
pub use fleet::Fleet;
pub use moto::Moto;
pub use portal::PortalClient;
pub use postgres::{Server, TestDb};
pub use proxy::Proxy;

/// Installs what every test needs once per process: the rustls crypto provider and, when
/// `TEST_LOG` is set, log output.
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    common::telemetry::init_for_tests();
}

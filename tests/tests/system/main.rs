//! Whole-system tests: one binary, every process in it, real Postgres.

mod admin_auth;
mod admin_authz;
mod admin_catalogue;
mod admin_tenants;
mod backups;
mod backups_api;
mod billing;
mod billing_admin;
mod billing_core;
mod billing_runtime;
mod bootstrap;
mod fleet_ops;
mod health;
mod impersonation;
mod job_wakeup;
mod migrations_cli;
mod provisioning;
mod provisioning_faults;
mod relocation;
mod runtime_auth;
mod runtime_gate;
mod signup;
mod startup;
mod tenant_isolation;
mod two_servers;

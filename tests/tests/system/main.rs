//! Whole-system tests: one binary, every process in it, real Postgres.

mod bootstrap;
mod fleet_ops;
mod health;
mod migrations_cli;
mod provisioning;
mod provisioning_faults;
mod startup;
mod two_servers;

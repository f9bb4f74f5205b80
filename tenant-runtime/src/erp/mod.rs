//! The ERP a company runs: the library functions both doors call, the JSON API
//! (`crate::api`) and the web app (`crate::web`), so each rule lives once. Each area owns
//! its tables (created by the tenant migrator) and writes its changes, their audit entries
//! and the events they raise in one transaction of the tenant's database.
//!
//! - `modules`: which plan module each route belongs to (the gate and the navigation ask).
//! - `quantity`: quantities and money as decimals, and unit conversions to an item's base unit.
//! - `overview`: the dashboard's figures, each by its module's own rule.
//! - `events`: the business events outbound webhooks deliver, raised inside the change.
//! - `masters`: master data (units, categories, items, partners, warehouses, locations).
//! - `csv`: streamed CSV downloads and capped, line-numbered CSV imports.
//! - `webhooks`: the endpoints those events go to, and the worker that delivers them.
//! - `stock`: the stock ledger, balances, lots, reservations and material debt.
//! - `sales`: sales orders, their reservations and deliveries.
//! - `approvals`: approval rules, requests through their levels, and decisions.
//! - `purchasing`: purchase orders and the goods received against them.
//! - `reports`: the reports' CSV exports (stock, movements, valuation, open order lines).
//! - `quality`: inspection plans, inspections, quarantine of lots, lab tests and defect
//!   analysis.
//! - `production`: bills of materials, manufacturing orders (allocation, completion) and
//!   work orders with their daily input.
//! - `planning`: material requirements planning (MRP) and its suggestions, and the PPIC
//!   dashboard's figures.
//! - `kanban`: boards of columns with WIP limits and cards following their documents.

pub mod approvals;
pub mod csv;
pub mod events;
pub mod kanban;
pub mod masters;
pub mod modules;
pub mod overview;
pub mod planning;
pub mod production;
pub mod purchasing;
pub mod quality;
pub mod quantity;
pub mod reports;
pub mod sales;
pub mod stock;
pub mod webhooks;

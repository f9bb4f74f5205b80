//! The stock ledger: every change of stock is a movement of signed, append-only ledger
//! entries (`stock_ledger`), posted in the caller's transaction together with the
//! materialised balances (`stock_balances`: on hand and moving-average value per item,
//! location and lot), material debts, the audit entry and the business events it raises.
//! Corrections are reversals, never edits.
//!
//! - `post`: the core every movement goes through (locks, guarded balance updates, debts,
//!   reorder-point events, idempotent references).
//! - `movements`: receipts, issues, transfers, adjustments and reversals built from typed
//!   input (units, lots, first-expired-first-out picking).
//! - `lots`: a lot's status (available, held, quarantined, scrapped) and the one rule every
//!   movement, reservation and availability figure follows: only available lots move.
//! - `reservations`: stock held back per item and warehouse (available = on hand in
//!   available lots - reserved).
//! - `queries`: on hand, one item's totals, movements, valuation, items below reorder
//!   point, lots and their trace.
//! - `check`: the balances-versus-ledger consistency check.
//! - `held`: adjustments held for approval when the company's rules cover their value.

pub mod check;
pub mod held;
pub mod lots;
pub mod movements;
pub mod post;
pub mod queries;
pub mod reservations;

pub use movements::{
    Adjustment, Issue, Receipt, Transfer, post_adjustment, post_issue, post_receipt, post_transfer,
    reverse,
};
pub use post::{Entry, Movement, MovementHeader, Posted};
pub use reservations::{Reservation, ReservationRequest, available, release, reserve};

/// The setting (in `settings`, a JSON boolean) that lets issues take stock below zero.
pub const ALLOW_NEGATIVE_SETTING: &str = "inventory.allow_negative_stock";

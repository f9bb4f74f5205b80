//! Planning (plan module `production`): material requirements planning and the PPIC
//! dashboard.
//!
//! - `netting`: the MRP calculation on loaded facts (parents before components, gross
//!   requirement netted against stock and open supply, planned orders exploded down the
//!   active BOMs); no database.
//! - `runs`: a run of one warehouse: its facts loaded in set queries, the plan kept as a
//!   run with a line per item, and the runs' reads.
//! - `suggestions`: a run's buy and make suggestions turned into draft purchase and
//!   manufacturing orders with one click.
//! - `dashboard`: the PPIC dashboard's figures.

pub mod dashboard;
pub mod netting;
pub mod runs;
pub mod suggestions;

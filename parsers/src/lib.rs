//! The pure parsers of untrusted input that the services share: a tenant's slug and an
//! email address ([`names`]), which tenant a request is for ([`tenant`]), CSV imports
//! ([`csv`]) and Stripe's `Stripe-Signature` header ([`stripe`]). Nothing here touches a
//! database or the network, so `fuzz/` can build it alone on nightly; [`fuzzing`] holds the
//! property each fuzz target checks, which a stable `#[test]` harness also runs.

pub mod csv;
pub mod fuzzing;
pub mod names;
pub mod stripe;
pub mod tenant;

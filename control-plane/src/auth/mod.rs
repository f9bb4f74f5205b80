//! Admin authentication and authorization: credential checks with lock-out and TOTP,
//! sessions with rotating refresh tokens, the per-request admin extractor, and the role
//! matrix.

pub mod guard;
pub mod login;
pub mod roles;
pub mod sessions;
pub mod totp;

//! Admin authentication and authorization: credential checks with lock-out and TOTP,
//! API sessions with rotating refresh tokens, the portal's cookie sessions, the per-request
//! admin extractor, and the role matrix.

pub mod guard;
pub mod login;
pub mod portal_sessions;
pub mod roles;
pub mod sessions;
pub mod totp;

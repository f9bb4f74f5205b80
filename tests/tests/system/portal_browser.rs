//! The admin portal in a real browser (headless Chromium through WebDriver): what a
//! super-admin does, step by step, through the HTML hooks the portal keeps stable
//! (`#field-<name>`, `data-action`, `data-row`, `data-status`, `.field-error`, `.flash`).

mod access;
mod helpers;
mod screenshots;
mod sign_in;
mod tenants;

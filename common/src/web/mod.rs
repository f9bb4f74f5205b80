//! The UI kit both web interfaces share (the admin portal now, the tenants' ERP web app
//! next): one look, one set of components, one way to do the web plumbing.
//!
//! - Templates (askama, checked at compile time) live in `common/templates/ui/`: the page
//!   layout `base.html` and the components in `macros.html`. A service lists
//!   `../common/templates` among its `askama.toml` dirs and its pages
//!   `{% extends "ui/base.html" %}` with a [`layout::Layout`] field named `layout`.
//! - Assets (CSS, JS, vendored htmx, icon) are compiled into the binary and served by
//!   [`assets::configure`]: no CDN, no Node build step.
//! - Everything else a page needs: CSRF tokens ([`csrf`]), cookies ([`cookies`]), flash
//!   messages ([`flash`]), form errors from the API's problems ([`form`]), keyset paging
//!   and sort links ([`paging`]), SVG charts and usage bars drawn on the server
//!   ([`chart`], [`usage`]), status badges ([`badge`]), and the one way to answer with a
//!   page, a redirect or an error page, security headers included ([`render`]).

pub mod assets;
pub mod badge;
pub mod chart;
pub mod cookies;
pub mod csrf;
pub mod flash;
pub mod form;
pub mod layout;
pub mod paging;
pub mod render;
pub mod usage;

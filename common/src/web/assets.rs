//! The UI kit's static files, compiled into the binary and served at `/assets/{name}`.
//! Pages link them with `?v=<version>` (a hash of every asset), so browsers may cache them
//! for a year and still see a new release at once.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "ui.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/ui.css"),
    },
    Asset {
        name: "ui.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/ui.js"),
    },
    Asset {
        name: "kanban.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/kanban.js"),
    },
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/htmx.min.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../assets/icon.svg"),
    },
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = Sha256::new();
    for asset in ASSETS {
        hasher.update(asset.bytes);
    }
    hasher.finalize()[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
});

/// The version pages append to asset URLs (`?v=`).
pub fn version() -> &'static str {
    &VERSION
}

/// Registers `GET /assets/{name}`.
pub fn configure(config: &mut web::ServiceConfig) {
    config.route("/assets/{name}", web::get().to(serve));
}

async fn serve(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|asset| asset.name == name.as_str()) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(asset.bytes),
        None => HttpResponse::NotFound().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_short_hex_and_stable() {
        assert_eq!(version().len(), 12);
        assert!(version().chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(version(), version());
    }
}

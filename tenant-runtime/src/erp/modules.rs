//! Which of the plan's ERP modules (`common::entities::plans::MODULES`) a route belongs to,
//! by its first path segment: `/api/v1/items/...` and the web app's `/items/...` are both
//! `master_data`. The gate refuses the API routes of a module the plan lacks; the web app
//! leaves such modules out of its navigation and answers their pages with an error page.

/// Path segments and the module that owns them.
const SEGMENTS: &[(&str, &str)] = &[
    ("items", "master_data"),
    ("partners", "master_data"),
    ("warehouses", "master_data"),
    ("units", "master_data"),
    ("categories", "master_data"),
    ("stock", "inventory"),
    ("lots", "inventory"),
    ("purchase-orders", "purchasing"),
    ("sales-orders", "sales"),
    ("approvals", "approvals"),
    ("production", "production"),
    ("planning", "production"),
    ("kanban", "production"),
    ("quality", "quality"),
];

/// The module owning a first path segment, if an ERP module does.
pub fn of_segment(segment: &str) -> Option<&'static str> {
    SEGMENTS
        .iter()
        .find(|(owned, _)| *owned == segment)
        .map(|(_, module)| *module)
}

/// The module of an API path (`/api/v1/{segment}/...`), if an ERP module owns it.
pub fn of_api_path(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/api/v1/")?;
    of_segment(rest.split('/').next().unwrap_or_default())
}

/// The module of a web app path (`/{segment}/...`), if an ERP module owns it.
pub fn of_page_path(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix('/')?;
    of_segment(rest.split('/').next().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::entities::plans::MODULES;

    #[test]
    fn every_owner_is_a_plan_module() {
        for (segment, module) in SEGMENTS {
            assert!(MODULES.contains(module), "{segment} -> {module}");
        }
    }

    #[test]
    fn api_and_page_paths_of_one_area_share_their_module() {
        assert_eq!(of_api_path("/api/v1/items"), Some("master_data"));
        assert_eq!(of_api_path("/api/v1/items/import"), Some("master_data"));
        assert_eq!(of_page_path("/items/new"), Some("master_data"));
        assert_eq!(of_api_path("/api/v1/purchase-orders/1"), Some("purchasing"));
        assert_eq!(of_page_path("/approvals"), Some("approvals"));
        assert_eq!(of_api_path("/api/v1/kanban/boards"), Some("production"));
    }

    #[test]
    fn platform_routes_belong_to_no_module() {
        for path in [
            "/api/v1/users",
            "/api/v1/me",
            "/api/v1/billing",
            "/api/v1/itemsx",
        ] {
            assert_eq!(of_api_path(path), None, "{path}");
        }
        assert_eq!(of_page_path("/sign-in"), None);
        assert_eq!(of_api_path("/items"), None);
    }
}

//! The tenant API's OpenAPI links (see `common::openapi_links`): from each create to the
//! operations that take the created id, for schemathesis' stateful phase.

use common::openapi_links::{LinkFamily, Links};

/// A family whose created id is the body's `id` and fills the targets' `{id}`.
const fn by_id(create: &'static str, targets: &'static [&'static str]) -> LinkFamily {
    LinkFamily {
        create,
        status: "201",
        field: "id",
        parameter: "id",
        targets,
    }
}

pub const LINKS: Links = Links(&[
    by_id(
        "POST /api/v1/items",
        &["GET /api/v1/items/{id}", "PATCH /api/v1/items/{id}"],
    ),
    by_id(
        "POST /api/v1/partners",
        &["GET /api/v1/partners/{id}", "PATCH /api/v1/partners/{id}"],
    ),
    by_id(
        "POST /api/v1/categories",
        &["PATCH /api/v1/categories/{id}"],
    ),
    by_id(
        "POST /api/v1/users",
        &["GET /api/v1/users/{id}", "PATCH /api/v1/users/{id}"],
    ),
    by_id("POST /api/v1/roles", &["PATCH /api/v1/roles/{id}"]),
    by_id(
        "POST /api/v1/warehouses",
        &[
            "PATCH /api/v1/warehouses/{id}",
            "GET /api/v1/warehouses/{id}/locations",
            "POST /api/v1/warehouses/{id}/locations",
        ],
    ),
    by_id(
        "POST /api/v1/kanban/boards",
        &[
            "GET /api/v1/kanban/boards/{id}",
            "PATCH /api/v1/kanban/boards/{id}",
            "DELETE /api/v1/kanban/boards/{id}",
            "POST /api/v1/kanban/boards/{id}/cards",
            "POST /api/v1/kanban/boards/{id}/columns",
            "GET /api/v1/kanban/boards/{id}/moves",
        ],
    ),
    by_id(
        "POST /api/v1/purchase-orders",
        &[
            "GET /api/v1/purchase-orders/{id}",
            "PATCH /api/v1/purchase-orders/{id}",
            "POST /api/v1/purchase-orders/{id}/submit",
            "POST /api/v1/purchase-orders/{id}/cancel",
        ],
    ),
    LinkFamily {
        create: "POST /api/v1/webhooks/endpoints",
        status: "201",
        field: "endpoint/id",
        parameter: "id",
        targets: &[
            "GET /api/v1/webhooks/endpoints/{id}",
            "PATCH /api/v1/webhooks/endpoints/{id}",
            "DELETE /api/v1/webhooks/endpoints/{id}",
            "GET /api/v1/webhooks/endpoints/{id}/deliveries",
            "POST /api/v1/webhooks/endpoints/{id}/rotate-secret",
            "POST /api/v1/webhooks/endpoints/{id}/test",
        ],
    },
]);

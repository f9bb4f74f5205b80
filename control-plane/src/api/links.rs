//! The admin API's OpenAPI links (see `common::openapi_links`): from each create to the
//! operations that take the created id or code, for schemathesis' stateful phase.

use common::openapi_links::{LinkFamily, Links};

pub const LINKS: Links = Links(&[
    LinkFamily {
        create: "POST /api/v1/plans",
        status: "201",
        field: "code",
        parameter: "code",
        targets: &["GET /api/v1/plans/{code}", "PATCH /api/v1/plans/{code}"],
    },
    LinkFamily {
        create: "POST /api/v1/admins",
        status: "201",
        field: "id",
        parameter: "id",
        targets: &["PATCH /api/v1/admins/{id}"],
    },
    LinkFamily {
        create: "POST /api/v1/tenants",
        status: "202",
        field: "id",
        parameter: "id",
        targets: &[
            "GET /api/v1/tenants/{id}",
            "PATCH /api/v1/tenants/{id}",
            "POST /api/v1/tenants/{id}/suspend",
            "POST /api/v1/tenants/{id}/resume",
            "GET /api/v1/tenants/{id}/backups",
        ],
    },
    LinkFamily {
        create: "POST /api/v1/servers",
        status: "201",
        field: "id",
        parameter: "id",
        targets: &[
            "PATCH /api/v1/servers/{id}",
            "POST /api/v1/servers/{id}/drain",
            "POST /api/v1/servers/{id}/activate",
        ],
    },
]);

//! OpenAPI links from an operation that creates a resource to the operations that take its
//! id, so that schemathesis' stateful phase can chain them (create an item, then read,
//! change and delete that item) instead of guessing ids that name nothing. A service lists
//! its [`LinkFamily`]s and adds [`Links`] to its `#[openapi(modifiers(...))]`, after
//! `ErrorResponses` (which settles the operation ids the links name).

use utoipa::Modify;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr};

/// One creating operation and the operations its response's id feeds.
#[derive(Debug, Clone, Copy)]
pub struct LinkFamily {
    /// `"POST /api/v1/items"`.
    pub create: &'static str,
    /// The created response's status (`"201"`, `"202"`).
    pub status: &'static str,
    /// Where the id sits in the response body, as a JSON pointer without the `/`:
    /// `"id"`, `"endpoint/id"`.
    pub field: &'static str,
    /// The path parameter of the targets the id fills (`"id"`, `"code"`).
    pub parameter: &'static str,
    /// `"GET /api/v1/items/{id}"`, ...
    pub targets: &'static [&'static str],
}

/// The modifier: `modifiers(..., &Links(&[...]))`. A family naming an operation the
/// document lacks is a programming error and panics when the document is built (which
/// every service's tests do).
pub struct Links(pub &'static [LinkFamily]);

impl Modify for Links {
    fn modify(&self, openapi: &mut OpenApi) {
        for family in self.0 {
            let links: Vec<(String, utoipa::openapi::link::Link)> = family
                .targets
                .iter()
                .map(|target| {
                    let id = operation(openapi, target)
                        .and_then(|operation| operation.operation_id.clone())
                        .unwrap_or_else(|| panic!("link target {target} has no operation id"));
                    // utoipa 5.5 writes `operation_id` for the field OpenAPI calls
                    // `operationId`, which readers ignore; the name goes in as an entry of
                    // the flattened map instead.
                    let operation_id = Extensions::from_iter([("operationId", id.clone())]);
                    let link = LinkBuilder::new()
                        .parameter(
                            family.parameter,
                            format!("$response.body#/{}", family.field),
                        )
                        .extensions(Some(operation_id))
                        .build();
                    (id, link)
                })
                .collect();
            let create = operation(openapi, family.create)
                .unwrap_or_else(|| panic!("no operation {}", family.create));
            let Some(RefOr::T(response)) = create.responses.responses.get_mut(family.status) else {
                panic!("{} documents no {} response", family.create, family.status);
            };
            for (name, link) in links {
                response.links.insert(name, RefOr::T(link));
            }
        }
    }
}

/// The operation `"METHOD /path"` names.
fn operation<'a>(openapi: &'a mut OpenApi, name: &str) -> Option<&'a mut Operation> {
    let (method, path) = name.split_once(' ')?;
    let item = openapi.paths.paths.get_mut(path)?;
    match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "PUT" => item.put.as_mut(),
        "PATCH" => item.patch.as_mut(),
        "DELETE" => item.delete.as_mut(),
        _ => None,
    }
}

//! What both services' OpenAPI documents share: every error response documented as
//! `application/problem+json` with the [`Problem`] schema, including the ones no handler
//! annotates because an extractor, a middleware or the JSON configuration answers them.
//!
//! A service lists its [`StandardError`]s, each saying which operations can get it (all,
//! those with a body, a path parameter, a query, or a bearer token), and adds
//! [`ErrorResponses`] to its `#[openapi(modifiers(...))]`. The modifier then, for every
//! operation: turns each error response the handler annotated into problem+json (keeping
//! its description), adds the standard ones that apply (a `$ref` to
//! `components/responses` when it is the only one for that status, their descriptions
//! joined otherwise), and makes operation ids unique (`{tag}_{id}` when two share one).
//!
//! It also holds the request-field schemas both services check the same way (email,
//! slug, password, free text), for `#[schema(schema_with = ...)]`, so that a request the
//! document allows is one the server accepts. Patterns are written for the ECMA and
//! Python dialects alike; where the server is laxer (it trims, lowercases, or takes
//! non-ASCII addresses) the schema is the stricter, safe side.

use crate::passwords::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
use crate::problem::{FieldError, Problem};
use std::collections::{BTreeMap, HashMap};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{AllOfBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{
    ArrayBuilder, ContentBuilder, Header, Object, ObjectBuilder, OpenApi, Ref, RefOr, Response,
    ResponseBuilder, Type,
};
use utoipa::{Modify, PartialSchema, ToSchema};

/// Which operations an error can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// Operations that take a JSON request body.
    Body,
    /// Operations with a path parameter (a malformed one answers 404 `not_found`).
    Path,
    /// Operations with query parameters (a malformed query answers 422).
    Query,
    /// Operations that need a bearer token.
    Secured,
}

/// An error response that operations get without annotating it.
#[derive(Debug, Clone, Copy)]
pub struct StandardError {
    pub status: u16,
    /// Its name under `components/responses`.
    pub name: &'static str,
    /// The `code`s and what they mean.
    pub description: &'static str,
    /// Sent with a `Retry-After` header.
    pub retry_after: bool,
    pub when: When,
}

/// The JSON body could not be read: what `common::http::json_config` answers.
pub const BODY_ERRORS: [StandardError; 4] = [
    StandardError {
        status: 400,
        name: "MalformedJson",
        description: "`malformed_json`: the body is not well-formed JSON",
        retry_after: false,
        when: When::Body,
    },
    StandardError {
        status: 413,
        name: "PayloadTooLarge",
        description: "`payload_too_large`: the body exceeds the size limit",
        retry_after: false,
        when: When::Body,
    },
    StandardError {
        status: 415,
        name: "UnsupportedMediaType",
        description: "`unsupported_media_type`: the body is not sent as `application/json`",
        retry_after: false,
        when: When::Body,
    },
    StandardError {
        status: 422,
        name: "ValidationFailed",
        description: "`validation_failed`: a field is missing, of the wrong type or out of \
                      range, or text holds a NUL character; `errors` names each",
        retry_after: false,
        when: When::Body,
    },
];

/// A query string that does not fit its parameters.
pub const QUERY_ERROR: StandardError = StandardError {
    status: 422,
    name: "InvalidQuery",
    description: "`validation_failed`: a query parameter is malformed or out of range",
    retry_after: false,
    when: When::Query,
};

/// A path parameter that does not parse (not a UUID, say).
pub const PATH_ERROR: StandardError = StandardError {
    status: 404,
    name: "NotFound",
    description: "`not_found`: the path names nothing (a malformed id)",
    retry_after: false,
    when: When::Path,
};

/// The opaque 500 of the error policy (`common::problem`).
pub const INTERNAL_ERROR: StandardError = StandardError {
    status: 500,
    name: "InternalError",
    description: "`internal_error`: something went wrong on the server; it has been logged",
    retry_after: false,
    when: When::Always,
};

/// What [`crate::bearer`] answers when the token is missing or not valid.
pub const UNAUTHORIZED_ERROR: StandardError = StandardError {
    status: 401,
    name: "Unauthorized",
    description: "`unauthorized` (no bearer token), `invalid_token`, `token_expired`",
    retry_after: false,
    when: When::Secured,
};

/// What [`crate::http::until_started`] answers under `/api/` while the service starts.
pub const STARTING_ERROR: StandardError = StandardError {
    status: 503,
    name: "Starting",
    description: "`starting`: the service is still starting (migrating its database); try \
                  again after `Retry-After`",
    retry_after: true,
    when: When::Always,
};

/// [`crate::ids::normalize_email`]: one `@`, a dotted domain, no spaces, at most 254
/// bytes (visible ASCII here, so characters and bytes agree).
pub fn email() -> Object {
    text_schema(1, 254, parsers::names::EMAIL_PATTERN)
}

/// [`crate::ids::TenantSlug::parse`]: 3 to 40 of `[a-z0-9-]`, no edge hyphen, not reserved.
pub fn slug() -> Object {
    text_schema(3, 40, &parsers::names::slug_pattern())
}

/// [`crate::passwords::acceptable`]: a length in characters, nothing else.
pub fn password() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(MIN_PASSWORD_LEN))
        .max_length(Some(MAX_PASSWORD_LEN))
        .build()
}

/// A written reason: 3 to 500 characters once trimmed.
pub fn reason() -> Object {
    text_schema(3, 500, "\\S[\\s\\S]+\\S")
}

/// The pattern of a hyphenated UUID, the form the APIs give out and parse.
const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// A UUID in a JSON body (a schema's `format` alone does not constrain the string).
pub fn uuid() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Uuid,
        )))
        .pattern(Some(UUID_PATTERN))
        .build()
}

/// A UUID or `null`.
pub fn uuid_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Uuid,
        )))
        .pattern(Some(UUID_PATTERN))
        .build()
}

/// A name of 1 to `max` characters once trimmed (something that is not a space).
pub fn name(max: usize) -> Object {
    text_schema(1, max, "\\S")
}

/// A string that is one of `values`.
pub fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
}

/// A list of strings each one of `values`.
pub fn list_of<'a>(values: impl IntoIterator<Item = &'a str>) -> utoipa::openapi::Array {
    ArrayBuilder::new().items(one_of(values)).build()
}

fn text_schema(min: usize, max: usize, pattern: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .build()
}

/// The modifier: `modifiers(&ErrorResponses(&[...]))`.
pub struct ErrorResponses(pub &'static [StandardError]);

/// A request body that must name exactly one of two things (a quality plan is for an item
/// or for a category): the derived schema allows both or neither, so this modifier wraps
/// schema `schema` in `allOf` with a `oneOf` of two branches, each requiring its field as a
/// UUID and the other absent or `null`, as the server checks it.
pub struct ExactlyOneOf {
    pub schema: &'static str,
    pub fields: [&'static str; 2],
}

impl Modify for ExactlyOneOf {
    fn modify(&self, openapi: &mut OpenApi) {
        let Some(schemas) = openapi.components.as_mut().map(|c| &mut c.schemas) else {
            return;
        };
        let Some(derived) = schemas.remove(self.schema) else {
            return;
        };
        let [first, second] = self.fields;
        let branch = |named: &str, other: &str| {
            ObjectBuilder::new()
                .required(named)
                .property(named, uuid())
                .property(other, ObjectBuilder::new().schema_type(Type::Null))
        };
        let one_of = OneOfBuilder::new()
            .item(branch(first, second))
            .item(branch(second, first));
        let wrapped = AllOfBuilder::new().item(derived).item(one_of).build();
        schemas.insert(self.schema.to_owned(), RefOr::T(Schema::AllOf(wrapped)));
    }
}

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert(Problem::name().into_owned(), Problem::schema());
        components
            .schemas
            .insert(FieldError::name().into_owned(), FieldError::schema());
        for standard in self.0 {
            components
                .responses
                .insert(standard.name.to_owned(), RefOr::T(response(standard)));
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                document_errors(operation, self.0);
            }
        }
        unique_operation_ids(openapi);
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn applies(when: When, operation: &Operation) -> bool {
    let has_parameter = |place: ParameterIn| {
        operation
            .parameters
            .iter()
            .flatten()
            .any(|parameter| parameter.parameter_in == place)
    };
    match when {
        When::Always => true,
        When::Body => operation.request_body.is_some(),
        When::Path => has_parameter(ParameterIn::Path),
        When::Query => has_parameter(ParameterIn::Query),
        When::Secured => operation
            .security
            .as_ref()
            .is_some_and(|security| !security.is_empty()),
    }
}

fn document_errors(operation: &mut Operation, standards: &[StandardError]) {
    let mut by_status: BTreeMap<u16, Vec<&StandardError>> = BTreeMap::new();
    for standard in standards.iter().filter(|s| applies(s.when, operation)) {
        by_status.entry(standard.status).or_default().push(standard);
    }
    let responses = &mut operation.responses.responses;
    for (status, entry) in responses.iter_mut() {
        let (RefOr::T(annotated), Ok(code)) = (entry, status.parse::<u16>()) else {
            continue;
        };
        if code < 400 {
            continue;
        }
        let extra = by_status.remove(&code).unwrap_or_default();
        let own = annotated.description.trim();
        let described = (!own.is_empty()).then(|| own.to_owned());
        *annotated = merged(code, described, &extra);
    }
    for (status, extra) in by_status {
        let documented = match extra.as_slice() {
            [only] => RefOr::Ref(Ref::from_response_name(only.name)),
            _ => RefOr::T(merged(status, None, &extra)),
        };
        responses.insert(status.to_string(), documented);
    }
}

/// One response for `status`: the handler's own description (if any) and the standard
/// ones, as problem+json, with `Retry-After` when any of them sends it.
fn merged(status: u16, own: Option<String>, standards: &[&StandardError]) -> Response {
    let descriptions: Vec<String> = own
        .into_iter()
        .chain(standards.iter().map(|s| s.description.to_owned()))
        .collect();
    let description = if descriptions.is_empty() {
        default_description(status).to_owned()
    } else {
        descriptions.join("; ")
    };
    let retry_after = standards.iter().any(|s| s.retry_after) || status == 429;
    problem_response(description, retry_after)
}

fn default_description(status: u16) -> &'static str {
    match status {
        401 => "not signed in",
        403 => "not allowed",
        404 => "not found",
        409 => "conflicts with the current state",
        422 => "`validation_failed`",
        429 => "too many requests",
        503 => "unavailable for now",
        _ => "error",
    }
}

fn response(standard: &StandardError) -> Response {
    problem_response(standard.description.to_owned(), standard.retry_after)
}

fn problem_response(description: String, retry_after: bool) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(Problem::name())))
        .build();
    let mut builder = ResponseBuilder::new()
        .description(description)
        .content(crate::problem::CONTENT_TYPE, content);
    if retry_after {
        let seconds = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .build();
        let mut header = Header::new(seconds);
        header.description = Some("Seconds to wait before trying again".into());
        builder = builder.header("Retry-After", header);
    }
    builder.build()
}

/// utoipa names an operation after its handler; several handlers share names (`list`,
/// `update`), and a generated client needs each id once: those become `{tag}_{id}`.
fn unique_operation_ids(openapi: &mut OpenApi) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for item in openapi.paths.paths.values_mut() {
        for operation in operations(item) {
            if let Some(id) = &operation.operation_id {
                *counts.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for item in openapi.paths.paths.values_mut() {
        for operation in operations(item) {
            let (Some(id), Some(tag)) = (
                operation.operation_id.as_ref(),
                operation.tags.iter().flatten().next(),
            ) else {
                continue;
            };
            if counts.get(id).is_some_and(|count| *count > 1) {
                operation.operation_id = Some(format!("{tag}_{id}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, PathsBuilder};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{HttpMethod, OpenApiBuilder, ResponsesBuilder};

    const STANDARDS: [StandardError; 6] = [
        BODY_ERRORS[0],
        BODY_ERRORS[1],
        BODY_ERRORS[2],
        BODY_ERRORS[3],
        PATH_ERROR,
        INTERNAL_ERROR,
    ];

    fn document(operation: Operation) -> serde_json::Value {
        let paths = PathsBuilder::new().path("/x/{id}", PathItem::new(HttpMethod::Post, operation));
        let mut openapi = OpenApiBuilder::new().paths(paths).build();
        ErrorResponses(&STANDARDS).modify(&mut openapi);
        serde_json::to_value(&openapi).expect("serializes")
    }

    fn with_body_and_path() -> OperationBuilder {
        OperationBuilder::new()
            .operation_id(Some("update"))
            .request_body(Some(RequestBodyBuilder::new().build()))
            .parameter(
                ParameterBuilder::new()
                    .name("id")
                    .parameter_in(ParameterIn::Path),
            )
    }

    #[test]
    fn an_operation_gets_the_errors_its_shape_implies_as_problem_json() {
        let json = document(with_body_and_path().build());
        let responses = &json["paths"]["/x/{id}"]["post"]["responses"];
        for (status, name) in [
            ("400", "MalformedJson"),
            ("413", "PayloadTooLarge"),
            ("415", "UnsupportedMediaType"),
            ("422", "ValidationFailed"),
            ("404", "NotFound"),
            ("500", "InternalError"),
        ] {
            assert_eq!(
                responses[status]["$ref"],
                format!("#/components/responses/{name}")
            );
        }
        let component = &json["components"]["responses"]["MalformedJson"];
        assert_eq!(
            component["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert!(json["components"]["schemas"]["Problem"].is_object());
    }

    #[test]
    fn an_annotated_error_keeps_its_description_and_becomes_problem_json() {
        let annotated = ResponsesBuilder::new()
            .response("404", Response::new("`user_not_found`"))
            .response("429", Response::new("`rate_limited`"));
        let json = document(with_body_and_path().responses(annotated).build());
        let responses = &json["paths"]["/x/{id}"]["post"]["responses"];
        let not_found = &responses["404"];
        assert_eq!(
            not_found["description"],
            "`user_not_found`; `not_found`: the path names nothing (a malformed id)"
        );
        assert!(not_found["content"]["application/problem+json"].is_object());
        assert!(not_found["content"].get("application/json").is_none());
        assert!(responses["429"]["headers"]["Retry-After"].is_object());
    }

    #[test]
    fn shared_operation_ids_are_prefixed_with_the_tag() {
        let a = OperationBuilder::new()
            .operation_id(Some("list"))
            .tag("users")
            .build();
        let b = OperationBuilder::new()
            .operation_id(Some("list"))
            .tag("roles")
            .build();
        let c = OperationBuilder::new()
            .operation_id(Some("login"))
            .tag("auth")
            .build();
        let paths = PathsBuilder::new()
            .path("/users", PathItem::new(HttpMethod::Get, a))
            .path("/roles", PathItem::new(HttpMethod::Get, b))
            .path("/login", PathItem::new(HttpMethod::Post, c));
        let mut openapi = OpenApiBuilder::new().paths(paths).build();
        ErrorResponses(&[]).modify(&mut openapi);
        let json = serde_json::to_value(&openapi).expect("serializes");
        assert_eq!(json["paths"]["/users"]["get"]["operationId"], "users_list");
        assert_eq!(json["paths"]["/roles"]["get"]["operationId"], "roles_list");
        assert_eq!(json["paths"]["/login"]["post"]["operationId"], "login");
    }
}

//! A company's webhook endpoints: register (the URL passes the guard, the new secret is
//! shown once), list and show (never a secret), change, delete, rotate the secret (the
//! old one signs beside the new one for [`ROTATION_OVERLAP_SECS`]), send a test event
//! through the outbox, and read the delivery log. Each change and its audit entry are
//! written in one transaction. Free text (the description) is stored as typed; whoever
//! renders it escapes it.

use super::Webhooks;
use crate::auth::CurrentUser;
use crate::erp::events::{self, ALL_EVENTS, CATALOGUE};
use actix_web::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit as audit;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP_SECS: f64 = 24.0 * 3600.0;
pub const MAX_URL_CHARS: usize = 2000;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_EVENT_TYPES: usize = 50;
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// A registered endpoint (its secret is never shown again after it was made).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// Event types from the catalogue, or `*` for all.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why it is disabled: `manual`, `gone` (the receiver answered 410) or `failing`
    /// (a delivery failed for about three days).
    #[schema(schema_with = disabled_reason_schema)]
    pub disabled_reason: Option<String>,
    /// Until when the previous secret still signs beside the current one.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn disabled_reason_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::schema::Type::String,
            utoipa::openapi::schema::Type::Null,
        ]))
        .enum_values(Some(["manual", "gone", "failing"]))
        .build()
}

/// An endpoint with its signing secret: answered once, when made.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEndpoint {
    pub endpoint: Endpoint,
    /// `whsec_` + base64 of 32 bytes: verify `webhook-signature` with it. Shown only now.
    pub secret: String,
}

/// A rotated secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new secret, shown only now.
    pub secret: String,
    /// Until then deliveries carry a signature by the previous secret too.
    pub previous_secret_expires_at: DateTime<Utc>,
}

/// A queued test event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestEvent {
    /// The event id: the `webhook-id` header of its deliveries.
    pub event_id: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// `https://` (plain `http://` only to networks the operator allowed, for tests); the
    /// host must resolve to public addresses only.
    #[schema(
        min_length = 8,
        max_length = 2000,
        pattern = "^[hH][tT][tT][pP][sS]?://"
    )]
    pub url: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
    #[schema(schema_with = event_types_schema)]
    pub event_types: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    #[schema(
        min_length = 8,
        max_length = 2000,
        pattern = "^[hH][tT][tT][pP][sS]?://"
    )]
    pub url: Option<String>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[schema(schema_with = event_types_schema)]
    pub event_types: Option<Vec<String>>,
    /// Enabling again clears the failure count; disabling cancels pending deliveries.
    pub enabled: Option<bool>,
}

fn event_types_schema() -> utoipa::openapi::Array {
    let names = CATALOGUE.iter().map(|(name, _)| *name).chain([ALL_EVENTS]);
    let mut list = common::openapi::list_of(names);
    list.min_items = Some(1);
    list.max_items = Some(MAX_EVENT_TYPES);
    list
}

/// `?limit=&after=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    fn limit(&self) -> ApiResult<i64> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            Some(_) => Err(ApiError::invalid("limit", "must be 1 to 200")),
        }
    }

    fn after(&self) -> ApiResult<Option<Uuid>> {
        let Some(cursor) = &self.after else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| Uuid::from_slice(&bytes).ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid("after", "is not a cursor this API gave out"))
    }
}

/// Keeps `limit` rows; the cursor of the last one when there were more.
fn next_cursor<T>(rows: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> Uuid) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    more.then(|| {
        rows.last()
            .map(|row| URL_SAFE_NO_PAD.encode(id(row).as_bytes()))
    })
    .flatten()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointPage {
    pub items: Vec<Endpoint>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next: Option<String>,
}

/// One delivery of an event to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryRecord {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    #[schema(schema_with = delivery_status_schema)]
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

fn delivery_status_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(["pending", "delivered", "failed", "canceled"])
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub items: Vec<DeliveryRecord>,
    pub next: Option<String>,
}

const ENDPOINT_SELECT: &str = "SELECT id, url, description, event_types, enabled, \
     disabled_reason, previous_expires_at, created_at, updated_at FROM webhook_endpoints";

fn endpoint(row: &tokio_postgres::Row) -> Endpoint {
    Endpoint {
        id: row.get(0),
        url: row.get(1),
        description: row.get(2),
        event_types: row.get(3),
        enabled: row.get(4),
        disabled_reason: row.get(5),
        previous_secret_expires_at: row.get(6),
        created_at: row.get(7),
        updated_at: row.get(8),
    }
}

pub fn endpoint_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "webhook_endpoint_not_found",
        "no webhook endpoint has this id",
    )
}

/// Endpoints, oldest first.
pub async fn list(
    db: &impl tokio_postgres::GenericClient,
    paging: &PageQuery,
) -> ApiResult<EndpointPage> {
    let limit = paging.limit()?;
    let after = paging.after()?;
    let sql = format!("{ENDPOINT_SELECT} WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2");
    let mut items: Vec<Endpoint> = db
        .query(&sql, &[&after, &(limit + 1)])
        .await?
        .iter()
        .map(endpoint)
        .collect();
    let next = next_cursor(&mut items, limit, |item| item.id);
    Ok(EndpointPage { items, next })
}

pub async fn show(db: &impl tokio_postgres::GenericClient, id: Uuid) -> ApiResult<Endpoint> {
    load(db, id).await?.ok_or_else(endpoint_not_found)
}

async fn load(
    db: &impl tokio_postgres::GenericClient,
    id: Uuid,
) -> Result<Option<Endpoint>, tokio_postgres::Error> {
    let sql = format!("{ENDPOINT_SELECT} WHERE id = $1");
    Ok(db.query_opt(&sql, &[&id]).await?.as_ref().map(endpoint))
}

/// 422 `url_not_allowed` unless the guard lets the URL through.
async fn checked_url(hooks: &Webhooks, url: &str) -> ApiResult<String> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(ApiError::invalid("url", "at most 2000 characters"));
    }
    let (checked, _) = hooks
        .guard()
        .check(url)
        .await
        .map_err(|refusal| ApiError::unprocessable("url_not_allowed", refusal.0))?;
    // Normalising percent-encodes what was typed raw, which can make it longer.
    let checked = checked.to_string();
    if checked.chars().count() > MAX_URL_CHARS {
        return Err(ApiError::invalid(
            "url",
            "at most 2000 characters once encoded",
        ));
    }
    Ok(checked)
}

fn checked_description(description: &str) -> ApiResult<String> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid("description", "at most 500 characters"));
    }
    Ok(description.trim().to_owned())
}

/// Known event names or `*`, each once, in the order given.
fn checked_event_types(types: &[String]) -> ApiResult<Vec<String>> {
    if types.is_empty() || types.len() > MAX_EVENT_TYPES {
        return Err(ApiError::invalid("event_types", "give 1 to 50 event types"));
    }
    let mut checked: Vec<String> = Vec::with_capacity(types.len());
    for name in types {
        if name != ALL_EVENTS && !events::is_known(name) {
            return Err(ApiError::invalid(
                "event_types",
                format!("`{name}` is not an event type (see the catalogue)"),
            ));
        }
        if !checked.contains(name) {
            checked.push(name.clone());
        }
    }
    Ok(checked)
}

/// Registers an endpoint with a new secret (answered once).
pub async fn create(
    current: &mut CurrentUser,
    hooks: &Webhooks,
    input: NewEndpoint,
) -> ApiResult<CreatedEndpoint> {
    let description = checked_description(&input.description)?;
    let event_types = checked_event_types(&input.event_types)?;
    let url = checked_url(hooks, &input.url).await?;
    let id = Uuid::now_v7();
    let secret = super::signing::new_secret();
    let sealed = super::seal_secret(hooks, id, &secret).map_err(ApiError::internal)?;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    transaction
        .execute(
            "INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, \
               disabled_reason, secret_key_id, secret_sealed) \
             VALUES ($1, $2, $3, $4, $5, CASE WHEN $5 THEN NULL ELSE 'manual' END, $6, $7)",
            &[
                &id,
                &url,
                &description,
                &event_types,
                &input.enabled,
                &sealed.key_id,
                &sealed.ciphertext,
            ],
        )
        .await?;
    let endpoint = show(&transaction, id).await?;
    let entry = audit::Entry {
        action: "webhook_endpoint.created",
        target_kind: "webhook_endpoint",
        target_id: id.to_string(),
        before: None,
        after: Some(snapshot(&endpoint)),
    };
    audit::record(&transaction, &actor, entry).await?;
    transaction.commit().await?;
    Ok(CreatedEndpoint { endpoint, secret })
}

fn snapshot(endpoint: &Endpoint) -> serde_json::Value {
    json!({"url": endpoint.url, "description": endpoint.description,
           "event_types": endpoint.event_types, "enabled": endpoint.enabled,
           "disabled_reason": endpoint.disabled_reason})
}

/// Changes an endpoint's URL, description, event types or enabled flag.
pub async fn update(
    current: &mut CurrentUser,
    hooks: &Webhooks,
    id: Uuid,
    change: EndpointChange,
) -> ApiResult<Endpoint> {
    let description = change
        .description
        .as_deref()
        .map(checked_description)
        .transpose()?;
    let event_types = change
        .event_types
        .as_deref()
        .map(checked_event_types)
        .transpose()?;
    let url = match &change.url {
        Some(url) => Some(checked_url(hooks, url).await?),
        None => None,
    };
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let before = transaction
        .query_opt(
            &format!("{ENDPOINT_SELECT} WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(endpoint)
        .ok_or_else(endpoint_not_found)?;
    transaction
        .execute(
            "UPDATE webhook_endpoints SET url = coalesce($2, url), \
               description = coalesce($3, description), \
               event_types = coalesce($4, event_types), updated_at = now() WHERE id = $1",
            &[&id, &url, &description, &event_types],
        )
        .await?;
    match change.enabled {
        Some(true) if !before.enabled => {
            transaction
                .execute(
                    "UPDATE webhook_endpoints SET enabled = true, disabled_reason = NULL, \
                       consecutive_failures = 0 WHERE id = $1",
                    &[&id],
                )
                .await?;
        }
        Some(false) if before.enabled => {
            disable(&transaction, id, "manual").await?;
        }
        _ => {}
    }
    let after = show(&transaction, id).await?;
    let entry = audit::Entry {
        action: "webhook_endpoint.updated",
        target_kind: "webhook_endpoint",
        target_id: id.to_string(),
        before: Some(snapshot(&before)),
        after: Some(snapshot(&after)),
    };
    audit::record(&transaction, &actor, entry).await?;
    transaction.commit().await?;
    Ok(after)
}

/// Disables an enabled endpoint for `reason` and cancels its pending deliveries; answers
/// whether it was enabled.
pub async fn disable(
    db: &impl tokio_postgres::GenericClient,
    id: Uuid,
    reason: &str,
) -> Result<bool, tokio_postgres::Error> {
    let changed = db
        .execute(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, \
               updated_at = now() WHERE id = $1 AND enabled",
            &[&id, &reason],
        )
        .await?;
    db.execute(
        "UPDATE webhook_deliveries SET status = 'canceled', next_attempt_at = NULL, \
           updated_at = now() WHERE endpoint_id = $1 AND status = 'pending'",
        &[&id],
    )
    .await?;
    Ok(changed > 0)
}

/// Deletes an endpoint with its delivery log.
pub async fn delete(current: &mut CurrentUser, id: Uuid) -> ApiResult<()> {
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let before = transaction
        .query_opt(
            &format!("{ENDPOINT_SELECT} WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(endpoint)
        .ok_or_else(endpoint_not_found)?;
    transaction
        .execute("DELETE FROM webhook_endpoints WHERE id = $1", &[&id])
        .await?;
    let entry = audit::Entry {
        action: "webhook_endpoint.deleted",
        target_kind: "webhook_endpoint",
        target_id: id.to_string(),
        before: Some(snapshot(&before)),
        after: None,
    };
    audit::record(&transaction, &actor, entry).await?;
    transaction.commit().await?;
    Ok(())
}

/// Gives the endpoint a new secret; the current one keeps signing beside it for a day
/// (a rotation during an overlap drops the oldest).
pub async fn rotate_secret(
    current: &mut CurrentUser,
    hooks: &Webhooks,
    id: Uuid,
) -> ApiResult<RotatedSecret> {
    let secret = super::signing::new_secret();
    let sealed = super::seal_secret(hooks, id, &secret).map_err(ApiError::internal)?;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let row = transaction
        .query_opt(
            "UPDATE webhook_endpoints SET previous_key_id = secret_key_id, \
               previous_sealed = secret_sealed, \
               previous_expires_at = now() + make_interval(secs => $4), \
               secret_key_id = $2, secret_sealed = $3, updated_at = now() \
             WHERE id = $1 RETURNING previous_expires_at",
            &[
                &id,
                &sealed.key_id,
                &sealed.ciphertext,
                &ROTATION_OVERLAP_SECS,
            ],
        )
        .await?
        .ok_or_else(endpoint_not_found)?;
    let expires: DateTime<Utc> = row.get(0);
    let entry = audit::Entry {
        action: "webhook_endpoint.secret_rotated",
        target_kind: "webhook_endpoint",
        target_id: id.to_string(),
        before: None,
        after: Some(json!({"previous_secret_expires_at": expires})),
    };
    audit::record(&transaction, &actor, entry).await?;
    transaction.commit().await?;
    Ok(RotatedSecret {
        secret,
        previous_secret_expires_at: expires,
    })
}

/// Queues a `webhook.test` event for this endpoint alone, through the same outbox as any
/// event (409 `endpoint_disabled` when it is disabled).
pub async fn send_test(current: &mut CurrentUser, id: Uuid) -> ApiResult<TestEvent> {
    let transaction = current.db.begin().await?;
    let target = show(&transaction, id).await?;
    if !target.enabled {
        return Err(ApiError::conflict(
            "endpoint_disabled",
            "enable the endpoint before sending it a test event",
        ));
    }
    let data = json!({"endpoint_id": id, "message": "This is a test event."});
    let event_id = events::emit_to(&transaction, "webhook.test", data, Some(id)).await?;
    transaction.commit().await?;
    Ok(TestEvent { event_id })
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries(
    db: &impl tokio_postgres::GenericClient,
    id: Uuid,
    paging: &PageQuery,
) -> ApiResult<DeliveryPage> {
    show(db, id).await?;
    let limit = paging.limit()?;
    let after = paging.after()?;
    let mut items: Vec<DeliveryRecord> = db
        .query(
            "SELECT d.id, d.event_id, ev.event_type, d.status, d.attempts, d.last_status, \
               d.last_error, d.next_attempt_at, d.delivered_at, d.created_at \
             FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id \
             WHERE d.endpoint_id = $1 AND ($2::uuid IS NULL OR d.id < $2) \
             ORDER BY d.id DESC LIMIT $3",
            &[&id, &after, &(limit + 1)],
        )
        .await?
        .iter()
        .map(|row| DeliveryRecord {
            id: row.get(0),
            event_id: row.get(1),
            event_type: row.get(2),
            status: row.get(3),
            attempts: row.get(4),
            last_status_code: row.get(5),
            last_error: row.get(6),
            next_attempt_at: row.get(7),
            delivered_at: row.get(8),
            created_at: row.get(9),
        })
        .collect();
    let next = next_cursor(&mut items, limit, |item| item.id);
    Ok(DeliveryPage { items, next })
}

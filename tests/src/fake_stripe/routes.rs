//! The endpoints: which (method, path) does what to the state, how each reads its form
//! fields, and the answer, success or a Stripe-shaped error.

use super::form::Form;
use super::objects::{self, SessionFields};
use super::state::{CheckoutRecord, State, apply_status};
use serde_json::{Map, Value, json};

/// An answer: HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(code: &str, param: Option<&str>, message: &str) -> Reply {
        let body = objects::error("invalid_request_error", Some(code), param, message);
        Reply { status: 400, body }
    }

    /// 400 `parameter_missing` for a required parameter.
    pub fn param_missing(param: &str) -> Reply {
        Reply::invalid(
            "parameter_missing",
            Some(param),
            &format!("Missing required param: {param}."),
        )
    }

    /// 404 `resource_missing`, or 400 when the missing object was named in a parameter
    /// (as Stripe does for `customer=cus_unknown`).
    pub fn no_such(kind: &str, id: &str, param: &str) -> Reply {
        let status = if param == "id" { 404 } else { 400 };
        let message = format!("No such {kind}: '{id}'");
        let body = objects::error(
            "invalid_request_error",
            Some("resource_missing"),
            Some(param),
            &message,
        );
        Reply { status, body }
    }

    pub fn unknown_route(method: &str, path: &str) -> Reply {
        let message = format!(
            "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
        );
        let body = objects::error("invalid_request_error", None, None, &message);
        Reply { status: 404, body }
    }

    pub fn unauthorized() -> Reply {
        let message = "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').";
        let body = objects::error("invalid_request_error", None, None, message);
        Reply { status: 401, body }
    }

    pub fn idempotency_mismatch(key: &str) -> Reply {
        let message = format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
        );
        let body = objects::error("idempotency_error", None, None, &message);
        Reply { status: 400, body }
    }

    /// A failure a test asked for: `api_error` for 5xx, `invalid_request_error` otherwise.
    pub fn injected(status: u16) -> Reply {
        let kind = if status >= 500 {
            "api_error"
        } else {
            "invalid_request_error"
        };
        let message = format!("Injected failure: the fake Stripe answers {status}.");
        let body = objects::error(kind, None, None, &message);
        Reply { status, body }
    }
}

/// A request as the endpoints see it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a Form,
    pub form: &'a Form,
}

/// Runs the endpoint for `call`.
pub fn route(state: &mut State, call: Call<'_>) -> Reply {
    let Some(rest) = call.path.strip_prefix("/v1/") else {
        return Reply::unknown_route(call.method, call.path);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let form = call.form;
    match (call.method, segments.as_slice()) {
        ("POST", ["customers"]) => create_customer(state, form),
        ("GET", ["customers", id]) => found(state.customer(id), "customer", id),
        ("POST", ["checkout", "sessions"]) => create_checkout_session(state, form),
        ("GET", ["checkout", "sessions", id]) => found(
            state.checkout(id).map(|record| &record.session),
            "checkout.session",
            id,
        ),
        ("POST", ["billing_portal", "sessions"]) => create_portal_session(state, form),
        ("GET", ["subscriptions"]) => list_subscriptions(state, call.query),
        ("GET", ["subscriptions", id]) => found(state.subscription(id), "subscription", id),
        ("POST", ["subscriptions", id]) => update_subscription(state, id, form),
        ("DELETE", ["subscriptions", id]) => cancel_subscription(state, id),
        ("GET", ["invoices", id]) => found(state.invoice(id), "invoice", id),
        ("POST", ["billing", "meter_events"]) => create_meter_event(state, form),
        _ => Reply::unknown_route(call.method, call.path),
    }
}

fn found(object: Option<&Value>, kind: &str, id: &str) -> Reply {
    object.map_or_else(
        || Reply::no_such(kind, id, "id"),
        |object| Reply::ok(object.clone()),
    )
}

/// `email`, `name`, `metadata[k]`.
fn create_customer(state: &mut State, form: &Form) -> Reply {
    Reply::ok(state.add_customer(form.json("email"), form.json("name"), form.map("metadata")))
}

/// `mode=subscription`, `customer` or `customer_email`, `line_items[0][price]`,
/// `line_items[0][quantity]`, `success_url`, `cancel_url`, `client_reference_id`,
/// `metadata[k]`, `subscription_data[metadata][k]`, `subscription_data[trial_end]` or
/// `subscription_data[trial_period_days]`.
fn create_checkout_session(state: &mut State, form: &Form) -> Reply {
    match form.get("mode") {
        None => return Reply::param_missing("mode"),
        Some("subscription") => {}
        Some(other) => {
            let message = format!("The fake Stripe only makes subscription sessions, not {other}.");
            return Reply::invalid("parameter_invalid_string", Some("mode"), &message);
        }
    }
    let Some(price) = form.get("line_items[0][price]") else {
        return Reply::param_missing("line_items[0][price]");
    };
    if let Some(customer) = form.get("customer")
        && state.customer(customer).is_none()
    {
        return Reply::no_such("customer", customer, "customer");
    }
    let session = objects::checkout_session(&objects::new_id("cs_test"), session_fields(form));
    state.checkouts.push(CheckoutRecord {
        session: session.clone(),
        price: price.to_owned(),
        quantity: form.int("line_items[0][quantity]").unwrap_or(1),
        subscription_metadata: form.map("subscription_data[metadata]"),
        trial_end: trial_end(form),
    });
    Reply::ok(session)
}

fn session_fields(form: &Form) -> SessionFields {
    SessionFields {
        customer: form.json("customer"),
        customer_email: form.json("customer_email"),
        client_reference_id: form.json("client_reference_id"),
        success_url: form.json("success_url"),
        cancel_url: form.json("cancel_url"),
        metadata: form.map("metadata"),
    }
}

/// When a trial asked for in `subscription_data` ends.
fn trial_end(form: &Form) -> Option<i64> {
    let from_days = || {
        form.int("subscription_data[trial_period_days]")
            .map(|days| objects::now() + days * 24 * 3600)
    };
    form.int("subscription_data[trial_end]").or_else(from_days)
}

/// `customer` (required), `return_url`.
fn create_portal_session(state: &mut State, form: &Form) -> Reply {
    let Some(customer) = form.get("customer") else {
        return Reply::param_missing("customer");
    };
    if state.customer(customer).is_none() {
        return Reply::no_such("customer", customer, "customer");
    }
    let session =
        objects::portal_session(&objects::new_id("bps"), customer, form.json("return_url"));
    state.portal_sessions.push(session.clone());
    Reply::ok(session)
}

/// Query `customer`, `price`, `status` (`all`, `ended`, one status; absent: all but
/// canceled), `limit` (default 10, 1..=100), `starting_after`; newest first.
fn list_subscriptions(state: &State, query: &Form) -> Reply {
    let matching: Vec<&Value> = state
        .subscriptions
        .iter()
        .rev()
        .filter(|subscription| subscription_matches(subscription, query))
        .collect();
    let start = match query.get("starting_after") {
        None => 0,
        Some(cursor) => match matching
            .iter()
            .position(|subscription| subscription["id"] == cursor)
        {
            Some(position) => position + 1,
            None => return Reply::no_such("subscription", cursor, "starting_after"),
        },
    };
    let limit = query.int("limit").unwrap_or(10).clamp(1, 100) as usize;
    let rest = &matching[start.min(matching.len())..];
    let page: Vec<Value> = rest
        .iter()
        .take(limit)
        .map(|&subscription| subscription.clone())
        .collect();
    Reply::ok(objects::list(page, rest.len() > limit, "/v1/subscriptions"))
}

fn subscription_matches(subscription: &Value, query: &Form) -> bool {
    let status = subscription["status"].as_str().unwrap_or_default();
    let status_ok = match query.get("status") {
        None => status != "canceled",
        Some("all") => true,
        Some("ended") => matches!(status, "canceled" | "incomplete_expired"),
        Some(wanted) => status == wanted,
    };
    let customer_ok = query
        .get("customer")
        .is_none_or(|customer| subscription["customer"] == customer);
    let price_ok = query.get("price").is_none_or(|price| {
        items(subscription)
            .iter()
            .any(|item| item["price"]["id"] == price)
    });
    status_ok && customer_ok && price_ok
}

fn items(subscription: &Value) -> &[Value] {
    subscription["items"]["data"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// `items[i][id]` with `items[i][price]` / `items[i][quantity]` / `items[i][deleted]`
/// (an item without an id is added), `cancel_at_period_end`, `metadata[k]` (an empty
/// value removes the key); `proration_behavior` and the rest are accepted and ignored.
fn update_subscription(state: &mut State, id: &str, form: &Form) -> Reply {
    let Some(subscription) = state.subscription_mut(id) else {
        return Reply::no_such("subscription", id, "id");
    };
    let changes_billing =
        !form.indexes("items").is_empty() || form.get("cancel_at_period_end").is_some();
    if subscription["status"] == "canceled" && changes_billing {
        let message =
            "A canceled subscription can only update its cancellation_details and metadata.";
        return Reply::invalid("invalid_canceled_subscription_fields", None, message);
    }
    // Changed on a copy, kept only if every change is valid: Stripe applies all or none.
    let mut updated = subscription.clone();
    for index in form.indexes("items") {
        if let Err(reply) = update_item(&mut updated, form, index) {
            return reply;
        }
    }
    updated["items"]["total_count"] = json!(items(&updated).len());
    if let Some(at_period_end) = form.flag("cancel_at_period_end") {
        set_cancel_at_period_end(&mut updated, at_period_end);
    }
    merge_metadata(&mut updated["metadata"], form.map("metadata"));
    *subscription = updated.clone();
    Reply::ok(updated)
}

fn update_item(subscription: &mut Value, form: &Form, index: usize) -> Result<(), Reply> {
    let field = |name: &str| form.get(&format!("items[{index}][{name}]"));
    let subscription_id = subscription["id"].as_str().unwrap_or_default().to_owned();
    let Some(list) = subscription["items"]["data"].as_array_mut() else {
        return Ok(());
    };
    let Some(item_id) = field("id") else {
        let price = field("price")
            .ok_or_else(|| Reply::param_missing(&format!("items[{index}][price]")))?;
        add_item(list, &subscription_id, price);
        return Ok(());
    };
    let Some(position) = list.iter().position(|item| item["id"] == item_id) else {
        let param = format!("items[{index}][id]");
        let message = format!("Invalid subscription_item id: {item_id}");
        return Err(Reply::invalid("resource_missing", Some(&param), &message));
    };
    if field("deleted") == Some("true") {
        list.remove(position);
        return Ok(());
    }
    let item = &mut list[position];
    if let Some(price) = field("price") {
        item["price"] = objects::price(price);
        item["plan"] = objects::plan(price);
    }
    if let Some(quantity) = field("quantity").and_then(|quantity| quantity.parse::<i64>().ok()) {
        item["quantity"] = json!(quantity);
    }
    Ok(())
}

/// A new item, billed over the same period as the first one.
fn add_item(list: &mut Vec<Value>, subscription_id: &str, price: &str) {
    let now = objects::now();
    let period = list.first().map_or((now, now + objects::PERIOD), |first| {
        let start = first["current_period_start"].as_i64().unwrap_or(now);
        let end = first["current_period_end"]
            .as_i64()
            .unwrap_or(now + objects::PERIOD);
        (start, end)
    });
    list.push(objects::subscription_item(
        subscription_id,
        price,
        1,
        period,
    ));
}

/// `true` ends the subscription when its current period does (`cancel_at`) and notes when
/// that was asked (`canceled_at`), as Stripe does; `false` undoes both.
fn set_cancel_at_period_end(subscription: &mut Value, at_period_end: bool) {
    let period_end = items(subscription)
        .first()
        .map_or(Value::Null, |item| item["current_period_end"].clone());
    subscription["cancel_at_period_end"] = json!(at_period_end);
    subscription["cancel_at"] = if at_period_end {
        period_end
    } else {
        Value::Null
    };
    subscription["canceled_at"] = if at_period_end {
        json!(objects::now())
    } else {
        Value::Null
    };
}

fn merge_metadata(metadata: &mut Value, changes: Map<String, Value>) {
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    for (key, value) in changes {
        if value == "" {
            metadata.remove(&key);
        } else {
            metadata.insert(key, value);
        }
    }
}

/// Cancels at once; a subscription already canceled is gone, as on Stripe (404).
fn cancel_subscription(state: &mut State, id: &str) -> Reply {
    match state.subscription_mut(id) {
        Some(subscription) if subscription["status"] != "canceled" => {
            apply_status(subscription, "canceled", objects::now());
            Reply::ok(subscription.clone())
        }
        _ => Reply::no_such("subscription", id, "id"),
    }
}

/// `event_name`, `payload[stripe_customer_id]`, `payload[value]`, `identifier` (made up
/// when absent), `timestamp` (now when absent). An identifier seen before is refused.
fn create_meter_event(state: &mut State, form: &Form) -> Reply {
    let Some(event_name) = form.get("event_name") else {
        return Reply::param_missing("event_name");
    };
    let payload = form.map("payload");
    for required in ["stripe_customer_id", "value"] {
        if !payload.contains_key(required) {
            return Reply::param_missing(&format!("payload[{required}]"));
        }
    }
    let identifier = form
        .get("identifier")
        .map_or_else(|| objects::new_id("mev"), str::to_owned);
    if state
        .meter_events
        .iter()
        .any(|event| event["identifier"] == identifier.as_str())
    {
        let message = format!("An event with identifier {identifier} already exists.");
        return Reply::invalid("resource_already_exists", Some("identifier"), &message);
    }
    let timestamp = form.int("timestamp").unwrap_or_else(objects::now);
    let event = objects::meter_event(event_name, &identifier, payload, timestamp);
    state.meter_events.push(event.clone());
    Reply::ok(event)
}

//! The JSON objects the fake answers with, shaped as Stripe's API renders them for
//! `2026-09-30.endive`: every field async-stripe requires is present with a valid value
//! (its miniserde builders refuse an object missing one), optional ones mostly `null`.

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value, json};

/// The product every fake price belongs to.
const PRODUCT: &str = "prod_fake";
/// What every fake price costs per period, in cents.
const UNIT_AMOUNT: i64 = 1000;
/// The currency of every fake price and subscription.
pub const CURRENCY: &str = "usd";
/// One billing period: 30 days, in seconds.
pub const PERIOD: i64 = 30 * 24 * 3600;

/// A fresh id such as `cus_Xy12...`: the prefix, an underscore and 24 random letters/digits.
pub fn new_id(prefix: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("{prefix}_{suffix}")
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One object from several: `json!` cannot expand a Stripe-sized object in one go (it
/// recurses once per field, past the compiler's limit), so builders write it in parts.
fn merged<const N: usize>(parts: [Value; N]) -> Value {
    let mut object = Map::new();
    for part in parts {
        if let Value::Object(fields) = part {
            object.extend(fields);
        }
    }
    Value::Object(object)
}

/// Stripe's error envelope: `{"error": {"type", "code", "param", "message"}}`.
pub fn error(kind: &str, code: Option<&str>, param: Option<&str>, message: &str) -> Value {
    json!({"error": {"type": kind, "code": code, "param": param, "message": message}})
}

/// A page of a list: `{"object":"list","data":[...],"has_more":..,"url":..}`.
pub fn list(data: Vec<Value>, has_more: bool, url: &str) -> Value {
    json!({"object": "list", "data": data, "has_more": has_more, "url": url})
}

/// What `POST /v1/customers` creates.
pub fn customer(id: &str, email: Value, name: Value, metadata: Map<String, Value>) -> Value {
    merged([
        json!({
            "id": id, "object": "customer", "address": null, "balance": 0, "created": now(),
            "currency": null, "default_source": null, "delinquent": false, "description": null,
            "discount": null, "email": email, "invoice_prefix": invoice_prefix(id)
        }),
        json!({
            "invoice_settings": {
                "custom_fields": null, "default_payment_method": null, "footer": null,
                "rendering_options": null
            },
            "livemode": false, "metadata": metadata, "name": name, "next_invoice_sequence": 1,
            "phone": null, "preferred_locales": [], "shipping": null, "tax_exempt": "none",
            "test_clock": null
        }),
    ])
}

fn invoice_prefix(customer: &str) -> String {
    customer
        .trim_start_matches("cus_")
        .chars()
        .take(8)
        .collect::<String>()
        .to_uppercase()
}

/// What the fake keeps from a Checkout Session request to build the session object.
#[derive(Debug, Clone)]
pub struct SessionFields {
    pub customer: Value,
    pub customer_email: Value,
    pub client_reference_id: Value,
    pub success_url: Value,
    pub cancel_url: Value,
    pub metadata: Map<String, Value>,
}

/// An open subscription-mode Checkout Session, with a `url` to send the customer to.
pub fn checkout_session(id: &str, fields: SessionFields) -> Value {
    let created = now();
    merged([
        json!({
            "id": id, "object": "checkout.session", "after_expiration": null,
            "allow_promotion_codes": null, "amount_subtotal": UNIT_AMOUNT,
            "amount_total": UNIT_AMOUNT, "automatic_tax": {
                "enabled": false, "liability": null, "provider": null, "status": null
            },
            "billing_address_collection": null, "cancel_url": fields.cancel_url,
            "client_reference_id": fields.client_reference_id, "client_secret": null,
            "consent": null, "consent_collection": null, "created": created
        }),
        json!({
            "currency": CURRENCY, "custom_fields": [], "custom_text": {
                "after_submit": null, "shipping_address": null, "submit": null,
                "terms_of_service_acceptance": null
            },
            "customer": fields.customer, "customer_creation": null, "customer_details": null,
            "customer_email": fields.customer_email, "expires_at": created + 24 * 3600,
            "invoice": null, "invoice_creation": null, "livemode": false, "locale": null
        }),
        json!({
            "metadata": fields.metadata, "mode": "subscription", "payment_intent": null,
            "payment_link": null, "payment_method_collection": "always",
            "payment_method_options": null, "payment_method_types": ["card"],
            "payment_status": "unpaid", "phone_number_collection": null, "recovered_from": null,
            "setup_intent": null, "shipping_address_collection": null, "shipping_cost": null
        }),
        json!({
            "shipping_options": [], "status": "open", "submit_type": null, "subscription": null,
            "success_url": fields.success_url, "total_details": null, "ui_mode": "hosted_page",
            "url": format!("https://checkout.stripe.test/c/pay/{id}")
        }),
    ])
}

/// A billing portal session for `customer`, with its `url`.
pub fn portal_session(id: &str, customer: &str, return_url: Value) -> Value {
    json!({
        "id": id, "object": "billing_portal.session", "configuration": "bpc_fake_default",
        "created": now(), "customer": customer, "flow": null, "livemode": false,
        "locale": null, "on_behalf_of": null, "return_url": return_url,
        "url": format!("https://billing.stripe.test/p/session/{id}")
    })
}

/// A monthly recurring price of 10.00 USD with the given id.
pub fn price(id: &str) -> Value {
    json!({
        "id": id, "object": "price", "active": true, "billing_scheme": "per_unit",
        "created": now(), "currency": CURRENCY, "custom_unit_amount": null,
        "livemode": false, "lookup_key": null, "metadata": {}, "nickname": null,
        "product": PRODUCT, "recurring": {
            "interval": "month", "interval_count": 1, "meter": null,
            "trial_period_days": null, "usage_type": "licensed"
        },
        "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null,
        "type": "recurring", "unit_amount": UNIT_AMOUNT,
        "unit_amount_decimal": UNIT_AMOUNT.to_string()
    })
}

/// The legacy plan object Stripe still renders beside each subscription item's price.
pub fn plan(id: &str) -> Value {
    json!({
        "id": id, "object": "plan", "active": true, "amount": UNIT_AMOUNT,
        "amount_decimal": UNIT_AMOUNT.to_string(), "billing_scheme": "per_unit",
        "created": now(), "currency": CURRENCY, "interval": "month", "interval_count": 1,
        "livemode": false, "metadata": {}, "meter": null, "nickname": null,
        "product": PRODUCT, "tiers_mode": null, "transform_usage": null,
        "trial_period_days": null, "usage_type": "licensed"
    })
}

/// One subscription item: since API version basil the billing period lives here.
pub fn subscription_item(
    subscription: &str,
    price_id: &str,
    quantity: i64,
    period: (i64, i64),
) -> Value {
    json!({
        "id": new_id("si"), "object": "subscription_item", "billing_thresholds": null,
        "created": now(), "current_period_start": period.0, "current_period_end": period.1,
        "discounts": [], "metadata": {}, "plan": plan(price_id), "price": price(price_id),
        "quantity": quantity, "subscription": subscription, "tax_rates": []
    })
}

/// What a new subscription is made of.
#[derive(Debug, Clone)]
pub struct SubscriptionFields {
    pub customer: String,
    pub price: String,
    pub quantity: i64,
    pub status: String,
    pub metadata: Map<String, Value>,
    /// Set for a trial: the trial ends (and the first period with it) then.
    pub trial_end: Option<i64>,
}

/// A subscription with one item, its current period starting now.
pub fn subscription(id: &str, fields: SubscriptionFields) -> Value {
    let start = now();
    let period_end = fields.trial_end.unwrap_or(start + PERIOD);
    let item = subscription_item(id, &fields.price, fields.quantity, (start, period_end));
    merged([
        json!({
            "id": id, "object": "subscription", "application": null,
            "application_fee_percent": null, "automatic_tax": {
                "disabled_reason": null, "enabled": false, "liability": null
            },
            "billing_cycle_anchor": period_end, "billing_cycle_anchor_config": null,
            "billing_mode": {"flexible": null, "type": "classic", "updated_at": null},
            "billing_schedules": [], "billing_thresholds": null, "cancel_at": null,
            "cancel_at_period_end": false, "canceled_at": null, "cancellation_details": {
                "comment": null, "feedback": null, "reason": null
            }
        }),
        json!({
            "collection_method": "charge_automatically", "created": start, "currency": CURRENCY,
            "customer": fields.customer, "customer_account": null, "days_until_due": null,
            "default_payment_method": null, "default_source": null, "default_tax_rates": [],
            "description": null, "discounts": [], "ended_at": null, "invoice_settings": {
                "account_tax_ids": null, "issuer": {"type": "self"}
            },
            "items": {
                "object": "list", "data": [item], "has_more": false, "total_count": 1,
                "url": format!("/v1/subscription_items?subscription={id}")
            },
            "latest_invoice": null, "livemode": false, "metadata": fields.metadata
        }),
        json!({
            "next_pending_invoice_item_invoice": null, "on_behalf_of": null,
            "pause_collection": null, "payment_settings": null,
            "pending_invoice_item_interval": null, "pending_setup_intent": null,
            "pending_update": null, "schedule": null, "start_date": start,
            "status": fields.status, "test_clock": null, "transfer_data": null,
            "trial_end": fields.trial_end, "trial_settings": {
                "end_behavior": {"missing_payment_method": "create_invoice"}
            },
            "trial_start": fields.trial_end.map(|_| start)
        }),
    ])
}

/// An invoice for `subscription` (its customer, first item's price and period), `paid` or
/// `open` (or any other status string Stripe uses). The subscription is named where API
/// versions since basil put it, `parent.subscription_details.subscription`; the old
/// top-level `subscription` field is absent, as on Stripe.
pub fn invoice(id: &str, subscription: &Value, status: &str) -> Value {
    let item = &subscription["items"]["data"][0];
    let (start, end) = (
        item["current_period_start"].clone(),
        item["current_period_end"].clone(),
    );
    let paid = status == "paid";
    let (amount_paid, amount_remaining) = if paid {
        (UNIT_AMOUNT, 0)
    } else {
        (0, UNIT_AMOUNT)
    };
    let created = now();
    merged([
        json!({
            "id": id, "object": "invoice", "account_country": "US", "account_name": "Fake Stripe",
            "amount_due": UNIT_AMOUNT, "amount_overpaid": 0, "amount_paid": amount_paid,
            "amount_remaining": amount_remaining, "amount_shipping": 0, "application": null,
            "attempt_count": 1, "attempted": true, "auto_advance": !paid,
            "automatic_tax": {
                "disabled_reason": null, "enabled": false, "liability": null,
                "provider": null, "status": null
            },
            "billing_reason": "subscription_cycle", "collection_method": "charge_automatically"
        }),
        json!({
            "created": created, "currency": CURRENCY, "customer": subscription["customer"],
            "customer_email": null, "customer_name": null, "default_payment_method": null,
            "default_source": null, "default_tax_rates": [], "description": null,
            "discounts": [], "due_date": null, "effective_at": created, "ending_balance": 0,
            "footer": null, "hosted_invoice_url": format!("https://invoice.stripe.test/i/{id}"),
            "invoice_pdf": format!("https://pay.stripe.test/invoice/{id}/pdf"),
            "issuer": {"type": "self"}, "last_finalization_error": null
        }),
        json!({
            "lines": list(
                vec![invoice_line(id, subscription, item)],
                false,
                &format!("/v1/invoices/{id}/lines"),
            ),
            "livemode": false, "metadata": {}, "next_payment_attempt": null,
            "number": null, "on_behalf_of": null, "parent": {
                "quote_details": null, "type": "subscription_details",
                "subscription_details": {
                    "metadata": subscription["metadata"], "subscription": subscription["id"],
                    "subscription_proration_date": null
                }
            },
            "payment_settings": {
                "default_mandate": null, "payment_method_options": null,
                "payment_method_types": null
            },
            "period_start": start, "period_end": end, "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0, "receipt_number": null
        }),
        json!({
            "starting_balance": 0, "statement_descriptor": null, "status": status,
            "status_transitions": {
                "finalized_at": created, "marked_uncollectible_at": null,
                "paid_at": paid.then_some(created), "voided_at": null
            },
            "subtotal": UNIT_AMOUNT,
            "subtotal_excluding_tax": UNIT_AMOUNT, "test_clock": null, "total": UNIT_AMOUNT,
            "total_excluding_tax": UNIT_AMOUNT, "webhooks_delivered_at": created
        }),
    ])
}

/// The invoice's one line: the subscription item's price over its period. Since API
/// version basil the subscription is named under `parent`, not on the line itself.
fn invoice_line(invoice: &str, subscription: &Value, item: &Value) -> Value {
    merged([
        json!({
            "id": new_id("il"), "object": "line_item", "amount": UNIT_AMOUNT,
            "currency": CURRENCY, "description": "1 × Fake plan", "discount_amounts": [],
            "discountable": true, "discounts": [], "invoice": invoice, "livemode": false,
            "metadata": {}, "period": {
                "start": item["current_period_start"], "end": item["current_period_end"]
            },
            "pretax_credit_amounts": [], "quantity": item["quantity"],
            "subtotal": UNIT_AMOUNT, "taxes": []
        }),
        json!({
            "parent": {
                "type": "subscription_item_details", "invoice_item_details": null,
                "subscription_item_details": {
                    "invoice_item": null, "proration": false, "proration_details": null,
                    "subscription": subscription["id"], "subscription_item": item["id"]
                }
            },
            "pricing": {
                "type": "price_details", "unit_amount_decimal": UNIT_AMOUNT.to_string(),
                "price_details": {"price": item["price"]["id"], "product": PRODUCT}
            }
        }),
    ])
}

/// A `billing.meter_event` as `POST /v1/billing/meter_events` answers it.
pub fn meter_event(
    event_name: &str,
    identifier: &str,
    payload: Map<String, Value>,
    timestamp: i64,
) -> Value {
    json!({
        "object": "billing.meter_event", "created": now(), "event_name": event_name,
        "identifier": identifier, "livemode": false, "payload": payload,
        "timestamp": timestamp
    })
}

/// A whole event envelope as Stripe posts it to a webhook endpoint.
pub fn event(id: &str, event_type: &str, api_version: &str, object: Value) -> Value {
    json!({
        "id": id, "object": "event", "api_version": api_version, "created": now(),
        "data": {"object": object}, "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "type": event_type
    })
}

//! The approvals engine through the API: a two-level rule (a manager, then an admin above
//! 10,000), a level refused to the wrong role, a rejection needing a comment and sending
//! the order back to draft, and a new request when it is submitted again. The company
//! and its users come from `erp_purchasing`'s helpers.

use super::erp_purchasing::{Buyer, buyer, d, id};
use reqwest::Method;
use serde_json::{Value, json};
use system_tests::AdminApi;

#[tokio::test(flavor = "multi_thread")]
async fn large_orders_need_a_manager_then_an_admin_and_a_rejection_goes_back_to_draft() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let b = buyer(&api, "polevels").await;
    let staff = b.user(&api, "sam", &["staff"]).await;
    let manager = b.user(&api, "mia", &["manager"]).await;
    b.rules(
        &api,
        json!([
            { "document_type": "purchase_order", "min_amount": "0", "role": "manager" },
            { "document_type": "purchase_order", "min_amount": "10000", "role": "admin" },
        ]),
    )
    .await;

    let big = id(&b.draft(&api, &staff, "1000", "12").await);
    let submitted = b
        .post(
            &api,
            &staff,
            &format!("/api/v1/purchase-orders/{big}/submit"),
            json!({}),
        )
        .await;
    assert_eq!(
        submitted.body["status"], "submitted",
        "{:?}",
        submitted.body
    );
    let approval = submitted.body["approval_id"]
        .as_str()
        .expect("approval")
        .to_owned();
    let first = b
        .post(
            &api,
            &manager,
            &format!("/api/v1/approvals/{approval}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(
        (
            first.body["status"].as_str(),
            first.body["current_level"].as_i64()
        ),
        (Some("pending"), Some(2))
    );
    // The second level is the admin's, not the manager's.
    let again = b
        .post(
            &api,
            &manager,
            &format!("/api/v1/approvals/{approval}/approve"),
            json!({}),
        )
        .await;
    assert_eq!((again.status, again.code()), (403, "forbidden"));
    let still = b
        .call(
            &api,
            &staff,
            Method::GET,
            &format!("/api/v1/purchase-orders/{big}"),
            None,
        )
        .await;
    assert_eq!(still.body["status"], "submitted");
    let last = b
        .post(
            &api,
            &b.owner,
            &format!("/api/v1/approvals/{approval}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(last.body["status"], "approved", "{:?}", last.body);
    assert_eq!(last.body["decisions"].as_array().map(Vec::len), Some(2));
    let done = b
        .call(
            &api,
            &staff,
            Method::GET,
            &format!("/api/v1/purchase-orders/{big}"),
            None,
        )
        .await;
    assert_eq!(done.body["status"], "approved");

    // A small order needs the manager only; rejected with a comment, it is a draft again.
    let small = id(&b.draft(&api, &staff, "10", "5").await);
    let submitted = b
        .post(
            &api,
            &staff,
            &format!("/api/v1/purchase-orders/{small}/submit"),
            json!({}),
        )
        .await;
    let approval = submitted.body["approval_id"]
        .as_str()
        .expect("approval")
        .to_owned();
    let bare = b
        .post(
            &api,
            &manager,
            &format!("/api/v1/approvals/{approval}/reject"),
            json!({}),
        )
        .await;
    assert_eq!(bare.status, 422, "{:?}", bare.body);
    let rejected = b
        .post(
            &api,
            &manager,
            &format!("/api/v1/approvals/{approval}/reject"),
            json!({ "comment": "too dear" }),
        )
        .await;
    assert_eq!(rejected.body["status"], "rejected", "{:?}", rejected.body);
    let history = b
        .call(
            &api,
            &staff,
            Method::GET,
            &format!("/api/v1/approvals/{approval}"),
            None,
        )
        .await;
    assert_eq!(history.body["decisions"][0]["comment"], "too dear");
    let draft = b
        .call(
            &api,
            &staff,
            Method::GET,
            &format!("/api/v1/purchase-orders/{small}"),
            None,
        )
        .await;
    assert_eq!(draft.body["status"], "draft");
    // Edited and submitted again: a new request.
    let edited = b
        .call(
            &api,
            &staff,
            Method::PATCH,
            &format!("/api/v1/purchase-orders/{small}"),
            Some(json!({ "lines": [{ "item_id": b.bolt, "quantity": "10", "unit_price": "4" }] })),
        )
        .await;
    assert_eq!(
        d(edited.body["total"].as_str().expect("total")),
        d("40"),
        "{:?}",
        edited.body
    );
    let resubmitted = b
        .post(
            &api,
            &staff,
            &format!("/api/v1/purchase-orders/{small}/submit"),
            json!({}),
        )
        .await;
    assert_eq!(resubmitted.body["status"], "submitted");
    assert_ne!(resubmitted.body["approval_id"], approval.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_managers_approving_at_once_decide_once() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let b = buyer(&api, "porace").await;
    let first = b.user(&api, "mia", &["manager"]).await;
    let second = b.user(&api, "max", &["manager"]).await;
    b.rules(
        &api,
        json!([{ "document_type": "purchase_order", "min_amount": "0", "role": "manager" }]),
    )
    .await;
    let po = id(&b.draft(&api, &b.owner, "5", "3").await);
    let submitted = b
        .post(
            &api,
            &b.owner,
            &format!("/api/v1/purchase-orders/{po}/submit"),
            json!({}),
        )
        .await;
    let approval = submitted.body["approval_id"]
        .as_str()
        .expect("approval")
        .to_owned();
    let path = format!("/api/v1/approvals/{approval}/approve");
    let (one, two) = futures_util::join!(
        b.post(&api, &first, &path, json!({})),
        b.post(&api, &second, &path, json!({}))
    );
    let mut outcomes = [
        (one.status, one.code().to_owned()),
        (two.status, two.code().to_owned()),
    ];
    outcomes.sort();
    assert_eq!(outcomes[0].0, 200, "{:?} {:?}", one.body, two.body);
    assert_eq!(outcomes[1], (409, "already_decided".to_owned()));
    let decisions: i64 =
        b.db.query_one("SELECT count(*) FROM approval_decisions", &[])
            .await
            .expect("decisions")
            .get(0);
    assert_eq!(decisions, 1);
    let events: i64 =
        b.db.query_one(
            "SELECT count(*) FROM webhook_events WHERE event_type = 'purchase_order.approved'",
            &[],
        )
        .await
        .expect("events")
        .get(0);
    assert_eq!(events, 1);
}

impl Buyer {
    async fn adjust(&self, api: &AdminApi, token: &str, body: Value) -> system_tests::admin::Reply {
        self.post(api, token, "/api/v1/stock/adjustments", body)
            .await
    }

    async fn held(&self, api: &AdminApi, id: &str) -> Value {
        let reply = self
            .call(
                api,
                &self.owner,
                Method::GET,
                &format!("/api/v1/stock/adjustment-requests/{id}"),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body
    }
}

#[tokio::test]
async fn adjustments_worth_more_than_the_rule_wait_for_a_manager_and_a_rejection_moves_nothing() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let b = buyer(&api, "adjhold").await;
    let staff = b.user(&api, "sam", &["staff"]).await;
    let manager = b.user(&api, "mia", &["manager"]).await;
    let received = b
        .post(
            &api,
            &staff,
            "/api/v1/stock/receipts",
            json!({ "item_id": b.bolt, "location_id": b.shelf, "quantity": "10", "unit_cost": "2" }),
        )
        .await;
    assert_eq!(received.status, 201, "{:?}", received.body);
    b.rules(
        &api,
        json!([{ "document_type": "stock_adjustment", "min_amount": "50", "role": "manager" }]),
    )
    .await;

    // Worth 2: below every rule, posted at once.
    let small =
        json!({ "item_id": b.bolt, "location_id": b.shelf, "quantity": "-1", "reason": "dropped" });
    assert_eq!(b.adjust(&api, &staff, small).await.status, 201);
    assert_eq!(b.on_hand(b.bolt).await, d("9"));

    // Worth 300: held; nothing moves until a manager approves.
    let found = json!({ "item_id": b.bolt, "location_id": b.shelf, "quantity": "100",
                        "unit_cost": "3", "reason": "found a crate", "reference": "count-7" });
    let held = b.adjust(&api, &staff, found.clone()).await;
    assert_eq!(held.status, 202, "{:?}", held.body);
    assert_eq!(held.body["status"], "pending");
    assert_eq!(d(held.body["amount"].as_str().expect("amount")), d("300"));
    assert_eq!(b.on_hand(b.bolt).await, d("9"), "held, not posted");
    let repeat = b.adjust(&api, &staff, found).await;
    assert_eq!(
        (repeat.status, &repeat.body["id"]),
        (202, &held.body["id"]),
        "one request per reference"
    );
    let approval = held.body["approval_id"]
        .as_str()
        .expect("approval")
        .to_owned();
    let approved = b
        .post(
            &api,
            &manager,
            &format!("/api/v1/approvals/{approval}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(b.on_hand(b.bolt).await, d("109"), "posted on approval");
    let after = b.held(&api, &id(&held.body)).await;
    assert_eq!(after["status"], "approved");
    assert!(after["movement_id"].is_string(), "{after:?}");
    b.assert_consistent().await;

    // A loss worth more than 50 (at the moving average), rejected: nothing moves.
    let loss = json!({ "item_id": b.bolt, "location_id": b.shelf, "quantity": "-40", "reason": "water damage" });
    let held_loss = b.adjust(&api, &staff, loss).await;
    assert_eq!(held_loss.status, 202, "{:?}", held_loss.body);
    let approval = held_loss.body["approval_id"]
        .as_str()
        .expect("approval")
        .to_owned();
    let rejected = b
        .post(
            &api,
            &manager,
            &format!("/api/v1/approvals/{approval}/reject"),
            json!({ "comment": "recount first" }),
        )
        .await;
    assert_eq!(rejected.status, 200, "{:?}", rejected.body);
    assert_eq!(
        b.held(&api, &id(&held_loss.body)).await["status"],
        "rejected"
    );
    assert_eq!(b.on_hand(b.bolt).await, d("109"));

    // Approved after the stock left: refused, and the request stays pending.
    let late = json!({ "item_id": b.bolt, "location_id": b.shelf, "quantity": "-100", "reason": "scrapped lot" });
    let held_late = b.adjust(&api, &staff, late).await;
    assert_eq!(held_late.status, 202, "{:?}", held_late.body);
    let issued = b
        .post(
            &api,
            &staff,
            "/api/v1/stock/issues",
            json!({ "item_id": b.bolt, "location_id": b.shelf, "quantity": "100" }),
        )
        .await;
    assert_eq!(issued.status, 201, "{:?}", issued.body);
    let approval = held_late.body["approval_id"]
        .as_str()
        .expect("approval")
        .to_owned();
    let too_late = b
        .post(
            &api,
            &manager,
            &format!("/api/v1/approvals/{approval}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(
        (too_late.status, too_late.code()),
        (409, "insufficient_stock"),
        "{:?}",
        too_late.body
    );
    assert_eq!(
        b.held(&api, &id(&held_late.body)).await["status"],
        "pending"
    );
    assert_eq!(b.on_hand(b.bolt).await, d("9"));
    b.assert_consistent().await;

    // A bad adjustment is refused as before, held or not.
    let unknown_unit = json!({ "item_id": b.bolt, "location_id": b.shelf, "quantity": "500",
                               "unit": "crate", "unit_cost": "1", "reason": "x" });
    assert_eq!(b.adjust(&api, &staff, unknown_unit).await.status, 422);
}

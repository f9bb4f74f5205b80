//! Purchase orders end to end through the API: drafts, submission through the approvals
//! engine (approved by a manager, never by the requester or a viewer), receipts posting
//! stock (partial then full, over-receipt refused beyond the tolerance setting, a
//! double-submitted receipt posting once, a canceled order refused), with the stock
//! balances checked against the ledger. Items, warehouses and partners are made with
//! SQL (their API is another area's).

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use system_tests::AdminApi;
use system_tests::admin::Reply;
use system_tests::portal::PortalClient;
use system_tests::runtime::OWNER_PASSWORD;
use tenant_runtime::erp::stock;
use uuid::Uuid;

/// A company buying: a warehouse with two locations (one in another warehouse), a
/// supplier, a customer-only partner, a stocked item, a lot-tracked one and an inactive one.
pub struct Buyer {
    pub slug: String,
    pub owner: String,
    pub db: tokio_postgres::Client,
    pub supplier: Uuid,
    pub customer: Uuid,
    pub warehouse: Uuid,
    pub shelf: Uuid,
    pub elsewhere: Uuid,
    pub bolt: Uuid,
    pub milk: Uuid,
    pub retired: Uuid,
}

/// A plan with purchasing and approvals (the default paid plans lack approvals).
pub async fn buyer(api: &AdminApi, slug: &str) -> Buyer {
    let plan = format!("buy-{slug}");
    let reply = api
        .post(
            "/api/v1/plans",
            json!({ "code": plan, "name": plan,
                    "limits": { "max_users": 10, "max_storage_mb": 1000,
                                "api_requests_per_minute": 6000, "api_calls_per_month": 1_000_000,
                                "max_concurrent_requests": 50, "max_db_connections": 5 },
                    "features": ["master_data", "inventory", "purchasing", "approvals"] }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let company = api.company(slug, &plan).await;
    let owner = api.owner_token(&company).await;
    let db = api.tenant_db(&company.id).await;
    let ids: Vec<Uuid> = (0..9).map(|_| Uuid::now_v7()).collect();
    db.execute(
        "INSERT INTO warehouses (id, code, name) VALUES ($1, 'MAIN', 'Main'), ($2, 'FAR', 'Far')",
        &[&ids[0], &ids[1]],
    )
    .await
    .expect("warehouses");
    db.execute(
        "INSERT INTO locations (id, warehouse_id, code, name, kind, active) VALUES \
         ($1, $3, 'SHELF', 'Shelf', 'storage', true), ($2, $4, 'FAR-1', 'Far', 'storage', true)",
        &[&ids[2], &ids[3], &ids[0], &ids[1]],
    )
    .await
    .expect("locations");
    db.execute(
        "INSERT INTO items (id, sku, name, kind, base_unit, reorder_point, standard_cost, \
         lot_tracked, active) VALUES \
         ($1, 'BOLT', 'Bolt', 'raw', 'pcs', 0, 2, false, true), \
         ($2, 'MILK', 'Milk', 'raw', 'l', 0, 1, true, true), \
         ($3, 'OLD', 'Old', 'raw', 'pcs', 0, 1, false, false)",
        &[&ids[4], &ids[5], &ids[6]],
    )
    .await
    .expect("items");
    db.execute(
        "INSERT INTO item_units (item_id, unit, factor) VALUES ($1, 'box', 12)",
        &[&ids[4]],
    )
    .await
    .expect("units");
    db.execute(
        "INSERT INTO partners (id, code, name, is_customer, is_supplier) VALUES \
         ($1, 'SUP', 'Supplier', false, true), ($2, 'CUS', 'Customer', true, false)",
        &[&ids[7], &ids[8]],
    )
    .await
    .expect("partners");
    Buyer {
        slug: slug.to_owned(),
        owner,
        db,
        supplier: ids[7],
        customer: ids[8],
        warehouse: ids[0],
        shelf: ids[2],
        elsewhere: ids[3],
        bolt: ids[4],
        milk: ids[5],
        retired: ids[6],
    }
}

impl Buyer {
    pub async fn call(
        &self,
        api: &AdminApi,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        api.tenant_call(&self.slug, method, path, Some(token), body)
            .await
    }

    pub async fn post(&self, api: &AdminApi, token: &str, path: &str, body: Value) -> Reply {
        self.call(api, token, Method::POST, path, Some(body)).await
    }

    /// A signed-in user with `roles`, invited by the owner: their access token.
    pub async fn user(&self, api: &AdminApi, name: &str, roles: &[&str]) -> String {
        let email = format!("{name}@{}.example", self.slug);
        api.member(&self.slug, &self.owner, &email, roles).await;
        let login = api.tenant_login(&self.slug, &email, OWNER_PASSWORD).await;
        assert_eq!(login.status, 200, "{:?}", login.body);
        login.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// A draft of `quantity` bolts at `price` each, by `token`'s user.
    pub async fn draft(&self, api: &AdminApi, token: &str, quantity: &str, price: &str) -> Value {
        let reply = self
            .post(
                api,
                token,
                "/api/v1/purchase-orders",
                json!({ "supplier_id": self.supplier, "warehouse_id": self.warehouse,
                        "lines": [{ "item_id": self.bolt, "quantity": quantity, "unit_price": price }] }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        reply.body
    }

    pub async fn rules(&self, api: &AdminApi, rules: Value) {
        let reply = self
            .call(
                api,
                &self.owner,
                Method::PUT,
                "/api/v1/approvals/rules",
                Some(json!({ "rules": rules })),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }

    pub async fn receive(&self, api: &AdminApi, po: &str, body: Value) -> Reply {
        self.post(
            api,
            &self.owner,
            &format!("/api/v1/purchase-orders/{po}/receipts"),
            body,
        )
        .await
    }

    pub async fn assert_consistent(&self) {
        let mismatches = stock::check::mismatches(&self.db).await.expect("check");
        assert!(mismatches.is_empty(), "{mismatches:?}");
    }

    pub async fn on_hand(&self, item: Uuid) -> Decimal {
        self.db
            .query_one(
                "SELECT coalesce(sum(on_hand), 0) FROM stock_balances WHERE item_id = $1",
                &[&item],
            )
            .await
            .expect("on hand")
            .get(0)
    }
}

pub fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

pub fn d(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_order_is_approved_by_a_manager_then_received_in_parts() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let b = buyer(&api, "pobuy").await;
    let manager = b.user(&api, "mia", &["manager"]).await;
    let viewer = b.user(&api, "vic", &["viewer"]).await;
    b.rules(
        &api,
        json!([{ "document_type": "purchase_order", "min_amount": "0", "role": "manager" }]),
    )
    .await;

    // A double-submitted create (same reference) makes one order.
    let body = json!({ "supplier_id": b.supplier, "warehouse_id": b.warehouse,
                       "reference": "form-1", "notes": "<b>rush</b>",
                       "lines": [{ "item_id": b.bolt, "quantity": "2", "unit": "box", "unit_price": "1.5" },
                                 { "item_id": b.milk, "quantity": "10", "unit_price": "3" }] });
    let first = b
        .post(&api, &b.owner, "/api/v1/purchase-orders", body.clone())
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let again = b
        .post(&api, &b.owner, "/api/v1/purchase-orders", body)
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(id(&again.body), id(&first.body));
    let po = id(&first.body);
    assert!(
        first.body["number"]
            .as_str()
            .expect("number")
            .starts_with("PO-")
    );
    assert_eq!(first.body["status"], "draft");
    assert_eq!(
        d(first.body["lines"][0]["quantity"].as_str().expect("q")),
        d("24")
    );
    assert_eq!(d(first.body["total"].as_str().expect("total")), d("66"));

    // Viewers read but neither buy nor decide.
    let refused = b
        .post(
            &api,
            &viewer,
            "/api/v1/purchase-orders",
            json!({ "supplier_id": b.supplier,
              "warehouse_id": b.warehouse, "lines": [] }),
        )
        .await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    let read = b
        .call(
            &api,
            &viewer,
            Method::GET,
            &format!("/api/v1/purchase-orders/{po}"),
            None,
        )
        .await;
    assert_eq!(read.status, 200);

    // A draft is not received.
    let early = b
        .receive(
            &api,
            &po,
            json!({ "lines": [{ "line": 1, "quantity": "1", "location_id": b.shelf }] }),
        )
        .await;
    assert_eq!(
        (early.status, early.code()),
        (409, "purchase_order_not_receivable")
    );

    let submitted = b
        .post(
            &api,
            &b.owner,
            &format!("/api/v1/purchase-orders/{po}/submit"),
            json!({}),
        )
        .await;
    assert_eq!(submitted.status, 200, "{:?}", submitted.body);
    assert_eq!(submitted.body["status"], "submitted");
    let approval = submitted.body["approval_id"]
        .as_str()
        .expect("approval")
        .to_owned();

    // The requester does not approve their own order; a viewer cannot decide at all.
    let own = b
        .post(
            &api,
            &b.owner,
            &format!("/api/v1/approvals/{approval}/approve"),
            json!({}),
        )
        .await;
    assert_eq!((own.status, own.code()), (403, "own_document"));
    let by_viewer = b
        .post(
            &api,
            &viewer,
            &format!("/api/v1/approvals/{approval}/approve"),
            json!({}),
        )
        .await;
    assert_eq!((by_viewer.status, by_viewer.code()), (403, "forbidden"));
    let owner_inbox = b
        .call(
            &api,
            &b.owner,
            Method::GET,
            "/api/v1/approvals/pending",
            None,
        )
        .await;
    assert_eq!(owner_inbox.body["items"], json!([]));
    let inbox = b
        .call(
            &api,
            &manager,
            Method::GET,
            "/api/v1/approvals/pending",
            None,
        )
        .await;
    assert_eq!(inbox.status, 200, "{:?}", inbox.body);
    assert_eq!(inbox.body["items"][0]["id"], approval.as_str());

    let approved = b
        .post(
            &api,
            &manager,
            &format!("/api/v1/approvals/{approval}/approve"),
            json!({ "comment": "fine" }),
        )
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["decisions"][0]["comment"], "fine");
    let twice = b
        .post(
            &api,
            &manager,
            &format!("/api/v1/approvals/{approval}/approve"),
            json!({}),
        )
        .await;
    assert_eq!((twice.status, twice.code()), (409, "already_decided"));
    let order = b
        .call(
            &api,
            &b.owner,
            Method::GET,
            &format!("/api/v1/purchase-orders/{po}"),
            None,
        )
        .await;
    assert_eq!(order.body["status"], "approved");
    let events: i64 =
        b.db.query_one(
            "SELECT count(*) FROM webhook_events WHERE event_type = 'purchase_order.approved'",
            &[],
        )
        .await
        .expect("events")
        .get(0);
    assert_eq!(events, 1);

    // Over-receipt is refused (tolerance 0); a location of another warehouse too.
    let over = b
        .receive(
            &api,
            &po,
            json!({ "lines": [{ "line": 1, "quantity": "25", "location_id": b.shelf }] }),
        )
        .await;
    assert_eq!((over.status, over.code()), (409, "over_receipt"));
    let far = b
        .receive(
            &api,
            &po,
            json!({ "lines": [{ "line": 1, "quantity": "1", "location_id": b.elsewhere }] }),
        )
        .await;
    assert_eq!(far.status, 422, "{:?}", far.body);

    // A partial receipt, double-submitted: posted once.
    let partial = json!({ "reference": "receive-1",
                          "lines": [{ "line": 1, "quantity": "10", "location_id": b.shelf },
                                    { "line": 2, "quantity": "4", "location_id": b.shelf, "lot_code": "L1" }] });
    let (one, two) = futures_util::join!(
        b.receive(&api, &po, partial.clone()),
        b.receive(&api, &po, partial.clone())
    );
    let mut statuses = [one.status, two.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201], "{:?} {:?}", one.body, two.body);
    assert_eq!(one.body["id"], two.body["id"]);
    assert_eq!(one.body["purchase_order"]["status"], "partially_received");
    assert_eq!(b.on_hand(b.bolt).await, d("10"));
    assert_eq!(b.on_hand(b.milk).await, d("4"));

    // Something was received: no cancel any more.
    let cancel = b
        .post(
            &api,
            &b.owner,
            &format!("/api/v1/purchase-orders/{po}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(
        (cancel.status, cancel.code()),
        (409, "purchase_order_not_cancelable")
    );

    let rest = b
        .receive(&api, &po, json!({ "lines": [{ "line": 1, "quantity": "14", "location_id": b.shelf },
                                              { "line": 2, "quantity": "6", "location_id": b.shelf, "lot_code": "L1" }] }))
        .await;
    assert_eq!(rest.status, 201, "{:?}", rest.body);
    assert_eq!(rest.body["purchase_order"]["status"], "received");
    assert_eq!(b.on_hand(b.bolt).await, d("24"));
    assert_eq!(b.on_hand(b.milk).await, d("10"));
    let ledger: i64 =
        b.db.query_one(
            "SELECT count(*) FROM stock_ledger WHERE document_type = 'purchase_order' \
             AND document_id = $1",
            &[&po],
        )
        .await
        .expect("ledger")
        .get(0);
    assert_eq!(ledger, 4);
    let cost: Decimal =
        b.db.query_one(
            "SELECT max(unit_cost) FROM stock_ledger WHERE item_id = $1",
            &[&b.bolt],
        )
        .await
        .expect("cost")
        .get(0);
    assert_eq!(cost, d("1.5"));
    b.assert_consistent().await;

    let closed = b
        .post(
            &api,
            &b.owner,
            &format!("/api/v1/purchase-orders/{po}/close"),
            json!({}),
        )
        .await;
    assert_eq!(closed.body["status"], "closed", "{:?}", closed.body);
    let open = b
        .call(
            &api,
            &b.owner,
            Method::GET,
            "/api/v1/purchase-orders?open=true",
            None,
        )
        .await;
    assert_eq!(open.body["items"], json!([]), "{:?}", open.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_orders_canceled_orders_and_bad_rules_are_refused() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let b = buyer(&api, "pobad").await;
    let manager = b.user(&api, "mia", &["manager"]).await;

    for (lines, supplier) in [
        (
            json!([{ "item_id": b.bolt, "quantity": "1", "unit_price": "1" }]),
            b.customer,
        ),
        (
            json!([{ "item_id": b.retired, "quantity": "1", "unit_price": "1" }]),
            b.supplier,
        ),
        (
            json!([{ "item_id": b.bolt, "quantity": "0", "unit_price": "1" }]),
            b.supplier,
        ),
        (
            json!([{ "item_id": b.bolt, "quantity": "1", "unit": "crate", "unit_price": "1" }]),
            b.supplier,
        ),
        (json!([]), b.supplier),
    ] {
        let reply = b
            .post(
                &api,
                &b.owner,
                "/api/v1/purchase-orders",
                json!({ "supplier_id": supplier, "warehouse_id": b.warehouse, "lines": lines }),
            )
            .await;
        assert_eq!(reply.status, 422, "{lines} {:?}", reply.body);
    }

    // Rules name real roles, and only settings managers change them.
    let unknown = b
        .call(&api, &b.owner, Method::PUT, "/api/v1/approvals/rules",
              Some(json!({ "rules": [{ "document_type": "purchase_order", "min_amount": "0", "role": "boss" }] })))
        .await;
    assert_eq!(unknown.status, 422, "{:?}", unknown.body);
    let by_manager = b
        .call(
            &api,
            &manager,
            Method::PUT,
            "/api/v1/approvals/rules",
            Some(json!({ "rules": [] })),
        )
        .await;
    assert_eq!((by_manager.status, by_manager.code()), (403, "forbidden"));

    // No rule: approved at once. Canceled, it is not received.
    let po = id(&b.draft(&api, &b.owner, "5", "1").await);
    let submitted = b
        .post(
            &api,
            &b.owner,
            &format!("/api/v1/purchase-orders/{po}/submit"),
            json!({}),
        )
        .await;
    assert_eq!(submitted.body["status"], "approved", "{:?}", submitted.body);
    let canceled = b
        .post(
            &api,
            &b.owner,
            &format!("/api/v1/purchase-orders/{po}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(canceled.body["status"], "canceled", "{:?}", canceled.body);
    let refused = b
        .receive(
            &api,
            &po,
            json!({ "lines": [{ "line": 1, "quantity": "1", "location_id": b.shelf }] }),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "purchase_order_not_receivable")
    );
    assert_eq!(b.on_hand(b.bolt).await, Decimal::ZERO);

    // A 10 % tolerance lets 11 of 10 in, not 12.
    b.db
        .execute(
            "INSERT INTO settings (key, value) VALUES ('purchasing.over_receipt_tolerance_percent', '10')",
            &[],
        )
        .await
        .expect("setting");
    let po = id(&b.draft(&api, &b.owner, "10", "1").await);
    b.post(
        &api,
        &b.owner,
        &format!("/api/v1/purchase-orders/{po}/submit"),
        json!({}),
    )
    .await;
    let too_many = b
        .receive(
            &api,
            &po,
            json!({ "lines": [{ "line": 1, "quantity": "12", "location_id": b.shelf }] }),
        )
        .await;
    assert_eq!((too_many.status, too_many.code()), (409, "over_receipt"));
    let within = b
        .receive(
            &api,
            &po,
            json!({ "lines": [{ "line": 1, "quantity": "11", "location_id": b.shelf }] }),
        )
        .await;
    assert_eq!(within.status, 201, "{:?}", within.body);
    assert_eq!(within.body["purchase_order"]["status"], "received");
    assert_eq!(b.on_hand(b.bolt).await, d("11"));
    b.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_decides_from_the_approvals_inbox_page() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let b = buyer(&api, "poweb").await;
    b.user(&api, "mia", &["manager"]).await;
    b.rules(
        &api,
        json!([{ "document_type": "purchase_order", "min_amount": "0", "role": "manager" }]),
    )
    .await;
    let po = id(&b.draft(&api, &b.owner, "3", "2").await);
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

    let mut owner = PortalClient::for_app(&api.app.tenant_runtime_url, &b.slug);
    let signed = owner
        .sign_in(&format!("boss@{}.example", b.slug), OWNER_PASSWORD)
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let own_inbox = owner.get("/approvals").await;
    assert_eq!(own_inbox.status, 200, "{}", own_inbox.body);
    assert!(own_inbox.body.contains("href=\"/approvals\""));
    assert!(
        !own_inbox.body.contains(&approval),
        "the requester's own order is not in their inbox"
    );

    let mut manager = PortalClient::for_app(&api.app.tenant_runtime_url, &b.slug);
    let signed = manager
        .sign_in(&format!("mia@{}.example", b.slug), OWNER_PASSWORD)
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let inbox = manager.get("/approvals").await;
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert!(
        inbox.body.contains(&format!("data-row=\"{approval}\"")),
        "{}",
        inbox.body
    );

    let bare = manager
        .post(
            &format!("/approvals/{approval}"),
            &[("decision", "reject"), ("comment", " ")],
        )
        .await;
    assert_eq!(bare.status, 422, "{}", bare.body);
    assert!(
        bare.body.contains("data-error=\"comment\""),
        "{}",
        bare.body
    );

    let approved = manager
        .post(
            &format!("/approvals/{approval}"),
            &[("decision", "approve"), ("comment", "")],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let after = manager.get("/approvals").await;
    assert!(!after.body.contains(&format!("data-row=\"{approval}\"")));
    let order = b
        .call(
            &api,
            &b.owner,
            Method::GET,
            &format!("/api/v1/purchase-orders/{po}"),
            None,
        )
        .await;
    assert_eq!(order.body["status"], "approved");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_is_submitted_and_received_from_its_page_once_per_form() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let b = buyer(&api, "popage").await;
    let po = id(&b.draft(&api, &b.owner, "10", "2").await);
    let mut client = PortalClient::for_app(&api.app.tenant_runtime_url, &b.slug);
    let signed = client
        .sign_in(&format!("boss@{}.example", b.slug), OWNER_PASSWORD)
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);

    let list = client.get("/purchase-orders").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains(&format!("/purchase-orders/{po}")),
        "{}",
        list.body
    );
    assert!(list.body.contains("href=\"/purchase-orders\""));

    let submitted = client
        .post(&format!("/purchase-orders/{po}/submit"), &[])
        .await;
    assert_eq!(submitted.status, 303, "{}", submitted.body);
    let page = client.get(&format!("/purchase-orders/{po}")).await;
    assert!(
        page.body.contains("data-status=\"approved\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("BOLT"));
    let reference = page.input("reference").expect("a reference in the form");
    let shelf = b.shelf.to_string();

    let over = client
        .post(
            &format!("/purchase-orders/{po}/receive"),
            &[
                ("reference", "other"),
                ("location_id", &shelf),
                ("quantity_1", "11"),
            ],
        )
        .await;
    assert_eq!(over.status, 422, "{}", over.body);
    assert!(over.body.contains("would receive 11"), "{}", over.body);

    let fields = [
        ("reference", reference.as_str()),
        ("location_id", shelf.as_str()),
        ("quantity_1", "4"),
    ];
    let first = client
        .post(&format!("/purchase-orders/{po}/receive"), &fields)
        .await;
    assert_eq!(first.status, 303, "{}", first.body);
    let again = client
        .post(&format!("/purchase-orders/{po}/receive"), &fields)
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(b.on_hand(b.bolt).await, d("4"));
    let page = client.get(&format!("/purchase-orders/{po}")).await;
    assert!(
        page.body.contains("data-status=\"partially_received\""),
        "{}",
        page.body
    );
    b.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_draft_is_made_from_the_new_order_page_once_per_form() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let b = buyer(&api, "ponew").await;
    let mut client = PortalClient::for_app(&api.app.tenant_runtime_url, &b.slug);
    let signed = client
        .sign_in(&format!("boss@{}.example", b.slug), OWNER_PASSWORD)
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let form = client.get("/purchase-orders/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("SUP Supplier"));
    assert!(
        !form.body.contains("CUS Customer"),
        "customers are not suppliers"
    );
    let reference = form.input("reference").expect("reference");
    let (supplier, warehouse, bolt) = (
        b.supplier.to_string(),
        b.warehouse.to_string(),
        b.bolt.to_string(),
    );

    let bad = client
        .post(
            "/purchase-orders",
            &[
                ("reference", reference.as_str()),
                ("supplier_id", &supplier),
                ("warehouse_id", &warehouse),
                ("item_1", &bolt),
                ("quantity_1", "0"),
                ("price_1", "1"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);

    let fields = [
        ("reference", reference.as_str()),
        ("supplier_id", supplier.as_str()),
        ("warehouse_id", warehouse.as_str()),
        ("notes", "<script>alert(1)</script>"),
        ("item_1", bolt.as_str()),
        ("quantity_1", "6"),
        ("price_1", "2.5"),
    ];
    let first = client.post("/purchase-orders", &fields).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let again = client.post("/purchase-orders", &fields).await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(first.location(), again.location());
    let count: i64 =
        b.db.query_one("SELECT count(*) FROM purchase_orders", &[])
            .await
            .expect("count")
            .get(0);
    assert_eq!(count, 1);
    let page = client.get(first.location().expect("location")).await;
    assert!(page.body.contains("data-status=\"draft\""), "{}", page.body);
    assert!(
        page.body.contains("&#60;script&#62;alert(1)"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert(1)"));

    // The draft is edited in the same form, filled with what it holds.
    let order = first.location().expect("location").to_owned();
    assert!(page.body.contains(&format!("href=\"{order}/edit\"")));
    let edit = client.get(&format!("{order}/edit")).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert_eq!(edit.input("quantity_1").as_deref(), Some("6"));
    assert_eq!(edit.input("price_1").as_deref(), Some("2.5"));
    let bad_edit = client
        .post(
            &format!("{order}/edit"),
            &[
                ("supplier_id", &supplier),
                ("warehouse_id", &warehouse),
                ("item_1", &bolt),
                ("quantity_1", "-3"),
                ("price_1", "2.5"),
            ],
        )
        .await;
    assert_eq!(bad_edit.status, 422, "{}", bad_edit.body);
    assert_eq!(
        bad_edit.input("quantity_1").as_deref(),
        Some("-3"),
        "typed values kept"
    );
    let milk = b.milk.to_string();
    let saved = client
        .post(
            &format!("{order}/edit"),
            &[
                ("supplier_id", &supplier),
                ("warehouse_id", &warehouse),
                ("notes", "two lines"),
                ("item_1", &bolt),
                ("quantity_1", "10"),
                ("price_1", "2.5"),
                ("item_2", &milk),
                ("quantity_2", "4"),
                ("price_2", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let total: rust_decimal::Decimal =
        b.db.query_one("SELECT total FROM purchase_orders", &[])
            .await
            .expect("total")
            .get(0);
    assert_eq!(total, d("29"), "10 x 2.5 + 4 x 1");
    let submitted = client.post(&format!("{order}/submit"), &[]).await;
    assert_eq!(submitted.status, 303, "{}", submitted.body);
    let late = client.get(&format!("{order}/edit")).await;
    assert_eq!(late.status, 409, "only a draft is edited: {}", late.body);
}

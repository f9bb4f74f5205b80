//! Sales orders end to end: the lifecycle with partial deliveries (reservations falling as
//! stock leaves, the ledger matching the balances), confirmation all or nothing, two
//! orders racing for the last units, cancel releasing reservations, over-delivery and
//! double-submitted deliveries, permissions and the plan gate. Stock comes in through the
//! stock API; warehouses, items and partners are made with SQL (another area's API).

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use system_tests::AdminApi;
use system_tests::admin::Reply;
use system_tests::portal::PortalClient;
use system_tests::runtime::OWNER_PASSWORD;
use tenant_runtime::erp::stock;
use uuid::Uuid;

/// A company with a warehouse (shelf), a second warehouse, items and partners.
pub(crate) struct Shop {
    pub(crate) slug: String,
    pub(crate) admin_email: String,
    pub(crate) token: String,
    pub(crate) db: tokio_postgres::Client,
    /// Base unit `pcs`; `box` is 12.
    pub(crate) bolt: Uuid,
    pub(crate) gadget: Uuid,
    /// Inactive.
    pub(crate) retired: Uuid,
    pub(crate) customer: Uuid,
    /// A supplier only.
    pub(crate) supplier: Uuid,
    pub(crate) warehouse: Uuid,
    pub(crate) shelf: Uuid,
    /// In the second warehouse.
    pub(crate) far: Uuid,
}

pub(crate) async fn shop(api: &AdminApi, slug: &str) -> Shop {
    let company = api.company(slug, "starter").await;
    let token = api.owner_token(&company).await;
    let db = api.tenant_db(&company.id).await;
    let ids: Vec<Uuid> = (0..9).map(|_| Uuid::now_v7()).collect();
    let (bolt, gadget, retired, customer, supplier) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let (warehouse, other, shelf, far) = (ids[5], ids[6], ids[7], ids[8]);
    db.execute(
        "INSERT INTO warehouses (id, code, name) VALUES ($1, 'MAIN', 'Main'), ($2, 'FAR', 'Far')",
        &[&warehouse, &other],
    )
    .await
    .expect("warehouses");
    db.execute(
        "INSERT INTO locations (id, warehouse_id, code, name) VALUES \
         ($1, $3, 'SHELF', 'Shelf'), ($2, $4, 'FAR-1', 'Far shelf')",
        &[&shelf, &far, &warehouse, &other],
    )
    .await
    .expect("locations");
    db.execute(
        "INSERT INTO items (id, sku, name, kind, base_unit, standard_cost, active) VALUES \
         ($1, 'BOLT', 'Bolt', 'finished', 'pcs', 2, true), \
         ($2, 'GADGET', 'Gadget', 'finished', 'pcs', 5, true), \
         ($3, 'OLD', 'Old', 'finished', 'pcs', 1, false)",
        &[&bolt, &gadget, &retired],
    )
    .await
    .expect("items");
    db.execute(
        "INSERT INTO item_units (item_id, unit, factor) VALUES ($1, 'box', 12)",
        &[&bolt],
    )
    .await
    .expect("units");
    db.execute(
        "INSERT INTO partners (id, code, name, is_customer, is_supplier) VALUES \
         ($1, 'ACME', 'Acme', true, false), ($2, 'SUP', 'Supplier', false, true)",
        &[&customer, &supplier],
    )
    .await
    .expect("partners");
    Shop {
        slug: slug.to_owned(),
        admin_email: company.admin_email.clone(),
        token,
        db,
        bolt,
        gadget,
        retired,
        customer,
        supplier,
        warehouse,
        shelf,
        far,
    }
}

impl Shop {
    pub(crate) async fn call(
        &self,
        api: &AdminApi,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        api.tenant_call(&self.slug, method, path, Some(&self.token), body)
            .await
    }

    pub(crate) async fn post(&self, api: &AdminApi, path: &str, body: Value) -> Reply {
        self.call(api, Method::POST, path, Some(body)).await
    }

    pub(crate) async fn receive(&self, api: &AdminApi, item: Uuid, quantity: i64) {
        let got = self
            .post(
                api,
                "/api/v1/stock/receipts",
                json!({ "item_id": item, "location_id": self.shelf,
                        "quantity": quantity.to_string(), "unit_cost": "1" }),
            )
            .await;
        assert_eq!(got.status, 201, "{:?}", got.body);
    }

    /// A draft order of `(item, quantity, price)` lines; answers its id.
    pub(crate) async fn draft(&self, api: &AdminApi, lines: &[(Uuid, &str, &str)]) -> String {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(item, quantity, price)| {
                json!({ "item_id": item, "quantity": quantity, "unit_price": price })
            })
            .collect();
        let got = self
            .post(
                api,
                "/api/v1/sales-orders",
                json!({ "customer_id": self.customer, "warehouse_id": self.warehouse,
                        "lines": lines }),
            )
            .await;
        assert_eq!(got.status, 201, "{:?}", got.body);
        got.body["id"].as_str().expect("an id").to_owned()
    }

    pub(crate) async fn order(&self, api: &AdminApi, id: &str) -> Value {
        let got = self
            .call(
                api,
                Method::GET,
                &format!("/api/v1/sales-orders/{id}"),
                None,
            )
            .await;
        assert_eq!(got.status, 200, "{:?}", got.body);
        got.body
    }

    pub(crate) async fn act(&self, api: &AdminApi, id: &str, action: &str) -> Reply {
        self.post(
            api,
            &format!("/api/v1/sales-orders/{id}/{action}"),
            json!({}),
        )
        .await
    }

    pub(crate) async fn deliver(&self, api: &AdminApi, id: &str, lines: Value) -> Reply {
        self.post(
            api,
            &format!("/api/v1/sales-orders/{id}/deliveries"),
            json!({ "lines": lines }),
        )
        .await
    }

    /// On hand minus reserved for the item in the main warehouse.
    pub(crate) async fn available(&self, item: Uuid) -> Decimal {
        stock::available(&self.db, item, self.warehouse)
            .await
            .expect("available")
    }

    pub(crate) async fn on_hand(&self, item: Uuid) -> Decimal {
        let row = self
            .db
            .query_one(
                "SELECT coalesce(sum(on_hand), 0) FROM stock_balances WHERE item_id = $1",
                &[&item],
            )
            .await
            .expect("on hand");
        row.get(0)
    }

    pub(crate) async fn reservations_of(&self, id: &str) -> i64 {
        let row = self
            .db
            .query_one(
                "SELECT count(*) FROM stock_reservations \
                 WHERE document_type = 'sales_order' AND document_id = $1",
                &[&id],
            )
            .await
            .expect("reservations");
        row.get(0)
    }

    pub(crate) async fn assert_consistent(&self) {
        let mismatches = stock::check::mismatches(&self.db).await.expect("check");
        assert!(
            mismatches.is_empty(),
            "balances differ from the ledger: {mismatches:?}"
        );
    }
}

fn d(n: i64) -> Decimal {
    Decimal::from(n)
}

fn line(order: &Value, index: usize, field: &str) -> String {
    order["lines"][index][field]
        .as_str()
        .unwrap_or_else(|| panic!("lines[{index}].{field} in {order}"))
        .to_owned()
}

#[tokio::test]
async fn an_order_goes_from_draft_through_partial_deliveries_to_closed() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "sellers").await;
    s.receive(&api, s.bolt, 20).await;
    s.receive(&api, s.gadget, 5).await;

    // A draft: one box of bolts (12 pcs) and 5 gadgets.
    let new_order = json!({ "customer_id": s.customer, "warehouse_id": s.warehouse,
        "lines": [{ "item_id": s.bolt, "quantity": "1", "unit": "box", "unit_price": "2" },
                  { "item_id": s.gadget, "quantity": "5", "unit_price": "10" }] });
    let created = s
        .post(&api, "/api/v1/sales-orders", new_order.clone())
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(created.body["status"], "draft");
    assert!(
        created.body["number"]
            .as_str()
            .is_some_and(|n| n.starts_with("SO-")),
        "{:?}",
        created.body
    );
    assert_eq!(created.body["total"], "74");
    assert_eq!(line(&created.body, 0, "quantity"), "12");

    // Refused: a supplier as the customer, an inactive item, a unit without conversion.
    for (body, field) in [
        (
            json!({ "customer_id": s.supplier, "warehouse_id": s.warehouse,
                    "lines": [{ "item_id": s.bolt, "quantity": "1", "unit_price": "1" }] }),
            "customer_id",
        ),
        (
            json!({ "customer_id": s.customer, "warehouse_id": s.warehouse,
                    "lines": [{ "item_id": s.retired, "quantity": "1", "unit_price": "1" }] }),
            "lines[0].item_id",
        ),
        (
            json!({ "customer_id": s.customer, "warehouse_id": s.warehouse,
                    "lines": [{ "item_id": s.gadget, "quantity": "1", "unit": "box",
                                "unit_price": "1" }] }),
            "lines[0].unit",
        ),
    ] {
        let refused = s.post(&api, "/api/v1/sales-orders", body).await;
        assert_eq!(refused.status, 422, "{:?}", refused.body);
        assert_eq!(
            refused.body["errors"][0]["field"], field,
            "{:?}",
            refused.body
        );
    }

    // A draft changes; a double-submitted form is one order.
    let patched = s
        .call(
            &api,
            Method::PATCH,
            &format!("/api/v1/sales-orders/{id}"),
            Some(json!({ "notes": "ring twice" })),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["notes"], "ring twice");
    let mut keyed = new_order.clone();
    keyed["reference"] = json!("form-7");
    let first = s.post(&api, "/api/v1/sales-orders", keyed.clone()).await;
    let again = s.post(&api, "/api/v1/sales-orders", keyed).await;
    assert_eq!((first.status, again.status), (201, 200), "{:?}", again.body);
    assert_eq!(first.body["id"], again.body["id"]);

    // Confirmed: both lines reserved, so their stock is no longer available.
    let confirmed = s.act(&api, &id, "confirm").await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
    assert_eq!(confirmed.body["status"], "confirmed");
    assert_eq!(line(&confirmed.body, 0, "reserved_quantity"), "12");
    assert_eq!(line(&confirmed.body, 1, "reserved_quantity"), "5");
    assert_eq!(s.available(s.bolt).await, d(8));
    assert_eq!(s.available(s.gadget).await, d(0));
    let twice = s.act(&api, &id, "confirm").await;
    assert_eq!((twice.status, twice.code()), (409, "invalid_status"));
    let early = s.act(&api, &id, "invoice").await;
    assert_eq!((early.status, early.code()), (409, "invalid_status"));
    let frozen = s
        .call(
            &api,
            Method::PATCH,
            &format!("/api/v1/sales-orders/{id}"),
            Some(json!({ "notes": "x" })),
        )
        .await;
    assert_eq!((frozen.status, frozen.code()), (409, "invalid_status"));

    // A first, partial delivery.
    let partial = s
        .deliver(
            &api,
            &id,
            json!([{ "line": 1, "quantity": "5", "location_id": s.shelf }]),
        )
        .await;
    assert_eq!(partial.status, 201, "{:?}", partial.body);
    assert_eq!(partial.body["status"], "partially_delivered");
    assert_eq!(line(&partial.body, 0, "delivered_quantity"), "5");
    assert_eq!(line(&partial.body, 0, "reserved_quantity"), "7");
    assert_eq!(s.on_hand(s.bolt).await, d(15));
    assert_eq!(
        s.available(s.bolt).await,
        d(8),
        "delivered stock was reserved"
    );

    // Beyond what is left, from another warehouse, or an unknown line: refused, nothing moves.
    let over = s
        .deliver(
            &api,
            &id,
            json!([{ "line": 1, "quantity": "8", "location_id": s.shelf }]),
        )
        .await;
    assert_eq!(
        (over.status, over.code()),
        (409, "over_delivery"),
        "{:?}",
        over.body
    );
    let elsewhere = s
        .deliver(
            &api,
            &id,
            json!([{ "line": 1, "quantity": "1", "location_id": s.far }]),
        )
        .await;
    assert_eq!(elsewhere.status, 422, "{:?}", elsewhere.body);
    assert_eq!(elsewhere.body["errors"][0]["field"], "lines[0].location_id");
    let unknown = s
        .deliver(
            &api,
            &id,
            json!([{ "line": 9, "quantity": "1", "location_id": s.shelf }]),
        )
        .await;
    assert_eq!(unknown.status, 422, "{:?}", unknown.body);
    assert_eq!(s.on_hand(s.bolt).await, d(15));

    // The rest: fully delivered, nothing reserved any more.
    let rest = s
        .deliver(
            &api,
            &id,
            json!([{ "line": 1, "quantity": "7", "location_id": s.shelf },
                   { "line": 2, "quantity": "5", "location_id": s.shelf }]),
        )
        .await;
    assert_eq!(rest.status, 201, "{:?}", rest.body);
    assert_eq!(rest.body["status"], "delivered");
    assert_eq!(line(&rest.body, 0, "reserved_quantity"), "0");
    assert_eq!(s.reservations_of(&id).await, 0);
    assert_eq!(s.on_hand(s.bolt).await, d(8));
    assert_eq!(s.on_hand(s.gadget).await, d(0));
    assert_eq!(s.available(s.bolt).await, d(8));
    let canceled = s.act(&api, &id, "cancel").await;
    assert_eq!((canceled.status, canceled.code()), (409, "invalid_status"));

    let invoiced = s.act(&api, &id, "invoice").await;
    assert_eq!(invoiced.status, 200, "{:?}", invoiced.body);
    assert_eq!(invoiced.body["status"], "invoiced");
    let closed = s.act(&api, &id, "close").await;
    assert_eq!(closed.body["status"], "closed", "{:?}", closed.body);

    // The ledger holds three delivery entries against the order and matches the balances.
    let row =
        s.db.query_one(
            "SELECT count(*), coalesce(sum(quantity), 0) FROM stock_ledger \
             WHERE kind = 'delivery' AND document_type = 'sales_order' AND document_id = $1",
            &[&id],
        )
        .await
        .expect("ledger");
    assert_eq!(row.get::<_, i64>(0), 3);
    assert_eq!(row.get::<_, Decimal>(1), d(-17));
    s.assert_consistent().await;

    // Events and audit entries were written with the changes.
    let events: Vec<String> =
        s.db.query(
            "SELECT event_type FROM webhook_events WHERE event_type LIKE 'sales_order.%' \
             ORDER BY created_at, id",
            &[],
        )
        .await
        .expect("events")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        events,
        [
            "sales_order.confirmed",
            "sales_order.delivered",
            "sales_order.delivered"
        ]
    );
    let audited =
        s.db.query_one(
            "SELECT count(*) FROM audit_log WHERE target_kind = 'sales_order' AND target_id = $1",
            &[&id],
        )
        .await
        .expect("audit");
    assert_eq!(
        audited.get::<_, i64>(0),
        7,
        "create, patch, confirm, 2 deliveries, invoice, close"
    );

    // Lists: open orders leave out the closed one; filters and paging.
    let open = s
        .call(&api, Method::GET, "/api/v1/sales-orders?open=true", None)
        .await;
    assert_eq!(open.status, 200, "{:?}", open.body);
    let open_ids: Vec<&Value> = open.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(open_ids, [&first.body["id"]]);
    let paged = s
        .call(&api, Method::GET, "/api/v1/sales-orders?limit=1", None)
        .await;
    let next = paged.body["next"].as_str().expect("a next page");
    let second = s
        .call(
            &api,
            Method::GET,
            &format!("/api/v1/sales-orders?limit=1&after={next}"),
            None,
        )
        .await;
    assert_eq!(
        second.body["items"][0]["id"],
        json!(id),
        "{:?}",
        second.body
    );
    assert!(second.body["next"].is_null());
    let by_status = s
        .call(
            &api,
            Method::GET,
            "/api/v1/sales-orders?status=closed",
            None,
        )
        .await;
    assert_eq!(by_status.body["items"][0]["id"], json!(id));
}

#[tokio::test]
async fn a_short_confirmation_reserves_nothing_and_a_cancel_gives_reservations_back() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "shorts").await;
    s.receive(&api, s.bolt, 10).await;
    s.receive(&api, s.gadget, 2).await;

    let short = s
        .draft(&api, &[(s.bolt, "5", "1"), (s.gadget, "3", "1")])
        .await;
    let refused = s.act(&api, &short, "confirm").await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "insufficient_stock")
    );
    let detail = refused.body["detail"].as_str().expect("detail");
    assert!(detail.contains("line(s) 2"), "{detail}");
    assert_eq!(
        s.reservations_of(&short).await,
        0,
        "the bolts were not kept"
    );
    assert_eq!(s.available(s.bolt).await, d(10));
    assert_eq!(s.order(&api, &short).await["status"], "draft");

    let order = s.draft(&api, &[(s.bolt, "6", "1")]).await;
    assert_eq!(s.act(&api, &order, "confirm").await.status, 200);
    assert_eq!(s.available(s.bolt).await, d(4));
    let canceled = s.act(&api, &order, "cancel").await;
    assert_eq!(canceled.status, 200, "{:?}", canceled.body);
    assert_eq!(canceled.body["status"], "canceled");
    assert_eq!(s.available(s.bolt).await, d(10));
    assert_eq!(s.reservations_of(&order).await, 0);
    let late = s
        .deliver(
            &api,
            &order,
            json!([{ "line": 1, "quantity": "1", "location_id": s.shelf }]),
        )
        .await;
    assert_eq!((late.status, late.code()), (409, "invalid_status"));
    s.assert_consistent().await;
}

#[tokio::test]
async fn two_orders_racing_for_the_last_units_leave_exactly_one_confirmed() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "racers").await;
    s.receive(&api, s.bolt, 5).await;
    let first = s.draft(&api, &[(s.bolt, "5", "1")]).await;
    let second = s.draft(&api, &[(s.bolt, "5", "1")]).await;

    let (a, b) = futures_util::join!(
        s.act(&api, &first, "confirm"),
        s.act(&api, &second, "confirm")
    );
    let mut outcomes = [
        (a.status, a.code().to_owned()),
        (b.status, b.code().to_owned()),
    ];
    outcomes.sort();
    assert_eq!(
        outcomes,
        [(200, String::new()), (409, "insufficient_stock".to_owned())],
        "{:?} {:?}",
        a.body,
        b.body
    );
    assert_eq!(s.available(s.bolt).await, d(0));
    assert_eq!(
        s.reservations_of(&first).await + s.reservations_of(&second).await,
        1
    );
}

#[tokio::test]
async fn a_double_submitted_delivery_posts_once() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "doubles").await;
    s.receive(&api, s.bolt, 10).await;
    let id = s.draft(&api, &[(s.bolt, "6", "1")]).await;
    assert_eq!(s.act(&api, &id, "confirm").await.status, 200);

    let keyed = || {
        let url = format!(
            "{}/api/v1/sales-orders/{id}/deliveries",
            api.app.tenant_runtime_url
        );
        api.app
            .client
            .post(url)
            .header("X-Tenant", &s.slug)
            .bearer_auth(&s.token)
            .header("Idempotency-Key", "delivery-1")
            .json(&json!({ "lines": [{ "line": 1, "quantity": "4", "location_id": s.shelf }] }))
            .send()
    };
    let (one, two) = futures_util::join!(keyed(), keyed());
    let one = system_tests::admin::read(one.expect("sent")).await;
    let two = system_tests::admin::read(two.expect("sent")).await;
    let mut statuses = [one.status, two.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201], "{:?} {:?}", one.body, two.body);
    let three = system_tests::admin::read(keyed().await.expect("sent")).await;
    assert_eq!(three.status, 200, "{:?}", three.body);

    let order = s.order(&api, &id).await;
    assert_eq!(line(&order, 0, "delivered_quantity"), "4");
    assert_eq!(line(&order, 0, "reserved_quantity"), "2");
    assert_eq!(s.on_hand(s.bolt).await, d(6));
    s.assert_consistent().await;
}

#[tokio::test]
async fn viewers_cannot_write_orders_and_plans_without_sales_are_refused() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "sguard").await;
    let id = s.draft(&api, &[(s.bolt, "1", "1")]).await;
    let invited = s
        .post(
            &api,
            "/api/v1/users",
            json!({ "email": "vic@sguard.example", "roles": ["viewer"] }),
        )
        .await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    let mailed = api.mailed_token("vic@sguard.example", "invited").await;
    assert_eq!(
        api.set_password("sguard", &mailed, OWNER_PASSWORD)
            .await
            .status,
        204
    );
    let login = api
        .tenant_login("sguard", "vic@sguard.example", OWNER_PASSWORD)
        .await;
    let viewer = login.body["access_token"].as_str().expect("token");
    let write = api
        .tenant_call(
            "sguard",
            Method::POST,
            &format!("/api/v1/sales-orders/{id}/confirm"),
            Some(viewer),
            Some(json!({})),
        )
        .await;
    assert_eq!((write.status, write.code()), (403, "forbidden"));
    let read = api
        .tenant_call(
            "sguard",
            Method::GET,
            &format!("/api/v1/sales-orders/{id}"),
            Some(viewer),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(s.order(&api, &id).await["status"], "draft");

    let plan = api
        .post(
            "/api/v1/plans",
            json!({ "code": "stock-only", "name": "Stock only",
                      "limits": { "max_users": 5, "max_storage_mb": 100,
                                  "api_requests_per_minute": 600, "api_calls_per_month": 10000,
                                  "max_concurrent_requests": 5, "max_db_connections": 5 },
                      "features": ["master_data", "inventory"] }),
        )
        .await;
    assert_eq!(plan.status, 201, "{:?}", plan.body);
    let plain = api.company("nosales", "stock-only").await;
    let token = api.owner_token(&plain).await;
    let gated = api
        .tenant_call(
            "nosales",
            Method::GET,
            "/api/v1/sales-orders",
            Some(&token),
            None,
        )
        .await;
    assert_eq!((gated.status, gated.code()), (403, "feature_not_in_plan"));
}

#[tokio::test]
async fn the_pages_draft_confirm_and_deliver_an_order() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "webshop").await;
    s.receive(&api, s.bolt, 10).await;
    let mut client = PortalClient::for_app(&api.app.tenant_runtime_url, &s.slug);
    let signed_in = client.sign_in(&s.admin_email, OWNER_PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let dashboard = client.get("/").await;
    assert!(
        dashboard.body.contains("href=\"/sales-orders\""),
        "in the navigation"
    );

    let list = client.get("/sales-orders").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("Draft the order"));
    let reference = list.input("reference").expect("a form reference");
    let (customer, warehouse, bolt) = (
        s.customer.to_string(),
        s.warehouse.to_string(),
        s.bolt.to_string(),
    );
    let fields = [
        ("customer_id", customer.as_str()),
        ("warehouse_id", warehouse.as_str()),
        ("reference", reference.as_str()),
        ("item_1", bolt.as_str()),
        ("quantity_1", "4"),
        ("price_1", "3"),
        ("item_2", ""),
        ("quantity_2", ""),
    ];
    let drafted = client.post("/sales-orders", &fields).await;
    assert_eq!(drafted.status, 303, "{}", drafted.body);
    let page = drafted.location().expect("to the order").to_owned();
    // The same form sent twice is one order.
    let again = client.post("/sales-orders", &fields).await;
    assert_eq!(again.location(), Some(page.as_str()));

    let bad = client
        .post(
            "/sales-orders",
            &[
                ("customer_id", customer.as_str()),
                ("warehouse_id", warehouse.as_str()),
                ("item_1", bolt.as_str()),
                ("quantity_1", "0"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("lines[0].quantity"), "{}", bad.body);

    let confirmed = client.post(&format!("{page}/confirm"), &[]).await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    let shown = client.get(&page).await;
    assert!(
        shown.body.contains("data-status=\"confirmed\""),
        "{}",
        shown.body
    );
    let shelf = s.shelf.to_string();
    let delivered = client
        .post(
            &format!("{page}/deliveries"),
            &[("location_id", shelf.as_str()), ("quantity_1", "4")],
        )
        .await;
    assert_eq!(delivered.status, 303, "{}", delivered.body);
    let shown = client.get(&page).await;
    assert!(
        shown.body.contains("data-status=\"delivered\""),
        "{}",
        shown.body
    );
    assert_eq!(s.on_hand(s.bolt).await, d(6));
    let refused = client.post(&format!("{page}/cancel"), &[]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    s.assert_consistent().await;
}

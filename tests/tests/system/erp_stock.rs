//! The stock ledger end to end: receipts, issues, transfers, adjustments and reversals
//! through the API, with the balances checked against the ledger after every scenario;
//! the concurrency claims (the last unit, reservations) under real concurrent requests
//! and transactions; lots (first-expired-first-out, trace); material debt; permissions
//! and the plan gate. Items, warehouses and locations are made with SQL (their API is
//! another area's).

use futures_util::future::join_all;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use system_tests::AdminApi;
use system_tests::runtime::{Company, OWNER_PASSWORD};
use tenant_runtime::erp::stock::{self, ReservationRequest};
use uuid::Uuid;

/// A company with a warehouse of two locations, a second warehouse, and items.
struct Shop {
    slug: String,
    token: String,
    db: tokio_postgres::Client,
    company: Company,
    /// Not lot-tracked; `box` is 12 of its base unit `pcs`; reorder point 5.
    bolt: Uuid,
    /// Lot-tracked.
    milk: Uuid,
    /// Inactive.
    retired: Uuid,
    warehouse: Uuid,
    shelf: Uuid,
    dock: Uuid,
    /// In the second warehouse.
    far: Uuid,
    /// Inactive.
    closed: Uuid,
}

async fn shop(api: &AdminApi, slug: &str) -> Shop {
    let company = api.company(slug, "starter").await;
    let token = api.owner_token(&company).await;
    let db = api.tenant_db(&company.id).await;
    let ids: Vec<Uuid> = (0..9).map(|_| Uuid::now_v7()).collect();
    let (bolt, milk, retired, warehouse, other) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let (shelf, dock, far, closed) = (ids[5], ids[6], ids[7], ids[8]);
    db.execute(
        "INSERT INTO warehouses (id, code, name) VALUES ($1, 'MAIN', 'Main'), ($2, 'FAR', 'Far')",
        &[&warehouse, &other],
    )
    .await
    .expect("warehouses");
    db.execute(
        "INSERT INTO locations (id, warehouse_id, code, name, kind, active) VALUES \
         ($1, $5, 'SHELF', 'Shelf', 'storage', true), ($2, $5, 'DOCK', 'Dock', 'receiving', true), \
         ($3, $6, 'FAR-1', 'Far shelf', 'storage', true), ($4, $5, 'OLD', 'Old', 'storage', false)",
        &[&shelf, &dock, &far, &closed, &warehouse, &other],
    )
    .await
    .expect("locations");
    db.execute(
        "INSERT INTO items (id, sku, name, kind, base_unit, reorder_point, standard_cost, \
         lot_tracked, active) VALUES \
         ($1, 'BOLT', 'Bolt', 'raw', 'pcs', 5, 2, false, true), \
         ($2, 'MILK', 'Milk', 'raw', 'l', 0, 1, true, true), \
         ($3, 'OLD', 'Old', 'raw', 'pcs', 0, 1, false, false)",
        &[&bolt, &milk, &retired],
    )
    .await
    .expect("items");
    db.execute(
        "INSERT INTO item_units (item_id, unit, factor) VALUES ($1, 'box', 12)",
        &[&bolt],
    )
    .await
    .expect("units");
    Shop {
        slug: slug.to_owned(),
        token,
        db,
        company,
        bolt,
        milk,
        retired,
        warehouse,
        shelf,
        dock,
        far,
        closed,
    }
}

impl Shop {
    async fn call(
        &self,
        api: &AdminApi,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> system_tests::admin::Reply {
        api.tenant_call(&self.slug, method, path, Some(&self.token), body)
            .await
    }

    async fn post(&self, api: &AdminApi, path: &str, body: Value) -> system_tests::admin::Reply {
        self.call(api, Method::POST, path, Some(body)).await
    }

    /// Total on hand of an item (the item endpoint).
    async fn on_hand(&self, api: &AdminApi, item: Uuid) -> Decimal {
        let reply = self
            .call(
                api,
                Method::GET,
                &format!("/api/v1/stock/items/{item}"),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        decimal(&reply.body["on_hand"])
    }

    /// The balances equal the ledger sums.
    async fn assert_consistent(&self) {
        let mismatches = stock::check::mismatches(&self.db).await.expect("check");
        assert!(
            mismatches.is_empty(),
            "balances differ from the ledger: {mismatches:?}"
        );
    }
}

fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a decimal string, got {value}"))
        .parse()
        .expect("a decimal")
}

fn d(n: i64) -> Decimal {
    Decimal::from(n)
}

#[tokio::test]
async fn receipts_issues_transfers_and_adjustments_move_on_hand_as_the_ledger_says() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "bolts").await;
    let receipt = |quantity: &str, unit: Option<&str>| {
        json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": quantity,
                "unit": unit, "unit_cost": "3" })
    };

    let got = s
        .post(&api, "/api/v1/stock/receipts", receipt("2", Some("box")))
        .await;
    assert_eq!(got.status, 201, "{:?}", got.body);
    assert_eq!(got.body["entries"][0]["quantity"], "24", "two boxes of 12");
    assert_eq!(s.on_hand(&api, s.bolt).await, d(24));
    s.assert_consistent().await;

    for (body, status, field) in [
        (receipt("0", None), 422, "quantity"),
        (receipt("-3", None), 422, "quantity"),
        (receipt("1", Some("kg")), 422, "unit"),
    ] {
        let refused = s.post(&api, "/api/v1/stock/receipts", body).await;
        assert_eq!(refused.status, status, "{:?}", refused.body);
        assert_eq!(
            refused.body["errors"][0]["field"], field,
            "{:?}",
            refused.body
        );
    }
    let unknown_item = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": Uuid::now_v7(), "location_id": s.shelf, "quantity": "1" }),
        )
        .await;
    assert_eq!(
        (unknown_item.status, unknown_item.code()),
        (404, "item_not_found")
    );
    let unknown_location = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": s.bolt, "location_id": Uuid::now_v7(), "quantity": "1" }),
        )
        .await;
    assert_eq!(unknown_location.code(), "location_not_found");
    let inactive = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": s.retired, "location_id": s.shelf, "quantity": "1" }),
        )
        .await;
    assert_eq!((inactive.status, inactive.code()), (409, "item_inactive"));
    let closed = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": s.bolt, "location_id": s.closed, "quantity": "1" }),
        )
        .await;
    assert_eq!((closed.status, closed.code()), (409, "location_inactive"));
    assert_eq!(
        s.on_hand(&api, s.bolt).await,
        d(24),
        "nothing refused was applied"
    );

    let html = "<script>alert('x')</script> & <b>bold</b>";
    let issued = s
        .post(
            &api,
            "/api/v1/stock/issues",
            json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "4", "note": html }),
        )
        .await;
    assert_eq!(issued.status, 201, "{:?}", issued.body);
    assert_eq!(issued.body["note"], html, "kept verbatim");
    assert_eq!(issued.body["entries"][0]["quantity"], "-4");
    assert_eq!(
        issued.body["entries"][0]["unit_cost"], "3",
        "at the average cost"
    );
    let too_much = s
        .post(
            &api,
            "/api/v1/stock/issues",
            json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "21" }),
        )
        .await;
    assert_eq!(
        (too_much.status, too_much.code()),
        (409, "insufficient_stock")
    );

    let moved = s
        .post(
            &api,
            "/api/v1/stock/transfers",
            json!({ "item_id": s.bolt, "from_location_id": s.shelf,
                      "to_location_id": s.far, "quantity": "5" }),
        )
        .await;
    assert_eq!(moved.status, 201, "{:?}", moved.body);
    let counted = s
        .post(
            &api,
            "/api/v1/stock/adjustments",
            json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "-1",
                      "reason": "found broken" }),
        )
        .await;
    assert_eq!(counted.status, 201, "{:?}", counted.body);
    let item = s
        .call(
            &api,
            Method::GET,
            &format!("/api/v1/stock/items/{}", s.bolt),
            None,
        )
        .await;
    assert_eq!(decimal(&item.body["on_hand"]), d(19));
    let at = |location: Uuid| {
        item.body["placements"]
            .as_array()
            .expect("placements")
            .iter()
            .find(|p| p["location_id"] == json!(location))
            .map(|p| decimal(&p["on_hand"]))
    };
    assert_eq!((at(s.shelf), at(s.far)), (Some(d(14)), Some(d(5))));
    assert_eq!(decimal(&item.body["value"]), d(57), "19 at 3");
    s.assert_consistent().await;

    // Reversal restores, once.
    let movement = moved.body["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/stock/movements/{movement}/reverse");
    let reversed = s
        .post(&api, &path, json!({ "reason": "wrong shelf" }))
        .await;
    assert_eq!(reversed.status, 201, "{:?}", reversed.body);
    assert_eq!(reversed.body["reverses"], json!(movement));
    let twice = s.post(&api, &path, json!({})).await;
    assert_eq!((twice.status, twice.code()), (409, "already_reversed"));
    let reversal_id = reversed.body["id"].as_str().expect("id");
    let of_reversal = s
        .post(
            &api,
            &format!("/api/v1/stock/movements/{reversal_id}/reverse"),
            json!({}),
        )
        .await;
    assert_eq!(of_reversal.code(), "cannot_reverse_reversal");
    let item = s
        .call(
            &api,
            Method::GET,
            &format!("/api/v1/stock/items/{}", s.bolt),
            None,
        )
        .await;
    assert_eq!(at(s.shelf), Some(d(14)), "the earlier read");
    let shelf_now = item.body["placements"]
        .as_array()
        .expect("placements")
        .iter()
        .find(|p| p["location_id"] == json!(s.shelf))
        .map(|p| decimal(&p["on_hand"]));
    assert_eq!(shelf_now, Some(d(19)));
    s.assert_consistent().await;

    // A double-submitted form posts once.
    let keyed = |key: &'static str| {
        let url = format!("{}/api/v1/stock/receipts", api.app.tenant_runtime_url);
        api.app
            .client
            .post(url)
            .header("X-Tenant", &s.slug)
            .bearer_auth(&s.token)
            .header("Idempotency-Key", key)
            .json(&json!({ "item_id": s.bolt, "location_id": s.dock, "quantity": "1" }))
            .send()
    };
    let (first, second) = futures_util::join!(keyed("form-1"), keyed("form-1"));
    let first = system_tests::admin::read(first.expect("sent")).await;
    let second = system_tests::admin::read(second.expect("sent")).await;
    let mut statuses = [first.status, second.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201], "{:?} {:?}", first.body, second.body);
    assert_eq!(first.body["id"], second.body["id"]);
    assert_eq!(s.on_hand(&api, s.bolt).await, d(20));

    // The ledger is append-only, even to the database's owner.
    for sql in [
        "UPDATE stock_ledger SET quantity = 1",
        "DELETE FROM stock_ledger",
    ] {
        let refused = s.db.execute(sql, &[]).await;
        let error = refused.expect_err("the trigger refuses");
        assert!(
            error.to_string().contains("append-only")
                || format!("{error:?}").contains("append-only"),
            "{error:?}"
        );
    }

    let listed = s
        .call(
            &api,
            Method::GET,
            &format!("/api/v1/stock/movements?item_id={}&limit=2", s.bolt),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(2));
    let next = listed.body["next"].as_str().expect("a next page");
    let page2 = s
        .call(
            &api,
            Method::GET,
            &format!(
                "/api/v1/stock/movements?item_id={}&limit=2&after={next}",
                s.bolt
            ),
            None,
        )
        .await;
    assert!(
        page2.body["items"][0]["id"].as_i64() < listed.body["items"][1]["id"].as_i64(),
        "newest first"
    );
    let valuation = s
        .call(
            &api,
            Method::GET,
            "/api/v1/stock/valuation?group_by=location",
            None,
        )
        .await;
    assert_eq!(valuation.status, 200, "{:?}", valuation.body);
    let on_hand = s
        .call(
            &api,
            Method::GET,
            &format!("/api/v1/stock/on-hand?warehouse_id={}", s.warehouse),
            None,
        )
        .await;
    assert_eq!(on_hand.status, 200, "{:?}", on_hand.body);
    let audited: i64 =
        s.db.query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'stock.movement_posted'",
            &[],
        )
        .await
        .expect("audit")
        .get(0);
    assert_eq!(audited, 6, "one entry per movement posted");
    s.assert_consistent().await;
}

#[tokio::test]
async fn concurrent_issues_of_the_last_unit_let_exactly_one_through() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "lastone").await;
    let got = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "1" }),
        )
        .await;
    assert_eq!(got.status, 201, "{:?}", got.body);
    let issue = json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "1" });
    let replies =
        join_all((0..8).map(|_| s.post(&api, "/api/v1/stock/issues", issue.clone()))).await;
    let won = replies.iter().filter(|r| r.status == 201).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "insufficient_stock")
        .count();
    assert_eq!(
        (won, refused),
        (1, 7),
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(s.on_hand(&api, s.bolt).await, Decimal::ZERO);
    s.assert_consistent().await;

    // Reservations: 5 on hand, 8 concurrent transactions reserving 1 each: 5 get it.
    let got = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": s.bolt, "location_id": s.dock, "quantity": "5" }),
        )
        .await;
    assert_eq!(got.status, 201);
    let attempts = (0..8).map(|n| {
        let api = &api;
        let company = &s.company;
        let (item, warehouse) = (s.bolt, s.warehouse);
        async move {
            let mut db = api.tenant_db(&company.id).await;
            let tx = db.transaction().await.expect("begin");
            let request = ReservationRequest {
                item_id: item,
                warehouse_id: warehouse,
                quantity: Decimal::ONE,
                document_type: "sales_order".into(),
                document_id: format!("SO-{n}"),
                document_line: Some(1),
            };
            let reserved = stock::reserve(&tx, request).await;
            tx.commit().await.expect("commit");
            reserved.is_ok()
        }
    });
    let reserved = join_all(attempts)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count();
    assert_eq!(reserved, 5, "never more than available");
    let item = s
        .call(
            &api,
            Method::GET,
            &format!("/api/v1/stock/items/{}", s.bolt),
            None,
        )
        .await;
    assert_eq!(
        (
            decimal(&item.body["reserved"]),
            decimal(&item.body["available"])
        ),
        (d(5), d(0))
    );
}

#[tokio::test]
async fn lots_leave_first_expired_first_out_and_their_trace_shows_where_they_went() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "dairy").await;
    let receive = |lot: &str, expiry: &str, quantity: &str| {
        json!({ "item_id": s.milk, "location_id": s.shelf, "quantity": quantity,
                "unit_cost": "1", "lot_code": lot, "lot_expires_on": expiry })
    };
    let no_lot = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": s.milk, "location_id": s.shelf, "quantity": "1" }),
        )
        .await;
    assert_eq!(
        no_lot.body["errors"][0]["field"], "lot_code",
        "{:?}",
        no_lot.body
    );
    let lot_on_plain = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "1", "lot_code": "L1" }),
        )
        .await;
    assert_eq!(lot_on_plain.status, 422);
    for (lot, expiry, quantity) in [("LATE", "2027-06-01", "5"), ("EARLY", "2027-01-01", "3")] {
        let got = s
            .post(
                &api,
                "/api/v1/stock/receipts",
                receive(lot, expiry, quantity),
            )
            .await;
        assert_eq!(got.status, 201, "{:?}", got.body);
    }
    let issued = s
        .post(
            &api,
            "/api/v1/stock/issues",
            json!({ "item_id": s.milk, "location_id": s.shelf, "quantity": "4" }),
        )
        .await;
    assert_eq!(issued.status, 201, "{:?}", issued.body);
    let taken: Vec<(String, String)> = issued.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["lot_code"].as_str().unwrap_or_default().to_owned(),
                e["quantity"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        taken,
        [
            ("EARLY".to_owned(), "-3".to_owned()),
            ("LATE".to_owned(), "-1".to_owned())
        ],
        "the earliest expiry first, split across lots"
    );
    let too_much = s
        .post(
            &api,
            "/api/v1/stock/issues",
            json!({ "item_id": s.milk, "location_id": s.shelf, "quantity": "5" }),
        )
        .await;
    assert_eq!(too_much.code(), "insufficient_stock");
    let moved = s
        .post(
            &api,
            "/api/v1/stock/transfers",
            json!({ "item_id": s.milk, "from_location_id": s.shelf, "to_location_id": s.far,
                      "quantity": "2", "lot_code": "LATE" }),
        )
        .await;
    assert_eq!(moved.status, 201, "{:?}", moved.body);

    let lots = s
        .call(
            &api,
            Method::GET,
            &format!("/api/v1/lots?item_id={}", s.milk),
            None,
        )
        .await;
    let late = lots.body["items"]
        .as_array()
        .expect("lots")
        .iter()
        .find(|l| l["code"] == "LATE")
        .expect("the LATE lot")
        .clone();
    assert_eq!(late["on_hand"], "4");
    let trace = s
        .call(
            &api,
            Method::GET,
            &format!("/api/v1/lots/{}", late["id"].as_str().expect("id")),
            None,
        )
        .await;
    assert_eq!(trace.status, 200, "{:?}", trace.body);
    let kinds: Vec<&str> = trace.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["receipt", "issue", "transfer_out", "transfer_in"]);
    assert_eq!(
        trace.body["entries"][3]["location_id"],
        json!(s.far),
        "where it went"
    );
    s.assert_consistent().await;
}

#[tokio::test]
async fn negative_stock_where_allowed_is_debt_settled_by_the_next_receipt() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "debtor").await;
    s.db.execute(
        "INSERT INTO settings (key, value) VALUES ('inventory.allow_negative_stock', 'true')",
        &[],
    )
    .await
    .expect("setting");
    let issued = s
        .post(
            &api,
            "/api/v1/stock/issues",
            json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "3" }),
        )
        .await;
    assert_eq!(issued.status, 201, "{:?}", issued.body);
    assert_eq!(s.on_hand(&api, s.bolt).await, d(-3));
    let open: Decimal =
        s.db.query_one("SELECT sum(open_quantity) FROM material_debts", &[])
            .await
            .expect("debts")
            .get(0);
    assert_eq!(open, d(3));
    let got = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "2", "unit_cost": "2" }),
        )
        .await;
    assert_eq!(got.status, 201);
    let got = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "4", "unit_cost": "2" }),
        )
        .await;
    let settled_by = got.body["entries"][0]["id"].as_i64().expect("entry id");
    let debt =
        s.db.query_one("SELECT open_quantity, settled_by FROM material_debts", &[])
            .await
            .expect("debt");
    assert_eq!(
        (debt.get::<_, Decimal>(0), debt.get::<_, Option<i64>>(1)),
        (d(0), Some(settled_by))
    );
    assert_eq!(s.on_hand(&api, s.bolt).await, d(3));
    s.assert_consistent().await;
}

#[tokio::test]
async fn viewers_cannot_move_stock_and_plans_without_inventory_are_refused() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "guarded").await;
    let invited = s
        .post(
            &api,
            "/api/v1/users",
            json!({ "email": "vic@guarded.example", "roles": ["viewer"] }),
        )
        .await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    let mailed = api.mailed_token("vic@guarded.example", "invited").await;
    let set = api.set_password("guarded", &mailed, OWNER_PASSWORD).await;
    assert_eq!(set.status, 204);
    let login = api
        .tenant_login("guarded", "vic@guarded.example", OWNER_PASSWORD)
        .await;
    let viewer = login.body["access_token"].as_str().expect("token");
    let write = api
        .tenant_call(
            "guarded",
            Method::POST,
            "/api/v1/stock/receipts",
            Some(viewer),
            Some(json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "1" })),
        )
        .await;
    assert_eq!((write.status, write.code()), (403, "forbidden"));
    let read = api
        .tenant_call(
            "guarded",
            Method::GET,
            &format!("/api/v1/stock/items/{}", s.bolt),
            Some(viewer),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{:?}", read.body);

    let plan = api
        .post(
            "/api/v1/plans",
            json!({ "code": "sales-only", "name": "Sales only",
                      "limits": { "max_users": 5, "max_storage_mb": 100,
                                  "api_requests_per_minute": 600, "api_calls_per_month": 10000,
                                  "max_concurrent_requests": 5, "max_db_connections": 5 },
                      "features": ["sales"] }),
        )
        .await;
    assert_eq!(plan.status, 201, "{:?}", plan.body);
    let plain = api.company("plain", "sales-only").await;
    let token = api.owner_token(&plain).await;
    for path in ["/api/v1/stock/on-hand", "/api/v1/lots"] {
        let gated = api
            .tenant_call("plain", Method::GET, path, Some(&token), None)
            .await;
        assert_eq!(
            (gated.status, gated.code()),
            (403, "feature_not_in_plan"),
            "{path}"
        );
    }
}

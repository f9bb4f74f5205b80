//! Quality control end to end through the API: incoming inspections that pass (a held lot
//! given back) and fail (the lot quarantined, `qc.failed` and `lot.quarantined` raised), a
//! quarantined lot refused by every stock door (issue, transfer, sales reservation and
//! delivery) while first-expired-first-out skips it, release by a manager (never by
//! staff), scrap posting an adjustment at the lot's cost with the balances matching the
//! ledger, a final inspection holding its lot until it passes, conditional acceptance
//! needing a comment, and defect analysis grouped by type, item and work order. Items,
//! warehouses and partners are made with SQL (another area's API).

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use system_tests::AdminApi;
use system_tests::admin::Reply;
use system_tests::portal::PortalClient;
use system_tests::runtime::OWNER_PASSWORD;
use tenant_runtime::erp::stock;
use uuid::Uuid;

/// A manufacturer with QC: a warehouse with two locations, a lot-tracked raw material
/// (`MILK`) and finished good (`CHEESE`), a customer.
struct Plant {
    slug: String,
    owner: String,
    db: tokio_postgres::Client,
    warehouse: Uuid,
    shelf: Uuid,
    dock: Uuid,
    milk: Uuid,
    cheese: Uuid,
    customer: Uuid,
}

async fn plant(api: &AdminApi, slug: &str) -> Plant {
    api.register_primary().await;
    let plan = format!("qc-{slug}");
    let reply = api
        .post(
            "/api/v1/plans",
            json!({ "code": plan, "name": plan,
                    "limits": { "max_users": 10, "max_storage_mb": 1000,
                                "api_requests_per_minute": 6000, "api_calls_per_month": 1_000_000,
                                "max_concurrent_requests": 50, "max_db_connections": 5 },
                    "features": ["master_data", "inventory", "sales", "quality"] }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let company = api.company(slug, &plan).await;
    let owner = api.owner_token(&company).await;
    let db = api.tenant_db(&company.id).await;
    let ids: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
    db.execute(
        "INSERT INTO warehouses (id, code, name) VALUES ($1, 'MAIN', 'Main')",
        &[&ids[0]],
    )
    .await
    .expect("warehouse");
    db.execute(
        "INSERT INTO locations (id, warehouse_id, code, name) VALUES \
         ($1, $3, 'SHELF', 'Shelf'), ($2, $3, 'DOCK', 'Dock')",
        &[&ids[1], &ids[2], &ids[0]],
    )
    .await
    .expect("locations");
    db.execute(
        "INSERT INTO items (id, sku, name, kind, base_unit, standard_cost, lot_tracked, active) \
         VALUES ($1, 'MILK', 'Milk', 'raw', 'l', 1, true, true), \
                ($2, 'CHEESE', 'Cheese', 'finished', 'pcs', 7, true, true)",
        &[&ids[3], &ids[4]],
    )
    .await
    .expect("items");
    db.execute(
        "INSERT INTO partners (id, code, name, is_customer, is_supplier) \
         VALUES ($1, 'ACME', 'Acme', true, false)",
        &[&ids[5]],
    )
    .await
    .expect("partner");
    Plant {
        slug: slug.to_owned(),
        owner,
        db,
        warehouse: ids[0],
        shelf: ids[1],
        dock: ids[2],
        milk: ids[3],
        cheese: ids[4],
        customer: ids[5],
    }
}

impl Plant {
    async fn call(
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

    async fn post(&self, api: &AdminApi, path: &str, body: Value) -> Reply {
        self.call(api, &self.owner, Method::POST, path, Some(body))
            .await
    }

    async fn get(&self, api: &AdminApi, path: &str) -> Reply {
        self.call(api, &self.owner, Method::GET, path, None).await
    }

    /// A signed-in user with `roles`, invited by the owner: their access token.
    async fn user(&self, api: &AdminApi, name: &str, roles: &[&str]) -> String {
        let email = self.email(name);
        let invited = self
            .post(
                api,
                "/api/v1/users",
                json!({ "email": email, "roles": roles }),
            )
            .await;
        assert_eq!(invited.status, 201, "{:?}", invited.body);
        let mailed = api.mailed_token(&email, "invited").await;
        let set = api.set_password(&self.slug, &mailed, OWNER_PASSWORD).await;
        assert_eq!(set.status, 204, "{:?}", set.body);
        let login = api.tenant_login(&self.slug, &email, OWNER_PASSWORD).await;
        assert_eq!(login.status, 200, "{:?}", login.body);
        login.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    fn email(&self, name: &str) -> String {
        format!("{name}@{}.example", self.slug)
    }

    /// Receives `quantity` of `item` as lot `lot` (expiring on `expires`) at `location`
    /// for `cost` each: the receipt's ledger entry id.
    async fn receive(
        &self,
        api: &AdminApi,
        item: Uuid,
        lot: &str,
        quantity: &str,
        expires: &str,
        location: Uuid,
    ) -> i64 {
        let got = self
            .post(
                api,
                "/api/v1/stock/receipts",
                json!({ "item_id": item, "location_id": location, "quantity": quantity,
                        "unit_cost": "3", "lot_code": lot, "lot_expires_on": expires }),
            )
            .await;
        assert_eq!(got.status, 201, "{:?}", got.body);
        got.body["entries"][0]["id"].as_i64().expect("entry id")
    }

    async fn lot(&self, item: Uuid, code: &str) -> (Uuid, String) {
        let row = self
            .db
            .query_one(
                "SELECT id, status FROM lots WHERE item_id = $1 AND code = $2",
                &[&item, &code],
            )
            .await
            .expect("lot");
        (row.get(0), row.get(1))
    }

    /// A work order (of a one-line cheese order made from milk) for in-process inspections
    /// to name, written with SQL: this plan has no production module.
    async fn work_order(&self) -> Uuid {
        let (bom, order, work_order) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        self.db
            .batch_execute(&format!(
                "INSERT INTO boms (id, item_id, version, active) \
                   SELECT '{bom}', '{cheese}', coalesce(max(version), 0) + 1, false \
                   FROM boms WHERE item_id = '{cheese}'; \
                 INSERT INTO manufacturing_orders (id, item_id, bom_id, quantity, warehouse_id, \
                   output_location_id) \
                   VALUES ('{order}', '{cheese}', '{bom}', 10, '{warehouse}', '{shelf}'); \
                 INSERT INTO work_orders (id, order_id, operation, target_quantity) \
                   VALUES ('{work_order}', '{order}', 'pressing', 10);",
                cheese = self.cheese,
                warehouse = self.warehouse,
                shelf = self.shelf,
            ))
            .await
            .expect("a work order");
        work_order
    }

    async fn status(&self, item: Uuid, code: &str) -> String {
        self.lot(item, code).await.1
    }

    async fn issue(&self, api: &AdminApi, item: Uuid, quantity: &str, lot: Option<&str>) -> Reply {
        let mut body = json!({ "item_id": item, "location_id": self.shelf, "quantity": quantity });
        if let Some(lot) = lot {
            body["lot_code"] = json!(lot);
        }
        self.post(api, "/api/v1/stock/issues", body).await
    }

    async fn inspect(&self, api: &AdminApi, body: Value) -> Value {
        let got = self.post(api, "/api/v1/quality/inspections", body).await;
        assert_eq!(got.status, 201, "{:?}", got.body);
        got.body
    }

    async fn decide(&self, api: &AdminApi, inspection: &Value, body: Value) -> Reply {
        let id = inspection["id"].as_str().expect("id");
        self.post(
            api,
            &format!("/api/v1/quality/inspections/{id}/decision"),
            body,
        )
        .await
    }

    /// Quarantines the lot by hand: the quarantine's id.
    async fn quarantine(&self, api: &AdminApi, lot: Uuid) -> String {
        let got = self
            .post(
                api,
                "/api/v1/quality/quarantine",
                json!({ "lot_id": lot, "reason": "smells off" }),
            )
            .await;
        assert_eq!(got.status, 201, "{:?}", got.body);
        got.body["id"].as_str().expect("id").to_owned()
    }

    async fn events(&self, event: &str) -> Vec<Value> {
        self.db
            .query(
                "SELECT data FROM webhook_events WHERE event_type = $1 ORDER BY id",
                &[&event],
            )
            .await
            .expect("events")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    async fn audited(&self, action: &str) -> i64 {
        self.db
            .query_one(
                "SELECT count(*) FROM audit_log WHERE action = $1",
                &[&action],
            )
            .await
            .expect("audit")
            .get(0)
    }

    async fn assert_consistent(&self) {
        let mismatches = stock::check::mismatches(&self.db).await.expect("check");
        assert!(mismatches.is_empty(), "{mismatches:?}");
    }

    /// An incoming plan for milk: a seal (pass/fail) and fat between 3 and 4 %.
    async fn milk_plan(&self, api: &AdminApi) -> Value {
        let got = self
            .post(
                api,
                "/api/v1/quality/plans",
                json!({ "name": "Milk intake", "kind": "incoming", "item_id": self.milk,
                        "criteria": [
                            { "name": "Seal intact", "kind": "pass_fail" },
                            { "name": "Fat", "kind": "measured", "min": "3", "max": "4", "unit": "%" }
                        ] }),
            )
            .await;
        assert_eq!(got.status, 201, "{:?}", got.body);
        got.body
    }
}

#[tokio::test]
async fn an_incoming_inspection_that_passes_gives_the_lot_back_and_one_that_fails_quarantines_it() {
    let api = AdminApi::start().await;
    let p = plant(&api, "qc-incoming").await;
    let plan = p.milk_plan(&api).await;
    assert_eq!(plan["criteria"].as_array().map(Vec::len), Some(2));

    // Held while inspected: the lot cannot be issued until the inspection is decided.
    let good = p
        .receive(&api, p.milk, "M-GOOD", "100", "2030-01-01", p.shelf)
        .await;
    let first = p
        .inspect(
            &api,
            json!({ "kind": "incoming", "receipt_entry_id": good, "hold": true }),
        )
        .await;
    assert_eq!(first["status"], "open");
    assert_eq!(first["plan_id"], plan["id"]);
    assert_eq!(first["quantity"], "100");
    assert_eq!(first["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(p.status(p.milk, "M-GOOD").await, "held");
    let refused = p.issue(&api, p.milk, "1", Some("M-GOOD")).await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "lot_held"),
        "{:?}",
        refused.body
    );

    // A pass with a failed criterion is a contradiction; a conditional needs its comment.
    let fat_too_low = json!([{ "position": 1, "passed": true }, { "position": 2, "value": "2.5" }]);
    let contradicting = p
        .decide(
            &api,
            &first,
            json!({ "outcome": "pass", "results": fat_too_low }),
        )
        .await;
    assert_eq!(contradicting.status, 422, "{:?}", contradicting.body);
    let bare = p
        .decide(
            &api,
            &first,
            json!({ "outcome": "conditional", "results": fat_too_low }),
        )
        .await;
    assert_eq!(bare.status, 422, "{:?}", bare.body);
    assert_eq!(bare.body["errors"][0]["field"], "comment");
    let missing = p
        .decide(
            &api,
            &first,
            json!({ "outcome": "pass", "results": [{ "position": 1, "passed": true }] }),
        )
        .await;
    assert_eq!(missing.status, 422, "{:?}", missing.body);

    let passed = p
        .decide(
            &api,
            &first,
            json!({ "outcome": "pass",
                    "results": [{ "position": 1, "passed": true }, { "position": 2, "value": "3.6" }] }),
        )
        .await;
    assert_eq!(passed.status, 200, "{:?}", passed.body);
    assert_eq!(passed.body["status"], "passed");
    assert_eq!(passed.body["results"][1]["passed"], true);
    assert!(passed.body["decided_by"].is_string() && passed.body["decided_at"].is_string());
    assert_eq!(p.status(p.milk, "M-GOOD").await, "available");
    let again = p
        .decide(
            &api,
            &first,
            json!({ "outcome": "fail", "results": fat_too_low }),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "inspection_decided"));
    assert_eq!(p.issue(&api, p.milk, "1", Some("M-GOOD")).await.status, 201);

    // A failure quarantines the lot (held or not) and says so.
    let bad = p
        .receive(&api, p.milk, "M-BAD", "40", "2030-01-01", p.shelf)
        .await;
    let second = p
        .inspect(&api, json!({ "kind": "incoming", "receipt_entry_id": bad }))
        .await;
    assert_eq!(second["holds_lot"], false);
    assert_eq!(p.status(p.milk, "M-BAD").await, "available");
    let failed = p
        .decide(
            &api,
            &second,
            json!({ "outcome": "fail", "comment": "watered down",
                    "results": [{ "position": 1, "passed": true },
                                { "position": 2, "value": "2.1", "defect_type": "low_fat",
                                  "defect_quantity": "40" }] }),
        )
        .await;
    assert_eq!(failed.status, 200, "{:?}", failed.body);
    assert_eq!(failed.body["status"], "failed");
    assert_eq!(failed.body["defects"][0]["defect_type"], "low_fat");
    assert_eq!(p.status(p.milk, "M-BAD").await, "quarantined");
    let listed = p.get(&api, "/api/v1/quality/quarantine").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let entry = &listed.body[0];
    assert_eq!(entry["lot_code"], "M-BAD");
    assert_eq!(entry["sku"], "MILK");
    assert_eq!(entry["on_hand"], "40");
    assert_eq!(entry["inspection_id"], second["id"]);
    assert!(entry["reason"].as_str().unwrap().contains("watered down"));
    assert!(entry["created_at"].is_string());
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));

    let qc_failed = p.events("qc.failed").await;
    assert_eq!(qc_failed.len(), 1);
    assert_eq!(qc_failed[0]["lot_code"], "M-BAD");
    assert_eq!(p.events("lot.quarantined").await.len(), 1);
    assert_eq!(p.audited("quality.inspection_opened").await, 2);
    assert_eq!(p.audited("quality.inspection_decided").await, 2);
    assert_eq!(p.audited("quality.lot_quarantined").await, 1);
    p.assert_consistent().await;
}

#[tokio::test]
async fn a_quarantined_lot_is_refused_by_every_stock_door_and_fefo_skips_it() {
    let api = AdminApi::start().await;
    let p = plant(&api, "qc-doors").await;
    // The older lot expires first: first-expired-first-out would take it.
    p.receive(&api, p.cheese, "C-OLD", "10", "2027-01-01", p.shelf)
        .await;
    p.receive(&api, p.cheese, "C-NEW", "10", "2029-01-01", p.shelf)
        .await;
    let (old, _) = p.lot(p.cheese, "C-OLD").await;
    p.quarantine(&api, old).await;
    let twice = p
        .post(
            &api,
            "/api/v1/quality/quarantine",
            json!({ "lot_id": old, "reason": "again" }),
        )
        .await;
    assert_eq!((twice.status, twice.code()), (409, "already_quarantined"));

    let issue = p.issue(&api, p.cheese, "1", Some("C-OLD")).await;
    assert_eq!(
        (issue.status, issue.code()),
        (409, "lot_quarantined"),
        "{:?}",
        issue.body
    );
    let transfer = p
        .post(
            &api,
            "/api/v1/stock/transfers",
            json!({ "item_id": p.cheese, "from_location_id": p.shelf, "to_location_id": p.dock,
                    "quantity": "1", "lot_code": "C-OLD" }),
        )
        .await;
    assert_eq!((transfer.status, transfer.code()), (409, "lot_quarantined"));
    let adjust = p
        .post(
            &api,
            "/api/v1/stock/adjustments",
            json!({ "item_id": p.cheese, "location_id": p.shelf, "quantity": "-1",
                    "lot_code": "C-OLD", "reason": "count" }),
        )
        .await;
    assert_eq!((adjust.status, adjust.code()), (409, "lot_quarantined"));

    // FEFO takes the newer lot; beyond it there is no stock to take.
    let fefo = p.issue(&api, p.cheese, "2", None).await;
    assert_eq!(fefo.status, 201, "{:?}", fefo.body);
    assert_eq!(fefo.body["entries"][0]["lot_code"], "C-NEW");
    let short = p.issue(&api, p.cheese, "9", None).await;
    assert_eq!((short.status, short.code()), (409, "insufficient_stock"));

    // Availability counts only the available lot: 8 of C-NEW, not the 10 quarantined.
    let stock = p
        .get(&api, &format!("/api/v1/stock/items/{}", p.cheese))
        .await;
    assert_eq!(stock.body["on_hand"], "18", "{:?}", stock.body);
    assert_eq!(stock.body["available"], "8");

    // A sales order cannot reserve the quarantined stock, nor deliver from it.
    let draft = |quantity: &str| {
        json!({ "customer_id": p.customer, "warehouse_id": p.warehouse,
                "lines": [{ "item_id": p.cheese, "quantity": quantity, "unit_price": "10" }] })
    };
    let big = p.post(&api, "/api/v1/sales-orders", draft("9")).await;
    assert_eq!(big.status, 201, "{:?}", big.body);
    let confirm = p
        .post(
            &api,
            &format!(
                "/api/v1/sales-orders/{}/confirm",
                big.body["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(
        (confirm.status, confirm.code()),
        (409, "insufficient_stock"),
        "{:?}",
        confirm.body
    );
    let small = p.post(&api, "/api/v1/sales-orders", draft("3")).await;
    let order = small.body["id"].as_str().unwrap().to_owned();
    let confirmed = p
        .post(
            &api,
            &format!("/api/v1/sales-orders/{order}/confirm"),
            json!({}),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
    let deliver = |lot: &str| json!({ "lines": [{ "line": 1, "quantity": "3", "location_id": p.shelf, "lot_code": lot }] });
    let from_quarantine = p
        .post(
            &api,
            &format!("/api/v1/sales-orders/{order}/deliveries"),
            deliver("C-OLD"),
        )
        .await;
    assert_eq!(
        (from_quarantine.status, from_quarantine.code()),
        (409, "lot_quarantined")
    );
    let delivered = p
        .post(
            &api,
            &format!("/api/v1/sales-orders/{order}/deliveries"),
            deliver("C-NEW"),
        )
        .await;
    assert_eq!(delivered.status, 201, "{:?}", delivered.body);
    assert_eq!(p.status(p.cheese, "C-OLD").await, "quarantined");
    p.assert_consistent().await;
}

#[tokio::test]
async fn a_manager_releases_a_quarantined_lot_and_staff_cannot() {
    let api = AdminApi::start().await;
    let p = plant(&api, "qc-release").await;
    p.receive(&api, p.cheese, "C-1", "5", "2028-01-01", p.shelf)
        .await;
    let (lot, _) = p.lot(p.cheese, "C-1").await;
    let staff = p.user(&api, "sam", &["staff"]).await;
    let manager = p.user(&api, "meg", &["manager"]).await;

    // Staff may quarantine (quality.write) but neither release nor scrap.
    let by_staff = p
        .call(
            &api,
            &staff,
            Method::POST,
            "/api/v1/quality/quarantine",
            Some(json!({ "lot_id": lot, "reason": "dented" })),
        )
        .await;
    assert_eq!(by_staff.status, 201, "{:?}", by_staff.body);
    let id = by_staff.body["id"].as_str().unwrap().to_owned();
    for action in ["release", "scrap"] {
        let refused = p
            .call(
                &api,
                &staff,
                Method::POST,
                &format!("/api/v1/quality/quarantine/{id}/{action}"),
                Some(json!({})),
            )
            .await;
        assert_eq!(
            (refused.status, refused.code()),
            (403, "forbidden"),
            "{action}"
        );
    }
    assert_eq!(p.status(p.cheese, "C-1").await, "quarantined");

    let released = p
        .call(
            &api,
            &manager,
            Method::POST,
            &format!("/api/v1/quality/quarantine/{id}/release"),
            Some(json!({ "note": "re-checked: fine" })),
        )
        .await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    assert_eq!(released.body["resolution"], "released");
    assert!(released.body["resolved_by"].is_string());
    assert_eq!(p.status(p.cheese, "C-1").await, "available");
    assert_eq!(p.issue(&api, p.cheese, "2", Some("C-1")).await.status, 201);
    let list = p.get(&api, "/api/v1/quality/quarantine").await;
    assert_eq!(list.body, json!([]));
    assert_eq!(p.events("lot.released").await.len(), 1);
    assert_eq!(p.audited("quality.lot_released").await, 1);
    let twice = p
        .call(
            &api,
            &manager,
            Method::POST,
            &format!("/api/v1/quality/quarantine/{id}/release"),
            Some(json!({})),
        )
        .await;
    assert_eq!((twice.status, twice.code()), (409, "quarantine_resolved"));
}

#[tokio::test]
async fn scrapping_a_quarantined_lot_posts_an_adjustment_at_its_cost_and_the_ledger_balances() {
    let api = AdminApi::start().await;
    let p = plant(&api, "qc-scrap").await;
    p.receive(&api, p.cheese, "C-X", "6", "2028-01-01", p.shelf)
        .await;
    p.receive(&api, p.cheese, "C-X", "4", "2028-01-01", p.dock)
        .await;
    p.receive(&api, p.cheese, "C-Y", "2", "2028-01-01", p.shelf)
        .await;
    let (lot, _) = p.lot(p.cheese, "C-X").await;
    let id = p.quarantine(&api, lot).await;

    let scrapped = p
        .post(
            &api,
            &format!("/api/v1/quality/quarantine/{id}/scrap"),
            json!({ "note": "mould" }),
        )
        .await;
    assert_eq!(scrapped.status, 200, "{:?}", scrapped.body);
    assert_eq!(scrapped.body["resolution"], "scrapped");
    assert_eq!(scrapped.body["on_hand"], "0");
    let movement = scrapped.body["movement_id"].as_str().expect("a movement");
    let rows =
        p.db.query(
            "SELECT kind, quantity, unit_cost, document_type FROM stock_ledger \
             WHERE movement_id = $1::text::uuid ORDER BY id",
            &[&movement],
        )
        .await
        .expect("entries");
    let entries: Vec<(String, Decimal, Decimal, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let total: Decimal = entries.iter().map(|e| e.1).sum();
    assert_eq!(total, Decimal::from(-10));
    assert!(
        entries
            .iter()
            .all(|e| e.0 == "adjustment" && e.2 == Decimal::from(3) && e.3 == "lot_quarantine")
    );
    assert_eq!(p.status(p.cheese, "C-X").await, "scrapped");
    let gone = p.issue(&api, p.cheese, "1", Some("C-X")).await;
    assert_eq!((gone.status, gone.code()), (409, "lot_scrapped"));
    let twice = p
        .post(
            &api,
            &format!("/api/v1/quality/quarantine/{id}/scrap"),
            json!({}),
        )
        .await;
    assert_eq!((twice.status, twice.code()), (409, "quarantine_resolved"));
    let stock = p
        .get(&api, &format!("/api/v1/stock/items/{}", p.cheese))
        .await;
    assert_eq!(stock.body["on_hand"], "2");
    assert_eq!(p.audited("quality.lot_scrapped").await, 1);
    p.assert_consistent().await;
}

#[tokio::test]
async fn a_final_inspection_holds_its_lot_until_it_passes() {
    let api = AdminApi::start().await;
    let p = plant(&api, "qc-final").await;
    // A produced lot (production posts `produce` entries; a receipt stands in for it here).
    p.receive(&api, p.cheese, "BATCH-7", "12", "2028-01-01", p.shelf)
        .await;
    let (lot, _) = p.lot(p.cheese, "BATCH-7").await;
    let inspection = p
        .inspect(&api, json!({ "kind": "final", "lot_id": lot }))
        .await;
    assert_eq!(inspection["holds_lot"], true);
    assert_eq!(p.status(p.cheese, "BATCH-7").await, "held");

    let held = p.issue(&api, p.cheese, "1", None).await;
    assert_eq!(
        (held.status, held.code()),
        (409, "insufficient_stock"),
        "FEFO skips a held lot"
    );
    let named = p.issue(&api, p.cheese, "1", Some("BATCH-7")).await;
    assert_eq!((named.status, named.code()), (409, "lot_held"));
    let stock = p
        .get(&api, &format!("/api/v1/stock/items/{}", p.cheese))
        .await;
    assert_eq!(stock.body["available"], "0");
    assert_eq!(stock.body["placements"][0]["lot_status"], "held");

    // A lab test is recorded against the lot; the decision gives the lot back.
    let lab = p
        .post(
            &api,
            "/api/v1/quality/lab-tests",
            json!({ "lot_id": lot, "test_name": "Moisture", "method": "oven", "value": "41.5",
                      "unit": "%", "passed": true }),
        )
        .await;
    assert_eq!(lab.status, 201, "{:?}", lab.body);
    let tests = p
        .get(&api, &format!("/api/v1/quality/lab-tests?lot_id={lot}"))
        .await;
    assert_eq!(tests.body[0]["test_name"], "Moisture");
    assert_eq!(tests.body[0]["value"], "41.5");
    assert!(tests.body[0]["tested_by"].is_string());

    let passed = p
        .decide(&api, &inspection, json!({ "outcome": "pass" }))
        .await;
    assert_eq!(passed.status, 200, "{:?}", passed.body);
    assert_eq!(p.status(p.cheese, "BATCH-7").await, "available");
    assert_eq!(p.issue(&api, p.cheese, "1", None).await.status, 201);
    p.assert_consistent().await;
}

#[tokio::test]
async fn defect_analysis_groups_defects_by_type_item_and_work_order() {
    let api = AdminApi::start().await;
    let p = plant(&api, "qc-defects").await;
    let (first_order, second_order) = (p.work_order().await, p.work_order().await);
    let cases = [
        (
            p.cheese,
            first_order,
            "fail",
            vec![("crack", "3"), ("stain", "1")],
        ),
        (p.cheese, first_order, "conditional", vec![("crack", "2")]),
        (p.milk, second_order, "fail", vec![("crack", "1")]),
    ];
    for (item, order, outcome, defects) in cases {
        let inspection = p
            .inspect(
                &api,
                json!({ "kind": "in_process", "work_order_id": order, "item_id": item }),
            )
            .await;
        let defects: Vec<Value> = defects
            .iter()
            .map(|(kind, quantity)| json!({ "defect_type": kind, "quantity": quantity }))
            .collect();
        let decided = p
            .decide(
                &api,
                &inspection,
                json!({ "outcome": outcome, "defects": defects, "comment": "seen on the line" }),
            )
            .await;
        assert_eq!(decided.status, 200, "{:?}", decided.body);
    }
    // A work order that does not exist is named as such.
    let unknown = p
        .post(
            &api,
            "/api/v1/quality/inspections",
            json!({ "kind": "in_process", "work_order_id": Uuid::now_v7(), "item_id": p.milk }),
        )
        .await;
    assert_eq!(unknown.status, 404, "{:?}", unknown.body);
    assert_eq!(unknown.body["code"], "work_order_not_found");
    // An open inspection's defects are not counted (it has none yet anyway).
    p.inspect(
        &api,
        json!({ "kind": "in_process", "work_order_id": first_order, "item_id": p.milk }),
    )
    .await;

    let by_type = p.get(&api, "/api/v1/quality/defects?group_by=type").await;
    assert_eq!(by_type.status, 200, "{:?}", by_type.body);
    let groups = &by_type.body["groups"];
    assert_eq!(groups[0]["key"], "crack");
    assert_eq!(
        (groups[0]["count"].as_i64(), groups[0]["quantity"].as_str()),
        (Some(3), Some("6"))
    );
    assert_eq!(groups[0]["inspections"], 3);
    assert_eq!(
        (groups[1]["key"].as_str(), groups[1]["count"].as_i64()),
        (Some("stain"), Some(1))
    );
    assert_eq!(groups.as_array().map(Vec::len), Some(2));

    let by_item = p.get(&api, "/api/v1/quality/defects?group_by=item").await;
    let groups = &by_item.body["groups"];
    assert_eq!(
        (groups[0]["label"].as_str(), groups[0]["quantity"].as_str()),
        (Some("CHEESE"), Some("6"))
    );
    assert_eq!(
        (groups[1]["label"].as_str(), groups[1]["quantity"].as_str()),
        (Some("MILK"), Some("1"))
    );

    let by_order = p
        .get(&api, "/api/v1/quality/defects?group_by=work_order")
        .await;
    let groups = &by_order.body["groups"];
    assert_eq!(groups[0]["key"], first_order.to_string());
    assert_eq!(groups[0]["count"], 3);
    assert_eq!(groups[1]["key"], second_order.to_string());

    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let later = p
        .get(&api, &format!("/api/v1/quality/defects?from={tomorrow}"))
        .await;
    assert_eq!(later.body["groups"], json!([]));
    let this_period = p
        .get(
            &api,
            &format!("/api/v1/quality/defects?from={today}&to={today}"),
        )
        .await;
    assert_eq!(this_period.body["groups"].as_array().map(Vec::len), Some(2));
    let backwards = p
        .get(
            &api,
            &format!("/api/v1/quality/defects?from={tomorrow}&to={today}"),
        )
        .await;
    assert_eq!(backwards.status, 422);
}

#[tokio::test]
async fn the_quality_pages_record_a_decision_and_offer_release_only_to_those_who_may() {
    let api = AdminApi::start().await;
    let p = plant(&api, "qc-pages").await;
    p.milk_plan(&api).await;
    let entry = p
        .receive(&api, p.milk, "M-WEB", "20", "2030-01-01", p.shelf)
        .await;
    let inspection = p
        .inspect(
            &api,
            json!({ "kind": "incoming", "receipt_entry_id": entry, "hold": true }),
        )
        .await;
    let id = inspection["id"].as_str().unwrap();
    p.user(&api, "sam", &["staff"]).await;
    p.user(&api, "meg", &["manager"]).await;
    let mut staff = PortalClient::for_app(&api.app.tenant_runtime_url, &p.slug);
    staff.sign_in(&p.email("sam"), OWNER_PASSWORD).await;

    let list = staff.get("/quality/inspections").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains(inspection["number"].as_str().unwrap()));
    assert!(
        list.body.contains("href=\"/quality/inspections\""),
        "the navigation links quality"
    );
    let form = staff.get(&format!("/quality/inspections/{id}")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("name=\"passed_1\"") && form.body.contains("name=\"value_2\""));

    // A conditional acceptance without its conditions is refused on the page.
    let path = format!("/quality/inspections/{id}");
    let bare = staff
        .post(
            &path,
            &[
                ("outcome", "conditional"),
                ("passed_1", "yes"),
                ("value_2", "2"),
            ],
        )
        .await;
    assert_eq!(bare.status, 422, "{}", bare.body);
    assert!(
        bare.body.contains("data-error=\"comment\"") || bare.body.contains("conditions"),
        "{}",
        bare.body
    );
    let failed = staff
        .post(
            &path,
            &[
                ("outcome", "fail"),
                ("passed_1", "yes"),
                ("value_2", "2"),
                ("defect_2", "low_fat"),
            ],
        )
        .await;
    assert_eq!(failed.status, 303, "{}", failed.body);
    assert_eq!(p.status(p.milk, "M-WEB").await, "quarantined");

    // Staff sees the quarantined lot but no release or scrap button, and cannot post one.
    let quarantine = staff.get("/quality/quarantine").await;
    assert_eq!(quarantine.status, 200, "{}", quarantine.body);
    assert!(quarantine.body.contains("M-WEB"));
    assert!(!quarantine.body.contains("data-action=\"release\""));
    assert!(!quarantine.body.contains("data-action=\"scrap\""));
    let record: Uuid =
        p.db.query_one("SELECT id FROM lot_quarantines", &[])
            .await
            .expect("quarantine")
            .get(0);
    let refused = staff
        .post(&format!("/quality/quarantine/{record}/release"), &[])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(p.status(p.milk, "M-WEB").await, "quarantined");

    let mut manager = PortalClient::for_app(&api.app.tenant_runtime_url, &p.slug);
    manager.sign_in(&p.email("meg"), OWNER_PASSWORD).await;
    let offered = manager.get("/quality/quarantine").await;
    assert!(
        offered.body.contains("data-action=\"release\""),
        "{}",
        offered.body
    );
    assert!(offered.body.contains("data-action=\"scrap\""));
    let released = manager
        .post(
            &format!("/quality/quarantine/{record}/release"),
            &[("note", "re-tested")],
        )
        .await;
    assert_eq!(released.status, 303, "{}", released.body);
    assert_eq!(p.status(p.milk, "M-WEB").await, "available");
    let empty = manager.get("/quality/quarantine").await;
    assert!(empty.body.contains("data-empty=\"quarantine\""));
}

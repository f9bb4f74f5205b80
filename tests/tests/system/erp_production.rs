//! Production end to end: BOM versions and their explosion, cycles (direct and deep) and
//! units without a conversion refused at save time, an order for an item with no active
//! BOM, release all or nothing or partial with its shortages and what would cover them,
//! two orders racing for the last components, daily input (negative, beyond the target,
//! within the tolerance, repeated), a released work order changed only through an
//! approval, and completion in parts (consume + produce in one transaction, the ledger
//! matching the balances, a repeat doing nothing), and the web pages (a staff user works
//! an order through them; a viewer reads them and writes nothing). Warehouses and items
//! are made with SQL (another area's API); stock comes in through the stock API.

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use system_tests::AdminApi;
use system_tests::admin::Reply;
use system_tests::portal::PortalClient;
use system_tests::runtime::OWNER_PASSWORD;
use tenant_runtime::erp::stock;
use uuid::Uuid;

/// A company making frames (tube and bolts) and bikes (a frame, bolts and paint), with a
/// supplier and a customer; its plan has sales (planning nets sales orders) and quality
/// (final inspections of what is produced) too.
pub(crate) struct Factory {
    pub(crate) slug: String,
    pub(crate) owner: String,
    pub(crate) db: tokio_postgres::Client,
    pub(crate) warehouse: Uuid,
    pub(crate) shelf: Uuid,
    /// A location of kind `production` in the main warehouse.
    pub(crate) line: Uuid,
    /// In the second warehouse.
    pub(crate) far: Uuid,
    pub(crate) supplier: Uuid,
    pub(crate) customer: Uuid,
    /// Finished, lot-tracked, base unit `pcs`.
    pub(crate) bike: Uuid,
    /// Semi-finished, lot-tracked (its completions make lots).
    pub(crate) frame: Uuid,
    /// Raw, base unit `m`; `cm` converts at 0.01.
    pub(crate) tube: Uuid,
    /// Raw, base unit `pcs`; `box` is 12.
    pub(crate) bolt: Uuid,
    /// Raw, base unit `l`.
    pub(crate) paint: Uuid,
}

pub(crate) async fn factory(api: &AdminApi, slug: &str) -> Factory {
    let plan = format!("make-{slug}");
    let reply = api
        .post(
            "/api/v1/plans",
            json!({ "code": plan, "name": plan,
                    "limits": { "max_users": 10, "max_storage_mb": 1000,
                                "api_requests_per_minute": 6000, "api_calls_per_month": 1_000_000,
                                "max_concurrent_requests": 50, "max_db_connections": 5 },
                    "features": ["master_data", "inventory", "purchasing", "approvals",
                                 "production", "sales", "quality"] }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let company = api.company(slug, &plan).await;
    let owner = api.owner_token(&company).await;
    let db = api.tenant_db(&company.id).await;
    let ids: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
    let (warehouse, other, shelf, line, far) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let (bike, frame, tube, bolt, paint, supplier, customer) =
        (ids[5], ids[6], ids[7], ids[8], ids[9], ids[10], ids[11]);
    db.batch_execute(&format!(
        "INSERT INTO warehouses (id, code, name) VALUES ('{warehouse}', 'MAIN', 'Main'), \
           ('{other}', 'FAR', 'Far'); \
         INSERT INTO locations (id, warehouse_id, code, name, kind) VALUES \
           ('{shelf}', '{warehouse}', 'SHELF', 'Shelf', 'storage'), \
           ('{line}', '{warehouse}', 'LINE', 'Welding line', 'production'), \
           ('{far}', '{other}', 'FAR-1', 'Far shelf', 'storage'); \
         INSERT INTO items (id, sku, name, kind, base_unit, standard_cost, lot_tracked) VALUES \
           ('{bike}', 'BIKE', 'Bike', 'finished', 'pcs', 0, true), \
           ('{frame}', 'FRAME', 'Frame', 'semi_finished', 'pcs', 0, true), \
           ('{tube}', 'TUBE', 'Tube', 'raw', 'm', 1, false), \
           ('{bolt}', 'BOLT', 'Bolt', 'raw', 'pcs', 1, false), \
           ('{paint}', 'PAINT', 'Paint', 'raw', 'l', 1, false); \
         INSERT INTO item_units (item_id, unit, factor) VALUES ('{tube}', 'cm', 0.01), \
           ('{bolt}', 'box', 12); \
         INSERT INTO partners (id, code, name, is_customer, is_supplier) VALUES \
           ('{supplier}', 'SUP', 'Supplier', false, true), \
           ('{customer}', 'CUST', 'Customer', true, false);"
    ))
    .await
    .expect("master data");
    Factory {
        slug: slug.to_owned(),
        owner,
        db,
        warehouse,
        shelf,
        line,
        far,
        supplier,
        customer,
        bike,
        frame,
        tube,
        bolt,
        paint,
    }
}

impl Factory {
    pub(crate) async fn call_as(
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

    pub(crate) async fn post(&self, api: &AdminApi, path: &str, body: Value) -> Reply {
        self.call_as(api, &self.owner, Method::POST, path, Some(body))
            .await
    }

    pub(crate) async fn get(&self, api: &AdminApi, path: &str) -> Value {
        let got = self
            .call_as(api, &self.owner, Method::GET, path, None)
            .await;
        assert_eq!(got.status, 200, "{path}: {:?}", got.body);
        got.body
    }

    /// A user with `roles`, signed in: their access token.
    pub(crate) async fn user(&self, api: &AdminApi, name: &str, roles: &[&str]) -> String {
        let email = format!("{name}@{}.example", self.slug);
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

    pub(crate) async fn receive(
        &self,
        api: &AdminApi,
        item: Uuid,
        location: Uuid,
        quantity: &str,
        cost: &str,
    ) {
        let got = self
            .post(
                api,
                "/api/v1/stock/receipts",
                json!({ "item_id": item, "location_id": location,
                        "quantity": quantity, "unit_cost": cost }),
            )
            .await;
        assert_eq!(got.status, 201, "{:?}", got.body);
    }

    /// A BOM version of `item` from `(component, quantity, unit, scrap %)`.
    pub(crate) async fn bom(
        &self,
        api: &AdminApi,
        item: Uuid,
        components: &[(Uuid, &str, Option<&str>, &str)],
    ) -> Reply {
        let components: Vec<Value> = components
            .iter()
            .map(|(c, q, unit, scrap)| {
                json!({ "item_id": c, "quantity": q, "unit": unit, "scrap_percent": scrap })
            })
            .collect();
        self.post(
            api,
            "/api/v1/production/boms",
            json!({ "item_id": item, "components": components }),
        )
        .await
    }

    /// The frame's BOM: 1.5 m of tube and 4 bolts a frame.
    pub(crate) async fn frame_bom(&self, api: &AdminApi) {
        let made = self
            .bom(
                api,
                self.frame,
                &[(self.tube, "1.5", None, "0"), (self.bolt, "4", None, "0")],
            )
            .await;
        assert_eq!(made.status, 201, "{:?}", made.body);
    }

    /// A draft order for `quantity` frames: its id.
    pub(crate) async fn order(&self, api: &AdminApi, quantity: &str) -> String {
        let made = self
            .post(
                api,
                "/api/v1/production/orders",
                json!({ "item_id": self.frame, "quantity": quantity,
                        "warehouse_id": self.warehouse, "output_location_id": self.shelf }),
            )
            .await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        assert_eq!(made.body["status"], "draft");
        id(&made.body)
    }

    pub(crate) async fn act(
        &self,
        api: &AdminApi,
        order: &str,
        action: &str,
        body: Value,
    ) -> Reply {
        self.post(
            api,
            &format!("/api/v1/production/orders/{order}/{action}"),
            body,
        )
        .await
    }

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

    pub(crate) async fn reserved_for(&self, order: &str) -> Decimal {
        let row = self
            .db
            .query_one(
                "SELECT coalesce(sum(quantity), 0) FROM stock_reservations \
                 WHERE document_type = 'manufacturing_order' AND document_id = $1",
                &[&order],
            )
            .await
            .expect("reservations");
        row.get(0)
    }

    pub(crate) async fn count(&self, sql: &str) -> i64 {
        self.db.query_one(sql, &[]).await.expect("count").get(0)
    }

    pub(crate) async fn assert_consistent(&self) {
        let mismatches = stock::check::mismatches(&self.db).await.expect("check");
        assert!(
            mismatches.is_empty(),
            "balances differ from the ledger: {mismatches:?}"
        );
    }
}

pub(crate) fn id(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {body}"))
        .to_owned()
}

pub(crate) fn d(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a decimal")
}

/// `body[key]` of the component / line of `sku` in `body[list]`.
pub(crate) fn of_sku<'a>(body: &'a Value, list: &str, sku: &str, key: &str) -> &'a Value {
    let rows = body[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} in {body}"));
    &rows
        .iter()
        .find(|row| row["sku"] == sku)
        .unwrap_or_else(|| panic!("{sku} in {body}"))[key]
}

#[tokio::test]
async fn boms_explode_through_their_levels_and_refuse_cycles_and_units_without_conversion() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "bomworks").await;

    // A frame: 150 cm of tube (1.5 m) and 4 bolts with 10 % scrap.
    let frame = f
        .bom(
            &api,
            f.frame,
            &[(f.tube, "150", Some("cm"), "0"), (f.bolt, "4", None, "10")],
        )
        .await;
    assert_eq!(frame.status, 201, "{:?}", frame.body);
    assert_eq!(
        (
            frame.body["version"].as_i64(),
            frame.body["active"].as_bool()
        ),
        (Some(1), Some(true))
    );
    assert_eq!(frame.body["components"][0]["quantity"], "1.5");
    assert_eq!(frame.body["components"][0]["entered_quantity"], "150");
    assert_eq!(frame.body["components"][0]["entered_unit"], "cm");
    // A bike: a frame, two bolts, half a litre of paint with 20 % scrap.
    let bike = f
        .bom(
            &api,
            f.bike,
            &[
                (f.frame, "1", None, "0"),
                (f.bolt, "2", None, "0"),
                (f.paint, "0.5", None, "20"),
            ],
        )
        .await;
    assert_eq!(bike.status, 201, "{:?}", bike.body);
    assert_eq!(bike.body["components"][0]["has_bom"], true);

    // Exploded for two bikes: every level, quantities multiplied out, scrap included.
    let exploded = f
        .get(
            &api,
            &format!(
                "/api/v1/production/boms/{}/explosion?quantity=2",
                id(&bike.body)
            ),
        )
        .await;
    let lines: Vec<(i64, String, String)> = exploded["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["level"].as_i64().unwrap_or_default(),
                l["sku"].as_str().unwrap_or_default().to_owned(),
                l["quantity"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        (1, "FRAME", "2"),
        (2, "TUBE", "3"),
        (2, "BOLT", "8.8"),
        (1, "BOLT", "4"),
        (1, "PAINT", "1.2"),
    ];
    let expected: Vec<(i64, String, String)> = expected
        .iter()
        .map(|(l, s, q)| (*l, (*s).to_owned(), (*q).to_owned()))
        .collect();
    assert_eq!(lines, expected, "{exploded}");
    assert_eq!(
        exploded["lines"][1]["path"],
        json!(["BIKE", "FRAME", "TUBE"])
    );
    let zero = f
        .call_as(
            &api,
            &f.owner,
            Method::GET,
            &format!(
                "/api/v1/production/boms/{}/explosion?quantity=0",
                id(&bike.body)
            ),
            None,
        )
        .await;
    assert_eq!(zero.status, 422, "{:?}", zero.body);

    // Cycles: the frame in itself, and the tube containing the bike (which holds a frame,
    // which holds tube), refused with the path; nothing saved.
    let direct = f.bom(&api, f.frame, &[(f.frame, "1", None, "0")]).await;
    assert_eq!(
        (direct.status, direct.code()),
        (422, "bom_cycle"),
        "{:?}",
        direct.body
    );
    let deep = f.bom(&api, f.tube, &[(f.bike, "1", None, "0")]).await;
    assert_eq!(
        (deep.status, deep.code()),
        (422, "bom_cycle"),
        "{:?}",
        deep.body
    );
    assert!(
        deep.body["detail"]
            .as_str()
            .is_some_and(|t| t.contains("TUBE -> BIKE -> FRAME -> TUBE")),
        "{:?}",
        deep.body
    );
    // A unit the component has no conversion for.
    let unit = f
        .bom(&api, f.frame, &[(f.bolt, "1", Some("kg"), "0")])
        .await;
    assert_eq!(
        (unit.status, unit.code()),
        (422, "incompatible_unit"),
        "{:?}",
        unit.body
    );
    assert_eq!(unit.body["errors"][0]["field"], "components[0].unit");
    assert_eq!(
        f.count("SELECT count(*) FROM boms").await,
        2,
        "refused versions are not saved"
    );

    // A second version becomes the active one; the first stays, and can come back.
    let second = f.bom(&api, f.frame, &[(f.tube, "2", None, "0")]).await;
    assert_eq!(second.body["version"], 2, "{:?}", second.body);
    let first = f
        .get(
            &api,
            &format!("/api/v1/production/boms/{}", id(&frame.body)),
        )
        .await;
    assert_eq!(first["active"], false);
    let back = f
        .post(
            &api,
            &format!("/api/v1/production/boms/{}/activate", id(&frame.body)),
            json!({}),
        )
        .await;
    assert_eq!(
        (back.status, back.body["active"].as_bool()),
        (200, Some(true)),
        "{:?}",
        back.body
    );
    let listed = f
        .get(
            &api,
            &format!("/api/v1/production/boms?item_id={}&active=true", f.frame),
        )
        .await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["items"][0]["version"], 1);
    assert_eq!(
        f.count("SELECT count(*) FROM audit_log WHERE action LIKE 'bom.%'")
            .await,
        4
    );
}

#[tokio::test]
async fn an_order_is_released_worked_and_completed_in_parts_with_the_ledger_consistent() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "frameworks").await;
    f.frame_bom(&api).await;
    f.receive(&api, f.tube, f.shelf, "10", "2").await;
    f.receive(&api, f.bolt, f.shelf, "50", "0.5").await;

    // No active BOM for tube.
    let none = f
        .post(
            &api,
            "/api/v1/production/orders",
            json!({ "item_id": f.tube, "quantity": "1", "warehouse_id": f.warehouse,
                    "output_location_id": f.shelf }),
        )
        .await;
    assert_eq!(
        (none.status, none.code()),
        (422, "no_active_bom"),
        "{:?}",
        none.body
    );

    let mo = f.order(&api, "4").await;
    let shown = f
        .get(&api, &format!("/api/v1/production/orders/{mo}"))
        .await;
    assert!(
        shown["number"]
            .as_str()
            .is_some_and(|n| n.starts_with("MO-"))
    );
    assert_eq!(of_sku(&shown, "components", "TUBE", "required"), "6");
    assert_eq!(of_sku(&shown, "components", "BOLT", "required"), "16");
    let preview = f
        .get(&api, &format!("/api/v1/production/orders/{mo}/allocation"))
        .await;
    assert_eq!(preview["short"], false, "{preview}");
    assert_eq!(of_sku(&preview, "lines", "TUBE", "available"), "10");

    // A work order; no input before release.
    let wo = f
        .post(
            &api,
            "/api/v1/production/work-orders",
            json!({ "order_id": mo, "operation": "welding", "department_id": f.line,
                    "target_quantity": "4" }),
        )
        .await;
    assert_eq!(wo.status, 201, "{:?}", wo.body);
    let wo = id(&wo.body);
    let input = |good: &str, key: Option<&str>| {
        json!({ "work_date": "2026-12-01", "shift": "A", "operator": "Budi",
                "good_quantity": good, "reject_quantity": "1", "scrap_quantity": "0",
                "reference": key })
    };
    let inputs = format!("/api/v1/production/work-orders/{wo}/inputs");
    let early = f.post(&api, &inputs, input("1", None)).await;
    assert_eq!((early.status, early.code()), (409, "invalid_status"));

    // Released: the components are reserved.
    let released = f.act(&api, &mo, "release", json!({})).await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    assert_eq!(released.body["order"]["status"], "released");
    assert_eq!(released.body["shortages"], json!([]));
    assert_eq!(f.reserved_for(&mo).await, d("22"));
    assert_eq!(f.available(f.tube).await, d("4"));
    let again = f.act(&api, &mo, "release", json!({})).await;
    assert_eq!((again.status, again.code()), (409, "invalid_status"));

    // Daily input: negative and beyond the target refused; within it recorded once.
    let negative = f.post(&api, &inputs, input("-1", None)).await;
    assert_eq!(negative.status, 422, "{:?}", negative.body);
    assert_eq!(negative.body["errors"][0]["field"], "good_quantity");
    let over = f.post(&api, &inputs, input("5", None)).await;
    assert_eq!(
        (over.status, over.code()),
        (422, "over_target"),
        "{:?}",
        over.body
    );
    let day1 = f.post(&api, &inputs, input("3", Some("day-1"))).await;
    assert_eq!(day1.status, 201, "{:?}", day1.body);
    assert_eq!(
        (
            day1.body["good_quantity"].as_str(),
            day1.body["progress_percent"].as_str()
        ),
        (Some("3"), Some("75"))
    );
    let repeat = f.post(&api, &inputs, input("3", Some("day-1"))).await;
    assert_eq!(
        (repeat.status, repeat.body["good_quantity"].as_str()),
        (200, Some("3"))
    );
    let order = f
        .get(&api, &format!("/api/v1/production/orders/{mo}"))
        .await;
    assert_eq!(order["status"], "in_progress");
    // Two more would pass the target of 4; a 25 % tolerance admits them.
    let beyond = f.post(&api, &inputs, input("2", None)).await;
    assert_eq!(beyond.code(), "over_target", "{:?}", beyond.body);
    f.db.execute(
        "INSERT INTO settings (key, value) VALUES ('production.over_target_tolerance_percent', '25')",
        &[],
    )
    .await
    .expect("tolerance");
    let within = f.post(&api, &inputs, input("2", None)).await;
    assert_eq!(
        (within.status, within.body["good_quantity"].as_str()),
        (201, Some("5")),
        "{:?}",
        within.body
    );
    let worked = f
        .get(&api, &format!("/api/v1/production/work-orders/{wo}"))
        .await;
    assert_eq!(worked["inputs"].as_array().map(Vec::len), Some(2));
    assert_eq!(worked["reject_quantity"], "2");

    // One frame now: a quarter of the components consumed, a lot produced at their cost.
    let completions = format!("/api/v1/production/orders/{mo}/completions");
    let first = f
        .post(
            &api,
            &completions,
            json!({ "quantity": "1", "reference": "done-1" }),
        )
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.body["completed_quantity"], "1");
    assert_eq!(of_sku(&first.body, "components", "TUBE", "consumed"), "1.5");
    assert_eq!(of_sku(&first.body, "components", "BOLT", "reserved"), "12");
    let repeat = f
        .post(
            &api,
            &completions,
            json!({ "quantity": "1", "reference": "done-1" }),
        )
        .await;
    assert_eq!(
        (repeat.status, repeat.body["completed_quantity"].as_str()),
        (200, Some("1"))
    );
    let produced = f
        .db
        .query(
            "SELECT e.quantity, e.unit_cost, l.code FROM stock_ledger e JOIN lots l ON l.id = e.lot_id \
             WHERE e.kind = 'produce' AND e.document_id = $1",
            &[&mo],
        )
        .await
        .expect("produced");
    assert_eq!(produced.len(), 1, "completed once");
    // 1.5 m of tube at 2 and 4 bolts at 0.5: 5 a frame.
    assert_eq!(produced[0].get::<_, Decimal>(1), d("5"));
    let number = order["number"].as_str().expect("number");
    assert_eq!(produced[0].get::<_, String>(2), format!("{number}-1"));
    let too_many = f.post(&api, &completions, json!({ "quantity": "4" })).await;
    assert_eq!((too_many.status, too_many.code()), (409, "over_completion"));

    // The rest: everything consumed, nothing reserved, the order completed.
    let rest = f.post(&api, &completions, json!({ "quantity": "3" })).await;
    assert_eq!(rest.status, 201, "{:?}", rest.body);
    assert_eq!(rest.body["status"], "completed");
    assert_eq!(of_sku(&rest.body, "components", "TUBE", "consumed"), "6");
    assert_eq!(of_sku(&rest.body, "components", "BOLT", "consumed"), "16");
    assert_eq!(f.reserved_for(&mo).await, Decimal::ZERO);
    let twice = f.post(&api, &completions, json!({ "quantity": "1" })).await;
    assert_eq!((twice.status, twice.code()), (409, "invalid_status"));
    assert_eq!(f.on_hand(f.frame).await, d("4"));
    assert_eq!(f.on_hand(f.tube).await, d("4"));
    assert_eq!(f.on_hand(f.bolt).await, d("34"));
    let consumed =
        f.db.query_one(
            "SELECT sum(quantity) FROM stock_ledger WHERE kind = 'consume' AND item_id = $1 \
             AND document_type = 'manufacturing_order' AND document_id = $2",
            &[&f.tube, &mo],
        )
        .await
        .expect("consumed");
    assert_eq!(consumed.get::<_, Decimal>(0), d("-6"));
    f.assert_consistent().await;

    let events: Vec<String> = f
        .db
        .query(
            "SELECT event_type FROM webhook_events WHERE event_type LIKE 'mo.%' ORDER BY created_at, id",
            &[],
        )
        .await
        .expect("events")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(events, ["mo.released", "mo.completed", "mo.completed"]);
    assert_eq!(
        f.count(
            "SELECT count(*) FROM audit_log WHERE action IN ('manufacturing_order.created', \
             'manufacturing_order.released', 'manufacturing_order.completed', \
             'work_order.created', 'work_order.input_recorded')"
        )
        .await,
        1 + 1 + 2 + 1 + 2
    );
}

#[tokio::test]
async fn a_release_with_shortages_is_refused_or_reserves_what_there_is_when_asked() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "shortworks").await;
    f.frame_bom(&api).await;
    f.receive(&api, f.tube, f.shelf, "3", "2").await;
    f.receive(&api, f.tube, f.far, "5", "2").await;
    f.receive(&api, f.bolt, f.shelf, "100", "0.5").await;
    let po = f
        .post(
            &api,
            "/api/v1/purchase-orders",
            json!({ "supplier_id": f.supplier, "warehouse_id": f.warehouse,
                    "lines": [{ "item_id": f.tube, "quantity": "20", "unit_price": "2" }] }),
        )
        .await;
    assert_eq!(po.status, 201, "{:?}", po.body);

    // Four frames need 6 m of tube; 3 are here, 5 elsewhere, 20 on order.
    let mo = f.order(&api, "4").await;
    let preview = f
        .get(&api, &format!("/api/v1/production/orders/{mo}/allocation"))
        .await;
    assert_eq!(preview["short"], true);
    assert_eq!(of_sku(&preview, "lines", "TUBE", "short"), "3");
    assert_eq!(of_sku(&preview, "lines", "BOLT", "short"), "0");
    let incoming = of_sku(&preview, "lines", "TUBE", "open_purchase_orders");
    assert_eq!(incoming[0]["number"], po.body["number"], "{preview}");
    assert_eq!(incoming[0]["open_quantity"], "20");
    let elsewhere = of_sku(&preview, "lines", "TUBE", "other_warehouses");
    assert_eq!(
        (
            elsewhere[0]["warehouse_code"].as_str(),
            elsewhere[0]["available"].as_str()
        ),
        (Some("FAR"), Some("5"))
    );

    // All or nothing: refused, naming the tube, nothing reserved.
    let refused = f.act(&api, &mo, "release", json!({})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "insufficient_stock"),
        "{:?}",
        refused.body
    );
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|t| t.contains("TUBE short 3")),
        "{:?}",
        refused.body
    );
    assert_eq!(f.reserved_for(&mo).await, Decimal::ZERO);
    assert_eq!(
        f.get(&api, &format!("/api/v1/production/orders/{mo}"))
            .await["status"],
        "draft"
    );

    // Partial on request: what is there is reserved, the shortage listed.
    let partial = f
        .act(&api, &mo, "release", json!({ "allow_partial": true }))
        .await;
    assert_eq!(partial.status, 200, "{:?}", partial.body);
    assert_eq!(partial.body["order"]["status"], "released");
    assert_eq!(partial.body["shortages"].as_array().map(Vec::len), Some(1));
    assert_eq!(partial.body["shortages"][0]["sku"], "TUBE");
    assert_eq!(
        (
            partial.body["shortages"][0]["reserved"].as_str(),
            partial.body["shortages"][0]["short"].as_str()
        ),
        (Some("3"), Some("3"))
    );
    assert_eq!(f.available(f.tube).await, Decimal::ZERO);

    // Completing all four needs tube that is not there: refused, nothing moves.
    let completed = f
        .act(&api, &mo, "completions", json!({ "quantity": "4" }))
        .await;
    assert_eq!(
        (completed.status, completed.code()),
        (409, "insufficient_stock"),
        "{:?}",
        completed.body
    );
    assert_eq!(f.on_hand(f.tube).await, d("8"));
    assert_eq!(
        f.count("SELECT count(*) FROM stock_ledger WHERE kind IN ('consume', 'produce')")
            .await,
        0
    );

    // Canceled: every reservation given back.
    let canceled = f.act(&api, &mo, "cancel", json!({})).await;
    assert_eq!(
        (canceled.status, canceled.body["status"].as_str()),
        (200, Some("canceled"))
    );
    assert_eq!(f.reserved_for(&mo).await, Decimal::ZERO);
    assert_eq!(f.available(f.tube).await, d("3"));
    f.assert_consistent().await;
}

#[tokio::test]
async fn two_orders_racing_for_the_last_components_never_over_allocate() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "raceworks").await;
    f.frame_bom(&api).await;
    f.receive(&api, f.tube, f.shelf, "3", "2").await;
    f.receive(&api, f.bolt, f.shelf, "100", "0.5").await;
    // Each wants all 3 m of tube.
    let first = f.order(&api, "2").await;
    let second = f.order(&api, "2").await;

    let (a, b) = futures_util::join!(
        f.act(&api, &first, "release", json!({})),
        f.act(&api, &second, "release", json!({}))
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
    assert_eq!(f.available(f.tube).await, Decimal::ZERO);
    let held =
        f.db.query_one(
            "SELECT sum(quantity) FROM stock_reservations WHERE item_id = $1",
            &[&f.tube],
        )
        .await
        .expect("held");
    assert_eq!(held.get::<_, Decimal>(0), d("3"));

    // Partial releases racing for what is left take nothing more than there is.
    let third = f.order(&api, "2").await;
    let fourth = f.order(&api, "2").await;
    let (c, e) = futures_util::join!(
        f.act(&api, &third, "release", json!({ "allow_partial": true })),
        f.act(&api, &fourth, "release", json!({ "allow_partial": true }))
    );
    assert_eq!(
        (c.status, e.status),
        (200, 200),
        "{:?} {:?}",
        c.body,
        e.body
    );
    assert_eq!(f.available(f.tube).await, Decimal::ZERO);
    assert_eq!(
        f.reserved_for(&third).await + f.reserved_for(&fourth).await,
        d("16"),
        "only bolts"
    );
}

#[tokio::test]
async fn a_released_work_order_changes_only_through_an_approval() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "spkworks").await;
    f.frame_bom(&api).await;
    f.receive(&api, f.tube, f.shelf, "30", "2").await;
    f.receive(&api, f.bolt, f.shelf, "100", "0.5").await;
    let manager = f.user(&api, "mia", &["manager"]).await;
    let viewer = f.user(&api, "vic", &["viewer"]).await;
    let rules = f
        .call_as(
            &api,
            &f.owner,
            Method::PUT,
            "/api/v1/approvals/rules",
            Some(
                json!({ "rules": [{ "document_type": "work_order_edit", "min_amount": "0",
                                    "role": "manager" }] }),
            ),
        )
        .await;
    assert_eq!(rules.status, 200, "{:?}", rules.body);

    let mo = f.order(&api, "4").await;
    let wo = f
        .post(
            &api,
            "/api/v1/production/work-orders",
            json!({ "order_id": mo, "department_id": f.line, "target_quantity": "4" }),
        )
        .await;
    assert_eq!(wo.status, 201, "{:?}", wo.body);
    assert_eq!(
        wo.body["operation"], "Welding line",
        "the department names it"
    );
    let path = format!("/api/v1/production/work-orders/{}", id(&wo.body));
    // A draft order's work order changes directly.
    let direct = f
        .call_as(
            &api,
            &f.owner,
            Method::PATCH,
            &path,
            Some(json!({ "target_quantity": "5" })),
        )
        .await;
    assert_eq!(
        (direct.status, direct.body["target_quantity"].as_str()),
        (200, Some("5")),
        "{:?}",
        direct.body
    );

    // Released: a direct change is refused.
    let released = f.act(&api, &mo, "release", json!({})).await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    let refused = f
        .call_as(
            &api,
            &f.owner,
            Method::PATCH,
            &path,
            Some(json!({ "target_quantity": "6" })),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "approval_required"),
        "{:?}",
        refused.body
    );

    // Through an approval: pending until the manager approves, then applied.
    let edits = format!("{path}/edit-requests");
    let asked = f
        .post(
            &api,
            &edits,
            json!({ "target_quantity": "6", "reason": "customer wants more" }),
        )
        .await;
    assert_eq!(
        (asked.status, asked.body["status"].as_str()),
        (201, Some("pending")),
        "{:?}",
        asked.body
    );
    let approval = asked.body["approval_id"]
        .as_str()
        .expect("approval")
        .to_owned();
    assert_eq!(f.get(&api, &path).await["target_quantity"], "5");
    let second = f
        .post(&api, &edits, json!({ "operation": "grinding" }))
        .await;
    assert_eq!((second.status, second.code()), (409, "edit_pending"));
    let approved = f
        .call_as(
            &api,
            &manager,
            Method::POST,
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    let changed = f.get(&api, &path).await;
    assert_eq!(
        (
            changed["target_quantity"].as_str(),
            changed["pending_edit_id"].is_null()
        ),
        (Some("6"), true),
        "{changed}"
    );

    // A rejected change leaves the work order as it was.
    let asked = f
        .post(&api, &edits, json!({ "operation": "grinding" }))
        .await;
    let approval = asked.body["approval_id"]
        .as_str()
        .expect("approval")
        .to_owned();
    let rejected = f
        .call_as(
            &api,
            &manager,
            Method::POST,
            &format!("/api/v1/approvals/{approval}/reject"),
            Some(json!({ "comment": "keep welding" })),
        )
        .await;
    assert_eq!(rejected.status, 200, "{:?}", rejected.body);
    assert_eq!(f.get(&api, &path).await["operation"], "Welding line");
    assert_eq!(
        f.count("SELECT count(*) FROM work_order_edits WHERE status = 'rejected'")
            .await,
        1
    );

    // A viewer reads but writes nothing.
    let read = f.call_as(&api, &viewer, Method::GET, &path, None).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let write = f
        .call_as(
            &api,
            &viewer,
            Method::POST,
            "/api/v1/production/boms",
            Some(json!({ "item_id": f.bike, "components": [{ "item_id": f.bolt, "quantity": "1" }] })),
        )
        .await;
    assert_eq!((write.status, write.code()), (403, "forbidden"));
}

#[tokio::test]
async fn the_production_pages_work_an_order_for_staff_and_refuse_a_viewers_writes() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "pageworks").await;
    f.frame_bom(&api).await;
    f.receive(&api, f.tube, f.shelf, "3", "2").await;
    f.receive(&api, f.bolt, f.shelf, "100", "0.5").await;
    f.user(&api, "sam", &["staff"]).await;
    f.user(&api, "vic", &["viewer"]).await;
    let mut staff = PortalClient::for_app(&api.app.tenant_runtime_url, &f.slug);
    staff
        .sign_in(&format!("sam@{}.example", f.slug), OWNER_PASSWORD)
        .await;

    // The list offers the frame (it has a BOM) and drafts an order of four.
    let list = staff.get("/production/orders").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains("href=\"/production/orders\""),
        "in the navigation"
    );
    assert!(list.body.contains("FRAME Frame (BOM v1)"), "{}", list.body);
    let place = format!("{}:{}", f.warehouse, f.shelf);
    let frame = f.frame.to_string();
    let drafted = staff
        .post(
            "/production/orders",
            &[
                ("item_id", &frame),
                ("quantity", "4"),
                ("place", &place),
                ("reference", "form-1"),
            ],
        )
        .await;
    assert_eq!(drafted.status, 303, "{}", drafted.body);
    let order = drafted.location().expect("the order's page").to_owned();

    // The order's page shows the tube short by 3 m; an all-or-nothing release is refused
    // on the page, a partial one goes through.
    let shown = staff.get(&order).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.body.contains("data-short=\"true\""), "{}", shown.body);
    assert!(shown.body.contains("data-short=\"3\""), "{}", shown.body);
    let refused = staff.post(&format!("{order}/release"), &[]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("TUBE short 3"), "{}", refused.body);
    let released = staff.post(&format!("{order}/release-partial"), &[]).await;
    assert_eq!(released.status, 303, "{}", released.body);
    let added = staff
        .post(
            &format!("{order}/work-orders"),
            &[("operation", "welding"), ("target_quantity", "4")],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let work_order: String =
        f.db.query_one("SELECT id::text FROM work_orders", &[])
            .await
            .expect("work order")
            .get(0);

    // The tablet page records a day's output and refuses more than the target.
    let tablet = format!("/production/work-orders/{work_order}");
    let page = staff.get(&tablet).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("class=\"tablet\""));
    let day = |good: &'static str, reference: &'static str| {
        [
            ("work_date", "2026-12-01"),
            ("shift", "A"),
            ("operator", "Budi"),
            ("good_quantity", good),
            ("reject_quantity", ""),
            ("scrap_quantity", ""),
            ("reference", reference),
        ]
    };
    let recorded = staff.post(&tablet, &day("3", "tab-1")).await;
    assert_eq!(recorded.status, 303, "{}", recorded.body);
    let over = staff.post(&tablet, &day("2", "tab-2")).await;
    assert_eq!(over.status, 422, "{}", over.body);
    assert!(over.body.contains("would pass the target"), "{}", over.body);
    let after = staff.get(&tablet).await;
    assert!(
        after.body.contains("data-progress=\"75\""),
        "{}",
        after.body
    );

    // The BOM page shows the exploded tree.
    let bom: String =
        f.db.query_one("SELECT id::text FROM boms WHERE item_id = $1", &[&f.frame])
            .await
            .expect("bom")
            .get(0);
    let tree = staff.get(&format!("/production/boms/{bom}")).await;
    assert_eq!(tree.status, 200, "{}", tree.body);
    assert!(
        tree.body.contains("data-row=\"FRAME/TUBE\""),
        "{}",
        tree.body
    );
    assert!(tree.body.contains("data-quantity=\"1.5\""), "{}", tree.body);

    // A viewer reads every page and writes nothing.
    let mut viewer = PortalClient::for_app(&api.app.tenant_runtime_url, &f.slug);
    viewer
        .sign_in(&format!("vic@{}.example", f.slug), OWNER_PASSWORD)
        .await;
    for path in [
        "/production/orders",
        order.as_str(),
        tablet.as_str(),
        "/production/boms",
    ] {
        let read = viewer.get(path).await;
        assert_eq!(read.status, 200, "{path}: {}", read.body);
        assert!(
            !read.body.contains("data-action=\"record-input\""),
            "{path}"
        );
    }
    let forbidden = viewer.post(&tablet, &day("1", "tab-3")).await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.body);
    let cancel = viewer.post(&format!("{order}/cancel"), &[]).await;
    assert_eq!(cancel.status, 403, "{}", cancel.body);
    assert_eq!(f.count("SELECT count(*) FROM work_order_inputs").await, 1);
}

#[tokio::test]
async fn a_lot_produced_with_a_final_plan_waits_for_its_inspection_and_a_failure_quarantines_it() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "finalqc").await;
    f.frame_bom(&api).await;
    f.receive(&api, f.tube, f.shelf, "3", "2").await;
    f.receive(&api, f.bolt, f.shelf, "8", "0.5").await;
    let plan = f
        .post(
            &api,
            "/api/v1/quality/plans",
            json!({ "name": "Frame final", "kind": "final", "item_id": f.frame,
                    "criteria": [{ "name": "Welds sound", "kind": "pass_fail" }] }),
        )
        .await;
    assert_eq!(plan.status, 201, "{:?}", plan.body);
    let order = f.order(&api, "2").await;
    assert_eq!(f.act(&api, &order, "release", json!({})).await.status, 200);

    // Each completion's lot is held by its own open final inspection.
    for n in 1..=2 {
        let done = f
            .act(&api, &order, "completions", json!({ "quantity": "1" }))
            .await;
        assert_eq!(done.status, 201, "{:?}", done.body);
        let lot_code = format!("{}-{n}", done.body["number"].as_str().expect("number"));
        let status: String =
            f.db.query_one("SELECT status FROM lots WHERE code = $1", &[&lot_code])
                .await
                .expect("the produced lot")
                .get(0);
        assert_eq!(status, "held", "{lot_code}");
    }
    let inspections = f
        .get(&api, "/api/v1/quality/inspections?kind=final&status=open")
        .await;
    let open = inspections.as_array().expect("inspections");
    assert_eq!(open.len(), 2, "{inspections}");
    assert!(open.iter().all(|i| i["holds_lot"] == true));
    let events =
        f.db.query(
            "SELECT data FROM webhook_events WHERE event_type = 'mo.completed'",
            &[],
        )
        .await
        .expect("events");
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.get::<_, Value>(0)["final_inspection_id"].is_string())
    );

    // Held stock cannot leave; a pass gives it back, a failure quarantines it.
    let issue = f
        .post(
            &api,
            "/api/v1/stock/issues",
            json!({ "item_id": f.frame, "location_id": f.shelf, "quantity": "1",
                    "lot_code": open[0]["lot_code"] }),
        )
        .await;
    assert_eq!(
        (issue.status, issue.code()),
        (409, "lot_held"),
        "{:?}",
        issue.body
    );
    for (inspection, outcome, status) in [
        (&open[0], "pass", "available"),
        (&open[1], "fail", "quarantined"),
    ] {
        let decided = f
            .post(
                &api,
                &format!(
                    "/api/v1/quality/inspections/{}/decision",
                    inspection["id"].as_str().expect("id")
                ),
                json!({ "outcome": outcome, "comment": "final check",
                        "results": [{ "position": 1, "passed": outcome == "pass" }] }),
            )
            .await;
        assert_eq!(decided.status, 200, "{:?}", decided.body);
        let lot: String =
            f.db.query_one(
                "SELECT status FROM lots WHERE id = $1::text::uuid",
                &[&inspection["lot_id"].as_str().expect("lot")],
            )
            .await
            .expect("lot")
            .get(0);
        assert_eq!(lot, status);
    }
    f.assert_consistent().await;
}

#[tokio::test]
async fn a_receipt_of_items_with_an_incoming_plan_opens_their_inspections_once() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "incomingqc").await;
    for item in [f.frame, f.tube] {
        let plan = f
            .post(
                &api,
                "/api/v1/quality/plans",
                json!({ "name": "Intake", "kind": "incoming", "item_id": item,
                        "criteria": [{ "name": "As ordered", "kind": "pass_fail" }] }),
            )
            .await;
        assert_eq!(plan.status, 201, "{:?}", plan.body);
    }
    let order = f
        .post(
            &api,
            "/api/v1/purchase-orders",
            json!({ "supplier_id": f.supplier, "warehouse_id": f.warehouse,
                    "lines": [{ "item_id": f.frame, "quantity": "2", "unit_price": "30" },
                              { "item_id": f.tube, "quantity": "5", "unit_price": "1" },
                              { "item_id": f.bolt, "quantity": "9", "unit_price": "0.1" }] }),
        )
        .await;
    assert_eq!(order.status, 201, "{:?}", order.body);
    let po = id(&order.body);
    let submitted = f
        .post(
            &api,
            &format!("/api/v1/purchase-orders/{po}/submit"),
            json!({}),
        )
        .await;
    assert_eq!(submitted.body["status"], "approved", "{:?}", submitted.body);
    let receipt = json!({ "reference": "dock-1", "lines": [
        { "line": 1, "quantity": "2", "location_id": f.shelf, "lot_code": "FR-1" },
        { "line": 2, "quantity": "5", "location_id": f.shelf },
        { "line": 3, "quantity": "9", "location_id": f.shelf }] });
    let received = f
        .post(
            &api,
            &format!("/api/v1/purchase-orders/{po}/receipts"),
            receipt.clone(),
        )
        .await;
    assert_eq!(received.status, 201, "{:?}", received.body);
    // Frames and tube have a plan, bolts do not.
    let opened = received.body["inspection_ids"]
        .as_array()
        .expect("ids")
        .clone();
    assert_eq!(opened.len(), 2, "{:?}", received.body);
    let again = f
        .post(
            &api,
            &format!("/api/v1/purchase-orders/{po}/receipts"),
            receipt,
        )
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["inspection_ids"].as_array(), Some(&opened));
    assert_eq!(
        f.count(
            "SELECT count(*) FROM quality_inspections WHERE kind = 'incoming' AND status = 'open'"
        )
        .await,
        2
    );
    // The lot-tracked frames wait for their inspection; the tube (no lot) cannot be held.
    let held: Vec<(String, bool)> =
        f.db.query(
            "SELECT i.sku, q.holds_lot FROM quality_inspections q JOIN items i ON i.id = q.item_id \
             ORDER BY i.sku",
            &[],
        )
        .await
        .expect("inspections")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(held, vec![("FRAME".into(), true), ("TUBE".into(), false)]);
    let lot: String =
        f.db.query_one("SELECT status FROM lots WHERE code = 'FR-1'", &[])
            .await
            .expect("lot")
            .get(0);
    assert_eq!(lot, "held");
}

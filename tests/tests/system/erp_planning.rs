//! Planning end to end: MRP over a three-level product (bike -> frame -> tube and bolts,
//! bolts and paint at two depths) nets a draft sales order against stock and an open
//! purchase order, suggests buying and making exactly what is missing, turns the
//! suggestions into drafts with one call (one purchase order per supplier, one
//! manufacturing order per item), makes nothing twice, suggests nothing once the drafts
//! exist, and refuses drafts from a superseded run; quarantined stock and stock held for
//! other documents do not count; the permissions hold; the PPIC dashboard counts late
//! orders, shortages and this week's output; and the pages run MRP and make drafts.

use crate::erp_production::{Factory, d, factory, id};
use reqwest::Method;
use serde_json::{Value, json};
use system_tests::AdminApi;
use system_tests::portal::PortalClient;
use system_tests::runtime::OWNER_PASSWORD;
use uuid::Uuid;

/// The line of `sku` in a run.
fn line<'a>(run: &'a Value, sku: &str) -> &'a Value {
    run["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|line| line["sku"] == sku)
        .unwrap_or_else(|| panic!("{sku} in {run}"))
}

fn planned(run: &Value, sku: &str) -> (String, String) {
    let line = line(run, sku);
    (
        line["action"].as_str().expect("action").to_owned(),
        line["planned"].as_str().expect("planned").to_owned(),
    )
}

impl Factory {
    /// The bike's BOM (a frame, 2 bolts, 0.5 l of paint with 10 % scrap) on top of the
    /// frame's (1.5 m of tube, 4 bolts).
    async fn bike_boms(&self, api: &AdminApi) {
        self.frame_bom(api).await;
        let made = self
            .bom(
                api,
                self.bike,
                &[
                    (self.frame, "1", None, "0"),
                    (self.bolt, "2", None, "0"),
                    (self.paint, "0.5", None, "10"),
                ],
            )
            .await;
        assert_eq!(made.status, 201, "{:?}", made.body);
    }

    async fn run_mrp(&self, api: &AdminApi) -> Value {
        let run = self
            .post(
                api,
                "/api/v1/planning/mrp-runs",
                json!({ "warehouse_id": self.warehouse }),
            )
            .await;
        assert_eq!(run.status, 201, "{:?}", run.body);
        run.body
    }

    /// A draft sales order for `quantity` bikes wanted by `date`.
    async fn sell_bikes(&self, api: &AdminApi, quantity: &str, date: &str) -> String {
        let sold = self
            .post(
                api,
                "/api/v1/sales-orders",
                json!({ "customer_id": self.customer, "warehouse_id": self.warehouse,
                        "requested_date": date,
                        "lines": [{ "item_id": self.bike, "quantity": quantity,
                                    "unit_price": "300" }] }),
            )
            .await;
        assert_eq!(sold.status, 201, "{:?}", sold.body);
        id(&sold.body)
    }
}

#[tokio::test]
async fn mrp_suggests_what_is_missing_at_every_level_and_its_drafts_are_made_once() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "mrpworks").await;
    f.bike_boms(&api).await;
    // 2 m of tube, 10 bolts and one frame in stock; 3 l of paint on a draft order.
    f.receive(&api, f.tube, f.shelf, "2", "1").await;
    f.receive(&api, f.bolt, f.shelf, "10", "1").await;
    let frame_in = f
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": f.frame, "location_id": f.shelf, "quantity": "1",
                    "unit_cost": "20", "lot_code": "F-1" }),
        )
        .await;
    assert_eq!(frame_in.status, 201, "{:?}", frame_in.body);
    let paint_order = f
        .post(
            &api,
            "/api/v1/purchase-orders",
            json!({ "supplier_id": f.supplier, "warehouse_id": f.warehouse,
                    "lines": [{ "item_id": f.paint, "quantity": "3", "unit_price": "7.5" }] }),
        )
        .await;
    assert_eq!(paint_order.status, 201, "{:?}", paint_order.body);
    f.sell_bikes(&api, "5", "2027-01-15").await;

    let run = f.run_mrp(&api).await;
    // Bikes: 5 sold, none in stock: make 5.
    assert_eq!(planned(&run, "BIKE"), ("make".into(), "5".into()));
    assert_eq!(line(&run, "BIKE")["level"], 0);
    assert_eq!(line(&run, "BIKE")["need_by"], "2027-01-15");
    // Frames: 5 for the bikes, 1 in stock: make 4.
    assert_eq!(planned(&run, "FRAME"), ("make".into(), "4".into()));
    assert_eq!(line(&run, "FRAME")["dependent"], "5");
    // Bolts at two depths: 5 x 2 + 4 x 4 = 26, 10 in stock: buy 16, planned after both.
    assert_eq!(planned(&run, "BOLT"), ("buy".into(), "16".into()));
    assert_eq!(line(&run, "BOLT")["level"], 2);
    // Tube: 4 x 1.5 = 6 m, 2 in stock: buy 4, needed by the bikes' date.
    assert_eq!(planned(&run, "TUBE"), ("buy".into(), "4".into()));
    assert_eq!(line(&run, "TUBE")["need_by"], "2027-01-15");
    // Paint: 5 x 0.5 x 1.1 = 2.75 l, 3 on order: nothing.
    assert_eq!(planned(&run, "PAINT"), ("none".into(), "0".into()));
    assert_eq!(line(&run, "PAINT")["on_order"], "3");
    assert_eq!(line(&run, "PAINT")["supplier_id"], Value::Null);
    assert_eq!(run["suggestions"], 4);
    let run_id = id(&run);

    // Bolts and tube were never bought: the drafts need a supplier for them.
    let drafts = format!("/api/v1/planning/mrp-runs/{run_id}/drafts");
    let refused = f.post(&api, &drafts, json!({})).await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "supplier_required");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("BOLT") && d.contains("TUBE")),
        "{:?}",
        refused.body
    );
    let unknown = f
        .post(&api, &drafts, json!({ "item_ids": [f.paint] }))
        .await;
    assert_eq!(unknown.status, 422, "{:?}", unknown.body);

    let made = f
        .post(&api, &drafts, json!({ "supplier_id": f.supplier }))
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let created = made.body["created"].as_array().expect("created");
    let orders: Vec<&Value> = created
        .iter()
        .filter(|d| d["document_type"] == "purchase_order")
        .collect();
    assert_eq!(
        orders.len(),
        1,
        "one purchase order for one supplier: {created:?}"
    );
    let po = f
        .get(&api, &format!("/api/v1/purchase-orders/{}", id(orders[0])))
        .await;
    assert_eq!(po["status"], "draft");
    assert_eq!(po["expected_on"], "2027-01-15");
    let mut po_lines: Vec<(String, String)> = po["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            let item = l["item_id"].as_str().expect("item").to_owned();
            (item, l["quantity"].as_str().expect("quantity").to_owned())
        })
        .collect();
    po_lines.sort();
    let mut expected = vec![
        (f.bolt.to_string(), "16".to_owned()),
        (f.tube.to_string(), "4".to_owned()),
    ];
    expected.sort();
    assert_eq!(po_lines, expected);
    let mos: Vec<&Value> = created
        .iter()
        .filter(|d| d["document_type"] == "manufacturing_order")
        .collect();
    assert_eq!(mos.len(), 2, "{created:?}");
    for mo in mos {
        let order = f
            .get(&api, &format!("/api/v1/production/orders/{}", id(mo)))
            .await;
        assert_eq!(order["status"], "draft");
        assert_eq!(order["due_on"], "2027-01-15");
        let expected = if order["sku"] == "BIKE" { "5" } else { "4" };
        assert_eq!(order["quantity"], expected, "{order}");
    }
    // The run's lines name their drafts.
    let shown = f
        .get(&api, &format!("/api/v1/planning/mrp-runs/{run_id}"))
        .await;
    assert_eq!(line(&shown, "BOLT")["document_id"], orders[0]["id"]);
    assert!(
        line(&shown, "BIKE")["document_number"]
            .as_str()
            .is_some_and(|n| n.starts_with("MO-"))
    );

    // A second click makes nothing.
    let again = f
        .post(&api, &drafts, json!({ "supplier_id": f.supplier }))
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["created"], json!([]));
    assert_eq!(f.count("SELECT count(*) FROM purchase_orders").await, 2);
    assert_eq!(
        f.count("SELECT count(*) FROM manufacturing_orders").await,
        2
    );

    // The drafts are supply now: a new run suggests nothing...
    let rerun = f.run_mrp(&api).await;
    assert_eq!(rerun["suggestions"], 0, "{rerun}");
    assert_eq!(line(&rerun, "BOLT")["demand"], "26");
    assert_eq!(line(&rerun, "BOLT")["on_order"], "16");
    // ...and the first run is superseded.
    let stale = f
        .post(&api, &drafts, json!({ "supplier_id": f.supplier }))
        .await;
    assert_eq!(stale.status, 409, "{:?}", stale.body);
    assert_eq!(stale.body["code"], "mrp_run_superseded");
    let runs = f.get(&api, "/api/v1/planning/mrp-runs").await;
    assert_eq!(runs.as_array().map(Vec::len), Some(2));
    assert_eq!(runs[0]["superseded"], false);
    assert_eq!(runs[1]["superseded"], true);
}

#[tokio::test]
async fn quarantined_stock_and_stock_held_for_others_do_not_cover_requirements() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "mrpquarantine").await;
    f.frame_bom(&api).await;
    for lot in ["T-OK", "T-BAD"] {
        let received = f
            .post(
                &api,
                "/api/v1/stock/receipts",
                json!({ "item_id": f.frame, "location_id": f.shelf, "quantity": "3",
                        "unit_cost": "20", "lot_code": lot }),
            )
            .await;
        assert_eq!(received.status, 201, "{:?}", received.body);
    }
    // A lot failed its inspection elsewhere (the quality module's own tests cover how).
    f.db.execute(
        "UPDATE lots SET status = 'quarantined' WHERE code = 'T-BAD'",
        &[],
    )
    .await
    .expect("quarantine");
    // Two frames held for something outside the plan (a manual hold).
    f.db.execute(
        "INSERT INTO stock_reservations (id, item_id, warehouse_id, quantity, document_type, \
         document_id) VALUES ($1, $2, $3, 2, 'manual_hold', 'H-1')",
        &[&Uuid::now_v7(), &f.frame, &f.warehouse],
    )
    .await
    .expect("hold");
    let sold = f
        .post(
            &api,
            "/api/v1/sales-orders",
            json!({ "customer_id": f.customer, "warehouse_id": f.warehouse,
                    "lines": [{ "item_id": f.frame, "quantity": "4", "unit_price": "50" }] }),
        )
        .await;
    assert_eq!(sold.status, 201, "{:?}", sold.body);

    let run = f.run_mrp(&api).await;
    let frame = line(&run, "FRAME");
    // 3 usable (the quarantined 3 are not), 2 of them held: 4 - 1 = 3 to make.
    assert_eq!(frame["on_hand"], "3", "{frame}");
    assert_eq!(frame["reserved"], "2", "{frame}");
    assert_eq!(planned(&run, "FRAME"), ("make".into(), "3".into()));
    assert_eq!(planned(&run, "TUBE"), ("buy".into(), "4.5".into()));
    assert_eq!(planned(&run, "BOLT"), ("buy".into(), "12".into()));
}

#[tokio::test]
async fn planning_needs_its_permissions_and_answers_bad_requests_clearly() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "mrprights").await;
    f.frame_bom(&api).await;
    f.receive(&api, f.bolt, f.shelf, "1", "1").await;
    let sold = f
        .post(
            &api,
            "/api/v1/sales-orders",
            json!({ "customer_id": f.customer, "warehouse_id": f.warehouse,
                    "lines": [{ "item_id": f.frame, "quantity": "1", "unit_price": "50" }] }),
        )
        .await;
    assert_eq!(sold.status, 201, "{:?}", sold.body);

    let missing = f
        .post(
            &api,
            "/api/v1/planning/mrp-runs",
            json!({ "warehouse_id": Uuid::now_v7() }),
        )
        .await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);
    assert_eq!(missing.body["code"], "warehouse_not_found");
    let elsewhere = f
        .post(
            &api,
            "/api/v1/planning/mrp-runs",
            json!({ "warehouse_id": f.warehouse, "output_location_id": f.far }),
        )
        .await;
    assert_eq!(elsewhere.status, 422, "{:?}", elsewhere.body);
    let unknown_run = f
        .call_as(
            &api,
            &f.owner,
            Method::GET,
            &format!("/api/v1/planning/mrp-runs/{}", Uuid::now_v7()),
            None,
        )
        .await;
    assert_eq!(unknown_run.status, 404);
    assert_eq!(unknown_run.body["code"], "mrp_run_not_found");

    // A viewer reads plans but runs none.
    let viewer = f.user(&api, "viewer", &["viewer"]).await;
    let refused = f
        .call_as(
            &api,
            &viewer,
            Method::POST,
            "/api/v1/planning/mrp-runs",
            Some(json!({ "warehouse_id": f.warehouse })),
        )
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);

    // A planner may make manufacturing orders but not purchase orders.
    let role = f
        .post(
            &api,
            "/api/v1/roles",
            json!({ "name": "planner",
                    "permissions": ["production.read", "production.write"] }),
        )
        .await;
    assert_eq!(role.status, 201, "{:?}", role.body);
    let planner = f.user(&api, "planner", &["planner"]).await;
    let run = f
        .call_as(
            &api,
            &planner,
            Method::POST,
            "/api/v1/planning/mrp-runs",
            Some(json!({ "warehouse_id": f.warehouse })),
        )
        .await;
    assert_eq!(run.status, 201, "{:?}", run.body);
    let run_id = id(&run.body);
    let drafts = format!("/api/v1/planning/mrp-runs/{run_id}/drafts");
    let buying = f
        .call_as(
            &api,
            &planner,
            Method::POST,
            &drafts,
            Some(json!({ "supplier_id": f.supplier })),
        )
        .await;
    assert_eq!(buying.status, 403, "{:?}", buying.body);
    let making = f
        .call_as(
            &api,
            &planner,
            Method::POST,
            &drafts,
            Some(json!({ "item_ids": [f.frame] })),
        )
        .await;
    assert_eq!(making.status, 201, "{:?}", making.body);
    assert_eq!(
        making.body["created"][0]["document_type"],
        "manufacturing_order"
    );
}

#[tokio::test]
async fn the_ppic_dashboard_counts_late_orders_shortages_and_this_weeks_output() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "ppicboard").await;
    f.frame_bom(&api).await;
    // Enough for 2 frames; the order wants 4, released with what there is.
    f.receive(&api, f.tube, f.shelf, "3", "1").await;
    f.receive(&api, f.bolt, f.shelf, "8", "1").await;
    let order = f.order(&api, "4").await;
    f.db.execute(
        "UPDATE manufacturing_orders SET due_on = current_date - 3 WHERE id = $1::text::uuid",
        &[&order],
    )
    .await
    .expect("due three days ago");
    let released = f
        .act(&api, &order, "release", json!({ "allow_partial": true }))
        .await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    let done = f
        .act(&api, &order, "completions", json!({ "quantity": "1" }))
        .await;
    assert_eq!(done.status, 201, "{:?}", done.body);

    let board = f.get(&api, "/api/v1/planning/dashboard").await;
    assert_eq!(board["late_count"], 1, "{board}");
    assert_eq!(board["late"][0]["id"], order.as_str());
    assert_eq!(board["late"][0]["days_late"], 3);
    let in_progress = board["orders_by_status"]
        .as_array()
        .expect("states")
        .iter()
        .find(|s| s["status"] == "in_progress")
        .expect("in_progress");
    assert_eq!(in_progress["count"], 1);
    // 4 frames need 6 m of tube and 16 bolts; 3 m and 8 were reserved, 1 frame done.
    assert_eq!(board["shortage_count"], 2, "{board}");
    let tube = board["shortages"]
        .as_array()
        .expect("shortages")
        .iter()
        .find(|s| s["sku"] == "TUBE")
        .expect("tube short");
    assert_eq!(d(tube["short"].as_str().expect("short")), d("3"));
    let produced: rust_decimal::Decimal = board["week"]
        .as_array()
        .expect("week")
        .iter()
        .map(|day| d(day["produced"].as_str().expect("produced")))
        .sum();
    assert_eq!(produced, d("1"));
    assert_eq!(board["week"].as_array().map(Vec::len), Some(7));
    assert_eq!(board["quality"]["decided"], 0);
    assert_eq!(board["quality"]["pass_rate"], Value::Null);

    // The page shows the same figures, with its two charts.
    f.user(&api, "pat", &["manager"]).await;
    let mut page = PortalClient::for_app(&api.app.tenant_runtime_url, &f.slug);
    page.sign_in(&format!("pat@{}.example", f.slug), OWNER_PASSWORD)
        .await;
    let html = page.get("/planning").await;
    assert_eq!(html.status, 200, "{}", html.body);
    assert!(html.body.contains(r#"data-figure="late-orders""#));
    assert_eq!(html.body.matches("<svg").count(), 2, "two charts");
    assert!(html.body.contains(r#"data-row="TUBE""#));
}

#[tokio::test]
async fn the_mrp_pages_run_a_plan_and_make_the_ticked_suggestions_drafts() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let f = factory(&api, "mrppages").await;
    f.bike_boms(&api).await;
    f.sell_bikes(&api, "2", "2027-02-01").await;
    f.user(&api, "pam", &["admin"]).await;
    let mut page = PortalClient::for_app(&api.app.tenant_runtime_url, &f.slug);
    page.sign_in(&format!("pam@{}.example", f.slug), OWNER_PASSWORD)
        .await;

    let form = page.get("/planning/mrp").await;
    assert!(form.body.contains(r#"data-action="run-mrp""#));
    let ran = page
        .post(
            "/planning/mrp",
            &[("warehouse_id", f.warehouse.to_string().as_str())],
        )
        .await;
    assert_eq!(ran.status, 303, "{}", ran.body);
    let run_page = ran.location().expect("the run's page").to_owned();
    let shown = page.get(&run_page).await;
    assert!(shown.body.contains("suggestion(s)"), "{}", shown.body);
    assert!(shown.body.contains(r#"data-row="BIKE" data-action="make""#));
    assert!(shown.body.contains(r#"data-row="TUBE" data-action="buy""#));
    let run_id =
        f.db.query_one("SELECT id FROM mrp_runs", &[])
            .await
            .expect("a run")
            .get::<_, Uuid>(0);

    // Only the two made items ticked: no supplier needed.
    let (bike, frame) = (f.bike.to_string(), f.frame.to_string());
    let made = page
        .post(
            &format!("/planning/mrp/{run_id}/drafts"),
            &[("item_id", bike.as_str()), ("item_id", frame.as_str())],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let after = page.get(&run_page).await;
    assert!(after.body.contains(r#"data-draft="BIKE""#));
    assert!(after.body.contains(r#"data-draft="FRAME""#));
    // The buy lines without a supplier: a readable refusal naming them.
    let tube = f.tube.to_string();
    let refused = page
        .post(
            &format!("/planning/mrp/{run_id}/drafts"),
            &[("item_id", tube.as_str())],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("name a supplier for: TUBE"),
        "{}",
        refused.body
    );

    // A viewer sees the plan, not the forms.
    f.user(&api, "vic", &["viewer"]).await;
    let mut viewer = PortalClient::for_app(&api.app.tenant_runtime_url, &f.slug);
    viewer
        .sign_in(&format!("vic@{}.example", f.slug), OWNER_PASSWORD)
        .await;
    let seen = viewer.get(&run_page).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert!(seen.body.contains(r#"data-draft="BIKE""#));
    assert!(!seen.body.contains(r#"data-action="make-drafts""#));
    assert!(!viewer.get("/planning/mrp").await.body.contains("run-mrp"));
}

/// The planning benchmark, small, in every run so it cannot rot (figures are never
/// asserted here: the README has them from `planning-bench`).
#[tokio::test]
async fn the_planning_benchmark_runs_end_to_end() {
    let report = system_tests::planning_bench::run(1, 2).await;
    assert_eq!(report.items, 1000);
    assert_eq!(report.open_orders, 500);
    assert!(report.suggestions > 0, "{report:?}");
    assert_eq!(report.mrp.sorted.len(), 1);
    assert_eq!(report.completion.sorted.len(), 4);
    assert!(system_tests::planning_bench::report(&report).contains("goal"));
}

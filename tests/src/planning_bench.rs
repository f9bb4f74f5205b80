//! The planning benchmark, against the servers the tests use, in one company:
//!
//! - **MRP**: 1,000 items in three BOM levels below 100 products (100 products -> 200
//!   assemblies -> 300 parts -> 400 raw materials; every BOM active), 500 open orders (400
//!   draft sales orders of three lines and 100 draft manufacturing orders with their
//!   components), 200 open purchase order lines and stock of every raw material, loaded
//!   with SQL; then `POST /api/v1/planning/mrp-runs` (the whole plan: load, net, store,
//!   answer) `rounds` times, interleaved with `GET /api/v1/me` (the baseline). Goal: a run
//!   within 2 s.
//! - **Completion**: an item of 50 components (stock for all), `orders` released
//!   manufacturing orders, each completed twice in part through
//!   `POST /api/v1/production/orders/{id}/completions` (50 consumptions and one production
//!   in one transaction), interleaved with the baseline: p50 / p99.

use crate::admin::AdminApi;
use crate::bench::Latencies;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

const PRODUCTS: i32 = 100;
const ASSEMBLIES: i32 = 200;
const PARTS: i32 = 300;
const RAW: i32 = 400;
const SALES_ORDERS: i32 = 400;
const OPEN_MOS: i32 = 100;
/// Components of the completion benchmark's item.
const COMPONENTS: i32 = 50;

#[derive(Debug)]
pub struct Report {
    pub items: i64,
    pub bom_lines: i64,
    pub open_orders: i64,
    pub suggestions: i64,
    pub mrp: Latencies,
    pub mrp_baseline: Latencies,
    pub completion: Latencies,
    pub completion_baseline: Latencies,
}

/// The company the benchmark works in.
struct Bench {
    api: AdminApi,
    slug: String,
    token: String,
    db: tokio_postgres::Client,
    warehouse: Uuid,
    location: Uuid,
}

impl Bench {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (Duration, Value) {
        let started = Instant::now();
        let reply = self
            .api
            .tenant_call(&self.slug, method, path, Some(&self.token), body)
            .await;
        let took = started.elapsed();
        assert!(
            (200..300).contains(&reply.status),
            "{path}: {} {:?}",
            reply.status,
            reply.body
        );
        (took, reply.body)
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db.query_one(sql, &[]).await.expect(sql).get(0)
    }
}

/// Runs both parts: `rounds` MRP runs, `orders` orders completed twice each.
pub async fn run(rounds: usize, orders: usize) -> Report {
    let bench = company().await;
    eprintln!("loading the MRP data set…");
    load_mrp_data(&bench).await;
    let items = bench
        .count("SELECT count(*) FROM items WHERE sku LIKE 'M-%'")
        .await;
    let bom_lines = bench.count("SELECT count(*) FROM bom_components").await;
    let open_orders = bench
        .count(
            "SELECT (SELECT count(*) FROM sales_orders) + \
             (SELECT count(*) FROM manufacturing_orders)",
        )
        .await;
    eprintln!("{rounds} MRP runs…");
    let mut mrp = Vec::new();
    let mut mrp_baseline = Vec::new();
    let mut suggestions = 0;
    let run_body = json!({ "warehouse_id": bench.warehouse });
    for _ in 0..rounds {
        let (took, run) = bench
            .call(
                Method::POST,
                "/api/v1/planning/mrp-runs",
                Some(run_body.clone()),
            )
            .await;
        mrp.push(took);
        suggestions = run["suggestions"].as_i64().unwrap_or_default();
        mrp_baseline.push(bench.call(Method::GET, "/api/v1/me", None).await.0);
    }
    eprintln!("{orders} orders of {COMPONENTS} components, completed twice each…");
    let (completion, completion_baseline) = completions(&bench, orders).await;
    Report {
        items,
        bom_lines,
        open_orders,
        suggestions,
        mrp: latencies("POST /api/v1/planning/mrp-runs", mrp),
        mrp_baseline: latencies("GET /api/v1/me (baseline)", mrp_baseline),
        completion: latencies(
            "POST /api/v1/production/orders/{id}/completions",
            completion,
        ),
        completion_baseline: latencies("GET /api/v1/me (baseline)", completion_baseline),
    }
}

fn latencies(way: &'static str, mut sorted: Vec<Duration>) -> Latencies {
    sorted.sort();
    Latencies { way, sorted }
}

/// A company on a plan with production and sales, a warehouse and a location.
async fn company() -> Bench {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let plan = api
        .post(
            "/api/v1/plans",
            json!({ "code": "planning-bench", "name": "planning-bench",
                    "limits": { "max_users": 10, "max_storage_mb": 10_000,
                                "api_requests_per_minute": 1_000_000,
                                "api_calls_per_month": 1_000_000_000_i64,
                                "max_concurrent_requests": 50, "max_db_connections": 5 },
                    "features": ["master_data", "inventory", "purchasing", "sales",
                                 "production"] }),
        )
        .await;
    assert_eq!(plan.status, 201, "{:?}", plan.body);
    let company = api.company("planbench", "planning-bench").await;
    let token = api.owner_token(&company).await;
    let db = api.tenant_db(&company.id).await;
    let (warehouse, location) = (Uuid::now_v7(), Uuid::now_v7());
    db.execute(
        "INSERT INTO warehouses (id, code, name) VALUES ($1, 'MAIN', 'Main')",
        &[&warehouse],
    )
    .await
    .expect("warehouse");
    db.execute(
        "INSERT INTO locations (id, warehouse_id, code, name, kind) \
         VALUES ($1, $2, 'LINE', 'Line', 'production')",
        &[&location, &warehouse],
    )
    .await
    .expect("location");
    Bench {
        api,
        slug: company.slug,
        token,
        db,
        warehouse,
        location,
    }
}

/// Items, BOMs, orders and stock of the MRP run, in set statements. Component picks are a
/// fixed arithmetic spread (reproducible, every lower item used).
async fn load_mrp_data(bench: &Bench) {
    let levels = [
        ("P", PRODUCTS, "finished"),
        ("A", ASSEMBLIES, "semi_finished"),
        ("Q", PARTS, "semi_finished"),
        ("R", RAW, "raw"),
    ];
    for (prefix, count, kind) in levels {
        bench
            .db
            .execute(
                "INSERT INTO items (id, sku, name, kind, base_unit, standard_cost) \
                 SELECT gen_random_uuid(), 'M-' || $1 || n, $1 || ' ' || n, $3, 'pcs', 1 \
                 FROM generate_series(1, $2) AS n",
                &[&prefix, &count, &kind],
            )
            .await
            .expect("items");
    }
    // Each level's BOMs: `picks` components from the next level, `raw` raw materials.
    let boms = [
        ("P", "A", ASSEMBLIES, 4, 2),
        ("A", "Q", PARTS, 4, 1),
        ("Q", "R", RAW, 3, 0),
    ];
    for (parent, child, children, picks, raw) in boms {
        bench
            .db
            .batch_execute(&format!(
                "INSERT INTO boms (id, item_id, version, active) \
                 SELECT gen_random_uuid(), id, 1, true FROM items WHERE sku LIKE 'M-{parent}%'; \
                 INSERT INTO bom_components (bom_id, line_no, item_id, quantity, \
                                             entered_quantity, scrap_percent) \
                 SELECT b.id, k, c.id, 1 + k % 3, 1 + k % 3, k % 2 * 5 \
                 FROM boms b JOIN items p ON p.id = b.item_id AND p.sku LIKE 'M-{parent}%' \
                 CROSS JOIN generate_series(1, {lines}) AS k \
                 JOIN items c ON c.sku = CASE WHEN k <= {picks} \
                   THEN 'M-{child}' || (1 + (substr(p.sku, 4)::int * 7 + k * 13) % {children}) \
                   ELSE 'M-R' || (1 + (substr(p.sku, 4)::int * 11 + k * 17) % {RAW}) END;",
                lines = picks + raw,
            ))
            .await
            .expect("boms");
    }
    let customer = Uuid::now_v7();
    let supplier = Uuid::now_v7();
    bench
        .db
        .batch_execute(&format!(
            "INSERT INTO partners (id, code, name, is_customer, is_supplier) VALUES \
               ('{customer}', 'CUST', 'Customer', true, false), \
               ('{supplier}', 'SUP', 'Supplier', false, true); \
             INSERT INTO sales_orders (id, number, customer_id, warehouse_id, requested_date) \
             SELECT gen_random_uuid(), \
                    'SO-' || lpad(nextval('sales_order_number_seq')::text, 6, '0'), \
                    '{customer}', '{warehouse}', current_date + n % 60 \
             FROM generate_series(1, {SALES_ORDERS}) AS n; \
             INSERT INTO sales_order_lines (order_id, line_no, item_id, quantity, unit_price) \
             SELECT o.id, k, i.id, 1 + (row_number() OVER () + k) % 9, 100 \
             FROM sales_orders o CROSS JOIN generate_series(1, 3) AS k \
             JOIN items i ON i.sku = 'M-P' || (1 + (abs(hashtext(o.number)) + k * 31) % {PRODUCTS}); \
             INSERT INTO manufacturing_orders (id, item_id, bom_id, quantity, warehouse_id, \
                                               output_location_id, due_on) \
             SELECT gen_random_uuid(), b.item_id, b.id, 5, '{warehouse}', '{location}', \
                    current_date + 10 \
             FROM boms b JOIN items i ON i.id = b.item_id AND i.sku LIKE 'M-A%' \
             ORDER BY i.sku LIMIT {OPEN_MOS}; \
             INSERT INTO manufacturing_order_components (order_id, line_no, item_id, required) \
             SELECT o.id, c.line_no, c.item_id, o.quantity * c.quantity \
             FROM manufacturing_orders o JOIN bom_components c ON c.bom_id = o.bom_id; \
             INSERT INTO purchase_orders (id, supplier_id, warehouse_id, status) \
             SELECT gen_random_uuid(), '{supplier}', '{warehouse}', 'approved' \
             FROM generate_series(1, 20); \
             INSERT INTO purchase_order_lines (id, purchase_order_id, line_no, item_id, \
                                               quantity, unit_price) \
             SELECT gen_random_uuid(), o.id, k, i.id, 50, 2 \
             FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM purchase_orders) o \
             CROSS JOIN generate_series(1, 10) AS k \
             JOIN items i ON i.sku = 'M-R' || ((o.n * 10 + k) % {RAW} + 1); \
             INSERT INTO stock_balances (item_id, location_id, on_hand, value) \
             SELECT id, '{location}', 40, 40 FROM items WHERE sku LIKE 'M-R%';",
            warehouse = bench.warehouse,
            location = bench.location,
        ))
        .await
        .expect("orders and stock");
}

/// `orders` released orders of an item with 50 components, each completed in two halves.
async fn completions(bench: &Bench, orders: usize) -> (Vec<Duration>, Vec<Duration>) {
    let item = Uuid::now_v7();
    bench
        .db
        .execute(
            "INSERT INTO items (id, sku, name, kind, base_unit) \
             VALUES ($1, 'BIG', 'Fifty parts', 'finished', 'pcs')",
            &[&item],
        )
        .await
        .expect("item");
    let ids: Vec<Uuid> = (0..COMPONENTS).map(|_| Uuid::now_v7()).collect();
    bench
        .db
        .execute(
            "INSERT INTO items (id, sku, name, kind, base_unit, standard_cost) \
             SELECT id, 'BIG-C' || n, 'Part ' || n, 'raw', 'pcs', 1 \
             FROM unnest($1::uuid[]) WITH ORDINALITY AS t (id, n)",
            &[&ids],
        )
        .await
        .expect("components");
    let quantity = orders * 2 + 10;
    for id in &ids {
        bench
            .call(
                Method::POST,
                "/api/v1/stock/receipts",
                Some(json!({ "item_id": id, "location_id": bench.location,
                             "quantity": quantity.to_string(), "unit_cost": "1" })),
            )
            .await;
    }
    let lines: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "item_id": id, "quantity": "1" }))
        .collect();
    bench
        .call(
            Method::POST,
            "/api/v1/production/boms",
            Some(json!({ "item_id": item, "components": lines })),
        )
        .await;
    let mut made = Vec::new();
    for _ in 0..orders {
        let (_, order) = bench
            .call(
                Method::POST,
                "/api/v1/production/orders",
                Some(json!({ "item_id": item, "quantity": "2",
                             "warehouse_id": bench.warehouse,
                             "output_location_id": bench.location })),
            )
            .await;
        let id = order["id"].as_str().expect("id").to_owned();
        bench
            .call(
                Method::POST,
                &format!("/api/v1/production/orders/{id}/release"),
                Some(json!({})),
            )
            .await;
        made.push(id);
    }
    let (mut samples, mut baseline) = (Vec::new(), Vec::new());
    for half in 0..2 {
        for id in &made {
            let (took, _) = bench
                .call(
                    Method::POST,
                    &format!("/api/v1/production/orders/{id}/completions"),
                    Some(json!({ "quantity": "1", "reference": format!("{id}-{half}") })),
                )
                .await;
            samples.push(took);
            baseline.push(bench.call(Method::GET, "/api/v1/me", None).await.0);
        }
    }
    (samples, baseline)
}

/// The report: each latency's p50 / p99 and its ratio to the baseline measured beside it.
pub fn report(report: &Report) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let line = |latencies: &Latencies, baseline: &Latencies| {
        format!(
            "  {:<50} p50 {:>9.2} ms  p99 {:>9.2} ms  ({:.1}x baseline p99)",
            latencies.way,
            ms(latencies.quantile(0.5)),
            ms(latencies.quantile(0.99)),
            ms(latencies.quantile(0.99)) / ms(baseline.quantile(0.99)).max(0.001),
        )
    };
    let mrp_p99 = ms(report.mrp.quantile(0.99));
    [
        format!(
            "MRP: {} items, {} BOM lines, {} open orders, {} suggestions, {} runs",
            report.items,
            report.bom_lines,
            report.open_orders,
            report.suggestions,
            report.mrp.sorted.len()
        ),
        line(&report.mrp, &report.mrp_baseline),
        line(&report.mrp_baseline, &report.mrp_baseline),
        format!(
            "  goal: a run within 2,000 ms: p99 {mrp_p99:.0} ms = {:.2}x the goal",
            mrp_p99 / 2000.0
        ),
        format!(
            "MO completion with {COMPONENTS} components ({} completions)",
            report.completion.sorted.len()
        ),
        line(&report.completion, &report.completion_baseline),
        line(&report.completion_baseline, &report.completion_baseline),
    ]
    .join("\n")
}

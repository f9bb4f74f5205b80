//! The stock ledger benchmark, against the servers the tests use:
//!
//! - ledger writes per second through the API (`POST /api/v1/stock/receipts`, one entry
//!   each) from `CLIENTS` concurrent clients, in one tenant and spread over TENANTS
//!   tenants, each beside the same clients' rate on `GET /api/v1/me` (signed-in, one
//!   tenant-database read: the baseline) measured in the same run;
//! - with ROWS ledger entries bulk-loaded into one tenant (SQL `generate_series`, balances
//!   built from them and checked against them), the latency of one item's stock
//!   (`/api/v1/stock/items/{id}`) and of the full valuation report by item, interleaved
//!   with the `/me` baseline. Goals: item p99 <= 5 ms, report p99 <= 500 ms.

use crate::admin::AdminApi;
use crate::bench::Latencies;
use crate::runtime::Company;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Concurrent clients of the write runs.
pub const CLIENTS: usize = 16;
/// Items and locations of each write tenant.
const WRITE_ITEMS: usize = 20;
/// Items and locations of the bulk-loaded tenant.
const BIG_ITEMS: i32 = 2_000;
const BIG_LOCATIONS: i32 = 5;

/// A tenant ready to post stock.
#[derive(Clone)]
struct Target {
    slug: String,
    token: String,
    items: Vec<Uuid>,
    location: Uuid,
}

/// Requests that succeeded in a timed run.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub ok: usize,
    pub failed: usize,
    pub elapsed: Duration,
}

impl Rate {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(0.001)
    }
}

#[derive(Debug)]
pub struct Report {
    pub tenants: usize,
    pub seconds: u64,
    pub rows: i64,
    pub one_writes: Rate,
    pub one_baseline: Rate,
    pub spread_writes: Rate,
    pub spread_baseline: Rate,
    pub baseline: Latencies,
    pub item: Latencies,
    pub valuation: Latencies,
}

/// Runs everything: `tenants` write tenants, `seconds` per timed run, `rows` bulk entries.
pub async fn run(tenants: usize, seconds: u64, rows: i64, rounds: usize) -> Report {
    // Every company signs up from this one address: lift the per-address signup limit.
    let api = AdminApi::start_with(|settings| {
        settings.control_plane.signups_per_ip_per_hour = 100_000;
    })
    .await;
    api.register_primary().await;
    api.plan_with(
        "erp-bench",
        json!({ "api_requests_per_minute": 100_000_000, "api_calls_per_month": 1_000_000_000_i64,
                "max_concurrent_requests": 64, "max_db_connections": 20 }),
    )
    .await;
    eprintln!("signing up {tenants} companies…");
    // The first signup alone: it makes the server's template database the others clone.
    let mut targets = vec![target(&api, "erpb-0", WRITE_ITEMS).await];
    for chunk in (1..tenants).collect::<Vec<_>>().chunks(4) {
        let made = futures_util::future::join_all(chunk.iter().map(|n| {
            let api = &api;
            async move { target(api, &format!("erpb-{n}"), WRITE_ITEMS).await }
        }))
        .await;
        targets.extend(made);
    }
    let duration = Duration::from_secs(seconds);
    let one = &targets[..1];
    eprintln!("writes in one tenant…");
    let one_baseline = load(&api, one, duration, false).await;
    let one_writes = load(&api, one, duration, true).await;
    eprintln!("writes over {} tenants…", targets.len());
    let spread_baseline = load(&api, &targets, duration, false).await;
    let spread_writes = load(&api, &targets, duration, true).await;

    eprintln!("bulk-loading {rows} ledger rows…");
    // The last write tenant (the test server holds 100 tenants at most).
    let big = targets.last().expect("a tenant").clone();
    let big_company = Company {
        id: tenant_id(&api, &big.slug).await,
        slug: big.slug.clone(),
        admin_email: String::new(),
    };
    let items = bulk_load(&api, &big_company, rows).await;
    eprintln!("reads, {rounds} rounds…");
    let (baseline, item, valuation) = reads(&api, &big, &items, rounds).await;
    Report {
        tenants: targets.len(),
        seconds,
        rows,
        one_writes,
        one_baseline,
        spread_writes,
        spread_baseline,
        baseline,
        item,
        valuation,
    }
}

async fn tenant_id(api: &AdminApi, slug: &str) -> String {
    let control = crate::fleet::connect(&api.app.db.url()).await;
    control
        .query_one("SELECT id::text FROM tenants WHERE slug = $1", &[&slug])
        .await
        .expect("the tenant")
        .get(0)
}

/// A signed-up company with a warehouse, a location and `items` items.
async fn target(api: &AdminApi, slug: &str, items: usize) -> Target {
    let company = api.company(slug, "erp-bench").await;
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
        "INSERT INTO locations (id, warehouse_id, code, name) VALUES ($1, $2, 'A', 'A')",
        &[&location, &warehouse],
    )
    .await
    .expect("location");
    let ids: Vec<Uuid> = (0..items).map(|_| Uuid::now_v7()).collect();
    db.execute(
        "INSERT INTO items (id, sku, name, kind, base_unit, standard_cost) \
         SELECT id, 'SKU-' || n, 'Item ' || n, 'raw', 'pcs', 1 \
         FROM unnest($1::uuid[]) WITH ORDINALITY AS t (id, n)",
        &[&ids],
    )
    .await
    .expect("items");
    Target {
        slug: slug.to_owned(),
        token,
        items: ids,
        location,
    }
}

/// `CLIENTS` clients for `duration`, cycling over `targets`: receipts when `write`, else
/// `GET /api/v1/me`.
async fn load(api: &AdminApi, targets: &[Target], duration: Duration, write: bool) -> Rate {
    let started = Instant::now();
    let deadline = started + duration;
    let clients = (0..CLIENTS).map(|client| async move {
        let (mut ok, mut failed, mut n) = (0, 0, client);
        while Instant::now() < deadline {
            let target = &targets[n % targets.len()];
            let reply = if write {
                let item = target.items[n % target.items.len()];
                let body = json!({ "item_id": item, "location_id": target.location,
                                   "quantity": "1", "unit_cost": "1.25" });
                api.tenant_call(
                    &target.slug,
                    Method::POST,
                    "/api/v1/stock/receipts",
                    Some(&target.token),
                    Some(body),
                )
                .await
            } else {
                api.tenant_call(
                    &target.slug,
                    Method::GET,
                    "/api/v1/me",
                    Some(&target.token),
                    None,
                )
                .await
            };
            if matches!(reply.status, 200 | 201) {
                ok += 1;
            } else {
                failed += 1;
            }
            n += CLIENTS;
        }
        (ok, failed)
    });
    let results = futures_util::future::join_all(clients).await;
    Rate {
        ok: results.iter().map(|r| r.0).sum(),
        failed: results.iter().map(|r| r.1).sum(),
        elapsed: started.elapsed(),
    }
}

/// `rows` receipts over `BIG_ITEMS` items and `BIG_LOCATIONS` locations (one movement per
/// 100 entries), balances built from them, checked, analysed; answers the item ids.
async fn bulk_load(api: &AdminApi, company: &Company, rows: i64) -> Vec<Uuid> {
    let db = api.tenant_db(&company.id).await;
    let statements = [
        format!(
            "INSERT INTO locations (id, warehouse_id, code, name) \
             SELECT md5('loc' || n)::uuid, (SELECT id FROM warehouses LIMIT 1), 'L' || n, 'L' || n \
             FROM generate_series(1, {BIG_LOCATIONS}) n"
        ),
        format!(
            "INSERT INTO items (id, sku, name, kind, base_unit, standard_cost, category_id) \
             SELECT md5('item' || n)::uuid, 'BIG-' || n, 'Big ' || n, 'raw', 'pcs', 1, NULL \
             FROM generate_series(1, {BIG_ITEMS}) n"
        ),
        format!(
            "INSERT INTO stock_movements (id, kind, note) \
             SELECT md5('mv' || n)::uuid, 'receipt', 'bulk' \
             FROM generate_series(0, {rows} / 100) n"
        ),
        format!(
            "INSERT INTO stock_ledger (movement_id, kind, item_id, location_id, quantity, \
                                       unit_cost, note, created_at) \
             SELECT md5('mv' || (n / 100))::uuid, 'receipt', \
                    md5('item' || (n % {BIG_ITEMS} + 1))::uuid, \
                    md5('loc' || (n % {BIG_LOCATIONS} + 1))::uuid, \
                    n % 10 + 1, 1.5, 'bulk', now() - (n || ' seconds')::interval \
             FROM generate_series(0, {rows} - 1) n"
        ),
        "INSERT INTO stock_balances (item_id, location_id, lot_id, on_hand, value) \
         SELECT item_id, location_id, lot_id, sum(quantity), sum(quantity * unit_cost) \
         FROM stock_ledger WHERE note = 'bulk' GROUP BY item_id, location_id, lot_id"
            .to_owned(),
        "ANALYZE".to_owned(),
    ];
    for sql in &statements {
        db.batch_execute(sql).await.expect("bulk load");
    }
    let mismatches = tenant_runtime::erp::stock::check::mismatches(&db)
        .await
        .expect("check");
    assert!(
        mismatches.is_empty(),
        "bulk balances differ from the ledger"
    );
    db.query(
        "SELECT id FROM items WHERE sku LIKE 'BIG-%' ORDER BY sku",
        &[],
    )
    .await
    .expect("items")
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// `rounds` rounds of `/me`, one item's stock and the valuation report, interleaved.
async fn reads(
    api: &AdminApi,
    big: &Target,
    items: &[Uuid],
    rounds: usize,
) -> (Latencies, Latencies, Latencies) {
    let mut samples: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds {
        let item = items[(round * 7919) % items.len()];
        let paths = [
            "/api/v1/me".to_owned(),
            format!("/api/v1/stock/items/{item}"),
            "/api/v1/stock/valuation?group_by=item".to_owned(),
        ];
        for (index, path) in paths.iter().enumerate() {
            let started = Instant::now();
            let reply = api
                .tenant_call(&big.slug, Method::GET, path, Some(&big.token), None)
                .await;
            samples[index].push(started.elapsed());
            assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        }
    }
    let [mut me, mut item, mut valuation] = samples;
    me.sort();
    item.sort();
    valuation.sort();
    (
        Latencies {
            way: "GET /api/v1/me (baseline)",
            sorted: me,
        },
        Latencies {
            way: "GET /api/v1/stock/items/{id}",
            sorted: item,
        },
        Latencies {
            way: "GET /api/v1/stock/valuation?group_by=item",
            sorted: valuation,
        },
    )
}

/// The report: rates with their ratio to the baseline, latencies p50 / p99 with theirs.
pub fn report(report: &Report) -> String {
    let rate = |label: &str, writes: &Rate, baseline: &Rate| {
        format!(
            "{label}: {:.0} entries/s ({} ok, {} failed) vs /me {:.0} req/s: {:.2}x the baseline rate",
            writes.per_second(),
            writes.ok,
            writes.failed,
            baseline.per_second(),
            writes.per_second() / baseline.per_second().max(0.001),
        )
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let base = ms(report.baseline.quantile(0.99)).max(0.001);
    let mut lines = vec![
        format!(
            "stock ledger writes, {CLIENTS} clients, {} s each run",
            report.seconds
        ),
        rate("  one tenant", &report.one_writes, &report.one_baseline),
        rate(
            &format!("  over {} tenants", report.tenants),
            &report.spread_writes,
            &report.spread_baseline,
        ),
        format!(
            "reads with {} ledger rows in one tenant ({} rounds)",
            report.rows,
            report.baseline.sorted.len()
        ),
    ];
    for latencies in [&report.baseline, &report.item, &report.valuation] {
        lines.push(format!(
            "  {:<44} p50 {:>8.2} ms  p99 {:>8.2} ms  ({:.1}x baseline p99)",
            latencies.way,
            ms(latencies.quantile(0.5)),
            ms(latencies.quantile(0.99)),
            ms(latencies.quantile(0.99)) / base,
        ));
    }
    lines.join("\n")
}

//! The reports' CSV exports: stock on hand, movements (more rows than one batch, so the
//! download really pages), valuation, items below their reorder point, and the lines of
//! open purchase and sales orders; each the same figures as the JSON report, cells that
//! look like formulas neutralized, a bad filter refused before any byte.

use crate::erp_sales::{Shop, shop};
use reqwest::Method;
use serde_json::json;
use system_tests::AdminApi;

impl Shop {
    /// `GET` an export: status, content type and the rows split into cells (the test data
    /// holds no quoted commas).
    async fn csv(&self, api: &AdminApi, path: &str) -> (u16, String, Vec<Vec<String>>) {
        let response = api
            .app
            .client
            .get(format!("{}{path}", api.app.tenant_runtime_url))
            .header("X-Tenant", &self.slug)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("text");
        let rows = text
            .lines()
            .map(|line| line.split(',').map(str::to_owned).collect())
            .collect();
        (status, kind, rows)
    }
}

/// The row whose first cell is `key`.
fn row<'a>(rows: &'a [Vec<String>], key: &str) -> &'a [String] {
    rows.iter()
        .find(|row| row[0] == key)
        .unwrap_or_else(|| panic!("no row {key} in {rows:?}"))
}

#[tokio::test]
async fn every_report_exports_as_csv_with_the_figures_of_its_json_report() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let shop = shop(&api, "reports").await;
    // 205 receipts of one bolt: more ledger entries than one export batch (200).
    for _ in 0..205 {
        shop.receive(&api, shop.bolt, 1).await;
    }
    shop.receive(&api, shop.gadget, 10).await;
    shop.db
        .execute(
            "UPDATE items SET reorder_point = 1000 WHERE sku = 'BOLT'",
            &[],
        )
        .await
        .expect("reorder point");

    let (status, kind, movements) = shop.csv(&api, "/api/v1/stock/movements/export").await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    assert_eq!(movements[0][0], "entry");
    assert_eq!(movements.len(), 1 + 206, "every entry, across batches");
    let mut ids: Vec<i64> = movements[1..]
        .iter()
        .map(|row| row[0].parse().expect("an entry id"))
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "newest first");
    ids.dedup();
    assert_eq!(ids.len(), 206, "no entry twice at a batch boundary");
    let filtered = shop
        .csv(
            &api,
            &format!("/api/v1/stock/movements/export?item_id={}", shop.gadget),
        )
        .await
        .2;
    assert_eq!(filtered.len(), 2, "the list's filters apply: {filtered:?}");
    let bad = shop
        .csv(&api, "/api/v1/stock/movements/export?kind=teleport")
        .await;
    assert_eq!(bad.0, 422, "refused before the download starts");

    let (status, _, on_hand) = shop.csv(&api, "/api/v1/stock/on-hand/export").await;
    assert_eq!(status, 200);
    assert_eq!(row(&on_hand, "BOLT")[4], "205");
    assert_eq!(row(&on_hand, "GADGET")[4], "10");
    let json = shop
        .call(&api, Method::GET, "/api/v1/stock/on-hand", None)
        .await;
    assert_eq!(
        json.body["items"].as_array().expect("items").len(),
        on_hand.len() - 1,
        "the same rows as the JSON report"
    );

    let (_, _, by_item) = shop.csv(&api, "/api/v1/stock/valuation/export").await;
    assert_eq!(by_item[0], ["key", "label", "on_hand", "value"]);
    assert_eq!(row(&by_item[1..], &shop.bolt.to_string())[3], "205");
    assert_eq!(row(&by_item[1..], &shop.gadget.to_string())[3], "10");
    let wrong = shop
        .csv(&api, "/api/v1/stock/valuation/export?group_by=colour")
        .await;
    assert_eq!(wrong.0, 422);

    let (_, _, below) = shop.csv(&api, "/api/v1/stock/below-reorder/export").await;
    assert_eq!(below.len(), 2, "{below:?}");
    assert_eq!(&row(&below, "BOLT")[2..4], ["1000", "205"]);

    // A customer named like a formula; one open order, one canceled.
    shop.db
        .execute(
            "UPDATE partners SET name = '=1+2' WHERE id = $1",
            &[&shop.customer],
        )
        .await
        .expect("rename");
    let open = shop
        .draft(&api, &[(shop.bolt, "5", "3"), (shop.gadget, "2", "10")])
        .await;
    assert_eq!(shop.act(&api, &open, "confirm").await.status, 200);
    let canceled = shop.draft(&api, &[(shop.bolt, "1", "3")]).await;
    assert_eq!(shop.act(&api, &canceled, "cancel").await.status, 200);
    let (status, _, sales) = shop
        .csv(&api, "/api/v1/sales-orders/export?open=true")
        .await;
    assert_eq!(status, 200);
    assert_eq!(sales.len(), 3, "the open order's two lines: {sales:?}");
    assert_eq!(sales[1][1], "'=1+2", "a formula-like cell is neutralized");
    assert_eq!(sales[1][2], "confirmed");
    assert_eq!(&sales[1][5..], ["BOLT", "Bolt", "5", "0", "5", "3", "15"]);
    let every = shop.csv(&api, "/api/v1/sales-orders/export").await.2;
    assert_eq!(every.len(), 4, "without filters the canceled one too");
    let unknown = shop
        .csv(&api, "/api/v1/sales-orders/export?status=shipped")
        .await;
    assert_eq!(unknown.0, 422);

    let po = shop
        .post(
            &api,
            "/api/v1/purchase-orders",
            json!({ "supplier_id": shop.supplier, "warehouse_id": shop.warehouse,
                    "lines": [{ "item_id": shop.bolt, "quantity": "800", "unit_price": "1.5" }] }),
        )
        .await;
    assert_eq!(po.status, 201, "{:?}", po.body);
    let (status, _, purchases) = shop
        .csv(
            &api,
            &format!(
                "/api/v1/purchase-orders/export?open=true&partner_id={}",
                shop.supplier
            ),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(purchases[0][0], "order");
    assert_eq!(purchases.len(), 2, "{purchases:?}");
    assert_eq!(
        &purchases[1][1..],
        [
            "Supplier", "draft", "", "1", "BOLT", "Bolt", "800", "0", "800", "1.5", "1200"
        ]
    );
}

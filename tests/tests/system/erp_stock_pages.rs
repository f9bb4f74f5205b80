//! The web app's stock screens, driven over HTTP as a browser would: receipts, issues,
//! transfers and adjustments posted from their forms (a double submit posts once; a
//! refusal keeps the values typed; an adjustment the approval rules cover is held, not
//! posted), the on-hand, valuation, below-reorder and movements pages with their figures,
//! a reversal from the movements page, a lot's trace, every CSV link downloading its
//! report, and a viewer offered no move form or reverse button (and refused when posting
//! anyway). Stock that the forms do not post comes in through the stock API.

use crate::erp_sales::{Shop, shop};
use rust_decimal::Decimal;
use serde_json::json;
use system_tests::AdminApi;
use system_tests::portal::{PageReply, PortalClient};
use system_tests::runtime::OWNER_PASSWORD;
use uuid::Uuid;

/// The shop's admin, signed in to its web app.
async fn admin(api: &AdminApi, s: &Shop) -> PortalClient {
    let mut client = PortalClient::for_app(&api.app.tenant_runtime_url, &s.slug);
    let signed_in = client.sign_in(&s.admin_email, OWNER_PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    client
}

/// The reference a fresh form of `kind` carries.
async fn form_reference(client: &PortalClient, kind: &str) -> String {
    let form = client.get(&format!("/stock/moves/new?kind={kind}")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body.contains(&format!("data-form=\"{kind}\"")),
        "{}",
        form.body
    );
    form.input("reference").expect("a form reference")
}

/// Posts the move form of `kind` with a fresh reference and `fields`.
async fn post_move(client: &PortalClient, kind: &str, fields: &[(&str, &str)]) -> PageReply {
    let reference = form_reference(client, kind).await;
    let mut all = vec![("kind", kind), ("reference", reference.as_str())];
    all.extend_from_slice(fields);
    client.post("/stock/moves", &all).await
}

/// On hand of `item` at `location`.
async fn at(s: &Shop, item: Uuid, location: Uuid) -> Decimal {
    s.db.query_one(
        "SELECT coalesce(sum(on_hand), 0) FROM stock_balances \
         WHERE item_id = $1 AND location_id = $2",
        &[&item, &location],
    )
    .await
    .expect("on hand")
    .get(0)
}

/// The id of the only movement of `kind`.
async fn movement(s: &Shop, kind: &str) -> Uuid {
    s.db.query_one("SELECT id FROM stock_movements WHERE kind = $1", &[&kind])
        .await
        .expect("one movement")
        .get(0)
}

/// The value of the first `href` after `marker` in the page.
fn link_after(page: &PageReply, marker: &str) -> String {
    let start = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {}", page.body));
    let before = &page.body[..start];
    let href = before.rfind("href=\"").expect("a link") + "href=\"".len();
    let end = page.body[href..].find('"').expect("closed") + href;
    page.body[href..end].replace("&amp;", "&")
}

/// A CSV download: its rows split into cells (the test data holds no quoted commas).
async fn csv(client: &PortalClient, path: &str) -> Vec<Vec<String>> {
    let got = client.get(path).await;
    assert_eq!(got.status, 200, "{path}: {}", got.body);
    let kind = got
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(kind.starts_with("text/csv"), "{path}: {kind}");
    got.body
        .lines()
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect()
}

fn d(n: i64) -> Decimal {
    Decimal::from(n)
}

#[tokio::test]
async fn the_move_forms_receive_issue_transfer_and_adjust() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "stockforms").await;
    let client = admin(&api, &s).await;
    let dashboard = client.get("/").await;
    assert!(
        dashboard.body.contains("href=\"/stock\""),
        "in the navigation"
    );
    let (bolt, shelf, far) = (s.bolt.to_string(), s.shelf.to_string(), s.far.to_string());

    // A receipt; the same form sent twice posts once.
    let reference = form_reference(&client, "receipt").await;
    let fields = [
        ("kind", "receipt"),
        ("reference", reference.as_str()),
        ("item_id", bolt.as_str()),
        ("location_id", shelf.as_str()),
        ("quantity", "10"),
        ("unit_cost", "2"),
        ("note", "<b>first</b> delivery"),
    ];
    let received = client.post("/stock/moves", &fields).await;
    assert_eq!(received.status, 303, "{}", received.body);
    assert_eq!(received.location(), Some("/stock/movements"));
    let again = client.post("/stock/moves", &fields).await;
    assert_eq!(again.status, 303, "{}", again.body);
    let posted: i64 =
        s.db.query_one(
            "SELECT count(*) FROM stock_movements WHERE reference = $1",
            &[&reference],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(posted, 1, "a double submit posts once");
    assert_eq!(s.on_hand(s.bolt).await, d(10));
    // A box is twelve.
    let boxed = post_move(
        &client,
        "receipt",
        &[
            ("item_id", &bolt),
            ("location_id", &shelf),
            ("quantity", "1"),
            ("unit", "box"),
        ],
    )
    .await;
    assert_eq!(boxed.status, 303, "{}", boxed.body);
    assert_eq!(s.on_hand(s.bolt).await, d(22));
    let listed = client.get("/stock/movements").await;
    assert!(
        listed.body.contains("first&#60;/b&#62; delivery"),
        "a note is shown"
    );
    assert!(!listed.body.contains("<b>first"), "and escaped");

    // An issue beyond stock: refused on the form, with the values typed kept.
    let beyond = post_move(
        &client,
        "issue",
        &[
            ("item_id", &bolt),
            ("location_id", &shelf),
            ("quantity", "30"),
            ("note", "rush job"),
        ],
    )
    .await;
    assert_eq!(beyond.status, 409, "{}", beyond.body);
    assert!(
        beyond.body.contains("only 22 on hand there"),
        "{}",
        beyond.body
    );
    assert!(beyond.body.contains("value=\"30\""), "{}", beyond.body);
    assert!(
        beyond.body.contains(">rush job</textarea>"),
        "{}",
        beyond.body
    );
    assert!(
        beyond
            .body
            .contains(&format!("<option value=\"{bolt}\" selected")),
        "the item stays chosen"
    );
    let unknown_unit = post_move(
        &client,
        "issue",
        &[
            ("item_id", &bolt),
            ("location_id", &shelf),
            ("quantity", "1"),
            ("unit", "crate"),
        ],
    )
    .await;
    assert_eq!(unknown_unit.status, 422, "{}", unknown_unit.body);
    assert!(
        unknown_unit.body.contains("id=\"field-unit-error\""),
        "{}",
        unknown_unit.body
    );
    assert!(unknown_unit.body.contains("value=\"crate\""));
    assert_eq!(s.on_hand(s.bolt).await, d(22), "nothing moved");

    let issued = post_move(
        &client,
        "issue",
        &[
            ("item_id", &bolt),
            ("location_id", &shelf),
            ("quantity", "2"),
        ],
    )
    .await;
    assert_eq!(issued.status, 303, "{}", issued.body);
    assert_eq!(s.on_hand(s.bolt).await, d(20));

    // A transfer to the other warehouse.
    let moved = post_move(
        &client,
        "transfer",
        &[
            ("item_id", &bolt),
            ("location_id", &shelf),
            ("to_location_id", &far),
            ("quantity", "5"),
        ],
    )
    .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    assert_eq!(at(&s, s.bolt, s.shelf).await, d(15));
    assert_eq!(at(&s, s.bolt, s.far).await, d(5));

    // An adjustment without a reason is refused; with one, posted.
    let reasonless = post_move(
        &client,
        "adjustment",
        &[
            ("item_id", &bolt),
            ("location_id", &shelf),
            ("quantity", "-1"),
        ],
    )
    .await;
    assert_eq!(reasonless.status, 422, "{}", reasonless.body);
    assert!(reasonless.body.contains("id=\"field-reason-error\""));
    let adjusted = post_move(
        &client,
        "adjustment",
        &[
            ("item_id", &bolt),
            ("location_id", &shelf),
            ("quantity", "-1"),
            ("reason", "dropped"),
        ],
    )
    .await;
    assert_eq!(adjusted.status, 303, "{}", adjusted.body);
    assert_eq!(at(&s, s.bolt, s.shelf).await, d(14));

    // Above the company's threshold an adjustment is held for approval: nothing moves.
    // (The starter plan has no approvals API: the rule is written as the API would.)
    s.db.execute(
        "INSERT INTO approval_rules (id, document_type, min_amount, role) \
         VALUES ($1, 'stock_adjustment', 50, 'manager')",
        &[&Uuid::now_v7()],
    )
    .await
    .expect("a rule");
    let held = post_move(
        &client,
        "adjustment",
        &[
            ("item_id", &bolt),
            ("location_id", &shelf),
            ("quantity", "100"),
            ("unit_cost", "3"),
            ("reason", "found a crate"),
        ],
    )
    .await;
    assert_eq!(held.status, 202, "{}", held.body);
    assert!(
        held.body.contains("held for approval by manager"),
        "{}",
        held.body
    );
    assert!(held.body.contains("href=\"/approvals\""));
    assert_eq!(at(&s, s.bolt, s.shelf).await, d(14), "held, not posted");
    let pending: i64 =
        s.db.query_one(
            "SELECT count(*) FROM stock_adjustment_requests WHERE status = 'pending'",
            &[],
        )
        .await
        .expect("requests")
        .get(0);
    assert_eq!(pending, 1);
    s.assert_consistent().await;
}

#[tokio::test]
async fn the_report_pages_show_the_figures_reverse_and_download_them() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "stockreports").await;
    s.db.execute(
        "UPDATE items SET lot_tracked = true WHERE id = $1",
        &[&s.gadget],
    )
    .await
    .expect("lot-tracked");
    s.db.execute(
        "UPDATE items SET reorder_point = 100 WHERE id = $1",
        &[&s.bolt],
    )
    .await
    .expect("reorder point");
    s.receive(&api, s.bolt, 20).await;
    let lot_receipt = s
        .post(
            &api,
            "/api/v1/stock/receipts",
            json!({ "item_id": s.gadget, "location_id": s.shelf, "quantity": "5",
                    "unit_cost": "1", "lot_code": "LOT-7", "lot_expires_on": "2030-01-31" }),
        )
        .await;
    assert_eq!(lot_receipt.status, 201, "{:?}", lot_receipt.body);
    let issue = s
        .post(
            &api,
            "/api/v1/stock/issues",
            json!({ "item_id": s.bolt, "location_id": s.shelf, "quantity": "3" }),
        )
        .await;
    assert_eq!(issue.status, 201, "{:?}", issue.body);
    let gadget_out = s
        .post(
            &api,
            "/api/v1/stock/issues",
            json!({ "item_id": s.gadget, "location_id": s.shelf, "quantity": "2",
                    "note": "to the line" }),
        )
        .await;
    assert_eq!(gadget_out.status, 201, "{:?}", gadget_out.body);
    let lot: Uuid =
        s.db.query_one("SELECT id FROM lots WHERE code = 'LOT-7'", &[])
            .await
            .expect("the lot")
            .get(0);
    let client = admin(&api, &s).await;

    // On hand: 17 bolts and 3 gadgets of lot LOT-7, worth 20 in all.
    let stock = client.get("/stock").await;
    assert_eq!(stock.status, 200, "{}", stock.body);
    assert!(
        stock.body.contains("data-row=\"BOLT@MAIN / SHELF\""),
        "{}",
        stock.body
    );
    assert!(stock.body.contains("<td data-cell=\"on-hand\">17</td>"));
    assert!(
        stock
            .body
            .contains("data-row=\"GADGET@MAIN / SHELF#LOT-7\"")
    );
    assert!(stock.body.contains(&format!("href=\"/lots/{lot}\"")));
    assert!(
        stock
            .body
            .contains("whatever the filters): <strong>20</strong>"),
        "{}",
        stock.body
    );
    assert!(
        stock
            .body
            .contains("href=\"/stock/moves/new?kind=receipt\"")
    );
    let on_hand = csv(
        &client,
        &link_after(&stock, "data-action=\"export-on-hand\""),
    )
    .await;
    assert_eq!(on_hand[0][0], "sku");
    let bolt_row = on_hand.iter().find(|r| r[0] == "BOLT").expect("BOLT");
    assert_eq!(bolt_row[4], "17");
    // Filtered to the far shelf: nothing, on the page and in its download.
    let far = client.get(&format!("/stock?location_id={}", s.far)).await;
    assert!(far.body.contains("No stock matches."), "{}", far.body);
    let far_csv = csv(&client, &link_after(&far, "data-action=\"export-on-hand\"")).await;
    assert_eq!(far_csv.len(), 1, "only the header: {far_csv:?}");

    // Valuation by item, by location, and its downloads.
    let by_item = client.get("/stock/valuation?group_by=item").await;
    assert_eq!(by_item.status, 200, "{}", by_item.body);
    assert!(
        by_item.body.contains("data-figure=\"total-value\">20<"),
        "{}",
        by_item.body
    );
    let rows = csv(
        &client,
        &link_after(&by_item, "data-action=\"export-valuation\""),
    )
    .await;
    let bolt = s.bolt.to_string();
    let bolt_value = rows.iter().find(|r| r[0] == bolt).expect("BOLT");
    assert_eq!(&bolt_value[1..], ["BOLT", "17", "17"]);
    let by_location = client.get("/stock/valuation?group_by=location").await;
    assert!(
        by_location.body.contains("data-row=\"SHELF\""),
        "{}",
        by_location.body
    );
    assert_eq!(
        client.get("/stock/valuation?group_by=colour").await.status,
        422
    );
    assert_eq!(
        client
            .get("/stock/valuation/export?group_by=colour")
            .await
            .status,
        422
    );

    // Below reorder point.
    let below = client.get("/stock/below-reorder").await;
    assert!(below.body.contains("data-row=\"BOLT\""), "{}", below.body);
    assert!(
        below
            .body
            .contains("<td data-cell=\"reorder-point\">100</td>")
    );
    let rows = csv(
        &client,
        &link_after(&below, "data-action=\"export-below-reorder\""),
    )
    .await;
    assert_eq!(&rows[1][..4], ["BOLT", "Bolt", "100", "17"]);

    // Movements: filtered by kind and period, downloaded with the filter.
    let issues = client.get("/stock/movements?kind=issue").await;
    assert_eq!(issues.status, 200, "{}", issues.body);
    assert!(issues.body.contains("data-kind=\"issue\""));
    assert!(
        !issues.body.contains("data-kind=\"receipt\""),
        "{}",
        issues.body
    );
    let rows = csv(
        &client,
        &link_after(&issues, "data-action=\"export-movements\""),
    )
    .await;
    assert_eq!(rows.len(), 3, "two issue entries: {rows:?}");
    let long_ago = client
        .get("/stock/movements?from=2000-01-01&to=2000-01-02")
        .await;
    assert!(long_ago.body.contains("No movement matches."));
    let today = chrono::Utc::now().date_naive().to_string();
    let this_day = client
        .get(&format!("/stock/movements?from={today}&to={today}"))
        .await;
    assert!(
        this_day.body.contains("data-kind=\"receipt\""),
        "the day 'to' names is included"
    );
    assert_eq!(
        client.get("/stock/movements?kind=teleport").await.status,
        422
    );

    // A reversal from the movements page puts the issued bolts back.
    let issue_id =
        s.db.query_one(
            "SELECT m.id FROM stock_movements m JOIN stock_ledger e ON e.movement_id = m.id \
             WHERE m.kind = 'issue' AND e.item_id = $1",
            &[&s.bolt],
        )
        .await
        .expect("the issue")
        .get::<_, Uuid>(0);
    let action = format!("/stock/movements/{issue_id}/reverse");
    let listed = client.get("/stock/movements").await;
    assert!(listed.body.contains(&format!("action=\"{action}\"")));
    let reversed = client
        .post(&action, &[("reason", "wrong item"), ("reference", "rev-1")])
        .await;
    assert_eq!(reversed.status, 303, "{}", reversed.body);
    assert_eq!(s.on_hand(s.bolt).await, d(20));
    let listed = client.get("/stock/movements").await;
    assert!(
        listed.body.contains("data-status=\"reversed\""),
        "{}",
        listed.body
    );
    assert!(
        !listed.body.contains(&format!("action=\"{action}\"")),
        "no second reverse form"
    );
    let reversal = movement(&s, "reversal").await;
    assert!(
        !listed
            .body
            .contains(&format!("/stock/movements/{reversal}/reverse")),
        "a reversal offers no reverse form"
    );
    let twice = client
        .post(&action, &[("reason", "again"), ("reference", "rev-2")])
        .await;
    assert_eq!(twice.status, 409, "{}", twice.body);
    assert!(
        twice.body.contains("this movement has been reversed"),
        "{}",
        twice.body
    );
    assert_eq!(s.on_hand(s.bolt).await, d(20));

    // The lot's trace: in by the receipt, out by the issue.
    let trace = client.get(&format!("/lots/{lot}")).await;
    assert_eq!(trace.status, 200, "{}", trace.body);
    assert!(trace.body.contains("Lot LOT-7"));
    assert!(
        trace.body.contains("data-figure=\"lot-on-hand\">3<"),
        "{}",
        trace.body
    );
    let went = trace
        .body
        .find("data-table=\"went-out\"")
        .expect("went out");
    let came = trace.body.find("data-table=\"came-in\"").expect("came in");
    let receipt_at = trace
        .body
        .find("data-kind=\"receipt\"")
        .expect("the receipt");
    let issue_at = trace.body.find("data-kind=\"issue\"").expect("the issue");
    assert!(came < receipt_at && receipt_at < went && went < issue_at);
    assert!(trace.body.contains("to the line"));
    assert_eq!(
        client
            .get(&format!("/lots/{}", Uuid::now_v7()))
            .await
            .status,
        404
    );

    // The order lists link their order-lines CSVs.
    let open = s.draft(&api, &[(s.bolt, "4", "3")]).await;
    assert_eq!(s.act(&api, &open, "confirm").await.status, 200);
    let sales = client.get("/sales-orders").await;
    let rows = csv(
        &client,
        &link_after(&sales, "data-action=\"export-open-lines\""),
    )
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(&rows[1][5..], ["BOLT", "Bolt", "4", "0", "4", "3", "12"]);
    let ordered = s
        .post(
            &api,
            "/api/v1/purchase-orders",
            json!({ "supplier_id": s.supplier, "warehouse_id": s.warehouse,
                    "lines": [{ "item_id": s.gadget, "quantity": "6", "unit_price": "2" }] }),
        )
        .await;
    assert_eq!(ordered.status, 201, "{:?}", ordered.body);
    let purchases = client.get("/purchase-orders").await;
    let rows = csv(
        &client,
        &link_after(&purchases, "data-action=\"export-lines\""),
    )
    .await;
    assert_eq!(rows[0][0], "order");
    assert_eq!(
        &rows[1][5..],
        ["GADGET", "Gadget", "6", "0", "6", "2", "12"]
    );
    let drafts = client.get("/purchase-orders?status=draft").await;
    assert_eq!(
        link_after(&drafts, "data-action=\"export-lines\""),
        "/purchase-orders/export?status=draft"
    );
    assert_eq!(
        client
            .get("/purchase-orders/export?status=lost")
            .await
            .status,
        422
    );
    s.assert_consistent().await;
}

#[tokio::test]
async fn a_viewer_sees_no_move_form_or_reverse_button_and_cannot_post() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "stockviewer").await;
    s.receive(&api, s.bolt, 8).await;
    let receipt = movement(&s, "receipt").await;
    api.member(&s.slug, &s.token, "vic@stockviewer.example", &["viewer"])
        .await;
    let mut viewer = PortalClient::for_app(&api.app.tenant_runtime_url, &s.slug);
    let signed_in = viewer
        .sign_in("vic@stockviewer.example", OWNER_PASSWORD)
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert!(viewer.get("/").await.body.contains("href=\"/stock\""));

    for path in [
        "/stock",
        "/stock/movements",
        "/stock/valuation",
        "/stock/below-reorder",
    ] {
        let page = viewer.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        let forms = page.body.matches("method=\"post\"").count();
        let sign_out = page.body.matches("action=\"/sign-out\"").count();
        assert_eq!(forms, sign_out, "{path} offers a viewer a form that writes");
        assert!(!page.body.contains("/stock/moves/new"), "{path}");
        assert!(!page.body.contains("data-action=\"reverse\""), "{path}");
    }
    let movements = viewer.get("/stock/movements").await;
    assert!(
        movements.body.contains("data-kind=\"receipt\""),
        "a viewer reads them"
    );
    let rows = csv(&viewer, "/stock/export").await;
    assert_eq!(rows.len(), 2, "a viewer downloads: {rows:?}");

    assert_eq!(
        viewer.get("/stock/moves/new?kind=receipt").await.status,
        403
    );
    let (bolt, shelf) = (s.bolt.to_string(), s.shelf.to_string());
    let forged = viewer
        .post(
            "/stock/moves",
            &[
                ("kind", "receipt"),
                ("item_id", &bolt),
                ("location_id", &shelf),
                ("quantity", "5"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let reverse = viewer
        .post(
            &format!("/stock/movements/{receipt}/reverse"),
            &[("reason", "no")],
        )
        .await;
    assert_eq!(reverse.status, 403, "{}", reverse.body);
    assert_eq!(s.on_hand(s.bolt).await, d(8), "nothing moved");
}

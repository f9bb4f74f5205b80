//! Kanban boards end to end: WIP limits refused with their code (and two moves racing for
//! a column's last free slot: one wins), every move recorded, cards following their
//! manufacturing orders, work orders and purchase orders as those change state (over a
//! full column's limit when the document says so), the board page moving a card by its
//! form for staff and offering a viewer nothing to move, and the board in a real browser
//! (a card dragged, another moved by keyboard). Master data is made with SQL.

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::admin::Reply;
use system_tests::portal::PortalClient;
use system_tests::runtime::OWNER_PASSWORD;
use system_tests::{AdminApi, Browser};
use uuid::Uuid;

/// A company making frames from tube, buying tube from a supplier.
struct Shop {
    slug: String,
    owner: String,
    db: tokio_postgres::Client,
    warehouse: Uuid,
    shelf: Uuid,
    supplier: Uuid,
    frame: Uuid,
    tube: Uuid,
}

async fn shop(api: &AdminApi, slug: &str) -> Shop {
    let plan = format!("kanban-{slug}");
    let reply = api
        .post(
            "/api/v1/plans",
            json!({ "code": plan, "name": plan,
                    "limits": { "max_users": 10, "max_storage_mb": 1000,
                                "api_requests_per_minute": 6000, "api_calls_per_month": 1_000_000,
                                "max_concurrent_requests": 50, "max_db_connections": 5 },
                    "features": ["master_data", "inventory", "purchasing", "approvals",
                                 "production"] }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let company = api.company(slug, &plan).await;
    let owner = api.owner_token(&company).await;
    let db = api.tenant_db(&company.id).await;
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let (warehouse, shelf, supplier, frame, tube) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    db.batch_execute(&format!(
        "INSERT INTO warehouses (id, code, name) VALUES ('{warehouse}', 'MAIN', 'Main'); \
         INSERT INTO locations (id, warehouse_id, code, name, kind) VALUES \
           ('{shelf}', '{warehouse}', 'SHELF', 'Shelf', 'storage'); \
         INSERT INTO items (id, sku, name, kind, base_unit, standard_cost, lot_tracked) VALUES \
           ('{frame}', 'FRAME', 'Frame', 'semi_finished', 'pcs', 0, false), \
           ('{tube}', 'TUBE', 'Tube', 'raw', 'm', 1, false); \
         INSERT INTO partners (id, code, name, is_customer, is_supplier) VALUES \
           ('{supplier}', 'SUP', 'Tube Supplier', false, true);"
    ))
    .await
    .expect("master data");
    let shop = Shop {
        slug: slug.to_owned(),
        owner,
        db,
        warehouse,
        shelf,
        supplier,
        frame,
        tube,
    };
    let bom = shop
        .post(
            api,
            "/api/v1/production/boms",
            json!({ "item_id": frame, "components": [{ "item_id": tube, "quantity": "1" }] }),
        )
        .await;
    assert_eq!(bom.status, 201, "{:?}", bom.body);
    let stock = shop
        .post(
            api,
            "/api/v1/stock/receipts",
            json!({ "item_id": tube, "location_id": shelf, "quantity": "100", "unit_cost": "2" }),
        )
        .await;
    assert_eq!(stock.status, 201, "{:?}", stock.body);
    shop
}

impl Shop {
    async fn call_as(
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
        self.call_as(api, &self.owner, Method::POST, path, Some(body))
            .await
    }

    async fn get(&self, api: &AdminApi, path: &str) -> Value {
        let got = self
            .call_as(api, &self.owner, Method::GET, path, None)
            .await;
        assert_eq!(got.status, 200, "{path}: {:?}", got.body);
        got.body
    }

    /// A signed-in user with `roles`: their access token.
    async fn user(&self, api: &AdminApi, name: &str, roles: &[&str]) -> String {
        let email = format!("{name}@{}.example", self.slug);
        api.member(&self.slug, &self.owner, &email, roles).await;
        let login = api.tenant_login(&self.slug, &email, OWNER_PASSWORD).await;
        assert_eq!(login.status, 200, "{:?}", login.body);
        login.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// A board named `name` with `columns` (the API's column objects).
    async fn board(&self, api: &AdminApi, name: &str, columns: Value) -> Value {
        let made = self
            .post(
                api,
                "/api/v1/kanban/boards",
                json!({ "name": name, "columns": columns }),
            )
            .await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        made.body
    }

    async fn card(&self, api: &AdminApi, board: &str, body: Value) -> Reply {
        self.post(api, &format!("/api/v1/kanban/boards/{board}/cards"), body)
            .await
    }

    async fn free_card(&self, api: &AdminApi, board: &str, title: &str) -> String {
        let made = self.card(api, board, json!({ "title": title })).await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        id(&made.body)
    }

    async fn move_card(&self, api: &AdminApi, card: &str, column: &str) -> Reply {
        self.post(
            api,
            &format!("/api/v1/kanban/cards/{card}/move"),
            json!({ "to_column_id": column }),
        )
        .await
    }

    /// A draft manufacturing order for `quantity` frames: its id.
    async fn order(&self, api: &AdminApi, quantity: &str) -> String {
        let made = self
            .post(
                api,
                "/api/v1/production/orders",
                json!({ "item_id": self.frame, "quantity": quantity,
                        "warehouse_id": self.warehouse, "output_location_id": self.shelf }),
            )
            .await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        id(&made.body)
    }

    /// The name of the column a card is on now, and its cards' count.
    async fn column_of(&self, api: &AdminApi, board: &str, card: &str) -> String {
        let shown = self
            .get(api, &format!("/api/v1/kanban/boards/{board}"))
            .await;
        columns(&shown)
            .iter()
            .find(|c| cards(c).iter().any(|k| k["id"] == card))
            .and_then(|c| c["name"].as_str())
            .unwrap_or_else(|| panic!("card {card} on {shown}"))
            .to_owned()
    }
}

fn id(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {body}"))
        .to_owned()
}

fn columns(board: &Value) -> &Vec<Value> {
    board["columns"].as_array().expect("columns")
}

fn cards(column: &Value) -> &Vec<Value> {
    column["cards"].as_array().expect("cards")
}

/// The id of the column named `name` on `board`.
fn column(board: &Value, name: &str) -> String {
    id(columns(board)
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("column {name} on {board}")))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_into_a_full_column_is_refused_with_its_count_and_every_move_is_recorded() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "wipshop").await;
    let viewer = s.user(&api, "vic", &["viewer"]).await;
    let board = s
        .board(
            &api,
            "Line 1",
            json!([{ "name": "Backlog" }, { "name": "Doing", "wip_limit": 1 },
                   { "name": "Done" }]),
        )
        .await;
    let board_id = id(&board);
    let (backlog, doing) = (column(&board, "Backlog"), column(&board, "Doing"));
    let a = s.free_card(&api, &board_id, "paint the frames").await;
    let b = s.free_card(&api, &board_id, "weld the frames").await;

    let moved = s.move_card(&api, &a, &doing).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(
        (
            &moved.body["from_column"],
            &moved.body["to_column"],
            &moved.body["cause"]
        ),
        (&json!("Backlog"), &json!("Doing"), &json!("user"))
    );
    let full = s.move_card(&api, &b, &doing).await;
    assert_eq!(
        (full.status, full.code()),
        (409, "wip_limit_reached"),
        "{:?}",
        full.body
    );
    let detail = full.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("holds 1 cards") && detail.contains("WIP limit is 1"),
        "{detail}"
    );
    // Adding a card straight into the full column is refused the same way.
    let straight = s
        .card(&api, &board_id, json!({ "title": "x", "column_id": doing }))
        .await;
    assert_eq!(
        (straight.status, straight.code()),
        (409, "wip_limit_reached")
    );
    assert_eq!(s.column_of(&api, &board_id, &b).await, "Backlog");

    // Reordering within a column is a move too (no limit involved).
    let c = s.free_card(&api, &board_id, "cut the tube").await;
    let top = s
        .post(
            &api,
            &format!("/api/v1/kanban/cards/{c}/move"),
            json!({ "to_column_id": backlog, "position": 0 }),
        )
        .await;
    assert_eq!((top.status, top.body["position"].as_i64()), (200, Some(0)));
    let shown = s
        .get(&api, &format!("/api/v1/kanban/boards/{board_id}"))
        .await;
    let backlog_cards: Vec<&str> = cards(&columns(&shown)[0])
        .iter()
        .map(|k| k["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(backlog_cards, ["cut the tube", "weld the frames"]);
    assert_eq!(columns(&shown)[1]["card_count"], 1);
    assert_eq!(columns(&shown)[1]["over_limit"], false);

    // Recorded: who, when, from, to; newest first; by card.
    let moves = s
        .get(&api, &format!("/api/v1/kanban/boards/{board_id}/moves"))
        .await;
    let items = moves["items"].as_array().expect("moves");
    assert_eq!(items.len(), 2, "{moves}");
    assert_eq!(items[1]["card_id"], json!(a));
    assert!(items[1]["moved_by"].is_string() && items[1]["moved_at"].is_string());
    assert!(items[1]["moved_by_name"].is_string(), "{moves}");
    let of_a = s
        .get(
            &api,
            &format!("/api/v1/kanban/boards/{board_id}/moves?card_id={a}"),
        )
        .await;
    assert_eq!(of_a["items"].as_array().map(Vec::len), Some(1));
    let audited: i64 =
        s.db.query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'kanban_card.moved'",
            &[],
        )
        .await
        .expect("audit")
        .get(0);
    assert_eq!(audited, 2);

    // Bad input: a limit of 0, a state a purchase order never has, a state two columns
    // would stand for, a column of another board, a free card without a title.
    let zero = s
        .post(
            &api,
            &format!("/api/v1/kanban/boards/{board_id}/columns"),
            json!({ "name": "Zero", "wip_limit": 0 }),
        )
        .await;
    assert_eq!((zero.status, zero.code()), (422, "validation_failed"));
    let never = s
        .post(
            &api,
            &format!("/api/v1/kanban/boards/{board_id}/columns"),
            json!({ "name": "Odd", "states": [{ "document_type": "purchase_order", "state": "released" }] }),
        )
        .await;
    assert_eq!(never.status, 422, "{:?}", never.body);
    assert_eq!(never.body["errors"][0]["field"], "states[0].state");
    let mapped = json!([{ "document_type": "manufacturing_order", "state": "released" }]);
    let first = s
        .post(
            &api,
            &format!("/api/v1/kanban/boards/{board_id}/columns"),
            json!({ "name": "Released", "states": mapped }),
        )
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let twice = s
        .post(
            &api,
            &format!("/api/v1/kanban/boards/{board_id}/columns"),
            json!({ "name": "Released again", "states": mapped }),
        )
        .await;
    assert_eq!((twice.status, twice.code()), (409, "state_already_mapped"));
    let other = s
        .board(&api, "Line 2", json!([{ "name": "Elsewhere" }]))
        .await;
    let across = s.move_card(&api, &b, &column(&other, "Elsewhere")).await;
    assert_eq!((across.status, across.code()), (404, "column_not_found"));
    let untitled = s.card(&api, &board_id, json!({})).await;
    assert_eq!(untitled.status, 422, "{:?}", untitled.body);
    let busy = s
        .call_as(
            &api,
            &s.owner,
            Method::DELETE,
            &format!("/api/v1/kanban/columns/{doing}"),
            None,
        )
        .await;
    assert_eq!((busy.status, busy.code()), (409, "column_not_empty"));

    // A viewer reads the board and moves nothing.
    let read = s
        .call_as(
            &api,
            &viewer,
            Method::GET,
            &format!("/api/v1/kanban/boards/{board_id}"),
            None,
        )
        .await;
    assert_eq!(read.status, 200);
    let refused = s
        .call_as(
            &api,
            &viewer,
            Method::POST,
            &format!("/api/v1/kanban/cards/{b}/move"),
            Some(json!({ "to_column_id": doing })),
        )
        .await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_moves_racing_for_a_columns_last_free_slot_never_overfill_it() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "raceshop").await;
    for round in 0..3 {
        let board = s
            .board(
                &api,
                &format!("Race {round}"),
                json!([{ "name": "Backlog" }, { "name": "Doing", "wip_limit": 2 }]),
            )
            .await;
        let board_id = id(&board);
        let doing = column(&board, "Doing");
        let sitting = s.free_card(&api, &board_id, "already there").await;
        assert_eq!(s.move_card(&api, &sitting, &doing).await.status, 200);
        let a = s.free_card(&api, &board_id, "a").await;
        let b = s.free_card(&api, &board_id, "b").await;
        let (first, second) =
            futures_util::join!(s.move_card(&api, &a, &doing), s.move_card(&api, &b, &doing));
        let mut outcomes = [
            (first.status, first.code().to_owned()),
            (second.status, second.code().to_owned()),
        ];
        outcomes.sort();
        assert_eq!(
            outcomes,
            [(200, String::new()), (409, "wip_limit_reached".to_owned())],
            "{:?} {:?}",
            first.body,
            second.body
        );
        let held: i64 =
            s.db.query_one(
                "SELECT count(*) FROM kanban_cards WHERE column_id = $1::text::uuid",
                &[&doing],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(held, 2, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cards_follow_their_manufacturing_and_work_orders_even_over_a_full_column() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "mofollow").await;
    let state = |kind: &str, state: &str| json!({ "document_type": kind, "state": state });
    let board = s
        .board(
            &api,
            "Production",
            json!([
                { "name": "Planned", "states": [state("manufacturing_order", "draft"), state("work_order", "draft")] },
                { "name": "Released", "wip_limit": 1,
                  "states": [state("manufacturing_order", "released"), state("work_order", "released")] },
                { "name": "In progress", "states": [state("manufacturing_order", "in_progress"), state("work_order", "in_progress")] },
                { "name": "Done", "states": [state("manufacturing_order", "completed"), state("work_order", "completed"),
                                             state("manufacturing_order", "closed")] },
            ]),
        )
        .await;
    let board_id = id(&board);
    let mo = s.order(&api, "2").await;
    let other = s.order(&api, "1").await;
    let wo = s
        .post(
            &api,
            "/api/v1/production/work-orders",
            json!({ "order_id": mo, "operation": "welding", "target_quantity": "2" }),
        )
        .await;
    assert_eq!(wo.status, 201, "{:?}", wo.body);
    let wo = id(&wo.body);
    let mut made = Vec::new();
    for (kind, document) in [
        ("manufacturing_order", &mo),
        ("work_order", &wo),
        ("manufacturing_order", &other),
    ] {
        let card = s
            .card(
                &api,
                &board_id,
                json!({ "document_type": kind, "document_id": document }),
            )
            .await;
        assert_eq!(card.status, 201, "{:?}", card.body);
        made.push(id(&card.body));
    }
    let (mo_card, wo_card, other_card) = (&made[0], &made[1], &made[2]);
    assert_eq!(s.column_of(&api, &board_id, mo_card).await, "Planned");
    let shown = s
        .get(&api, &format!("/api/v1/kanban/cards/{mo_card}"))
        .await;
    assert_eq!(shown["document"]["state"], "draft");
    assert!(
        shown["document"]["number"]
            .as_str()
            .is_some_and(|n| n.starts_with("MO-"))
    );
    assert_eq!(shown["document"]["label"], "FRAME Frame");
    let twice = s
        .card(
            &api,
            &board_id,
            json!({ "document_type": "manufacturing_order", "document_id": mo }),
        )
        .await;
    assert_eq!((twice.status, twice.code()), (409, "card_exists"));

    // Released: the order's card and its work order's move in the same transaction; the
    // second goes over the column's limit of one (the documents are the truth).
    let released = s
        .post(
            &api,
            &format!("/api/v1/production/orders/{mo}/release"),
            json!({}),
        )
        .await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    assert_eq!(s.column_of(&api, &board_id, mo_card).await, "Released");
    assert_eq!(s.column_of(&api, &board_id, wo_card).await, "Released");
    let shown = s
        .get(&api, &format!("/api/v1/kanban/boards/{board_id}"))
        .await;
    assert_eq!(columns(&shown)[1]["card_count"], 2);
    assert_eq!(columns(&shown)[1]["over_limit"], true);
    // A person cannot add to the over-full column.
    let refused = s
        .move_card(&api, other_card, &column(&board, "Released"))
        .await;
    assert_eq!((refused.status, refused.code()), (409, "wip_limit_reached"));

    // The first day's input runs the order; completing it moves both to Done.
    let input = s
        .post(
            &api,
            &format!("/api/v1/production/work-orders/{wo}/inputs"),
            json!({ "work_date": "2026-12-01", "shift": "A", "operator": "Budi", "good_quantity": "2" }),
        )
        .await;
    assert_eq!(input.status, 201, "{:?}", input.body);
    assert_eq!(s.column_of(&api, &board_id, mo_card).await, "In progress");
    assert_eq!(s.column_of(&api, &board_id, wo_card).await, "In progress");
    let completed = s
        .post(
            &api,
            &format!("/api/v1/production/orders/{mo}/completions"),
            json!({ "quantity": "2" }),
        )
        .await;
    assert_eq!(completed.status, 201, "{:?}", completed.body);
    assert_eq!(s.column_of(&api, &board_id, mo_card).await, "Done");
    assert_eq!(s.column_of(&api, &board_id, wo_card).await, "Done");
    // A state no column stands for (canceled) leaves the card where it is.
    let canceled = s
        .post(
            &api,
            &format!("/api/v1/production/orders/{other}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(canceled.status, 200, "{:?}", canceled.body);
    assert_eq!(s.column_of(&api, &board_id, other_card).await, "Planned");

    // The document moves are recorded with the state that caused them.
    let moves = s
        .get(
            &api,
            &format!("/api/v1/kanban/boards/{board_id}/moves?card_id={mo_card}"),
        )
        .await;
    let trail: Vec<(String, String, String)> = moves["items"]
        .as_array()
        .expect("moves")
        .iter()
        .rev()
        .map(|m| {
            let text = |key: &str| m[key].as_str().unwrap_or_default().to_owned();
            (text("cause"), text("document_state"), text("to_column"))
        })
        .collect();
    let expected = [
        ("document", "released", "Released"),
        ("document", "in_progress", "In progress"),
        ("document", "completed", "Done"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(trail, expected);
    let over: i64 =
        s.db.query_one(
            "SELECT count(*) FROM kanban_moves WHERE over_limit AND cause = 'document'",
            &[],
        )
        .await
        .expect("over")
        .get(0);
    assert_eq!(over, 1, "the work order's card went over Released's limit");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_order_card_follows_submission_approval_and_receipt() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "pofollow").await;
    let manager = s.user(&api, "mia", &["manager"]).await;
    let rules = s
        .call_as(
            &api,
            &s.owner,
            Method::PUT,
            "/api/v1/approvals/rules",
            Some(json!({ "rules": [{ "document_type": "purchase_order", "min_amount": "0", "role": "manager" }] })),
        )
        .await;
    assert_eq!(rules.status, 200, "{:?}", rules.body);
    let state = |name: &str| json!({ "document_type": "purchase_order", "state": name });
    let board = s
        .board(
            &api,
            "Buying",
            json!([
                { "name": "Draft", "states": [state("draft")] },
                { "name": "Waiting", "states": [state("submitted")] },
                { "name": "Approved", "states": [state("approved")] },
                { "name": "Received", "states": [state("partially_received"), state("received")] },
            ]),
        )
        .await;
    let board_id = id(&board);
    let po = s
        .post(
            &api,
            "/api/v1/purchase-orders",
            json!({ "supplier_id": s.supplier, "warehouse_id": s.warehouse,
                    "lines": [{ "item_id": s.tube, "quantity": "10", "unit_price": "2" }] }),
        )
        .await;
    assert_eq!(po.status, 201, "{:?}", po.body);
    let po = id(&po.body);
    let card = s
        .card(
            &api,
            &board_id,
            json!({ "document_type": "purchase_order", "document_id": po }),
        )
        .await;
    assert_eq!(card.status, 201, "{:?}", card.body);
    assert_eq!(card.body["document"]["label"], "Tube Supplier");
    let card = id(&card.body);
    assert_eq!(s.column_of(&api, &board_id, &card).await, "Draft");

    let submitted = s
        .post(
            &api,
            &format!("/api/v1/purchase-orders/{po}/submit"),
            json!({}),
        )
        .await;
    assert_eq!(
        submitted.body["status"], "submitted",
        "{:?}",
        submitted.body
    );
    assert_eq!(s.column_of(&api, &board_id, &card).await, "Waiting");
    let approval = submitted.body["approval_id"].as_str().expect("approval");
    let approved = s
        .call_as(
            &api,
            &manager,
            Method::POST,
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(s.column_of(&api, &board_id, &card).await, "Approved");
    let received = s
        .post(
            &api,
            &format!("/api/v1/purchase-orders/{po}/receipts"),
            json!({ "lines": [{ "line": 1, "quantity": "4", "location_id": s.shelf }] }),
        )
        .await;
    assert_eq!(received.status, 201, "{:?}", received.body);
    assert_eq!(s.column_of(&api, &board_id, &card).await, "Received");
    let moves = s
        .get(&api, &format!("/api/v1/kanban/boards/{board_id}/moves"))
        .await;
    let states: Vec<&str> = moves["items"]
        .as_array()
        .expect("moves")
        .iter()
        .rev()
        .map(|m| m["document_state"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(states, ["submitted", "approved", "partially_received"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_board_page_moves_a_card_by_its_form_and_shows_a_full_column_as_a_message() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "kanpage").await;
    s.user(&api, "sam", &["staff"]).await;
    s.user(&api, "vic", &["viewer"]).await;
    let mut staff = PortalClient::for_app(&api.app.tenant_runtime_url, &s.slug);
    staff
        .sign_in(&format!("sam@{}.example", s.slug), OWNER_PASSWORD)
        .await;
    let list = staff.get("/kanban").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("href=\"/kanban\""), "in the navigation");
    let made = staff
        .post(
            "/kanban",
            &[
                ("name", "Shop floor"),
                ("columns", "Backlog\nDoing | 1\nDone"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let board = made.location().expect("the board's page").to_owned();
    let mo = s.order(&api, "1").await;
    let number: String =
        s.db.query_one(
            "SELECT number FROM manufacturing_orders WHERE id = $1::text::uuid",
            &[&mo],
        )
        .await
        .expect("number")
        .get(0);
    for (number, title) in [(number.as_str(), ""), ("", "sweep the floor")] {
        let added = staff
            .post(
                &format!("{board}/cards"),
                &[("number", number), ("title", title), ("column_id", "")],
            )
            .await;
        assert_eq!(added.status, 303, "{}", added.body);
    }
    let page = staff.get(&board).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("data-row=\"{number}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains("FRAME Frame"), "the card shows its item");
    assert!(
        page.body.contains("href=\"/production/orders/"),
        "and links to its order"
    );
    assert!(page.body.contains("data-action=\"move\""));
    assert!(page.body.contains("/assets/kanban.js"));

    let id_of = |sql: &str| {
        let sql = sql.to_owned();
        let db = &s.db;
        async move {
            db.query_one(&sql, &[])
                .await
                .expect("id")
                .get::<_, Uuid>(0)
                .to_string()
        }
    };
    let doing = id_of("SELECT id FROM kanban_columns WHERE name = 'Doing'").await;
    let order_card = id_of("SELECT id FROM kanban_cards WHERE document_id IS NOT NULL").await;
    let free_card = id_of("SELECT id FROM kanban_cards WHERE title = 'sweep the floor'").await;
    let moved = staff
        .post(
            &format!("/kanban/cards/{order_card}/move"),
            &[("to_column_id", doing.as_str()), ("position", "")],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    let full = staff
        .post(
            &format!("/kanban/cards/{free_card}/move"),
            &[("to_column_id", doing.as_str()), ("position", "")],
        )
        .await;
    assert_eq!(full.status, 409, "{}", full.body);
    assert!(full.body.contains("class=\"form-error\""), "{}", full.body);
    assert!(full.body.contains("its WIP limit is 1"), "{}", full.body);
    assert!(full.body.contains("data-wip=\"1/1\""), "{}", full.body);
    assert!(full.body.contains("kanban-full"), "a full column is marked");

    // A viewer sees the board without any move control, and a forged move is refused.
    let mut viewer = PortalClient::for_app(&api.app.tenant_runtime_url, &s.slug);
    viewer
        .sign_in(&format!("vic@{}.example", s.slug), OWNER_PASSWORD)
        .await;
    let read = viewer.get(&board).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(!read.body.contains("data-action=\"move\""));
    assert!(!read.body.contains("data-draggable"));
    assert!(!read.body.contains("data-action=\"add-card\""));
    let forged = viewer
        .post(
            &format!("/kanban/cards/{free_card}/move"),
            &[("to_column_id", doing.as_str())],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
}

/// A browser pointed at the company's own host on the runtime.
async fn browser_for(api: &AdminApi, slug: &str) -> Browser {
    let port = api.app.tenant_runtime_url.rsplit(':').next().expect("port");
    Browser::start(&format!("http://{slug}.localhost:{port}")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_browser_a_card_is_dragged_to_another_column_and_another_moved_by_keyboard() {
    use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
    use fantoccini::key::Key;
    use std::time::Duration;

    let api = AdminApi::start().await;
    api.register_primary().await;
    let s = shop(&api, "kanbrowse").await;
    s.user(&api, "sam", &["staff"]).await;
    let board = s
        .board(
            &api,
            "Welding",
            json!([{ "name": "Backlog" }, { "name": "Doing", "wip_limit": 2 }, { "name": "Done" }]),
        )
        .await;
    let board_id = id(&board);
    let dragged = s.free_card(&api, &board_id, "weld frame 1").await;
    let keyed = s.free_card(&api, &board_id, "weld frame 2").await;

    let browser = browser_for(&api, &s.slug).await;
    browser.open("/").await;
    browser.wait_for_text("h1", "Sign in").await;
    browser
        .fill("email", &format!("sam@{}.example", s.slug))
        .await;
    browser.fill("password", OWNER_PASSWORD).await;
    browser.click_action("sign-in").await;
    browser.wait_for("nav a[href=\"/kanban\"]").await;
    browser.open(&format!("/kanban/boards/{board_id}")).await;
    browser.wait_for_text("h1", "Welding").await;

    // Drag the first card by its text onto the Done column.
    let card = browser
        .wait_for(&format!("[data-card=\"{dragged}\"] .kanban-card-label"))
        .await;
    let target = browser
        .wait_for(&format!(
            "[data-column=\"{}\"] .kanban-cards",
            column(&board, "Done")
        ))
        .await;
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: card,
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveBy {
            duration: Some(Duration::from_millis(100)),
            x: 20.0,
            y: 5.0,
        })
        .then(PointerAction::MoveToElement {
            element: target,
            duration: Some(Duration::from_millis(300)),
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    browser
        .client()
        .perform_actions(drag)
        .await
        .expect("the drag is performed");
    browser.wait_for_text(".flash", "Moved to Done").await;
    browser
        .wait_for(&format!(
            "[data-column=\"{}\"] [data-card=\"{dragged}\"]",
            column(&board, "Done")
        ))
        .await;

    // The second by keyboard only: its "Move to…" list, then the Move button.
    let select = browser.wait_for(&format!("#move-{keyed}")).await;
    select
        .send_keys(&Key::Down.to_string())
        .await
        .expect("a column chosen");
    let chosen = select
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert_eq!(chosen, column(&board, "Doing"));
    select
        .send_keys(&Key::Tab.to_string())
        .await
        .expect("to the button");
    browser
        .client()
        .active_element()
        .await
        .expect("focused")
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("pressed");
    browser.wait_for_text(".flash", "Moved to Doing").await;
    browser
        .wait_for(&format!(
            "[data-column=\"{}\"] [data-card=\"{keyed}\"]",
            column(&board, "Doing")
        ))
        .await;
    assert_eq!(
        browser
            .text(&format!(
                "[data-column=\"{}\"] .kanban-wip",
                column(&board, "Doing")
            ))
            .await,
        "1 / 2"
    );
    browser.screenshot("erp-kanban").await;
    browser.close().await;

    let moves: i64 =
        s.db.query_one(
            "SELECT count(*) FROM kanban_moves WHERE cause = 'user'",
            &[],
        )
        .await
        .expect("moves")
        .get(0);
    assert_eq!(moves, 2);
}

//! ERP master data through the tenant API: units, categories, items (validation, search,
//! filters, keyset paging), partners with addresses, warehouses with their locations, who
//! may read and write, and the plan's `master_data` module.

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::AdminApi;
use system_tests::admin::Reply;

/// A signed-in user of company `slug`.
struct Session<'a> {
    api: &'a AdminApi,
    slug: String,
    token: String,
}

impl Session<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.api
            .tenant_call(&self.slug, method, path, Some(&self.token), body)
            .await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }
}

async fn owner<'a>(api: &'a AdminApi, slug: &str) -> (Session<'a>, String) {
    let company = api.company(slug, "starter").await;
    let token = api.owner_token(&company).await;
    let session = Session {
        api,
        slug: slug.to_owned(),
        token,
    };
    (session, company.id)
}

fn field(reply: &Reply) -> &str {
    reply.body["errors"][0]["field"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn items_are_validated_kept_verbatim_and_changed_with_an_audit_trail() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let (acme, tenant_id) = owner(&api, "acme").await;

    let units = acme.get("/api/v1/units").await;
    assert_eq!(units.status, 200, "{:?}", units.body);
    assert!(
        units
            .body
            .as_array()
            .expect("units")
            .iter()
            .any(|u| u["code"] == "pcs")
    );
    let dozen = acme
        .post("/api/v1/units", json!({"code": "dz", "name": "Dozens"}))
        .await;
    assert_eq!(dozen.status, 201, "{:?}", dozen.body);
    let again = acme
        .post("/api/v1/units", json!({"code": "dz", "name": "Dozens"}))
        .await;
    assert_eq!((again.status, again.code()), (409, "unit_taken"));

    let hardware = acme
        .post("/api/v1/categories", json!({"name": "Hardware"}))
        .await;
    assert_eq!(hardware.status, 201, "{:?}", hardware.body);
    let hardware_id = hardware.body["id"].as_str().expect("id").to_owned();
    let bolts = acme
        .post(
            "/api/v1/categories",
            json!({"name": "Bolts", "parent_id": hardware_id}),
        )
        .await;
    assert_eq!(bolts.status, 201, "{:?}", bolts.body);
    let bolts_id = bolts.body["id"].as_str().expect("id").to_owned();
    let same_name = acme
        .post("/api/v1/categories", json!({"name": "HARDWARE"}))
        .await;
    assert_eq!(
        (same_name.status, same_name.code()),
        (409, "category_name_taken")
    );
    let looped = acme
        .patch(
            &format!("/api/v1/categories/{hardware_id}"),
            json!({"parent_id": bolts_id}),
        )
        .await;
    assert_eq!((looped.status, field(&looped)), (422, "parent_id"));

    let html = "<script>alert('x')</script> & \"quotes\"";
    let bolt = json!({
        "sku": "BOLT-M8", "name": html, "description": "<b>bold</b>\nline two",
        "kind": "raw", "base_unit": "pcs", "category_id": bolts_id,
        "reorder_point": "100", "standard_cost": "0.125",
        "units": [{"unit": "box", "factor": "12"}]
    });
    let created = acme.post("/api/v1/items", bolt.clone()).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["name"], html, "HTML is stored as typed");
    assert_eq!(created.body["description"], "<b>bold</b>\nline two");
    assert_eq!(created.body["standard_cost"], "0.125");
    assert_eq!(
        created.body["units"],
        json!([{"unit": "box", "factor": "12"}])
    );
    let id = created.body["id"].as_str().expect("id").to_owned();
    let shown = acme.get(&format!("/api/v1/items/{id}")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["name"], html);
    assert!(
        shown
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "JSON stays JSON"
    );

    let mut duplicate = bolt.clone();
    duplicate["sku"] = json!("bolt-m8");
    let taken = acme.post("/api/v1/items", duplicate).await;
    assert_eq!(
        (taken.status, taken.code()),
        (409, "sku_taken"),
        "SKUs ignore case"
    );

    let racer = |sku: &'static str| {
        let mut item = bolt.clone();
        item["sku"] = json!(sku);
        acme.post("/api/v1/items", item)
    };
    let (first, second) = futures_util::join!(racer("RACE-1"), racer("race-1"));
    let mut statuses = [first.status, second.status];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 409],
        "two creates of one SKU at once: exactly one wins"
    );

    let bad = |change: Value| {
        let mut item = bolt.clone();
        item["sku"] = json!("OTHER-1");
        for (key, value) in change.as_object().expect("object") {
            item[key] = value.clone();
        }
        item
    };
    for (change, expected) in [
        (json!({"base_unit": "parsec"}), "base_unit"),
        (json!({"units": [{"unit": "box", "factor": "0"}]}), "units"),
        (json!({"units": [{"unit": "box", "factor": "-2"}]}), "units"),
        (json!({"units": [{"unit": "pcs", "factor": "1"}]}), "units"),
        (
            json!({"units": [{"unit": "parsec", "factor": "2"}]}),
            "units",
        ),
        (
            json!({"category_id": "00000000-0000-7000-8000-000000000000"}),
            "category_id",
        ),
        (json!({"standard_cost": "-1"}), "standard_cost"),
        (json!({"sku": "-starts-with-dash"}), "sku"),
        (json!({"name": "   "}), "name"),
    ] {
        let reply = acme.post("/api/v1/items", bad(change.clone())).await;
        assert_eq!(
            (reply.status, field(&reply)),
            (422, expected),
            "{change}: {:?}",
            reply.body
        );
    }
    let unknown_kind = acme
        .post("/api/v1/items", bad(json!({"kind": "magic"})))
        .await;
    assert_eq!(unknown_kind.status, 422);

    let changed = acme
        .patch(
            &format!("/api/v1/items/{id}"),
            json!({"units": [{"unit": "kg", "factor": "0.5"}, {"unit": "dz", "factor": "12"}],
                   "category_id": null, "active": false}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(
        changed.body["units"],
        json!([{"unit": "dz", "factor": "12"}, {"unit": "kg", "factor": "0.5"}]),
        "the conversions are replaced as a set"
    );
    assert_eq!(changed.body["category_id"], Value::Null);
    assert_eq!(changed.body["active"], false);
    let zero = acme
        .patch(
            &format!("/api/v1/items/{id}"),
            json!({"units": [{"unit": "box", "factor": "0"}]}),
        )
        .await;
    assert_eq!((zero.status, field(&zero)), (422, "units"));
    let kept = acme.get(&format!("/api/v1/items/{id}")).await;
    assert_eq!(
        kept.body["units"], changed.body["units"],
        "a refused change loses nothing"
    );
    let missing = acme
        .patch(
            "/api/v1/items/00000000-0000-7000-8000-000000000000",
            json!({"active": true}),
        )
        .await;
    assert_eq!((missing.status, missing.code()), (404, "item_not_found"));

    let tenant_db = api.tenant_db(&tenant_id).await;
    let actions: Vec<String> = tenant_db
        .query("SELECT action FROM audit_log ORDER BY id", &[])
        .await
        .expect("audit")
        .iter()
        .map(|row| row.get(0))
        .collect();
    for action in [
        "unit.created",
        "category.created",
        "item.created",
        "item.updated",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing from {actions:?}"
        );
    }
    let item_entries = actions.iter().filter(|a| a.starts_with("item.")).count();
    assert_eq!(
        item_entries, 3,
        "refused writes leave no entry: {actions:?}"
    );
}

#[tokio::test]
async fn items_are_searched_filtered_and_paged_by_sku() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let (acme, _) = owner(&api, "acme").await;
    let paint = acme
        .post("/api/v1/categories", json!({"name": "Paint"}))
        .await;
    let paint_id = paint.body["id"].as_str().expect("id").to_owned();
    for n in 1..=7 {
        let kind = if n % 2 == 0 { "finished" } else { "raw" };
        let category = if n <= 2 { json!(paint_id) } else { Value::Null };
        let sku = if n == 4 {
            "sku-04".to_owned()
        } else {
            format!("SKU-{n:02}")
        };
        let reply = acme
            .post(
                "/api/v1/items",
                json!({"sku": sku, "name": format!("Widget {n}"), "kind": kind,
                       "base_unit": "pcs", "category_id": category, "active": n != 7}),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    acme.post(
        "/api/v1/items",
        json!({"sku": "ZZ-1", "name": "Blue paint", "kind": "raw", "base_unit": "l"}),
    )
    .await;

    let mut seen = Vec::new();
    let mut path = "/api/v1/items?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = acme.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        pages += 1;
        for item in page.body["items"].as_array().expect("items") {
            seen.push(item["sku"].as_str().expect("sku").to_owned());
        }
        match page.body["next"].as_str() {
            Some(next) => path = format!("/api/v1/items?limit=3&after={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        [
            "SKU-01", "SKU-02", "SKU-03", "sku-04", "SKU-05", "SKU-06", "SKU-07", "ZZ-1"
        ],
        "ordered by SKU whatever its case, each once"
    );

    let skus = |reply: &Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| item["sku"].as_str().expect("sku").to_owned())
            .collect()
    };
    let by_name = acme.get("/api/v1/items?q=PAINT").await;
    assert_eq!(skus(&by_name), ["ZZ-1"]);
    let by_sku = acme.get("/api/v1/items?q=sku-0").await;
    assert_eq!(skus(&by_sku).len(), 7);
    let finished = acme.get("/api/v1/items?kind=finished").await;
    assert_eq!(skus(&finished), ["SKU-02", "sku-04", "SKU-06"]);
    let in_paint = acme
        .get(&format!("/api/v1/items?category_id={paint_id}"))
        .await;
    assert_eq!(skus(&in_paint), ["SKU-01", "SKU-02"]);
    let inactive = acme.get("/api/v1/items?active=false").await;
    assert_eq!(skus(&inactive), ["SKU-07"]);
    let combined = acme
        .get("/api/v1/items?kind=raw&active=true&q=widget&limit=2")
        .await;
    assert_eq!(skus(&combined), ["SKU-01", "SKU-03"]);
    assert!(combined.body["next"].is_string());

    for bad in [
        "kind=magic",
        "limit=0",
        "limit=201",
        "after=%21%21",
        "active=maybe",
    ] {
        let reply = acme.get(&format!("/api/v1/items?{bad}")).await;
        assert_eq!(reply.status, 422, "{bad}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn partners_warehouses_and_locations() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let (acme, tenant_id) = owner(&api, "acme").await;

    let created = acme
        .post(
            "/api/v1/partners",
            json!({"code": "ACME-SUP", "name": "Acme <Supplies>", "is_supplier": true,
                   "email": "Orders@Acme.example", "payment_terms_days": 45,
                   "addresses": [
                       {"kind": "billing", "line1": "1 Main St", "city": "Lyon",
                        "country": "FR", "is_default": true},
                       {"kind": "shipping", "line1": "Dock 4"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["name"], "Acme <Supplies>");
    assert_eq!(created.body["email"], "orders@acme.example");
    assert_eq!(
        created.body["addresses"]
            .as_array()
            .expect("addresses")
            .len(),
        2
    );
    let partner = created.body["id"].as_str().expect("id").to_owned();
    let customer = acme
        .post(
            "/api/v1/partners",
            json!({"code": "BETA", "name": "Beta", "is_customer": true}),
        )
        .await;
    assert_eq!(customer.status, 201, "{:?}", customer.body);
    assert_eq!(customer.body["payment_terms_days"], 30);

    let neither = acme
        .post(
            "/api/v1/partners",
            json!({"code": "NOBODY", "name": "Nobody"}),
        )
        .await;
    assert_eq!((neither.status, field(&neither)), (422, "is_customer"));
    let bad_email = acme
        .post(
            "/api/v1/partners",
            json!({"code": "X", "name": "X", "is_customer": true, "email": "no at sign"}),
        )
        .await;
    assert_eq!((bad_email.status, field(&bad_email)), (422, "email"));
    let taken = acme
        .post(
            "/api/v1/partners",
            json!({"code": "acme-sup", "name": "Again", "is_customer": true}),
        )
        .await;
    assert_eq!((taken.status, taken.code()), (409, "partner_code_taken"));

    let suppliers = acme.get("/api/v1/partners?role=supplier").await;
    let codes: Vec<&str> = suppliers.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["ACME-SUP"]);
    let customers = acme.get("/api/v1/partners?role=customer&q=bet").await;
    assert_eq!(customers.body["items"][0]["code"], "BETA");

    let changed = acme
        .patch(
            &format!("/api/v1/partners/{partner}"),
            json!({"is_customer": true, "addresses": [{"kind": "shipping", "line1": "Dock 9"}]}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["addresses"][0]["line1"], "Dock 9");
    assert_eq!(
        changed.body["addresses"]
            .as_array()
            .expect("addresses")
            .len(),
        1
    );
    let no_role = acme
        .patch(
            &format!("/api/v1/partners/{partner}"),
            json!({"is_customer": false, "is_supplier": false}),
        )
        .await;
    assert_eq!(no_role.status, 422);

    let warehouse = acme
        .post(
            "/api/v1/warehouses",
            json!({"code": "WH1", "name": "Main warehouse"}),
        )
        .await;
    assert_eq!(warehouse.status, 201, "{:?}", warehouse.body);
    let warehouse_id = warehouse.body["id"].as_str().expect("id").to_owned();
    let locations = acme
        .get(&format!("/api/v1/warehouses/{warehouse_id}/locations"))
        .await;
    assert_eq!(locations.status, 200, "{:?}", locations.body);
    assert_eq!(locations.body.as_array().expect("locations").len(), 1);
    assert_eq!(locations.body[0]["code"], "MAIN");
    assert_eq!(locations.body[0]["kind"], "storage");
    let dock = acme
        .post(
            &format!("/api/v1/warehouses/{warehouse_id}/locations"),
            json!({"code": "DOCK", "name": "Receiving dock", "kind": "receiving"}),
        )
        .await;
    assert_eq!(dock.status, 201, "{:?}", dock.body);
    let dock_id = dock.body["id"].as_str().expect("id").to_owned();
    let dup = acme
        .post(
            &format!("/api/v1/warehouses/{warehouse_id}/locations"),
            json!({"code": "main", "name": "Again"}),
        )
        .await;
    assert_eq!((dup.status, dup.code()), (409, "location_code_taken"));
    let retyped = acme
        .patch(
            &format!("/api/v1/warehouses/{warehouse_id}/locations/{dock_id}"),
            json!({"kind": "quarantine", "active": false}),
        )
        .await;
    assert_eq!(retyped.status, 200, "{:?}", retyped.body);
    assert_eq!(
        (
            retyped.body["kind"].as_str(),
            retyped.body["active"].as_bool()
        ),
        (Some("quarantine"), Some(false))
    );
    let same_code = acme
        .post(
            "/api/v1/warehouses",
            json!({"code": "wh1", "name": "Other"}),
        )
        .await;
    assert_eq!(
        (same_code.status, same_code.code()),
        (409, "warehouse_code_taken")
    );
    let closed = acme
        .patch(
            &format!("/api/v1/warehouses/{warehouse_id}"),
            json!({"active": false}),
        )
        .await;
    assert_eq!(closed.body["active"], false);
    let active = acme.get("/api/v1/warehouses?active=true").await;
    assert_eq!(active.body["items"].as_array().expect("items").len(), 0);

    let tenant_db = api.tenant_db(&tenant_id).await;
    let actions: Vec<String> = tenant_db
        .query("SELECT DISTINCT action FROM audit_log", &[])
        .await
        .expect("audit")
        .iter()
        .map(|row| row.get(0))
        .collect();
    for action in [
        "partner.created",
        "partner.updated",
        "warehouse.created",
        "warehouse.updated",
        "location.created",
        "location.updated",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_viewer_reads_master_data_but_cannot_write_and_a_plan_without_it_refuses_it() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let (acme, _) = owner(&api, "acme").await;
    let invited = acme
        .post(
            "/api/v1/users",
            json!({"email": "vic@acme.example", "roles": ["viewer"]}),
        )
        .await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    let invitation = api.mailed_token("vic@acme.example", "invited").await;
    let set = api
        .set_password("acme", &invitation, "vic's long password")
        .await;
    assert_eq!(set.status, 204, "{:?}", set.body);
    let login = api
        .tenant_login("acme", "vic@acme.example", "vic's long password")
        .await;
    let viewer = Session {
        api: &api,
        slug: "acme".into(),
        token: login.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned(),
    };
    for path in [
        "/api/v1/items",
        "/api/v1/partners",
        "/api/v1/warehouses",
        "/api/v1/units",
        "/api/v1/categories",
        "/api/v1/items/export",
    ] {
        assert_eq!(viewer.get(path).await.status, 200, "{path}");
    }
    for (path, body) in [
        (
            "/api/v1/items",
            json!({"sku": "A", "name": "A", "kind": "raw", "base_unit": "pcs"}),
        ),
        (
            "/api/v1/partners",
            json!({"code": "A", "name": "A", "is_customer": true}),
        ),
        ("/api/v1/warehouses", json!({"code": "A", "name": "A"})),
        ("/api/v1/units", json!({"code": "A", "name": "A"})),
        ("/api/v1/categories", json!({"name": "A"})),
    ] {
        let reply = viewer.post(path, body).await;
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{path}");
    }
    let import = api
        .app
        .client
        .post(format!(
            "{}/api/v1/items/import?mode=all_or_nothing",
            api.app.tenant_runtime_url
        ))
        .header("X-Tenant", "acme")
        .bearer_auth(&viewer.token)
        .header("Content-Type", "text/csv")
        .body("sku\n")
        .send()
        .await
        .expect("sent");
    assert_eq!(import.status(), 403);

    let plan = api
        .post(
            "/api/v1/plans",
            json!({"code": "stock-only", "name": "Stock only",
                   "limits": {"max_users": 10, "max_storage_mb": 1000,
                              "api_requests_per_minute": 6000, "api_calls_per_month": 1_000_000,
                              "max_concurrent_requests": 50, "max_db_connections": 5},
                   "features": ["inventory"]}),
        )
        .await;
    assert_eq!(plan.status, 201, "{:?}", plan.body);
    let company = api.company("plain", "stock-only").await;
    let token = api.owner_token(&company).await;
    for path in [
        "/api/v1/items",
        "/api/v1/partners/export",
        "/api/v1/warehouses",
        "/api/v1/units",
    ] {
        let reply = api
            .tenant_call("plain", Method::GET, path, Some(&token), None)
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (403, "feature_not_in_plan"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_items_pages_list_add_and_edit_with_errors_next_to_their_fields() {
    use system_tests::portal::PortalClient;
    use system_tests::runtime::OWNER_PASSWORD;
    let api = AdminApi::start().await;
    api.register_primary().await;
    let company = api.company("webitems", "starter").await;
    let mut client = PortalClient::for_app(&api.app.tenant_runtime_url, &company.slug);
    client.sign_in(&company.admin_email, OWNER_PASSWORD).await;
    let dashboard = client.get("/").await;
    assert!(
        dashboard.body.contains("href=\"/items\""),
        "Items is in the navigation"
    );

    let name = "<script>alert(1)</script>";
    let fields = |sku: &'static str, name: &'static str, cost: &'static str| {
        vec![
            ("sku", sku),
            ("name", name),
            ("description", ""),
            ("kind", "raw"),
            ("base_unit", "pcs"),
            ("reorder_point", "5"),
            ("standard_cost", cost),
        ]
    };
    let added = client.post("/items", &fields("WEB-1", name, "1.25")).await;
    assert_eq!(added.status, 303, "{}", added.body);
    let list = client.get("/items?q=web").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("data-row=\"WEB-1\""), "{}", list.body);
    assert!(!list.body.contains(name), "HTML in a name is escaped");

    let taken = client.post("/items", &fields("web-1", "Again", "1")).await;
    assert_eq!(taken.status, 422, "{}", taken.body);
    assert!(taken.body.contains("field-invalid"), "{}", taken.body);
    assert!(taken.body.contains("SKUs ignore case"), "{}", taken.body);
    let bad_cost = client.post("/items", &fields("WEB-2", "Two", "lots")).await;
    assert_eq!(bad_cost.status, 422);
    assert!(
        bad_cost.body.contains("a decimal number"),
        "{}",
        bad_cost.body
    );

    let token = api.owner_token(&company).await;
    let found = api
        .tenant_call(
            "webitems",
            Method::GET,
            "/api/v1/items?q=web-1",
            Some(&token),
            None,
        )
        .await;
    let id = found.body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut edit = fields("WEB-1", "Renamed", "-3");
    edit.push(("active", "true"));
    let refused = client.post(&format!("/items/{id}"), &edit).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("must be zero or more"),
        "{}",
        refused.body
    );
    let mut edit = fields("WEB-1", "Renamed", "3");
    edit.push(("active", "false"));
    let saved = client.post(&format!("/items/{id}"), &edit).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let now = api
        .tenant_call(
            "webitems",
            Method::GET,
            &format!("/api/v1/items/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (now.body["name"].as_str(), now.body["active"].as_bool()),
        (Some("Renamed"), Some(false))
    );

    // Conversions, the category and lot tracking are edited in the same form.
    let category = api
        .tenant_call(
            "webitems",
            Method::POST,
            "/api/v1/categories",
            Some(&token),
            Some(serde_json::json!({ "name": "Fasteners" })),
        )
        .await;
    assert_eq!(category.status, 201, "{:?}", category.body);
    let category = category.body["id"].as_str().expect("id").to_owned();
    let page = client.get(&format!("/items/{id}")).await;
    assert!(
        page.body.contains("Fasteners"),
        "the category select offers it"
    );
    let mut edit = fields("WEB-1", "Renamed", "3");
    edit.extend([
        ("active", "true"),
        ("units", "box12"),
        ("category_id", &category),
    ]);
    let bad_units = client.post(&format!("/items/{id}"), &edit).await;
    assert_eq!(bad_units.status, 422, "{}", bad_units.body);
    assert!(
        bad_units.body.contains("is not `unit=factor`"),
        "{}",
        bad_units.body
    );
    assert!(
        bad_units.body.contains("value=\"box12\""),
        "typed value kept"
    );
    let mut edit = fields("WEB-1", "Renamed", "3");
    edit.extend([
        ("active", "true"),
        ("units", "box=12; kg=0.5"),
        ("category_id", &category),
        ("lot_tracked", "true"),
    ]);
    let saved = client.post(&format!("/items/{id}"), &edit).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let now = api
        .tenant_call(
            "webitems",
            Method::GET,
            &format!("/api/v1/items/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(now.body["category_id"].as_str(), Some(category.as_str()));
    assert_eq!(now.body["lot_tracked"], true);
    let units: Vec<(String, String)> = now.body["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| {
            (
                u["unit"].as_str().unwrap_or_default().to_owned(),
                u["factor"].to_string(),
            )
        })
        .collect();
    assert_eq!(units.len(), 2, "{units:?}");
    let page = client.get(&format!("/items/{id}")).await;
    assert!(page.body.contains("1 box = 12 pcs"), "{}", page.body);
}

#[tokio::test]
async fn the_import_page_reports_bad_rows_by_line_and_the_export_downloads() {
    use system_tests::portal::PortalClient;
    use system_tests::runtime::OWNER_PASSWORD;
    let api = AdminApi::start().await;
    api.register_primary().await;
    let company = api.company("webcsv", "starter").await;
    let mut client = PortalClient::for_app(&api.app.tenant_runtime_url, &company.slug);
    client.sign_in(&company.admin_email, OWNER_PASSWORD).await;
    let form = client.get("/items/import").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.csrf();
    let csv = "sku,name,description,kind,base_unit,category,reorder_point,standard_cost,lot_tracked,active,units\n\
               OK-1,Fine,,raw,pcs,,0,0,false,true,\n\
               BAD-1,Bad,,magic,pcs,,0,0,false,true,\n";
    let upload = |mode: &str, csrf: &str| {
        let boundary = "XBOUNDARYX";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\n{mode}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"items.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
        );
        (
            format!("multipart/form-data; boundary={boundary}"),
            body.into_bytes(),
        )
    };
    let (kind, body) = upload("all_or_nothing", "wrong token");
    let forged = client.post_body("/items/import", &kind, body).await;
    assert_eq!(forged.status, 403, "no CSRF token, no import");
    let (kind, body) = upload("all_or_nothing", &csrf);
    let strict = client.post_body("/items/import", &kind, body).await;
    assert_eq!(strict.status, 200, "{}", strict.body);
    assert!(strict.body.contains("Nothing imported"), "{}", strict.body);
    assert!(
        strict.body.contains("data-row=\"3\""),
        "line 3 is named: {}",
        strict.body
    );
    let (kind, body) = upload("valid_rows_only", &csrf);
    let lenient = client.post_body("/items/import", &kind, body).await;
    assert!(
        lenient.body.contains("<dd data-count=\"created\">1</dd>"),
        "{}",
        lenient.body
    );
    let list = client.get("/items").await;
    assert!(list.body.contains("data-row=\"OK-1\""));
    assert!(!list.body.contains("data-row=\"BAD-1\""));

    let export = client.get("/items/export").await;
    assert_eq!(export.status, 200);
    assert!(export.body.contains("OK-1,Fine,"), "{}", export.body);
}

#[tokio::test]
async fn the_partners_and_warehouses_pages_add_edit_and_refuse_with_field_errors() {
    use system_tests::portal::PortalClient;
    use system_tests::runtime::OWNER_PASSWORD;
    let api = AdminApi::start().await;
    api.register_primary().await;
    let company = api.company("webparts", "starter").await;
    let mut client = PortalClient::for_app(&api.app.tenant_runtime_url, &company.slug);
    client.sign_in(&company.admin_email, OWNER_PASSWORD).await;

    let neither = client
        .post(
            "/partners",
            &[
                ("code", "P-1"),
                ("name", "Nobody"),
                ("payment_terms_days", "30"),
            ],
        )
        .await;
    assert_eq!(neither.status, 422, "{}", neither.body);
    assert!(
        neither.body.contains("a customer, a supplier or both"),
        "{}",
        neither.body
    );
    let added = client
        .post(
            "/partners",
            &[
                ("code", "P-1"),
                ("name", "<i>Acme</i>"),
                ("is_supplier", "on"),
                ("email", "a@acme.example"),
                ("payment_terms_days", "45"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let suppliers = client.get("/partners?role=supplier").await;
    assert!(
        suppliers.body.contains("data-row=\"P-1\""),
        "{}",
        suppliers.body
    );
    assert!(
        !suppliers.body.contains("<i>Acme</i>"),
        "HTML in a name is escaped"
    );
    let customers = client.get("/partners?role=customer").await;
    assert!(!customers.body.contains("data-row=\"P-1\""));
    let location = added.location().expect("redirect").to_owned();
    let bad_email = client
        .post(
            &location,
            &[
                ("name", "Acme"),
                ("is_supplier", "on"),
                ("email", "nope"),
                ("payment_terms_days", "45"),
                ("active", "true"),
            ],
        )
        .await;
    assert_eq!(bad_email.status, 422, "{}", bad_email.body);
    assert!(
        bad_email.body.contains("not an email address"),
        "{}",
        bad_email.body
    );

    let warehouse = client
        .post(
            "/warehouses",
            &[("code", "WH-1"), ("name", "North"), ("address", "")],
        )
        .await;
    assert_eq!(warehouse.status, 303, "{}", warehouse.body);
    let page_path = warehouse.location().expect("redirect").to_owned();
    let page = client.get(&page_path).await;
    assert!(page.body.contains("data-row=\"MAIN\""), "{}", page.body);
    let dock = client
        .post(
            &format!("{page_path}/locations"),
            &[("code", "DOCK"), ("name", "Dock"), ("kind", "receiving")],
        )
        .await;
    assert_eq!(dock.status, 303, "{}", dock.body);
    let again = client
        .post(
            &format!("{page_path}/locations"),
            &[("code", "dock"), ("name", "Dock"), ("kind", "receiving")],
        )
        .await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(again.body.contains("field-invalid"), "{}", again.body);
    let list = client.get("/warehouses").await;
    assert!(list.body.contains("data-row=\"WH-1\""));
}

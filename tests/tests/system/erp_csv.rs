//! CSV export and import of items and partners: the export streams a neutralized file
//! that imports back unchanged; bad rows are reported by line in both modes (and
//! `all_or_nothing` applies nothing); a wrong header is named; a file over 50 MB is
//! refused without being read whole; 20,000 rows import in one go.

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::AdminApi;
use system_tests::admin::Reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Owner<'a> {
    api: &'a AdminApi,
    token: String,
}

impl Owner<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.api
            .tenant_call("acme", method, path, Some(&self.token), body)
            .await
    }

    /// `GET` a CSV export: status, headers and text.
    async fn export(&self, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let response = self
            .api
            .app
            .client
            .get(format!("{}{path}", self.api.app.tenant_runtime_url))
            .header("X-Tenant", "acme")
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.expect("text"))
    }

    /// `POST` a CSV body to an import.
    async fn import(&self, path: &str, csv: String) -> Reply {
        let response = self
            .api
            .app
            .client
            .post(format!("{}{path}", self.api.app.tenant_runtime_url))
            .header("X-Tenant", "acme")
            .header("Content-Type", "text/csv")
            .bearer_auth(&self.token)
            .body(csv)
            .send()
            .await
            .expect("sent");
        system_tests::admin::read(response).await
    }

    async fn count(&self, path: &str) -> usize {
        let reply = self.call(Method::GET, path, None).await;
        reply.body["items"].as_array().expect("items").len()
    }
}

async fn acme(api: &AdminApi) -> Owner<'_> {
    let company = api.company("acme", "starter").await;
    let token = api.owner_token(&company).await;
    Owner { api, token }
}

const FORMULA: &str = "=cmd|' /C calc'!A0";

#[tokio::test]
async fn an_export_is_neutralized_streamed_and_imports_back_unchanged() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let owner = acme(&api).await;
    let category = owner
        .call(
            Method::POST,
            "/api/v1/categories",
            Some(json!({"name": "Tools, small"})),
        )
        .await;
    assert_eq!(category.status, 201);
    for (sku, name, description) in [
        ("EVIL-1", FORMULA, "+1"),
        ("PLAIN-2", "Hammer, \"heavy\"", "two\nlines"),
        ("PLAIN-3", "'quoted", "@SUM(A1)"),
    ] {
        let reply = owner
            .call(
                Method::POST,
                "/api/v1/items",
                Some(json!({"sku": sku, "name": name, "description": description,
                            "kind": "finished", "base_unit": "pcs",
                            "category_id": category.body["id"], "standard_cost": "1.5",
                            "units": [{"unit": "box", "factor": "12"}]})),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    owner
        .call(
            Method::POST,
            "/api/v1/partners",
            Some(json!({"code": "P1", "name": "-minus", "is_customer": true, "notes": FORMULA})),
        )
        .await;

    let (status, headers, items_csv) = owner.export("/api/v1/items/export").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        headers["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment"),
        "a download"
    );
    let mut lines = items_csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "sku,name,description,kind,base_unit,category,reorder_point,standard_cost,lot_tracked,active,units"
        )
    );
    assert_eq!(
        lines.next(),
        Some(
            "EVIL-1,'=cmd|' /C calc'!A0,'+1,finished,pcs,\"Tools, small\",0,1.5,false,true,box=12"
        ),
        "the formula opens as text"
    );
    assert!(items_csv.contains(",'@SUM(A1),"), "{items_csv}");
    assert!(items_csv.contains("''quoted"), "{items_csv}");
    assert!(!items_csv.lines().any(|line| line.starts_with('=')));

    let again = owner
        .import(
            "/api/v1/items/import?mode=all_or_nothing",
            items_csv.clone(),
        )
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(
        (
            &again.body["rows"],
            &again.body["created"],
            &again.body["updated"],
            &again.body["unchanged"],
            &again.body["applied"]
        ),
        (&json!(3), &json!(0), &json!(0), &json!(3), &json!(true)),
        "importing the export changes nothing: {:?}",
        again.body
    );
    let evil = owner.call(Method::GET, "/api/v1/items?q=evil", None).await;
    assert_eq!(
        evil.body["items"][0]["name"], FORMULA,
        "the value itself never changes"
    );
    let (_, _, second) = owner.export("/api/v1/items/export").await;
    assert_eq!(second, items_csv);

    let (status, _, partners_csv) = owner.export("/api/v1/partners/export").await;
    assert_eq!(status, 200);
    assert!(
        partners_csv.contains("P1,'-minus,true,false,"),
        "{partners_csv}"
    );
    assert!(
        partners_csv.contains(",'=cmd|' /C calc'!A0,"),
        "{partners_csv}"
    );
    let back = owner
        .import("/api/v1/partners/import?mode=valid_rows_only", partners_csv)
        .await;
    assert_eq!(
        (&back.body["unchanged"], &back.body["rejected"]),
        (&json!(1), &json!(0)),
        "{:?}",
        back.body
    );

    // An edited export: a changed name updates, a new row creates (columns reordered too).
    let edited = "name,sku,description,kind,base_unit,category,reorder_point,standard_cost,lot_tracked,active,units\n\
                  Renamed,plain-2,,finished,pcs,,0,0,false,true,\n\
                  Brand new,NEW-9,,service,pcs,tools, SMALL,5,2,false,true,box=6;kg=0.25\n";
    let edited = edited.replace("tools, SMALL", "\"tools, SMALL\"");
    let report = owner
        .import("/api/v1/items/import?mode=all_or_nothing", edited)
        .await;
    assert_eq!(
        (
            &report.body["created"],
            &report.body["updated"],
            &report.body["applied"]
        ),
        (&json!(1), &json!(1), &json!(true)),
        "{:?}",
        report.body
    );
    let new = owner.call(Method::GET, "/api/v1/items?q=new-9", None).await;
    assert_eq!(
        new.body["items"][0]["units"],
        json!([{"unit": "box", "factor": "6"}, {"unit": "kg", "factor": "0.25"}])
    );
    assert_eq!(new.body["items"][0]["category_id"], category.body["id"]);
}

#[tokio::test]
async fn bad_rows_are_reported_by_line_and_all_or_nothing_applies_nothing() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let owner = acme(&api).await;
    let header = "sku,name,description,kind,base_unit,category,reorder_point,standard_cost,lot_tracked,active,units";
    let csv = format!(
        "{header}\n\
         GOOD-1,Good,,raw,pcs,,0,0,false,true,\n\
         BAD-KIND,Bad,,magic,pcs,,0,0,false,true,\n\
         GOOD-2,Good two,\"a description\non two lines\",raw,pcs,,0,0,false,true,box=12\n\
         BAD-UNIT,Bad unit,,raw,parsec,,0,0,false,true,\n\
         BAD-FACTOR,Bad factor,,raw,pcs,,0,0,false,true,box=0\n\
         short,row\n\
         BAD-CAT,Bad category,,raw,pcs,Nowhere,0,0,false,true,\n"
    );
    let strict = owner
        .import("/api/v1/items/import?mode=all_or_nothing", csv.clone())
        .await;
    assert_eq!(strict.status, 200, "{:?}", strict.body);
    assert_eq!(strict.body["applied"], false);
    assert_eq!(strict.body["rows"], 7);
    assert_eq!(strict.body["rejected"], 5);
    let errors: Vec<(u64, String)> = strict.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["column"].as_str().expect("column").to_owned(),
            )
        })
        .collect();
    let expected = [
        (3, "kind"),
        (6, "base_unit"),
        (7, "units"),
        (8, ""),
        (9, "category"),
    ];
    let expected: Vec<(u64, String)> = expected
        .iter()
        .map(|(l, c)| (*l, (*c).to_owned()))
        .collect();
    assert_eq!(
        errors, expected,
        "lines as a spreadsheet numbers them: {:?}",
        strict.body
    );
    assert_eq!(
        owner.count("/api/v1/items").await,
        0,
        "all or nothing: nothing"
    );

    let lenient = owner
        .import("/api/v1/items/import?mode=valid_rows_only", csv)
        .await;
    assert_eq!(lenient.body["applied"], true);
    assert_eq!(
        (&lenient.body["created"], &lenient.body["rejected"]),
        (&json!(2), &json!(5))
    );
    assert_eq!(lenient.body["errors"].as_array().expect("errors").len(), 5);
    assert_eq!(owner.count("/api/v1/items").await, 2);

    let wrong = owner
        .import(
            "/api/v1/items/import?mode=valid_rows_only",
            "sku,name,colour\nA,B,red\n".to_owned(),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (422, "csv_header_invalid"),
        "{:?}",
        wrong.body
    );
    let detail = wrong.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("kind") && detail.contains("colour"),
        "{detail}"
    );
    let no_mode = owner
        .import("/api/v1/items/import", format!("{header}\n"))
        .await;
    assert_eq!(no_mode.status, 422);

    let partners = "code,name,is_customer,is_supplier,email,phone,tax_id,payment_terms_days,notes,active\n\
                    C1,Customer,true,false,,,,30,,true\n\
                    N1,Neither,false,false,,,,30,,true\n\
                    E1,Bad email,true,false,nope,,,30,,true\n\
                    T1,Bad terms,true,false,,,,400,,true\n";
    let report = owner
        .import(
            "/api/v1/partners/import?mode=all_or_nothing",
            partners.to_owned(),
        )
        .await;
    let lines: Vec<u64> = report.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, [3, 4, 5], "{:?}", report.body);
    assert_eq!(report.body["applied"], false);
    assert_eq!(owner.count("/api/v1/partners").await, 0);
}

#[tokio::test]
async fn a_file_over_50_mb_is_refused_and_20_000_rows_import_in_one_go() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let owner = acme(&api).await;

    let reply = send_generated(&api, &owner.token, 51 * 1024 * 1024).await;
    assert!(
        reply.starts_with("HTTP/1.1 413"),
        "refused: {}",
        reply.lines().next().unwrap_or_default()
    );
    assert!(reply.contains("payload_too_large"), "{reply}");
    assert_eq!(owner.count("/api/v1/items").await, 0);

    let mut csv = String::from(
        "sku,name,description,kind,base_unit,category,reorder_point,standard_cost,lot_tracked,active,units\n",
    );
    for n in 0..20_000 {
        csv.push_str(&format!(
            "BULK-{n:05},Bulk item {n},,raw,pcs,,1,0.5,false,true,box=10\n"
        ));
    }
    let report = owner
        .import("/api/v1/items/import?mode=all_or_nothing", csv)
        .await;
    assert_eq!(report.status, 200, "{:?}", report.body);
    assert_eq!(
        (&report.body["created"], &report.body["applied"]),
        (&json!(20_000), &json!(true))
    );
    let (status, _, export) = owner.export("/api/v1/items/export").await;
    assert_eq!(status, 200);
    assert_eq!(
        export.lines().count(),
        20_001,
        "streamed in batches, every row once"
    );
    let page = owner
        .call(Method::GET, "/api/v1/items?limit=200&q=bulk-1999", None)
        .await; // BULK-19990 to BULK-19999
    assert_eq!(page.body["items"].as_array().expect("items").len(), 10);
}

/// Streams a chunked CSV upload of `total` bytes, generated 64 KiB at a time (never held
/// whole), and returns the raw HTTP answer. Stops writing when the server stops reading.
async fn send_generated(api: &AdminApi, token: &str, total: usize) -> String {
    let address = api
        .app
        .tenant_runtime_url
        .strip_prefix("http://")
        .expect("http");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/items/import?mode=all_or_nothing HTTP/1.1\r\nHost: {address}\r\n\
         X-Tenant: acme\r\nAuthorization: Bearer {token}\r\nContent-Type: text/csv\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let row = "FILL,Filler row,,raw,pcs,,0,0,false,true,\n";
    let mut chunk = String::from(
        "sku,name,description,kind,base_unit,category,reorder_point,standard_cost,lot_tracked,active,units\n",
    );
    while chunk.len() < 64 * 1024 {
        chunk.push_str(row);
    }
    let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
    let mut sent = 0;
    while sent < total {
        if stream.write_all(framed.as_bytes()).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

//! Screenshots of the portal's other main pages (plans, database servers, audit log) for
//! reviewers and the README; the dashboard, tenants and a tenant are taken where a tenant
//! is created (`tenants.rs`).

use super::helpers::Portal;

#[tokio::test]
async fn the_plans_servers_and_audit_pages_are_captured() {
    let portal = Portal::signed_in().await;
    let browser = &portal.browser;
    for (path, heading, table, name) in [
        ("/plans", "Plans", "plans", "plans"),
        ("/servers", "Database servers", "servers", "servers"),
        ("/audit", "Audit log", "audit", "audit"),
    ] {
        browser.open(path).await;
        browser.wait_for_text("h1", heading).await;
        browser.wait_for(&format!("[data-table=\"{table}\"]")).await;
        browser.screenshot(name).await;
    }
    portal.finish().await;
}

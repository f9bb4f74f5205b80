//! One helper per thing an admin does in the portal, and a plain-HTTP client holding the
//! browser's session for the requests the tests forge (a wrong CSRF token, say).

use serde_json::json;
use system_tests::admin::STAFF_PASSWORD;
use system_tests::app::{ADMIN_EMAIL, ADMIN_PASSWORD};
use system_tests::{AdminApi, Browser, PortalClient};

/// The session cookie the portal sets.
pub const SESSION_COOKIE: &str = "__Host-portal";

/// A running platform (its owner's API token at hand) and a browser pointed at its portal.
pub struct Portal {
    pub api: AdminApi,
    pub browser: Browser,
}

impl Portal {
    /// A platform with the primary server registered, and a browser not yet signed in.
    pub async fn start() -> Portal {
        let api = AdminApi::start().await;
        api.register_primary().await;
        let browser = Browser::start(&api.app.control_plane_url).await;
        Portal { api, browser }
    }

    /// [`Portal::start`], signed in as the bootstrap owner (on the dashboard).
    pub async fn signed_in() -> Portal {
        let portal = Portal::start().await;
        sign_in_as_owner(&portal.browser).await;
        portal
    }

    /// Closes the browser; the platform stops (and its tenants are dropped) as `api` drops.
    pub async fn finish(self) {
        self.browser.close().await;
    }
}

/// Types `email` and `password` into the sign-in page and submits it.
pub async fn sign_in(browser: &Browser, email: &str, password: &str) {
    browser.open("/sign-in").await;
    submit_password(browser, email, password).await;
}

/// Fills and submits the password form already shown (e.g. after a redirect to it).
pub async fn submit_password(browser: &Browser, email: &str, password: &str) {
    browser.wait_for_text("h1", "Sign in").await;
    browser.fill("email", email).await;
    browser.fill("password", password).await;
    browser.click_action("sign-in").await;
}

/// Signs in as the bootstrap owner and waits for the dashboard.
pub async fn sign_in_as_owner(browser: &Browser) {
    sign_in(browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.wait_for_text("h1", "Dashboard").await;
}

/// Clicks "Sign out" in the top bar and waits for the sign-in page.
pub async fn sign_out(browser: &Browser) {
    browser.click_action("sign-out").await;
    browser.wait_for_text("h1", "Sign in").await;
}

/// Creates an admin with `role` through the API; returns the email to sign in with
/// ([`STAFF_PASSWORD`]).
pub async fn staff_admin(api: &AdminApi, role: &str) -> String {
    let email = format!("{role}-{}@tests.example", uuid::Uuid::new_v4().simple());
    let created = api
        .post(
            "/api/v1/admins",
            json!({ "email": email, "password": STAFF_PASSWORD, "role": role }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    email
}

/// Opens a tenant's page and waits for its status panel.
pub async fn open_tenant(browser: &Browser, id: &str) {
    browser.open(&format!("/tenants/{id}")).await;
    browser.wait_for("#tenant-status").await;
}

/// What the "New tenant" form asks for.
pub struct NewTenant<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub plan: &'a str,
    pub admin_email: &'a str,
}

/// Opens "New tenant" and fills the form, without submitting it.
pub async fn fill_new_tenant(browser: &Browser, tenant: &NewTenant<'_>) {
    browser.open("/tenants/new").await;
    browser.wait_for_text("h1", "New tenant").await;
    browser.fill("slug", tenant.slug).await;
    browser.fill("name", tenant.name).await;
    browser.fill("plan", tenant.plan).await;
    browser.fill("admin_email", tenant.admin_email).await;
}

/// Fills "New tenant", submits it and waits for the new tenant's page.
pub async fn create_tenant(browser: &Browser, tenant: &NewTenant<'_>) {
    fill_new_tenant(browser, tenant).await;
    browser.click_action("create").await;
    browser.wait_for_text("h1", tenant.name).await;
    browser.wait_for("#tenant-status").await;
}

/// On a tenant's page: "Suspend", a reason in the confirmation, confirmed.
pub async fn suspend(browser: &Browser, reason: &str) {
    browser.click_action("suspend").await;
    browser.fill("reason", reason).await;
    browser.click_action("confirm-suspend").await;
    browser.wait_for_text(".flash-success", "suspended").await;
}

/// On a tenant's page: "Rename or change plan", another plan chosen, saved.
pub async fn change_plan(browser: &Browser, plan: &str) {
    browser.click_action("edit").await;
    browser.fill("plan", plan).await;
    browser.click_action("save").await;
    browser.wait_for_text(".flash-success", "saved").await;
}

/// On a tenant's page: "Impersonate a user" with a reason, up to the button that opens
/// the tenant's app.
pub async fn start_impersonating(browser: &Browser, reason: &str) {
    browser.click_action("impersonate").await;
    browser.fill("reason", reason).await;
    browser.click_action("impersonate-start").await;
    browser.wait_for("[data-action=\"open-app\"]").await;
}

/// The browser's session cookie (HttpOnly: scripts cannot read it, WebDriver can).
pub async fn session_cookie(browser: &Browser) -> String {
    let cookie = browser
        .client()
        .get_named_cookie(SESSION_COOKIE)
        .await
        .expect("the session cookie is set");
    cookie.value().to_owned()
}

/// The page's CSRF token, as its forms carry it.
pub async fn csrf_token(browser: &Browser) -> String {
    let meta = browser.wait_for("meta[name=\"csrf-token\"]").await;
    meta.attr("content")
        .await
        .expect("attr")
        .unwrap_or_default()
}

/// A plain-HTTP client of the portal holding the browser's session, to forge forms.
pub async fn forger(portal: &Portal) -> PortalClient {
    let mut client = PortalClient::new(&portal.api.app.control_plane_url);
    client.session = Some(session_cookie(&portal.browser).await);
    client
}

/// A tenant's fields as the admin API reads them.
pub async fn tenant(api: &AdminApi, id: &str) -> serde_json::Value {
    let reply = api.get(&format!("/api/v1/tenants/{id}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

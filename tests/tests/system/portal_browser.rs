//! The admin portal in a real browser (headless Chromium through WebDriver).

use system_tests::{Browser, spawn_app};

#[tokio::test]
async fn the_harness_drives_chromium_through_the_swagger_ui() {
    let app = spawn_app().await;
    let browser = Browser::start(&app.control_plane_url).await;
    browser.open("/docs/").await;
    browser
        .wait_for_text(".swagger-ui .info .title", "control")
        .await;
    browser.screenshot("swagger-ui").await;
    browser.close().await;
    app.stop().await.expect("clean stop");
}

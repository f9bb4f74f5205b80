//! A real browser for the web pages' tests: headless Chromium driven through WebDriver
//! (`chromedriver`, Debian's `chromium-driver`) with fantoccini, and one helper per thing a
//! person does on a page (open, fill, click an action, wait for what they wait for).
//!
//! One `chromedriver` per test process, started on first use on a port it picks itself.
//! It runs under a small `sh` watchdog, leader of its own process group, that reads our end
//! of a pipe: when this process ends in any way (even killed), the pipe closes, and the
//! watchdog kills the whole group — chromedriver and every Chromium it started (a killed
//! chromedriver alone would leave its browsers behind). One browser session per test, at
//! most [`MAX_SESSIONS`] at once because the machine has two cores.
//!
//! A test that fails leaves a screenshot `failed-<test>.png` beside the others under
//! `test-output/screenshots/` at the workspace's root: [`Browser`]'s `Drop` takes it
//! through plain blocking HTTP to chromedriver, since a panicking test's runtime no
//! longer drives fantoccini's session task.

use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a wait for something on a page lasts before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Browser sessions open at once in one test process.
pub const MAX_SESSIONS: usize = 3;
/// The desktop size every session starts with; [`TABLET`] is the other one the portal serves.
pub const DESKTOP: (u32, u32) = (1280, 900);
pub const TABLET: (u32, u32) = (768, 1024);

static SESSIONS: Semaphore = Semaphore::const_new(MAX_SESSIONS);
static DRIVER: OnceLock<Driver> = OnceLock::new();

/// The process's chromedriver: its port, and the watchdog whose stdin we hold open.
struct Driver {
    port: u16,
    /// Never dropped (a static): its stdin pipe closes only when this process ends.
    _watchdog: Child,
}

/// Starts chromedriver on a port it chooses, killed with its browsers when we exit.
/// `read` returns at end of input; `kill 0` signals the watchdog's whole process group.
fn start_driver() -> Driver {
    let mut watchdog = Command::new("sh")
        .args(["-c", "chromedriver --port=0 & read _; kill -s TERM 0"])
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh starts chromedriver");
    let stdout = watchdog.stdout.take().expect("piped stdout");
    let port = read_driver_port(stdout).unwrap_or_else(|| {
        panic!("chromedriver did not start: install Debian's chromium and chromium-driver")
    });
    Driver {
        port,
        _watchdog: watchdog,
    }
}

/// Reads chromedriver's banner up to "started successfully on port N.", then drains the
/// rest of its output on a thread so it never blocks on a full pipe.
fn read_driver_port(stdout: impl Read + Send + 'static) -> Option<u16> {
    let mut lines = BufReader::new(stdout);
    let mut line = String::new();
    let port = loop {
        line.clear();
        if lines.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(rest) = line
            .trim()
            .strip_prefix("ChromeDriver was started successfully")
        {
            break rest
                .trim_end_matches('.')
                .rsplit(' ')
                .next()?
                .parse()
                .ok()?;
        }
    };
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    Some(port)
}

fn driver() -> &'static Driver {
    // Blocking here is brief (chromedriver prints its port within a second) and happens
    // once per process; later callers find it ready.
    DRIVER.get_or_init(start_driver)
}

/// Where screenshots go: `<workspace>/test-output/screenshots/` (gitignored).
pub fn screenshot_dir() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf();
    workspace.join("test-output").join("screenshots")
}

fn capabilities() -> Capabilities {
    let (width, height) = DESKTOP;
    let options = json!({
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            format!("--window-size={width},{height}"),
        ]
    });
    let mut capabilities = Capabilities::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    capabilities
}

/// One headless Chromium session pointed at one web service.
pub struct Browser {
    client: Client,
    base_url: String,
    session_id: String,
    driver_port: u16,
    closed: bool,
    _permit: SemaphorePermit<'static>,
}

impl Browser {
    /// A new session for pages under `base_url` (e.g. the control plane's URL); waits its
    /// turn when [`MAX_SESSIONS`] are already open.
    pub async fn start(base_url: &str) -> Browser {
        let permit = SESSIONS.acquire().await.expect("semaphore never closed");
        let driver_port = driver().port;
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities())
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .expect("chromedriver opens a Chromium session");
        let session_id = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session was opened");
        Browser {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            session_id,
            driver_port,
            closed: false,
            _permit: permit,
        }
    }

    /// The fantoccini client, for what no helper here covers.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The absolute URL of `path` on this browser's service.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Types `path` into the address bar and waits for the page to load.
    pub async fn open(&self, path: &str) {
        let url = self.url(path);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The page's current path (and query), as the address bar shows it.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the address bar shows `path` (a form posted, a redirect followed).
    pub async fn wait_for_path(&self, path: &str) {
        let what = format!("the address bar to show {path}");
        self.until(&what, async || (self.path().await == path).then_some(()))
            .await;
    }

    /// Fills the form input `#field-<name>`: types into text inputs (replacing what was
    /// there), picks the option whose value is `value` in a `<select>`.
    pub async fn fill(&self, name: &str, value: &str) {
        let field = self.wait_for(&format!("#field-{name}")).await;
        let tag = field.tag_name().await.expect("tag name");
        if tag.eq_ignore_ascii_case("select") {
            field
                .select_by_value(value)
                .await
                .unwrap_or_else(|e| panic!("choose {value:?} in #field-{name}: {e}"));
            return;
        }
        field.clear().await.expect("clear field");
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("type into #field-{name}: {e}"));
    }

    /// The current value of the form input `#field-<name>`.
    pub async fn field_value(&self, name: &str) -> String {
        let field = self.wait_for(&format!("#field-{name}")).await;
        field
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// Clicks the first button or link carrying `data-action="<verb>"`.
    pub async fn click_action(&self, verb: &str) {
        self.click(&format!("[data-action=\"{verb}\"]")).await;
    }

    /// Clicks the first element matching `css`, once it is there.
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Whether any element matches `css` right now (for what must *not* be on a page,
    /// checked after waiting for something that is).
    pub async fn has(&self, css: &str) -> bool {
        !self.all(css).await.is_empty()
    }

    /// Every element matching `css` right now.
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    /// Waits (up to [`DEADLINE`]) for an element matching `css`.
    pub async fn wait_for(&self, css: &str) -> Element {
        let what = format!("an element matching {css}");
        self.until(&what, async || self.all(css).await.into_iter().next())
            .await
    }

    /// [`Browser::wait_for`] for what takes longer than a page (a tenant provisioned).
    pub async fn wait_for_within(&self, css: &str, deadline: Duration) -> Element {
        let what = format!("an element matching {css}");
        self.until_within(&what, deadline, async || {
            self.all(css).await.into_iter().next()
        })
        .await
    }

    /// Waits (up to [`DEADLINE`]) for an element matching `css` whose text contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Element {
        self.wait_for_text_within(css, text, DEADLINE).await
    }

    /// [`Browser::wait_for_text`] for what takes longer than a page (a tenant provisioned).
    pub async fn wait_for_text_within(&self, css: &str, text: &str, deadline: Duration) -> Element {
        let what = format!("{css} to show {text:?}");
        self.until_within(&what, deadline, async || {
            for element in self.all(css).await {
                if element.text().await.is_ok_and(|shown| shown.contains(text)) {
                    return Some(element);
                }
            }
            None
        })
        .await
    }

    /// Waits (up to [`DEADLINE`]) until no element matches `css`.
    pub async fn wait_for_absent(&self, css: &str) {
        let what = format!("no element to match {css}");
        self.until(&what, async || (!self.has(css).await).then_some(()))
            .await;
    }

    /// The visible text of the first element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        element.text().await.expect("element text")
    }

    /// The page's `<h1>` (every page has exactly one).
    pub async fn heading(&self) -> String {
        self.text("h1").await
    }

    /// Polls `probe` until it gives a value; panics after [`DEADLINE`] naming `what` was
    /// awaited and where the browser was.
    async fn until<T>(&self, what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
        self.until_within(what, DEADLINE, probe).await
    }

    async fn until_within<T>(
        &self,
        what: &str,
        deadline: Duration,
        mut probe: impl AsyncFnMut() -> Option<T>,
    ) -> T {
        let started = Instant::now();
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            if started.elapsed() > deadline {
                let at = self.client.current_url().await.map(|u| u.to_string());
                panic!("waited {deadline:?} for {what}; the browser is at {at:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the session has `count` windows or tabs (a link opened a new one) and
    /// returns them.
    pub async fn wait_for_windows(&self, count: usize) -> Vec<fantoccini::wd::WindowHandle> {
        let what = format!("{count} windows");
        self.until(&what, async || {
            let windows = self.client.windows().await.expect("window handles");
            (windows.len() == count).then_some(windows)
        })
        .await
    }

    /// Resizes the window, e.g. to [`TABLET`] for the tablet layout.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize window");
    }

    /// Saves the visible page as `<screenshot_dir>/<name>.png` and returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        save_png(name, &png)
    }

    /// Ends the session (closing its windows). A browser only dropped is closed by `Drop`.
    pub async fn close(mut self) {
        self.client.clone().close().await.expect("session closes");
        self.closed = true;
    }
}

fn save_png(name: &str, png: &[u8]) -> PathBuf {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("screenshot written");
    path
}

impl Drop for Browser {
    /// A failing test leaves a screenshot; a session not closed is ended here either way,
    /// so its Chromium does not linger until the process exits.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let session = format!("/session/{}", self.session_id);
        if std::thread::panicking() {
            let shot =
                blocking_webdriver(self.driver_port, "GET", &format!("{session}/screenshot"));
            if let Some(png) = shot.as_ref().and_then(decode_screenshot) {
                let path = save_png(&failed_test_name(), &png);
                eprintln!(
                    "browser: screenshot of the failure saved to {}",
                    path.display()
                );
            }
        }
        blocking_webdriver(self.driver_port, "DELETE", &session);
    }
}

/// `failed-<test path>`: the test thread's name is the test's path in `cargo test`.
fn failed_test_name() -> String {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("unnamed").replace("::", "-");
    format!("failed-{test}")
}

fn decode_screenshot(body: &Value) -> Option<Vec<u8>> {
    use base64::Engine;
    let encoded = body["value"].as_str()?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

/// One WebDriver command over a plain blocking socket, for `Drop`, where no async runtime
/// can be relied on; the body is read by its `Content-Length` (chromedriver keeps
/// connections open). `None` on any failure.
fn blocking_webdriver(port: u16, method: &str, path: &str) -> Option<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(DEADLINE)).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

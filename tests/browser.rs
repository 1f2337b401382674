//! The dashboard demo in a real browser: Debian's `chromium`, driven over
//! WebDriver (`chromedriver`, from `chromium-driver`) with fantoccini.
//!
//! Opt-in, because it needs those two programs:
//!
//! ```text
//! sudo apt-get install chromium chromium-driver
//! cargo test --features browser-tests --test browser
//! ```
//!
//! `.ci/run` installs them when absent and runs this. Without them the test
//! fails with a message saying what to install; it never passes silently.
//! `CHROMIUM` and `CHROMEDRIVER` name other binaries (same major version).
//! It leaves screenshots of the page mid-session at
//! `target/dashboard-screenshot.png` and before sign-in at
//! `target/dashboard-signin.png`.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt as _;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::net::TcpListener;
use tower_ws_ticket::MemoryStore;
use tower_ws_ticket_demo::dashboard::{App, User};

/// How long the page may take to reach any one expected state.
const WAIT: Duration = Duration::from_secs(20);

/// Where the programs are looked for when they are not on `PATH`.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

#[tokio::test]
async fn page_signs_in_connects_echoes_and_reconnects() {
    let chromium = program("chromium", "CHROMIUM", CHROMIUM);
    let driver = Chromedriver::start(&program("chromedriver", "CHROMEDRIVER", CHROMEDRIVER));

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let app = App::new(MemoryStore::<User>::new(), addr);
    tokio::spawn(async move { app.serve(listener).await.expect("demo server") });

    let browser = driver.connect(&chromium).await;
    let run = Run {
        browser: &browser,
        addr,
    };
    // Close the browser even when a step fails, so no Chromium outlives
    // the test; then report the failure.
    let outcome = AssertUnwindSafe(run.session()).catch_unwind().await;
    let closed = browser.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    closed.expect("close the browser");
}

struct Run<'a> {
    browser: &'a Client,
    addr: SocketAddr,
}

impl Run<'_> {
    async fn session(&self) {
        let b = self.browser;
        b.set_window_size(1280, 1000).await.expect("window size");
        b.goto(&format!("http://{}/", self.addr))
            .await
            .expect("load the page");

        // Not signed in: the page shows the sign-in form.
        self.wait_for(
            "the sign-in form",
            "return !document.getElementById('signin').hidden",
        )
        .await;
        save_screenshot(b, "dashboard-signin.png").await;
        let name = b.find(Locator::Id("user")).await.expect("name field");
        name.send_keys("Ada Lovelace").await.expect("type the name");
        b.find(Locator::Id("signin-button"))
            .await
            .expect("sign-in button")
            .click()
            .await
            .expect("sign in");

        // Signed in: a ticket is minted and the socket opens with it.
        self.wait_text("status", "connected (ticket #1)").await;
        self.wait_text_containing("greeting", "Hello, Ada Lovelace!")
            .await;
        self.wait_text("who-name", "Ada Lovelace").await;
        self.wait_text_containing("ticket-ttl", "30 s").await;

        self.say("hello from chromium").await;

        // Reconnect: a fresh ticket, since the first one is spent.
        self.click("reconnect").await;
        self.wait_text("status", "connected (ticket #2)").await;
        self.wait_text_containing("ticket-id", "#2").await;
        self.say("second message, after the reconnect").await;

        // Replay the spent ticket: refused before the upgrade.
        self.click("replay").await;
        self.wait_text_containing("replay-result", "Replay refused.")
            .await;

        // The child publishes over /api/pub; drop its socket and see it
        // come back with the same attach URL.
        self.wait_text_containing("child-status", "tick").await;
        self.click("drop-child").await;
        self.wait_text_containing("child-status", "connection #2")
            .await;
        // The session is still up after all that.
        self.wait_text("status", "connected (ticket #2)").await;

        // Leave a half-typed message in the box, as a user mid-session would.
        b.find(Locator::Id("message"))
            .await
            .expect("message field")
            .send_keys("typing a third…")
            .await
            .expect("type");
        save_screenshot(b, "dashboard-screenshot.png").await;

        // Sign out (a same-origin form post, through the CSRF layer): the
        // session is gone, and the page is back at the sign-in form.
        self.click("logout").await;
        self.wait_for(
            "the sign-in form after sign-out",
            "return !document.getElementById('signin').hidden",
        )
        .await;
        let me = b
            .execute(
                "return fetch('/api/me', { cache: 'no-store' }).then(r => r.status);",
                vec![],
            )
            .await
            .expect("ask /api/me");
        assert_eq!(me, json!(401), "still signed in after sign-out");
    }

    /// Sends `text` from the page and waits for the server's echo.
    async fn say(&self, text: &str) {
        let field = self
            .browser
            .find(Locator::Id("message"))
            .await
            .expect("message field");
        field.send_keys(text).await.expect("type a message");
        self.click("send").await;
        let script = format!(
            "return [...document.querySelectorAll('#messages li')].some(li => \
             li.children[0].textContent === 'echo' && li.children[1].textContent === {});",
            json!(text)
        );
        self.wait_for(&format!("the echo of {text:?}"), &script)
            .await;
    }

    async fn click(&self, id: &str) {
        self.browser
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|err| panic!("no #{id}: {err}"))
            .click()
            .await
            .unwrap_or_else(|err| panic!("click #{id}: {err}"));
    }

    async fn wait_text(&self, id: &str, expected: &str) {
        let script = format!(
            "return document.getElementById({}).textContent === {};",
            json!(id),
            json!(expected)
        );
        self.wait_for(&format!("#{id} to read {expected:?}"), &script)
            .await;
    }

    async fn wait_text_containing(&self, id: &str, expected: &str) {
        let script = format!(
            "return document.getElementById({}).textContent.includes({});",
            json!(id),
            json!(expected)
        );
        self.wait_for(&format!("#{id} to contain {expected:?}"), &script)
            .await;
    }

    /// Polls `script` (which returns a boolean) until it is true; on
    /// timeout saves a screenshot and fails with what the page showed.
    async fn wait_for(&self, what: &str, script: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            // A navigation in flight (the sign-in form) may fail a script
            // run; the next poll sees the new page.
            if let Ok(serde_json::Value::Bool(true)) = self.browser.execute(script, vec![]).await {
                return;
            }
            if Instant::now() > deadline {
                let path = screenshot_path("dashboard-screenshot-failure.png");
                if let Ok(shot) = self.browser.screenshot().await {
                    let _ = std::fs::write(&path, shot);
                }
                let shown = self
                    .browser
                    .execute(
                        "return document.body ? document.body.innerText : ''",
                        vec![],
                    )
                    .await
                    .ok();
                panic!(
                    "waited {WAIT:?} for {what}; screenshot at {}; page text: {shown:?}",
                    path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn save_screenshot(browser: &Client, name: &str) {
    let shot = browser.screenshot().await.expect("screenshot");
    let path = screenshot_path(name);
    std::fs::write(&path, shot).expect("save the screenshot");
    println!("screenshot: {}", path.display());
}

/// `target/<name>`, honouring a custom target directory.
fn screenshot_path(name: &str) -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp` for integration tests.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().unwrap_or(tmp);
    target.join(name)
}

/// The program named by the environment variable `var` when it is set,
/// else `name` on `PATH`, else `fallback` if it exists; panics with how to
/// install it otherwise.
fn program(name: &str, var: &str, fallback: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{var}={} is not a file: point it at `{name}`, or unset it",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from(fallback)).filter(|path| path.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found: the browser test needs Debian's `chromium` and \
                 `chromium-driver` (sudo apt-get install chromium chromium-driver); \
                 .ci/run installs them"
            )
        })
}

/// A chromedriver process on a free port, killed on drop, with a fresh
/// browser profile directory removed on drop.
struct Chromedriver {
    process: Child,
    port: u16,
    profile: PathBuf,
}

impl Chromedriver {
    fn start(program: &Path) -> Self {
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", program.display()));
        let profile = std::env::temp_dir().join(format!(
            "tower-ws-ticket-chromium-{}-{port}",
            std::process::id()
        ));
        let driver = Self {
            process,
            port,
            profile,
        };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// A headless Chromium session with a fresh profile.
    async fn connect(&self, chromium: &Path) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", self.profile.display()),
                ],
            }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|err| panic!("cannot start a Chromium session: {err}"))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

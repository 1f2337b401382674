//! The dashboard demo in a real browser: Debian's `chromium`, driven over
//! WebDriver (`chromedriver`, from `chromium-driver`) with fantoccini.
//!
//! Opt-in, because it needs those two programs: the test is `#[ignore]`d,
//! so plain `cargo test` builds it and skips it, and it runs by name:
//!
//! ```text
//! sudo apt-get install chromium chromium-driver
//! cargo test --test browser -- --ignored
//! ```
//!
//! `.ci/run` installs them when absent and runs this. Without them the test
//! fails with a message saying what to install; it never passes silently.
//! `CHROMIUM` and `CHROMEDRIVER` name other binaries (same major version).
//!
//! One browser session drives the page through the client module
//! (`/ws-ticket.js`): sign in, connect, echo, a replayed ticket closed with
//! 4401, the server dropping the socket with 4401 and the client
//! reconnecting with a fresh ticket, sign-out (the client's next mint gets
//! 401 and it stops for good), the socket with and without an app protocol
//! (`/protocols`), and a page whose Origin the socket's allowlist does not
//! hold (the layer closes the socket with 4403 and the client stops).
//! Then the same browser opens the demo over HTTPS (a self-signed
//! certificate, `acceptInsecureCerts`): the page loads over HTTP/2, and so
//! does its socket, as an extended CONNECT (RFC 8441): it opens with the
//! ticket in `Sec-WebSocket-Protocol`, echoes, a replay is closed with
//! 4401, the app protocol is negotiated, and sign-out closes it.
//! The server's access log is captured to count mint requests, to check
//! that no socket URL carried a ticket, and to see which HTTP version
//! carried each socket. Screenshots of each state land in
//! `target/browser-<state>.png`.

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
use tower_ws_ticket_demo::dashboard::{App, Endpoint, User};
use tower_ws_ticket_demo::testkit::LogCapture;
use tower_ws_ticket_demo::tls::ServerTls;

/// How long the page may take to reach any one expected state.
const WAIT: Duration = Duration::from_secs(20);

/// How long a sign-in lasts on the demo whose session the page watches
/// run out.
const SHORT_SESSION: Duration = Duration::from_secs(4);

/// How long a stopped client is watched for mint requests it should not
/// make: several times its first backoff (250 to 500 ms).
const QUIET: Duration = Duration::from_secs(3);

/// Where the programs are looked for when they are not on `PATH`.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

// `.ci/run` runs this by name (`cargo test --test browser -- --ignored`).
#[ignore = "needs chromium and chromedriver: cargo test --test browser -- --ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_keeps_one_socket_through_the_client_module() {
    let log = AccessLog::install();
    let chromium = program("chromium", "CHROMIUM", CHROMIUM);
    let driver = Chromedriver::start(&program("chromedriver", "CHROMEDRIVER", CHROMEDRIVER));

    // The demo as `cargo run --example dashboard` serves it.
    let addr = serve(|addr| App::new(MemoryStore::<User>::new(), addr)).await;
    // The same demo, allowing pages from http://127.0.0.1:PORT only; the
    // browser loads it from http://localhost:PORT, an Origin it refuses.
    let strict = serve(|addr| {
        App::with_origins(
            MemoryStore::<User>::new(),
            addr,
            vec![format!("http://{addr}")],
        )
    })
    .await;
    // The demo as `SESSION_SECS=4 cargo run --example dashboard` serves it.
    let expiring = serve(|addr| {
        let app = App::new(MemoryStore::<User>::new(), addr);
        app.session_lifetime().set(SHORT_SESSION);
        app
    })
    .await;
    // The demo as `TLS=self-signed cargo run --example dashboard` serves it.
    let https = serve(|addr| {
        let tls = ServerTls::self_signed(addr).expect("a self-signed certificate");
        App::new(MemoryStore::<User>::new(), Endpoint::https(addr, tls))
    })
    .await;

    let browser = driver.connect(&chromium).await;
    let run = Run {
        browser: &browser,
        log: &log,
    };
    // Close the browser even when a step fails, so no Chromium outlives
    // the test; then report the failure.
    let outcome = AssertUnwindSafe(async {
        run.dashboard(addr).await;
        run.protocols(addr).await;
        run.forbidden_origin(strict).await;
        run.session_runs_out(expiring).await;
        run.over_http2(https).await;
    })
    .catch_unwind()
    .await;
    let closed = browser.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    closed.expect("close the browser");
}

/// Binds a free loopback port, builds the app for it and serves it.
async fn serve(app: impl FnOnce(SocketAddr) -> App) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let app = app(addr);
    tokio::spawn(async move { app.serve(listener).await.expect("demo server") });
    addr
}

struct Run<'a> {
    browser: &'a Client,
    log: &'a AccessLog,
}

impl Run<'_> {
    /// The dashboard, from sign-in to sign-out.
    async fn dashboard(&self, addr: SocketAddr) {
        let b = self.browser;
        b.set_window_size(1280, 1400).await.expect("window size");
        // Not signed in: the page shows the sign-in form, and mints nothing.
        self.load_signed_out(&format!("http://{addr}/")).await;
        save_screenshot(b, "browser-signin.png").await;
        assert_eq!(self.log.mints(None), 0, "an anonymous visit minted");
        self.sign_in("Ada Lovelace").await;

        // Signed in: the client mints a ticket and opens the socket with it.
        self.wait_text("status", "open").await;
        self.wait_text("connections", "1").await;
        self.wait_text_containing("greeting", "Hello, Ada Lovelace!")
            .await;
        self.wait_text("who-name", "Ada Lovelace").await;
        self.wait_text("tickets", "1").await;
        // No app protocol offered: the server selected the marker.
        self.wait_text_containing("protocol", "ws-ticket (the marker")
            .await;
        self.say("hello from chromium").await;
        save_screenshot(b, "browser-open.png").await;

        // Reconnect: the client drops the socket and mints afresh.
        self.click("reconnect").await;
        self.wait_text("connections", "2").await;
        self.wait_text("tickets", "2").await;
        self.wait_text("status", "open").await;
        self.say("second message, after the reconnect").await;

        // A used ticket replayed by the page: the layer accepts the
        // handshake and closes it at once with 4401, which the page reads.
        self.click("replay").await;
        self.wait_text_containing("replay-result", "Replay refused with close code 4401")
            .await;

        // The child publishes over /api/pub; drop its socket and see it
        // come back with the same credential.
        self.wait_text_containing("child-status", "tick").await;
        self.click("drop-child").await;
        self.wait_text_containing("child-status", "connection #2")
            .await;

        // The server drops the page's socket with 4401: the client mints a
        // fresh ticket at once and reconnects.
        let mints = self.log.mints(Some(200));
        self.click("drop-socket").await;
        self.wait_text("connections", "3").await;
        self.wait_text("tickets", "3").await;
        self.wait_text("status", "open").await;
        self.wait_for(
            "a log entry: closed 4401, minting again",
            "return [...document.querySelectorAll('#client-log li')].some(li => \
             li.dataset.state === 'minting' && li.dataset.closeCode === '4401' && \
             li.dataset.cause === 'close' && li.textContent.includes('4401') && \
             li.textContent.includes('minting'));",
        )
        .await;
        self.wait_text_containing("last-close", "4401").await;
        assert_eq!(
            self.log.mints(Some(200)),
            mints + 1,
            "one fresh ticket for the reconnect"
        );
        self.say("third message, after the server's 4401").await;
        // Leave a half-typed message in the box, as a user mid-session would.
        b.find(Locator::Id("message"))
            .await
            .expect("message field")
            .send_keys("typing a fourth…")
            .await
            .expect("type");
        save_screenshot(b, "browser-reconnected-4401.png").await;

        // Sign out: the session ends and is revoked, so the server closes
        // the socket with 4401 (the page asks nothing of its client); the
        // client's next mint gets 401, and it stops for good with "signed
        // out".
        assert_eq!(self.log.mints(Some(401)), 0);
        let closes_4401 = "return [...document.querySelectorAll('#client-log li')].filter(li => \
             li.dataset.cause === 'close' && li.dataset.closeCode === '4401').length;";
        let before = b
            .execute(closes_4401, vec![])
            .await
            .expect("count the 4401 closes");
        self.click("logout").await;
        self.wait_for(
            "one more close 4401: the server revoked the socket",
            &format!(
                "return [...document.querySelectorAll('#client-log li')].filter(li => \
                 li.dataset.cause === 'close' && li.dataset.closeCode === '4401').length > {before};"
            ),
        )
        .await;
        self.wait_text_containing("last-close", "revoked").await;
        self.wait_text("status", "stopped: signed out").await;
        self.wait_for(
            "the signed-out notice and the sign-in form",
            "return !document.getElementById('signed-out').hidden && \
             !document.getElementById('signin').hidden && \
             document.getElementById('who').hidden;",
        )
        .await;
        self.wait_for(
            "a log entry: mint 401, stopped",
            "return [...document.querySelectorAll('#client-log li')].some(li => \
             li.dataset.state === 'stopped' && li.dataset.reason === 'signed out' && \
             li.dataset.mintStatus === '401');",
        )
        .await;
        let stopped_at = self.log.mints(None);
        tokio::time::sleep(QUIET).await;
        assert_eq!(
            self.log.mints(None),
            stopped_at,
            "the stopped client minted again"
        );
        assert_eq!(self.log.mints(Some(401)), 1);
        self.wait_text("status", "stopped: signed out").await;
        save_screenshot(b, "browser-signed-out.png").await;
        let me = b
            .execute(
                "return fetch('/api/me', { cache: 'no-store' }).then(r => r.status);",
                vec![],
            )
            .await
            .expect("ask /api/me");
        assert_eq!(me, json!(401), "still signed in after sign-out");

        // Every socket the browser opened carried its ticket in
        // Sec-WebSocket-Protocol: no socket URL in the access log held one.
        assert!(self.log.count("uri=/api/ws}", None) >= 3);
        assert_eq!(
            self.log.count("uri=/api/ws?", None),
            0,
            "a socket URL carried a query"
        );
    }

    /// `/protocols`: one socket offering `chat.v1` beside the ticket, one
    /// offering no app protocol.
    async fn protocols(&self, addr: SocketAddr) {
        let b = self.browser;
        self.load_signed_out(&format!("http://{addr}/")).await;
        self.sign_in("Grace Hopper").await;
        self.wait_text("status", "open").await;

        b.goto(&format!("http://{addr}/protocols"))
            .await
            .expect("load /protocols");
        self.protocol_rows().await;
        save_screenshot(b, "browser-protocols.png").await;
        assert_eq!(
            self.log.count("uri=/api/ws?", None),
            0,
            "a socket URL carried a query"
        );
    }

    /// A page on an Origin the socket's allowlist does not hold. The mint
    /// route admits it (it refuses cross-site requests, and this page is
    /// on the server's own host), so the client gets a ticket; the socket
    /// layer refuses the Origin, accepts the handshake and closes it at
    /// once with 4403, and the client stops with "forbidden" for good.
    async fn forbidden_origin(&self, strict: SocketAddr) {
        let b = self.browser;
        let port = strict.port();
        // The other server is quiet now (its pages are gone): whatever
        // follows is this one's.
        let mints = self.log.mints(None);
        let mints_ok = self.log.mints(Some(200));
        let sockets = self.log.count("uri=/api/ws}", Some(101));
        self.load_signed_out(&format!("http://localhost:{port}/"))
            .await;
        // Signing in works: the CSRF layer compares the Origin with the
        // Host, both localhost here. The sockets are what the allowlist
        // guards.
        self.sign_in("Mallory").await;
        self.wait_text("status", "stopped: forbidden").await;
        self.wait_for(
            "a log entry: closed 4403, stopped",
            "return [...document.querySelectorAll('#client-log li')].some(li => \
             li.dataset.state === 'stopped' && li.dataset.reason === 'forbidden' && \
             li.dataset.cause === 'close' && li.dataset.closeCode === '4403');",
        )
        .await;
        tokio::time::sleep(QUIET).await;
        // Which refusal stopped it: the socket's 4403, after one mint that
        // succeeded and one handshake (accepted, then closed); nothing
        // after it.
        assert_eq!(self.log.mints(Some(200)), mints_ok + 1);
        assert_eq!(
            self.log.mints(None),
            mints + 1,
            "the stopped client minted again"
        );
        assert_eq!(self.log.count("uri=/api/ws}", Some(101)), sockets + 1);
        // The close says only "forbidden"; the metrics panel says why.
        self.wait_text("last-close", "4403 “forbidden”").await;
        self.wait_for(
            "the metrics panel to count the origin refusal",
            "return !!document.querySelector('#metrics-rows tr[data-kind=refused][data-label=origin]');",
        )
        .await;
        self.wait_text("connections", "0").await;
        self.wait_text("status", "stopped: forbidden").await;
        save_screenshot(b, "browser-forbidden.png").await;
    }

    /// The dashboard over HTTPS, as `TLS=self-signed` serves it: the page
    /// over HTTP/2, and its socket too. Chromium sends a WebSocket over
    /// HTTP/2 only on a connection whose server announced
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`; without it, it opens another
    /// connection, HTTP/1.1, for each socket (which the access log shows
    /// as `GET … version=HTTP/1.1`, and this phase refuses).
    async fn over_http2(&self, https: SocketAddr) {
        let b = self.browser;
        let h2_sockets = || {
            self.log
                .count("method=CONNECT version=HTTP/2.0 uri=/api/ws}", Some(200))
        };
        let h1_sockets = || self.log.count("version=HTTP/1.1 uri=/api/ws}", None);
        let (h2_before, h1_before) = (h2_sockets(), h1_sockets());
        let mints_before = self.log.mints(Some(200));

        self.load_signed_out(&format!("https://{https}/")).await;
        let protocol = b
            .execute(
                "return performance.getEntriesByType('navigation')[0].nextHopProtocol;",
                vec![],
            )
            .await
            .expect("read the page's protocol");
        assert_eq!(protocol, json!("h2"), "the page did not load over HTTP/2");

        // The client mints over HTTP/2 and opens the socket as an extended
        // CONNECT, with the ticket in Sec-WebSocket-Protocol.
        self.sign_in("Katherine Johnson").await;
        self.wait_text("status", "open").await;
        self.wait_text_containing("greeting", "Hello, Katherine Johnson!")
            .await;
        self.wait_text_containing("protocol", "ws-ticket (the marker")
            .await;
        self.say("hello over HTTP/2").await;
        assert!(h2_sockets() > h2_before, "no socket arrived over HTTP/2");
        assert_eq!(self.log.mints(Some(200)), mints_before + 1);

        // A replayed ticket over HTTP/2: the layer answers the CONNECT 200
        // and closes the stream's socket at once with 4401.
        self.click("replay").await;
        self.wait_text_containing("replay-result", "Replay refused with close code 4401")
            .await;
        save_screenshot(b, "browser-http2.png").await;

        // The app's own protocol is negotiated over HTTP/2 as over HTTP/1.1.
        b.goto(&format!("https://{https}/protocols"))
            .await
            .expect("load /protocols over HTTPS");
        self.protocol_rows().await;

        // Sign out: the server closes the page's socket with 4401, and the
        // client stops.
        b.goto(&format!("https://{https}/"))
            .await
            .expect("load the page over HTTPS");
        self.wait_text("status", "open").await;
        self.click("logout").await;
        self.wait_text_containing("last-close", "4401").await;
        self.wait_text("status", "stopped: signed out").await;

        // Every socket of this phase went over HTTP/2 (the first, the
        // replay's two, the protocols page's two, the one after it).
        assert!(
            h2_sockets() >= h2_before + 6,
            "{} sockets over HTTP/2, expected 6",
            h2_sockets() - h2_before
        );
        assert_eq!(h1_sockets(), h1_before, "a socket fell back to HTTP/1.1");
        assert_eq!(
            self.log.count("uri=/api/ws?", None),
            0,
            "a socket URL carried a query"
        );
    }

    /// On `/protocols`, which opens two sockets: the one offering
    /// `chat.v1` beside the ticket gets it, the one offering no app
    /// protocol gets the marker; both echo.
    async fn protocol_rows(&self) {
        for (row, selected) in [("with", "chat.v1"), ("without", "ws-ticket (marker)")] {
            self.wait_for(
                &format!("the socket {row} an app protocol: {selected}, echoed"),
                &format!(
                    "const row = document.getElementById({row}); \
                     return row.querySelector('.selected').textContent === {selected} && \
                     row.querySelector('.echo').dataset.tone === 'ok' && \
                     row.querySelector('.state').textContent === 'stopped: closed';",
                    row = json!(row),
                    selected = json!(selected),
                ),
            )
            .await;
        }
    }

    /// A sign-in that runs out: the page counts the session down, the
    /// server closes the socket with 4401 "expired" at its end, the client's
    /// next mint gets 401, and the page says the session expired.
    async fn session_runs_out(&self, addr: SocketAddr) {
        let b = self.browser;
        self.load_signed_out(&format!("http://{addr}/")).await;
        self.sign_in("Grace").await;
        self.wait_text("status", "open").await;
        self.wait_for(
            "the session's end on the page",
            "const ends = document.getElementById('session-ends'); \
             return !ends.hidden && Number(ends.dataset.left) <= 4 && \
             !document.getElementById('renew').hidden;",
        )
        .await;
        save_screenshot(b, "browser-session-ending.png").await;
        self.wait_for(
            "the session-expired notice",
            "return !document.getElementById('session-expired').hidden && \
             document.getElementById('signed-out').hidden;",
        )
        .await;
        self.wait_text("status", "stopped: signed out").await;
        self.wait_text_containing("status-note", "The session expired")
            .await;
        self.wait_text_containing("client-log", "close 4401 “expired”")
            .await;
        self.wait_text_containing("client-log", "mint 401").await;
        save_screenshot(b, "browser-session-expired.png").await;
    }

    /// Loads `url` and waits for its sign-in form: nobody signed in there.
    async fn load_signed_out(&self, url: &str) {
        self.browser
            .goto(url)
            .await
            .unwrap_or_else(|err| panic!("load {url}: {err}"));
        self.wait_for(
            "the sign-in form",
            "return !document.getElementById('signin').hidden",
        )
        .await;
    }

    async fn sign_in(&self, name: &str) {
        let field = self
            .browser
            .find(Locator::Id("user"))
            .await
            .expect("name field");
        field.send_keys(name).await.expect("type the name");
        self.click("signin-button").await;
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
                let path = screenshot_path("browser-failure.png");
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

/// The demo servers' access log (tower-http's `TraceLayer`: one line per
/// response, with the method and the redacted URI), captured for the whole
/// test. A line does not say which server wrote it, so the phases run one
/// after the other and each counts what happened since it began.
struct AccessLog(LogCapture);

impl AccessLog {
    /// Installs the global subscriber: the demo's filter at INFO, which
    /// holds every response line.
    fn install() -> Self {
        Self(LogCapture::install(tower_ws_ticket_demo::logging::filter(
            "info",
        )))
    }

    /// Responses so far to requests whose redacted URI starts with
    /// `uri_prefix` (`uri=/api/ws?` for a socket URL with a query), with
    /// `status` when given.
    fn count(&self, uri_prefix: &str, status: Option<u16>) -> usize {
        let status = status.map(|code| format!("status={code}"));
        let mut needles = vec!["finished processing request", uri_prefix];
        needles.extend(status.as_deref());
        self.0.count_lines(&needles)
    }

    /// Mint requests answered so far, with `status` when given.
    fn mints(&self, status: Option<u16>) -> usize {
        self.count("uri=/api/auth/ws-ticket}", status)
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

    /// A headless Chromium session with a fresh profile, which accepts the
    /// HTTPS demo's self-signed certificate.
    async fn connect(&self, chromium: &Path) -> Client {
        let mut capabilities = serde_json::Map::new();
        // WebDriver's own switch for untrusted certificates: with it,
        // Chromium loads the page, keeps its HTTP/2 connection and sends
        // the sockets over it; no command-line flag is needed.
        capabilities.insert("acceptInsecureCerts".to_owned(), json!(true));
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

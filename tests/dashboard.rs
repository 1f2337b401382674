//! End-to-end tests of the dashboard demo (`examples/dashboard`): the
//! example's own routes, served on real TCP on loopback, driven with a real
//! HTTP client and tokio-tungstenite.

mod support;

// The demo's routes, shared with the example binary; these tests use most
// of it, not all.
#[allow(dead_code)]
#[path = "../examples/dashboard/app.rs"]
mod app;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use futures_util::SinkExt as _;
use futures_util::future::join_all;
use http::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::Full;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tower_ws_ticket::{MemoryStore, TicketStore};

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;

use app::{App, AttachUrl, User};
use support::{STEP, Socket};

/// A running demo server.
struct Demo {
    addr: SocketAddr,
    child_url: AttachUrl,
}

/// Serves the demo on a free loopback port over the memory store, its
/// child running.
async fn start() -> Demo {
    start_on(MemoryStore::<User>::new()).await
}

async fn start_on<T: TicketStore<Identity = User>>(store: T) -> Demo {
    capture_logs();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let app = App::new(store, addr);
    let child_url = app.child_attach_url().clone();
    tokio::spawn(async move { app.serve(listener).await.expect("demo server") });
    Demo { addr, child_url }
}

impl Demo {
    fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn ws(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `POST /login` with `user=name` as a form.
    async fn post_login(&self, name: &str) -> (StatusCode, http::HeaderMap, String) {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("user", name)
            .finish();
        let request = Request::post(self.http("/login"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        support::send(request).await
    }

    /// Signs `name` in and returns the `Cookie` header value to send back.
    async fn sign_in(&self, name: &str) -> String {
        let (status, headers, body) = self.post_login(name).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-in answered: {body}");
        assert_eq!(headers[LOCATION], "/");
        let set_cookie = headers[SET_COOKIE].to_str().expect("ASCII cookie");
        let pair = set_cookie.split(';').next().expect("a cookie pair");
        assert!(pair.starts_with("dashboard_session="), "{set_cookie}");
        pair.to_owned()
    }

    async fn mint(&self, cookie: &str) -> String {
        support::mint(&self.http("/api/auth/ws-ticket"), &[("cookie", cookie)]).await
    }

    /// A `POST` with only a cookie, for the routes that need a session.
    async fn post(&self, path: &str, cookie: Option<&str>) -> StatusCode {
        let mut request = Request::post(self.http(path));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        let (status, _, _) = support::send(request.body(Full::default()).expect("request")).await;
        status
    }

    /// The internal credential, as the child's attach URL carries it.
    fn internal_credential(&self) -> String {
        self.child_url
            .expose_secret()
            .split_once("?internal=")
            .expect("an internal attach URL")
            .1
            .to_owned()
    }

    /// `GET /api/me` with the session cookie: the status and the body.
    async fn me(&self, cookie: &str) -> (StatusCode, String) {
        let request = Request::get(self.http("/api/me")).header(COOKIE, cookie);
        let (status, _, body) =
            support::send(request.body(Full::default()).expect("request")).await;
        (status, body)
    }

    /// Mints with the session `cookie` and opens the page's socket.
    async fn open_signed_in(&self, cookie: &str) -> Socket {
        let ticket = self.mint(cookie).await;
        let mut socket = support::connect(&self.ws(&format!("/api/ws?ticket={ticket}")))
            .await
            .expect("the page's socket opens with a fresh ticket");
        next_of_kind(&mut socket, "greeting").await;
        socket
    }

    /// Signs `name` in, mints and opens the page's socket; returns it after
    /// checking the greeting names the user.
    async fn open_page_socket(&self, name: &str) -> Socket {
        let cookie = self.sign_in(name).await;
        let ticket = self.mint(&cookie).await;
        let mut socket = support::connect(&self.ws(&format!("/api/ws?ticket={ticket}")))
            .await
            .expect("the page's socket opens with a fresh ticket");
        let greeting = next_of_kind(&mut socket, "greeting").await;
        assert!(
            greeting.contains(name),
            "greeting {greeting:?} names {name}"
        );
        socket
    }
}

/// The next message of `kind` the server sent the page, skipping the
/// child's news (which arrives whenever the child ticks).
async fn next_of_kind(socket: &mut Socket, kind: &str) -> String {
    loop {
        let (got, text) = next_message(socket).await;
        if got == kind {
            return text;
        }
        assert_eq!(got, "child", "expected {kind}, got {got}: {text}");
    }
}

/// The next message to the page, as its `kind` and `text`.
async fn next_message(socket: &mut Socket) -> (String, String) {
    let raw = support::next_text(socket).await;
    let value: serde_json::Value = serde_json::from_str(&raw).expect("JSON message");
    let field = |name: &str| {
        value[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {raw}"))
            .to_owned()
    };
    (field("kind"), field("text"))
}

/// The next child news containing `needle`.
async fn child_news_containing(socket: &mut Socket, needle: &str) -> String {
    tokio::time::timeout(STEP, async {
        loop {
            let (kind, text) = next_message(socket).await;
            if kind == "child" && text.contains(needle) {
                return text;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no child news containing {needle:?} in time"))
}

async fn echo(socket: &mut Socket, text: &str) -> String {
    socket
        .send(Message::text(text))
        .await
        .expect("send on the page's socket");
    next_of_kind(socket, "echo").await
}

#[tokio::test]
async fn sign_in_mint_connect_and_echo() {
    let demo = start().await;

    let (status, headers, _) = demo.post_login("Ada").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/");
    let set_cookie = headers[SET_COOKIE].to_str().expect("ASCII cookie");
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    assert!(attributes.contains(&"HttpOnly"), "{set_cookie}");
    assert!(attributes.contains(&"SameSite=Strict"), "{set_cookie}");
    assert!(attributes.contains(&"Path=/"), "{set_cookie}");
    assert!(
        !attributes.contains(&"Secure"),
        "plain http on loopback: {set_cookie}"
    );
    let cookie = attributes[0];

    let ticket = demo.mint(cookie).await;
    assert!(ticket.starts_with("wst_"), "{ticket}");
    let mut socket = support::connect(&demo.ws(&format!("/api/ws?ticket={ticket}")))
        .await
        .expect("a fresh ticket opens the socket");
    assert_eq!(
        next_of_kind(&mut socket, "greeting").await,
        "Hello, Ada! This socket opened with a single-use ticket."
    );
    assert_eq!(echo(&mut socket, "hello, server").await, "hello, server");
    // Echoed as text, verbatim: the page inserts it with textContent.
    assert_eq!(
        echo(&mut socket, "<b>not markup</b>").await,
        "<b>not markup</b>"
    );
}

#[tokio::test]
async fn replayed_ticket_is_refused_with_401() {
    let demo = start().await;
    let cookie = demo.sign_in("Grace").await;
    let ticket = demo.mint(&cookie).await;
    let url = demo.ws(&format!("/api/ws?ticket={ticket}"));

    let mut socket = support::connect(&url).await.expect("first use opens");
    next_of_kind(&mut socket, "greeting").await;
    assert_eq!(
        support::refused_status(&url).await,
        StatusCode::UNAUTHORIZED
    );
    // The refusal did not disturb the socket the ticket opened.
    assert_eq!(echo(&mut socket, "still here").await, "still here");
}

#[tokio::test]
async fn upgrade_without_a_valid_ticket_is_refused_with_401() {
    let demo = start().await;
    for path in [
        "/api/ws",
        "/api/ws?ticket=",
        "/api/ws?ticket=wst_not-a-real-ticket",
        "/api/ws?token=anything",
    ] {
        assert_eq!(
            support::refused_status(&demo.ws(path)).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

#[tokio::test]
async fn minting_needs_a_live_session() {
    let demo = start().await;
    let mint = "/api/auth/ws-ticket";
    assert_eq!(demo.post(mint, None).await, StatusCode::UNAUTHORIZED);
    let forged = "dashboard_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(
        demo.post(mint, Some(forged)).await,
        StatusCode::UNAUTHORIZED
    );

    let cookie = demo.sign_in("Linus").await;
    assert_eq!(demo.post(mint, Some(&cookie)).await, StatusCode::OK);
    // A cookie whose secret half is wrong finds the session but fails.
    let mut tampered = cookie.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII");
    assert_eq!(
        demo.post(mint, Some(&tampered)).await,
        StatusCode::UNAUTHORIZED
    );

    let (status, body) = demo.me(&cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"user":"Linus"}"#);

    assert_eq!(
        demo.post("/logout", Some(&cookie)).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        demo.post(mint, Some(&cookie)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        demo.post("/api/child/drop", Some(&cookie)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn signing_out_closes_the_users_sockets() {
    let demo = start().await;
    let here = demo.sign_in("Ada").await;
    let elsewhere = demo.sign_in("Ada").await;
    let mut tab = demo.open_signed_in(&here).await;
    let mut other_device = demo.open_signed_in(&elsewhere).await;
    let mut grace = demo.open_page_socket("Grace").await;
    let minted_before = demo.mint(&elsewhere).await;

    assert_eq!(
        demo.post("/logout", Some(&here)).await,
        StatusCode::SEE_OTHER
    );
    for socket in [&mut tab, &mut other_device] {
        assert_eq!(close_code(socket).await, 4401);
    }
    assert_eq!(echo(&mut grace, "still here").await, "still here");
    // The signed-out session mints no more; the other one does, and its
    // new ticket opens a socket, while the one minted before is refused.
    assert_eq!(
        demo.post("/api/auth/ws-ticket", Some(&here)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        support::refused_status(&demo.ws(&format!("/api/ws?ticket={minted_before}"))).await,
        StatusCode::UNAUTHORIZED
    );
    let mut again = demo.open_signed_in(&elsewhere).await;
    assert_eq!(echo(&mut again, "back").await, "back");
}

/// The close code of the next close frame on `socket`, skipping messages.
async fn close_code(socket: &mut Socket) -> u16 {
    use futures_util::StreamExt as _;
    loop {
        let message = tokio::time::timeout(STEP, socket.next())
            .await
            .expect("a close frame in time")
            .expect("a close frame before the end")
            .expect("no socket error");
        if let Message::Close(frame) = message {
            return frame.map_or(1005, |frame| u16::from(frame.code));
        }
    }
}

#[tokio::test]
async fn sign_in_refuses_bad_names() {
    let demo = start().await;
    let too_long = "a".repeat(app::MAX_NAME_CHARS + 1);
    for name in [
        "",
        "   ",
        too_long.as_str(),
        "<script>",
        "a\u{0}b",
        "tab\there",
        "x;y",
    ] {
        let (status, headers, _) = demo.post_login(name).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name:?}");
        assert_eq!(headers[LOCATION], "/?signin=invalid", "{name:?}");
        assert!(!headers.contains_key(SET_COOKIE), "{name:?} got a session");
    }
    // Letters beyond ASCII, digits, spaces and -_. are fine; ends are trimmed.
    let mut socket = demo.open_page_socket("Zoë O-Neil_2.0").await;
    assert_eq!(echo(&mut socket, "ok").await, "ok");
    let cookie = demo.sign_in("  padded  ").await;
    let (_, body) = demo.me(&cookie).await;
    assert_eq!(body, r#"{"user":"padded"}"#);
}

#[tokio::test]
async fn cross_site_requests_are_refused() {
    let demo = start().await;

    // Login CSRF: a form on another site posting to /login.
    let request = Request::post(demo.http("/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, "http://evil.example")
        .body(Full::new(Bytes::from_static(b"user=Mallory")))
        .expect("request");
    let (status, headers, _) = support::send(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!headers.contains_key(SET_COOKIE));

    // A socket opened from another origin: 403, and the ticket survives.
    let cookie = demo.sign_in("Ada").await;
    let ticket = demo.mint(&cookie).await;
    let url = demo.ws(&format!("/api/ws?ticket={ticket}"));
    let mut hostile = url.clone().into_client_request().expect("request");
    hostile
        .headers_mut()
        .insert(ORIGIN, "http://evil.example".parse().expect("header"));
    match tokio_tungstenite::connect_async(hostile).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
        other => panic!("expected a 403, got {:?}", other.map(|_| "an open socket")),
    }
    // The page's own origin (and localhost, on loopback) is allowed.
    for origin in [
        demo.origin(),
        format!("http://localhost:{}", demo.addr.port()),
    ] {
        let ticket = demo.mint(&cookie).await;
        let mut request = demo
            .ws(&format!("/api/ws?ticket={ticket}"))
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert(ORIGIN, origin.parse().expect("header"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .unwrap_or_else(|err| panic!("origin {origin} refused: {err}"));
        next_of_kind(&mut socket, "greeting").await;
    }
    // The refused attempt did not consume the first ticket.
    let mut socket = support::connect(&url).await.expect("ticket still valid");
    next_of_kind(&mut socket, "greeting").await;
}

#[tokio::test]
async fn fifty_clients_at_once() {
    let demo = start().await;
    let names: Vec<String> = (0..50).map(|i| format!("user-{i:02}")).collect();
    let mut urls = Vec::new();
    for name in &names {
        let cookie = demo.sign_in(name).await;
        let ticket = demo.mint(&cookie).await;
        urls.push(demo.ws(&format!("/api/ws?ticket={ticket}")));
    }

    let sessions = names.iter().zip(&urls).map(|(name, url)| async move {
        let mut socket = support::connect(url)
            .await
            .unwrap_or_else(|err| panic!("{name} could not connect: {err}"));
        let greeting = next_of_kind(&mut socket, "greeting").await;
        assert!(greeting.contains(name.as_str()), "{name} got {greeting:?}");
        let said = format!("hello from {name}");
        assert_eq!(echo(&mut socket, &said).await, said);
        socket
    });
    let sockets = join_all(sessions).await;
    assert_eq!(sockets.len(), 50);

    // Every one of those tickets is spent now.
    let replays = urls.iter().map(|url| support::refused_status(url));
    for status in join_all(replays).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn pub_socket_takes_only_the_internal_credential() {
    let demo = start().await;
    let cookie = demo.sign_in("Ada").await;

    // A user's ticket is no good on /api/pub, and is not used up there.
    let ticket = demo.mint(&cookie).await;
    assert_eq!(
        support::refused_status(&demo.ws(&format!("/api/pub?ticket={ticket}"))).await,
        StatusCode::UNAUTHORIZED
    );
    let mut socket = support::connect(&demo.ws(&format!("/api/ws?ticket={ticket}")))
        .await
        .expect("the ticket refused on /api/pub still opens /api/ws");
    drop(socket.close(None).await);
    assert_eq!(
        support::refused_status(&demo.ws("/api/pub")).await,
        StatusCode::UNAUTHORIZED
    );
    // Nor is the internal credential any good on the page's socket.
    let internal = demo.internal_credential();
    assert_eq!(
        support::refused_status(&demo.ws(&format!("/api/ws?internal={internal}"))).await,
        StatusCode::UNAUTHORIZED
    );

    // The attach URL works any number of times; what a child publishes
    // reaches the pages.
    let mut page = demo.open_page_socket("Ada").await;
    for round in 0..3 {
        let mut child = support::connect(demo.child_url.expose_secret())
            .await
            .expect("the attach URL is multi-use");
        let said = format!("published by a second child, round {round}");
        child
            .send(Message::text(said.clone()))
            .await
            .expect("publish");
        child_news_containing(&mut page, &said).await;
        child.close(None).await.expect("close");
    }
}

#[tokio::test]
async fn dropped_child_reconnects_with_the_same_attach_url() {
    let demo = start().await;
    let mut page = demo.open_page_socket("Ada").await;
    child_news_containing(&mut page, "connection #1").await;

    let cookie = demo.sign_in("Ada").await;
    assert_eq!(
        demo.post("/api/child/drop", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        demo.post("/api/child/drop", Some(&cookie)).await,
        StatusCode::NO_CONTENT
    );
    child_news_containing(&mut page, "connection #2").await;
    // And it keeps publishing.
    child_news_containing(&mut page, "connection #2: tick").await;
}

#[tokio::test]
async fn secrets_stay_out_of_the_page_and_the_logs() {
    let demo = start().await;
    let internal = demo.internal_credential();

    let (status, headers, page) = support::send(
        Request::get(demo.http("/"))
            .body(Full::default())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(&internal));
    assert!(!page.contains("wsi_"));
    assert!(
        !page.contains("innerHTML"),
        "the page inserts server text with textContent only"
    );
    assert!(!page.contains("__NONCE__"));
    let csp = headers["content-security-policy"].to_str().expect("ASCII");
    assert!(csp.contains("script-src 'nonce-"), "{csp}");

    // A full session, a replay, and the child at work.
    let cookie = demo.sign_in("Ada").await;
    let ticket = demo.mint(&cookie).await;
    let url = demo.ws(&format!("/api/ws?ticket={ticket}"));
    let mut socket = support::connect(&url).await.expect("opens");
    next_of_kind(&mut socket, "greeting").await;
    child_news_containing(&mut socket, "tick").await;
    assert_eq!(
        support::refused_status(&url).await,
        StatusCode::UNAUTHORIZED
    );

    let logs = captured_logs();
    assert!(
        logs.contains("/api/ws?ticket=REDACTED"),
        "the access log shows the route"
    );
    assert!(logs.contains("/api/pub?internal=REDACTED"));
    assert!(
        logs.contains("event=\"consumed\""),
        "audit events are logged"
    );
    assert!(!logs.contains(&ticket), "a ticket reached the logs");
    assert!(
        !logs.contains(&ticket[8..]),
        "a ticket's secret part reached the logs"
    );
    assert!(
        !logs.contains(&internal),
        "the internal credential reached the logs"
    );
    assert!(
        !logs.contains("wsi_"),
        "an internal credential prefix reached the logs"
    );
    assert!(!logs.contains(cookie.split_once('=').expect("pair").1));
}

/// `REDIS_URL=… cargo run --example dashboard --features redis`: the same
/// demo over the Redis store, against a throwaway redis-server.
#[cfg(feature = "redis")]
#[tokio::test]
async fn the_demo_runs_on_redis() {
    let server = redis_server::RedisServer::start();
    let store = tower_ws_ticket::RedisStore::<User>::connect(server.url())
        .await
        .expect("connect to redis-server");
    let demo = start_on(store).await;

    let cookie = demo.sign_in("Ada").await;
    let ticket = demo.mint(&cookie).await;
    let url = demo.ws(&format!("/api/ws?ticket={ticket}"));
    let mut socket = support::connect(&url).await.expect("opens over Redis");
    assert!(next_of_kind(&mut socket, "greeting").await.contains("Ada"));
    assert_eq!(echo(&mut socket, "over redis").await, "over redis");
    assert_eq!(
        support::refused_status(&url).await,
        StatusCode::UNAUTHORIZED
    );
    child_news_containing(&mut socket, "tick").await;
}

/// Every test's log lines, as the demo's console would show them (with the
/// same `info` filter), into one buffer.
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || LogSink(Arc::clone(&sink)))
            .init();
        buffer
    })
    .clone()
}

fn captured_logs() -> String {
    let buffer = capture_logs();
    let bytes = buffer.lock().unwrap_or_else(PoisonError::into_inner);
    String::from_utf8_lossy(&bytes).into_owned()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

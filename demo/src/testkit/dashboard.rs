//! A client for the [`dashboard`](crate::dashboard) served on loopback:
//! what the dashboard's tests (`tests/it/dashboard.rs`, `tests/dashboard_log.rs`)
//! do to it, as a page would.

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::SinkExt as _;
use http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tower_ws_ticket::{MemoryStore, TicketStore};

use super::{STEP, Socket};
use crate::dashboard::{App, ChildAttach, Lifetime, SESSION_COOKIE, User};

/// A dashboard served on a free loopback port, its child running.
#[derive(Debug)]
pub struct Demo {
    /// Where it listens.
    pub addr: SocketAddr,
    /// How the child attaches, the internal credential included.
    pub child: ChildAttach,
    /// How long its sign-ins last (8 hours unless a test sets it).
    pub session_lifetime: Lifetime,
}

impl Demo {
    /// Serves the dashboard over the memory store.
    pub async fn start() -> Self {
        Self::start_on(MemoryStore::<User>::new()).await
    }

    /// Serves the dashboard over `store`.
    pub async fn start_on<T: TicketStore<Identity = User>>(store: T) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let app = App::new(store, addr);
        let child = app.child_attach().clone();
        let session_lifetime = app.session_lifetime().clone();
        tokio::spawn(async move { app.serve(listener).await.expect("demo server") });
        Self {
            addr,
            child,
            session_lifetime,
        }
    }

    /// `http://<addr><path>`.
    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `ws://<addr><path>`.
    pub fn ws(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The page's own origin, `http://<addr>`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `POST /login` with `user=name` as a form.
    pub async fn post_login(&self, name: &str) -> (StatusCode, HeaderMap, String) {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("user", name)
            .finish();
        let request = Request::post(self.http("/login"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        super::send(request).await
    }

    /// Signs `name` in and returns the `Cookie` header value to send back
    /// (`dashboard_session=…`).
    pub async fn sign_in(&self, name: &str) -> String {
        let (status, headers, body) = self.post_login(name).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-in answered: {body}");
        assert_eq!(headers[LOCATION], "/");
        let set_cookie = headers[SET_COOKIE].to_str().expect("ASCII cookie");
        let pair = set_cookie.split(';').next().expect("a cookie pair");
        assert!(
            pair.starts_with(&format!("{SESSION_COOKIE}=")),
            "{set_cookie}"
        );
        pair.to_owned()
    }

    /// Mints a ticket with the session `cookie`.
    pub async fn mint(&self, cookie: &str) -> String {
        super::mint(&self.http("/api/auth/ws-ticket"), &[("cookie", cookie)]).await
    }

    /// A `POST` with only a cookie, for the routes that need a session.
    pub async fn post(&self, path: &str, cookie: Option<&str>) -> StatusCode {
        let mut request = Request::post(self.http(path));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        let (status, _, _) = super::send(request.body(Full::default()).expect("request")).await;
        status
    }

    /// The internal credential the child attaches with.
    pub fn internal_credential(&self) -> String {
        self.child.credential().expose_secret().to_owned()
    }

    /// Attaches to `/api/pub` as the child does: the internal credential
    /// in `Sec-WebSocket-Protocol`. Returns the socket and the protocol
    /// the server selected.
    pub async fn connect_child(&self) -> (Socket, Option<String>) {
        let offered = self.child.subprotocols();
        let offered = offered.to_str().expect("ASCII protocols");
        super::connect_offering(self.child.url(), offered)
            .await
            .expect("the child's credential opens /api/pub")
    }

    /// Opens the page's socket with `ticket` as the page's client does:
    /// in `Sec-WebSocket-Protocol`, beside the app's own `protocols`.
    /// Returns the socket and the protocol the server selected.
    pub async fn connect_page(&self, ticket: &str, protocols: &[&str]) -> (Socket, Option<String>) {
        let offered = super::offered_protocols(ticket, protocols);
        super::connect_offering(self.ws("/api/ws"), &offered)
            .await
            .expect("the page's socket opens")
    }

    /// `GET /api/me` with the session cookie: the status and the body.
    pub async fn me(&self, cookie: &str) -> (StatusCode, String) {
        let request = Request::get(self.http("/api/me")).header(COOKIE, cookie);
        let (status, _, body) = super::send(request.body(Full::default()).expect("request")).await;
        (status, body)
    }

    /// Signs `name` in, mints and opens the page's socket (the ticket in
    /// the subprotocol, as the page sends it); returns it after checking
    /// the greeting names the user.
    pub async fn open_page_socket(&self, name: &str) -> Socket {
        let cookie = self.sign_in(name).await;
        let ticket = self.mint(&cookie).await;
        let (mut socket, _) = self.connect_page(&ticket, &[]).await;
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
pub async fn next_of_kind(socket: &mut Socket, kind: &str) -> String {
    loop {
        let (got, text) = next_message(socket).await;
        if got == kind {
            return text;
        }
        assert_eq!(got, "child", "expected {kind}, got {got}: {text}");
    }
}

/// The next message to the page, as its `kind` and `text`.
pub async fn next_message(socket: &mut Socket) -> (String, String) {
    let raw = super::next_text(socket).await;
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
pub async fn child_news_containing(socket: &mut Socket, needle: &str) -> String {
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

/// Sends `text` on the page's socket and returns the echo.
pub async fn echo(socket: &mut Socket, text: &str) -> String {
    socket
        .send(Message::text(text))
        .await
        .expect("send on the page's socket");
    next_of_kind(socket, "echo").await
}

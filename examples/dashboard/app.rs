//! The dashboard demo, everything but start-up: the routes, a stand-in
//! sign-in, the two WebSockets and the in-process "child".
//!
//! `main.rs` and the end-to-end tests (`tests/dashboard.rs`,
//! `tests/browser.rs`) share this file, the tests through
//! `#[path = "../examples/dashboard/app.rs"] mod app;`, so what the tests
//! exercise is exactly what the demo serves.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /` | the page (inline HTML, CSS and JS) |
//! | `POST /login` | stand-in sign-in: form field `user`, sets the session cookie |
//! | `POST /logout` | ends the session, and closes that user's sockets (code 4401) |
//! | `GET /api/me` | who is signed in, or 401 |
//! | `POST /api/auth/ws-ticket` | [`MintService`]: a ticket for the signed-in user |
//! | `GET /api/ws?ticket=…` | the page's socket, behind [`WsTicketLayer`]: greets, echoes |
//! | `GET /api/pub?internal=…` | the child's socket: the internal credential only |
//! | `POST /api/child/drop` | closes the child's socket, to show it reconnect |
//!
//! The sign-in is a demo, and says so: it takes any well-formed name and
//! no password. A real application puts its own authentication where
//! [`identify`] is; the ticket flow after it stays the same.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Extension, Form, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, ORIGIN, REFERRER_POLICY, RETRY_AFTER,
    SET_COOKIE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt as _, StreamExt as _};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite;
use tower_ws_ticket::{
    InternalCredential, MintService, Principal, Revocation, Revocations, TicketStore, WsTicketLayer,
};

/// The page: one self-contained file, no build step, no CDN. Every
/// `__NONCE__` in it is replaced per response by the CSP nonce.
pub const PAGE: &str = include_str!("page.html");

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "dashboard_session";

/// How long a sign-in lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// Most sessions kept at once, so a script signing in in a loop cannot
/// grow the map without bound.
const MAX_SESSIONS: usize = 10_000;

/// Longest accepted user name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Largest message the page's socket accepts.
const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Longest child message passed on to pages, in characters.
const MAX_CHILD_TEXT_CHARS: usize = 200;

/// How often the child publishes a tick.
pub const CHILD_TICK: Duration = Duration::from_secs(2);

/// The child's reconnect backoff: first wait, then doubling up to the cap.
const CHILD_BACKOFF_MIN: Duration = Duration::from_millis(250);
const CHILD_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The identity the demo binds tickets to. The serde derives let the Redis
/// store keep it (`--features redis`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The name given at sign-in, already checked by [`User::from_sign_in`].
    pub name: String,
}

impl User {
    /// Accepts a sign-in name: trimmed, 1 to [`MAX_NAME_CHARS`] characters,
    /// each a letter, a digit, a space, `-`, `_` or `.`. Anything else is
    /// refused rather than cleaned up, so what the user sees greeting them
    /// is what they typed. (The page still inserts names as text only.)
    pub fn from_sign_in(raw: &str) -> Option<Self> {
        let name = raw.trim();
        let count = name.chars().count();
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.');
        ((1..=MAX_NAME_CHARS).contains(&count) && name.chars().all(allowed)).then(|| Self {
            name: name.to_owned(),
        })
    }
}

/// The demo, built for a server listening on a known address (the Origin
/// allowlist and the child's attach URL need it).
pub struct App {
    router: Router,
    child_url: AttachUrl,
}

impl App {
    /// Builds the routes over `store`, for a server bound to `addr`.
    ///
    /// Generic over the store so that `main.rs` can pick the memory store
    /// or, with `--features redis` and `REDIS_URL`, the Redis one.
    pub fn new<T>(store: T, addr: SocketAddr) -> Self
    where
        T: TicketStore<Identity = User>,
    {
        let origins = page_origins(addr);
        if origins.is_empty() {
            tracing::warn!(
                %addr,
                "listening on an unspecified address: the Origin allowlist is off, since \
                 the host name browsers will use is unknown; tickets still stop cross-site \
                 sockets (the session cookie is SameSite=Strict, so no other site can mint)"
            );
        }

        let state = AppState {
            sessions: Sessions::default(),
            origins: origins.clone().into(),
            child_news: watch::Sender::new(Arc::from("child not attached yet")),
            kick_child: watch::Sender::new(0),
            child_connections: Arc::new(AtomicU64::new(0)),
            revocations: Revocations::new(),
        };

        let guard = |layer: WsTicketLayer<T>| {
            let layer = layer.peer_addr(peer_addr);
            if origins.is_empty() {
                layer
            } else {
                layer.allowed_origins(origins.iter().cloned())
            }
        };
        // The page's socket: tickets only, each socket closed when its user
        // signs out.
        let page_layer = guard(WsTicketLayer::new(store.clone()))
            .audit_label(|user: &User| user.name.clone())
            .revocations(state.revocations.clone(), |user: &User| user.name.clone());
        // The child's socket: the internal credential only. A ticket sent
        // here is refused (401) without being consumed.
        let pub_layer = guard(WsTicketLayer::new(store.clone()))
            .internal_credential(InternalCredential::generate())
            .without_tickets();

        // Read once, as a spawned child would read it from its environment.
        // Neither can fail: the layer has an internal credential and the
        // base URL carries no query.
        let child_url = pub_layer
            .child_credential()
            .expect("the /api/pub layer has an internal credential")
            .attach_url(&format!("ws://{}/api/pub", dial_addr(addr)))
            .expect("the base URL carries no credential parameter");

        let mint = MintService::new(store)
            .peer_addr(peer_addr)
            .audit_label(|user: &User| user.name.clone());

        // Routes that need a signed-in user: `identify` turns the cookie
        // into the `User` that MintService reads from the extensions. It
        // leaves anonymous requests alone; MintService answers them 401.
        let signed_in = Router::new()
            .route_service("/api/auth/ws-ticket", mint)
            .route("/api/me", get(me))
            .route("/api/child/drop", post(drop_child))
            .route_layer(middleware::from_fn_with_state(
                state.sessions.clone(),
                identify,
            ));

        // One router per socket, each with its own layer. `any`, not `get`:
        // over HTTP/2 a WebSocket arrives as CONNECT.
        let page_ws = Router::new()
            .route("/api/ws", any(page_socket))
            .route_layer(page_layer);
        let child_ws = Router::new()
            .route("/api/pub", any(child_socket))
            .route_layer(pub_layer);

        let router = Router::new()
            .route("/", get(page))
            .route("/login", post(sign_in))
            .route("/logout", post(sign_out))
            .merge(page_ws)
            .merge(child_ws)
            .merge(signed_in)
            .with_state(state)
            // Outermost, so it times and logs everything, rejections too.
            .layer(middleware::from_fn(access_log));

        Self {
            router,
            child_url: AttachUrl(child_url),
        }
    }

    /// The routes, ready for `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The child's attach URL. It carries the internal credential: for the
    /// child and for tests that check the credential stays out of sight.
    pub fn child_attach_url(&self) -> &AttachUrl {
        &self.child_url
    }

    /// Starts the in-process child: it attaches to `/api/pub` with the
    /// internal credential and reconnects whenever its socket drops.
    pub fn spawn_child(&self) -> JoinHandle<()> {
        tokio::spawn(run_child(self.child_url.clone()))
    }

    /// Starts the child and serves on `listener` until the server fails;
    /// the child stops with it.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let child = AbortOnDrop(self.spawn_child());
        let served = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
        drop(child);
        served
    }
}

/// A URL carrying a secret: `Debug` redacts it and it has no `Display`,
/// so it cannot end up in a log line by accident.
#[derive(Clone)]
pub struct AttachUrl(String);

impl AttachUrl {
    /// The URL with its credential, for dialing.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AttachUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttachUrl(<redacted>)")
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The origins a browser may open the sockets (and post the forms) from:
/// the bound address and, on loopback, `localhost` too. Empty when bound
/// to an unspecified address such as `0.0.0.0`, whose host name is unknown.
fn page_origins(addr: SocketAddr) -> Vec<String> {
    let ip = addr.ip();
    if ip.is_unspecified() {
        Vec::new()
    } else if ip.is_loopback() {
        vec![
            format!("http://{addr}"),
            format!("http://localhost:{}", addr.port()),
        ]
    } else {
        vec![format!("http://{addr}")]
    }
}

/// Where the in-process child dials: the bound address, or loopback when
/// bound to an unspecified one.
fn dial_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// The peer address as axum's `ConnectInfo` provides it, for audit events.
fn peer_addr(extensions: &Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

#[derive(Clone)]
struct AppState {
    sessions: Sessions,
    origins: Arc<[String]>,
    /// The child's latest news, shown on every page.
    child_news: watch::Sender<Arc<str>>,
    /// Bumped to make every child socket close.
    kick_child: watch::Sender<u64>,
    child_connections: Arc<AtomicU64>,
    /// The page sockets, by user name: signing out closes them.
    revocations: Revocations<String>,
}

impl AppState {
    /// Whether a state-changing form or `fetch` comes from our own page.
    /// Requests without `Origin` (curl, tests) pass; browsers always send
    /// it on a `POST`. This stops login CSRF, which SameSite cannot: there
    /// is no cookie yet to withhold.
    fn same_origin(&self, headers: &HeaderMap) -> bool {
        if self.origins.is_empty() {
            return true;
        }
        headers.get_all(ORIGIN).iter().all(|origin| {
            self.origins
                .iter()
                .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
        })
    }

    fn publish_child_news(&self, text: String) {
        self.child_news.send_replace(text.into());
    }
}

/// The stand-in session store: random session ids in a map, in memory.
///
/// An id is a 16-character lookup half and a secret half; the map is keyed
/// by the lookup half and the whole id is compared in constant time, so
/// the lookup does not leak the id through timing.
#[derive(Clone, Default)]
struct Sessions(Arc<Mutex<HashMap<String, Session>>>);

struct Session {
    id: String,
    user: User,
    expires: Instant,
}

const LOOKUP_CHARS: usize = 16;

impl Sessions {
    /// A new session for `user`; `None` when the map is full.
    fn create(&self, user: User) -> Option<String> {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let id = URL_SAFE_NO_PAD.encode(raw);
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, session| session.expires > now);
            if map.len() >= MAX_SESSIONS {
                return None;
            }
        }
        map.insert(
            id[..LOOKUP_CHARS].to_owned(),
            Session {
                id: id.clone(),
                user,
                expires: now + SESSION_LIFETIME,
            },
        );
        Some(id)
    }

    /// The user of a live session.
    fn user(&self, id: &str) -> Option<User> {
        let lookup = id.get(..LOOKUP_CHARS)?;
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let session = map.get(lookup)?;
        let matches = bool::from(session.id.as_bytes().ct_eq(id.as_bytes()));
        (matches && session.expires > Instant::now()).then(|| session.user.clone())
    }

    /// Ends the session `id`; returns its user.
    fn remove(&self, id: &str) -> Option<User> {
        let lookup = id.get(..LOOKUP_CHARS)?;
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map
            .get(lookup)
            .is_some_and(|session| bool::from(session.id.as_bytes().ct_eq(id.as_bytes())))
        {
            return map.remove(lookup).map(|session| session.user);
        }
        None
    }
}

/// The session id from the request's `Cookie` headers.
fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
}

/// The auth gate: turns a valid session cookie into a `User` in the
/// request extensions. This is the only place the demo's stand-in
/// authentication touches the ticket flow.
async fn identify(State(sessions): State<Sessions>, mut req: Request, next: Next) -> Response {
    if let Some(user) = session_id(req.headers()).and_then(|id| sessions.user(id)) {
        req.extensions_mut().insert(user);
    }
    next.run(req).await
}

/// Access log: method, URI with every credential redacted, status and
/// latency. It sits outside the ticket layer, so it sees `?ticket=` and
/// `?internal=` as sent, and must redact them.
async fn access_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let uri = tower_ws_ticket::redact_uri(req.uri());
    let started = Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        target: "dashboard::http",
        %method,
        %uri,
        status = response.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

/// `GET /`: the page, with a fresh CSP nonce for its inline script and style.
async fn page() -> Response {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let nonce = URL_SAFE_NO_PAD.encode(raw);
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    );
    (
        [
            (CONTENT_SECURITY_POLICY, csp),
            (CACHE_CONTROL, "no-store".to_owned()),
            (X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            // Not `no-referrer`: with it, Chromium sends `Origin: null` on the
            // page's own form posts, which `same_origin` refuses.
            (REFERRER_POLICY, "same-origin".to_owned()),
        ],
        Html(PAGE.replace("__NONCE__", &nonce)),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SignInForm {
    user: String,
}

/// `POST /login`: the stand-in sign-in. Any well-formed name, no password.
async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !state.same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site sign-in refused\n").into_response();
    }
    let Some(user) = User::from_sign_in(&form.user) else {
        return Redirect::to("/?signin=invalid").into_response();
    };
    let Some(id) = state.sessions.create(user.clone()) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(RETRY_AFTER, "60")],
            "too many sessions\n",
        )
            .into_response();
    };
    tracing::info!(target: "dashboard", user = %user.name, "signed in");
    // HttpOnly: page scripts never see it. SameSite=Strict: no other site
    // can make the browser send it, so no other site can mint a ticket.
    // No `Secure`: the demo serves plain http on loopback; add it on https.
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    );
    ([(SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// `POST /logout`: forgets the session, closes the user's sockets (and
/// refuses the tickets they minted before), and clears the cookie.
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site sign-out refused\n").into_response();
    }
    if let Some(user) = session_id(&headers).and_then(|id| state.sessions.remove(id)) {
        let closed = state.revocations.revoke(&user.name);
        tracing::info!(target: "dashboard", user = %user.name, closed, "signed out");
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// `GET /api/ws`: the page's socket. The layer has consumed the ticket and
/// left the principal and the socket's revocation handle; only tickets are
/// configured on this route.
async fn page_socket(
    ws: WebSocketUpgrade,
    principal: Option<Extension<Principal<User>>>,
    revocation: Option<Extension<Revocation>>,
    State(state): State<AppState>,
) -> Response {
    let (Some(Extension(Principal::Ticket(redeemed))), Some(Extension(revocation))) =
        (principal, revocation)
    else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let user = redeemed.identity;
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| page_session(socket, user, state, revocation))
}

/// A message to the page: `{"kind": "...", "text": "..."}`. The page puts
/// `text` in the document with `textContent` only.
fn to_page(kind: &str, text: &str) -> Message {
    Message::text(serde_json::json!({ "kind": kind, "text": text }).to_string())
}

/// Greets the user by name, echoes their text, and passes on the child's
/// news until either side closes or the user signs out (close code 4401:
/// the page then finds it can no longer mint, and shows the sign-in).
async fn page_session(mut socket: WebSocket, user: User, state: AppState, revocation: Revocation) {
    tracing::info!(target: "dashboard", user = %user.name, "page socket opened");
    let greeting = format!(
        "Hello, {}! This socket opened with a single-use ticket.",
        user.name
    );
    let mut news = state.child_news.subscribe();
    let current = news.borrow_and_update().clone();
    let greeting = serde_json::json!({ "kind": "greeting", "text": greeting, "user": user.name });
    if socket
        .send(Message::text(greeting.to_string()))
        .await
        .is_err()
        || socket.send(to_page("child", &current)).await.is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            () = revocation.revoked() => {
                let close = CloseFrame { code: 4401, reason: "signed out".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if socket.send(to_page("echo", text.as_str())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let close = CloseFrame { code: 1003, reason: "text only".into() };
                    let _ = socket.send(Message::Close(Some(close))).await;
                    break;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            changed = news.changed() => {
                if changed.is_err() {
                    break;
                }
                let text = news.borrow_and_update().clone();
                if socket.send(to_page("child", &text)).await.is_err() {
                    break;
                }
            }
        }
    }
    tracing::info!(target: "dashboard", user = %user.name, "page socket closed");
}

/// `GET /api/pub`: the child's socket. Its layer admits the internal
/// credential and nothing else, so the `Principal` is always `Internal`
/// here; the handler still takes it, so that the route fails closed should
/// it ever be mounted without its layer.
async fn child_socket(
    ws: WebSocketUpgrade,
    Extension(principal): Extension<Principal<User>>,
    State(state): State<AppState>,
) -> Response {
    debug_assert!(matches!(principal, Principal::Internal));
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| child_session(socket, state))
}

/// Passes the child's messages on to the pages until the child goes away
/// or a page asks for its socket to be dropped.
async fn child_session(mut socket: WebSocket, state: AppState) {
    let n = state.child_connections.fetch_add(1, Ordering::Relaxed) + 1;
    let mut kick = state.kick_child.subscribe();
    tracing::info!(target: "dashboard", connection = n, "child attached to /api/pub");
    state.publish_child_news(format!("child attached (connection #{n})"));
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let text: String = text.as_str().chars().take(MAX_CHILD_TEXT_CHARS).collect();
                    state.publish_child_news(format!("connection #{n}: {text}"));
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = kick.changed() => {
                let close = CloseFrame { code: 1001, reason: "dropped from the dashboard".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
        }
    }
    tracing::info!(target: "dashboard", connection = n, "child detached from /api/pub");
    state.publish_child_news(format!(
        "child detached (connection #{n}); it reconnects with the same attach URL"
    ));
}

/// `GET /api/me`: who is signed in, `{"user": "..."}`, or 401. The page
/// asks this first, so an anonymous visit does not show up in the logs as
/// a refused mint.
async fn me(user: Option<Extension<User>>) -> Response {
    match user {
        Some(Extension(user)) => (
            [(CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({ "user": user.name })),
        )
            .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// `POST /api/child/drop`: closes the child's socket, so the page can show
/// it reattach with the same internal credential. Signed-in users only.
async fn drop_child(
    user: Option<Extension<User>>,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let Some(Extension(user)) = user else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if !state.same_origin(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    tracing::info!(target: "dashboard", user = %user.name, "dropping the child's socket");
    state.kick_child.send_modify(|generation| *generation += 1);
    StatusCode::NO_CONTENT.into_response()
}

/// The child: what a server-spawned helper process would do, as a task.
/// It got its attach URL once, at start, and reuses it on every reconnect,
/// which a single-use ticket could not do. It publishes a tick every
/// [`CHILD_TICK`] and reconnects with backoff whenever its socket drops.
async fn run_child(url: AttachUrl) {
    let mut backoff = CHILD_BACKOFF_MIN;
    let mut ticks = 0u64;
    let started = Instant::now();
    loop {
        match tokio_tungstenite::connect_async(url.expose_secret()).await {
            Ok((mut socket, _response)) => {
                backoff = CHILD_BACKOFF_MIN;
                let mut tick = tokio::time::interval(CHILD_TICK);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            ticks += 1;
                            let text = format!(
                                "tick {ticks} (child up {} s)",
                                started.elapsed().as_secs()
                            );
                            if socket.send(tungstenite::Message::text(text)).await.is_err() {
                                break;
                            }
                        }
                        incoming = socket.next() => match incoming {
                            Some(Ok(tungstenite::Message::Close(_)) | Err(_)) | None => break,
                            Some(Ok(_)) => {}
                        },
                    }
                }
                tracing::info!(target: "dashboard::child", "socket dropped; reconnecting");
            }
            Err(err) => tracing::warn!(
                target: "dashboard::child",
                error = describe(&err),
                retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                "attach failed"
            ),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(CHILD_BACKOFF_MAX);
    }
}

/// A connect error in words that cannot carry the attach URL.
fn describe(err: &tungstenite::Error) -> String {
    match err {
        tungstenite::Error::Http(response) => format!("refused with HTTP {}", response.status()),
        tungstenite::Error::Io(io) => format!("I/O error: {}", io.kind()),
        _ => "handshake failed".to_owned(),
    }
}

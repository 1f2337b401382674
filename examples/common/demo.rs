//! The demo pieces the four stack examples share, so they cannot drift
//! apart: the signed-in [`User`] and its [`Store`], the stand-in sign-in
//! ([`DEMO_USER_HEADER`], [`demo_user`]), the [`greeting`] a socket opens
//! with, and the start-up of each `main.rs` ([`listen`],
//! [`print_ticket_hint`]). Besides those, the pieces two or three of the
//! examples share because they build on the same library: the axum
//! handlers of `stack_axum` and of `stack_tonic`'s web routes
//! ([`demo_auth`], [`socket`], [`echo`]), and the hyper-util accept loop
//! of `stack_tonic`, `stack_warp` and `stack_hyper`
//! ([`serve_with_upgrades`]).
//!
//! Each stack example's `main.rs` loads this file as `crate::demo`, with
//! `#[path = "../common/demo.rs"]`, and its `app.rs` uses it from there;
//! the tests that include an `app.rs` load it through `tests/support`. What
//! is specific to a stack stays in that stack's `app.rs`.
#![allow(dead_code, reason = "each includer uses only the part it needs")]

use std::error::Error;
use std::net::SocketAddr;

use axum::Extension;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::middleware::Next;
use http::HeaderMap;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};
use tower_ws_ticket::{MemoryStore, Principal};
use tracing_subscriber::EnvFilter;

/// Where the page asks for a ticket.
pub const MINT_PATH: &str = "/api/auth/ws-ticket";
/// The stand-in sign-in header (see [`demo_user`]).
pub const DEMO_USER_HEADER: &str = "x-demo-user";

/// The signed-in user, as the application's own auth knows it: the identity
/// a ticket is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User(pub String);

/// The store shared by the mint route and the layer(s).
pub type Store = MemoryStore<User>;

/// Stand-in authentication: the user the `x-demo-user` header names
/// (printable ASCII, 1 to 64 bytes). NOT authentication; replace it with
/// your session check.
pub fn demo_user(headers: &HeaderMap) -> Option<User> {
    let name = headers.get(DEMO_USER_HEADER)?.to_str().ok()?.trim();
    (!name.is_empty() && name.len() <= 64).then(|| User(name.to_owned()))
}

/// The first message on a socket: who the layer says is connected.
pub fn greeting(principal: &Principal<User>) -> String {
    match principal {
        Principal::Ticket(redeemed) => format!("hello {}", redeemed.identity.0),
        Principal::Internal => "hello internal client".to_owned(),
        Principal::SessionToken => "hello session".to_owned(),
        // Principal is non-exhaustive: a later credential kind greets too.
        _ => "hello".to_owned(),
    }
}

// --- axum: `stack_axum`, and the web routes of `stack_tonic` ---

/// Stand-in authentication as axum middleware: puts the [`User`] that
/// [`demo_user`] finds into the request extensions, where `MintService`
/// looks for it. It never refuses: without the header the mint route
/// answers 401 itself.
pub async fn demo_auth(mut req: axum::extract::Request, next: Next) -> axum::response::Response {
    if let Some(user) = demo_user(req.headers()) {
        req.extensions_mut().insert(user);
    }
    next.run(req).await
}

/// A socket route: the layer admitted the upgrade and left the
/// [`Principal`] in the extensions. Taking it as `Extension` (not
/// `Option<Extension>`) makes the route fail closed should it ever be
/// mounted without the layer.
pub async fn socket(
    upgrade: WebSocketUpgrade,
    Extension(principal): Extension<Principal<User>>,
) -> axum::response::Response {
    let greeting = greeting(&principal);
    upgrade.on_upgrade(move |socket| echo(socket, greeting))
}

/// Greets, then echoes text until the client closes.
pub async fn echo(mut socket: WebSocket, greeting: String) {
    if socket.send(Message::Text(greeting.into())).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        let reply: Utf8Bytes = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            // axum answers pings itself; binary is not part of this demo.
            _ => continue,
        };
        if socket.send(Message::Text(reply)).await.is_err() {
            break;
        }
    }
}

// --- hyper-util: `stack_tonic`, `stack_warp` and `stack_hyper` ---

/// Serves `service` on `listener` with hyper-util's `builder`, HTTP/1.1
/// upgrades enabled (WebSockets need them). Every request carries the
/// extension `peer_info` makes of its connection's peer address, which is
/// where the layer (and the app) find it.
///
/// # Errors
///
/// When accepting a connection fails.
pub async fn serve_with_upgrades<S, B, E>(
    listener: TcpListener,
    builder: auto::Builder<TokioExecutor>,
    service: S,
    peer_info: impl Fn(SocketAddr) -> E,
) -> std::io::Result<()>
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
    E: Clone + Send + Sync + 'static,
{
    loop {
        let (stream, peer) = listener.accept().await?;
        let info = peer_info(peer);
        let service = service
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
                req
            });
        let builder = builder.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let service = TowerToHyperService::new(service);
            // A client that hangs up mid-request is not the server's error.
            let _ = builder.serve_connection_with_upgrades(io, service).await;
        });
    }
}

// --- main.rs ---

/// The start of each example's `main`: turns on logging, audit events
/// included (they are tracing events, target `tower_ws_ticket::audit`;
/// `RUST_LOG` overrides the default `info`), and binds `ADDR` (default
/// `127.0.0.1:3000`; `127.0.0.1:0` picks a free port). Returns the
/// listener and the address it is bound to.
///
/// # Errors
///
/// When binding fails.
pub async fn listen() -> std::io::Result<(TcpListener, SocketAddr)> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Prints how to get a ticket from the server at `local`.
pub fn print_ticket_hint(local: SocketAddr) {
    println!("  ticket: curl -X POST -H '{DEMO_USER_HEADER}: alice' http://{local}{MINT_PATH}");
}

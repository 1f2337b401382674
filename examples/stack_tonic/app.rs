//! The tonic 0.14 app of the `stack_tonic` example, shared with
//! `tests/stack_tonic.rs` so the example and its test cannot drift.
//!
//! One port serves a real gRPC service (`grpc.health.v1.Health` from
//! tonic-health) and a web part (the mint route and a WebSocket route):
//! [`routes`] merges tonic's [`Routes`] with an axum router, and
//! [`ws_layer`] guards the whole of it. gRPC calls are HTTP/2 `POST`s, never
//! WebSocket upgrades, so they pass through the layer untouched.
//!
//! Two ways to serve it:
//!
//! - [`serve`]: hyper-util's auto server (HTTP/1.1 and HTTP/2 on one port)
//!   with HTTP/1.1 upgrades enabled, the layer applied with `tower::Layer`.
//!   Everything works here, WebSockets included. The example's default.
//! - [`serve_tonic`]: tonic's own server, the layer in
//!   `Server::builder().layer(...)`. gRPC passes untouched and the socket
//!   route is guarded (401 without a credential), but tonic 0.14 serves
//!   HTTP/1.1 without upgrades and HTTP/2 without extended CONNECT, so no
//!   WebSocket can open on it, guarded or not: an admitted upgrade gets its
//!   `101` and then the connection closes. Use it for gRPC plus refusal
//!   only; serve sockets with [`serve`].
//!
//! Sign-in is a stand-in: an `x-demo-user` header names the user (see
//! [`routes`]). Put your real session check there.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::Request;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{Extensions, HeaderMap};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::any;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tower::{Layer, ServiceExt};
use tower_ws_ticket::{MemoryStore, MintService, Principal, WsTicketLayer};

/// Where the page asks for a ticket.
pub const MINT_PATH: &str = "/api/auth/ws-ticket";
/// The stand-in sign-in header.
pub const DEMO_USER_HEADER: &str = "x-demo-user";

/// The signed-in user: the identity a ticket is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User(pub String);

/// The store shared by the mint route and the layer.
pub type Store = MemoryStore<User>;

/// gRPC health and the web routes as one tonic [`Routes`]: the axum router
/// goes in with `Routes::from`, the gRPC service with `add_service`.
pub fn routes(store: Store) -> Routes {
    // The reporter starts with the server ("") SERVING; nothing here
    // changes it, so it can be dropped.
    let (_reporter, health) = tonic_health::server::health_reporter();

    let web = axum::Router::new()
        .route_service(
            MINT_PATH,
            MintService::new(store)
                .peer_addr(tcp_peer)
                .audit_label(|user: &User| user.0.clone()),
        )
        .route_layer(middleware::from_fn(demo_auth))
        .route("/api/ws", any(socket));

    Routes::from(web).add_service(health)
}

/// The layer for [`routes`]: it wraps gRPC and web routes alike, and only
/// WebSocket upgrades are checked.
pub fn ws_layer(store: Store) -> WsTicketLayer<Store> {
    WsTicketLayer::new(store)
        .peer_addr(tcp_peer)
        .audit_label(|user: &User| user.0.clone())
}

/// The peer address where tonic's server (and [`serve`]) put it.
fn tcp_peer(extensions: &Extensions) -> Option<SocketAddr> {
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
}

/// Serves [`routes`] behind [`ws_layer`] on `listener`, HTTP/1.1 and
/// HTTP/2 alike, with HTTP/1.1 upgrades enabled so WebSockets open.
///
/// # Errors
///
/// When accepting a connection fails.
pub async fn serve(listener: TcpListener, store: Store) -> std::io::Result<()> {
    let service = ws_layer(store.clone()).layer(routes(store).prepare());
    let builder = auto::Builder::new(TokioExecutor::new());
    let local = listener.local_addr().ok();
    loop {
        let (stream, peer) = listener.accept().await?;
        // The same extension tonic's own server sets, so gRPC handlers'
        // `Request::remote_addr` and the layer's audit events both see it.
        let info = TcpConnectInfo {
            local_addr: local,
            remote_addr: Some(peer),
        };
        let service =
            service
                .clone()
                .map_request(move |mut req: Request<hyper::body::Incoming>| {
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

/// Serves [`routes`] with tonic's own server, the layer in
/// `Server::builder().layer(...)`. HTTP/1.1 is accepted so the socket route
/// can be reached at all; see the module docs for why no socket opens here.
///
/// # Errors
///
/// When tonic's server fails.
pub async fn serve_tonic(
    listener: TcpListener,
    store: Store,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .accept_http1(true)
        .layer(ws_layer(store.clone()))
        .add_routes(routes(store))
        .serve_with_incoming(TcpIncoming::from(listener))
        .await
}

/// Stand-in authentication: trusts the `x-demo-user` header (printable
/// ASCII, 1 to 64 bytes) and puts the [`User`] in the extensions, where
/// [`MintService`] looks. NOT authentication; replace it.
async fn demo_auth(mut req: Request, next: Next) -> Response {
    if let Some(user) = demo_user(req.headers()) {
        req.extensions_mut().insert(user);
    }
    next.run(req).await
}

fn demo_user(headers: &HeaderMap) -> Option<User> {
    let name = headers.get(DEMO_USER_HEADER)?.to_str().ok()?.trim();
    (!name.is_empty() && name.len() <= 64).then(|| User(name.to_owned()))
}

/// `/api/ws`: the layer left the [`Principal`] in the extensions. Taking it
/// as a required `Extension` fails closed should the layer ever be missing.
async fn socket(
    upgrade: WebSocketUpgrade,
    Extension(principal): Extension<Principal<User>>,
) -> Response {
    let greeting = match principal {
        Principal::Ticket(redeemed) => format!("hello {}", redeemed.identity.0),
        // Only tickets are configured here; Principal is non-exhaustive.
        _ => "hello".to_owned(),
    };
    upgrade.on_upgrade(move |socket| echo(socket, greeting))
}

/// Greets, then echoes text until the client closes.
async fn echo(mut socket: WebSocket, greeting: String) {
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

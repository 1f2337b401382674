//! The tonic 0.14 app of the `stack_tonic` example
//! (`examples/stack_tonic/main.rs` starts it; `tests/it/stack_tonic.rs`
//! drives it over real TCP).
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
//! [`routes`]). Put your real session check there. The stand-in, the
//! [`User`], the socket handler and the hyper-util accept loop are shared
//! with the other stack examples, in [`common`].

use std::net::SocketAddr;

use axum::http::Extensions;
use axum::middleware;
use axum::routing::any;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tower::Layer;
use tower_ws_ticket::{MintService, WsTicketLayer};

use crate::common::{self, MINT_PATH, Store, User, demo_auth, socket};

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
    let local = listener.local_addr().ok();
    // The same extension tonic's own server sets, so gRPC handlers'
    // `Request::remote_addr` and the layer's audit events both see it.
    let info = move |peer| TcpConnectInfo {
        local_addr: local,
        remote_addr: Some(peer),
    };
    common::serve_with_upgrades(
        listener,
        auto::Builder::new(TokioExecutor::new()),
        service,
        info,
    )
    .await
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

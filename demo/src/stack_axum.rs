//! The axum 0.8 app of the `stack_axum` example
//! (`examples/stack_axum/main.rs` starts it; `tests/it/stack_axum.rs`
//! drives it over real TCP).
//!
//! Per-route configuration: each socket route gets its own
//! [`WsTicketLayer`] through `route_layer`, which wraps only the routes
//! already added to *that* router (so a request to an unknown path stays a
//! 404 instead of becoming a 401). Two routes with two settings therefore
//! live in two routers, merged at the end:
//!
//! | route | accepts | for |
//! |---|---|---|
//! | `POST /api/auth/ws-ticket` | a signed-in [`User`] | the page, to get a ticket |
//! | `/api/ws` | `?ticket=` and `?internal=` | the page, and the server's own children |
//! | `/api/pub` | `?internal=` only | the server's own children |
//!
//! A `route_layer` called twice on one router would wrap the first route
//! in both layers; merging separate routers keeps each setting to its route.
//!
//! Sign-in is a stand-in: [`demo_auth`] trusts an `x-demo-user` header.
//! Put your real session check there; the crate only needs the signed-in
//! identity in the request extensions of the mint route.
//!
//! The stand-in, the [`User`] and the `/api/ws` handler [`socket`] (which,
//! like `/api/pub`'s, takes the [`Principal`] as a required `Extension`, so
//! the route fails closed without the layer) are shared with the other
//! stack examples, in [`common`](crate::common).

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{Extensions, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use tower_ws_ticket::{InternalCredential, MintService, Principal, WsTicketLayer};

use crate::common::{MINT_PATH, Store, User, demo_auth, socket};

/// The whole app: the mint route and the two socket routes, each socket
/// route with its own layer. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so the layers see
/// the peer address.
///
/// `internal` is the process's credential for the clients it spawns; hand
/// it to them with `ChildCredential::attach_url`, never to a browser.
pub fn app(store: Store, internal: InternalCredential) -> Router {
    // The page's socket: tickets, and the internal credential for children.
    let sockets = Router::new().route("/api/ws", any(socket)).route_layer(
        WsTicketLayer::new(store.clone())
            .internal_credential(internal.clone())
            .peer_addr(connect_info)
            .audit_label(|user: &User| user.0.clone()),
    );

    // The children's publish socket: the internal credential only. A ticket
    // presented here is refused (401) without being consumed, so a page
    // that dials the wrong route loses nothing.
    let publish = Router::new().route("/api/pub", any(publish)).route_layer(
        WsTicketLayer::new(store.clone())
            .internal_credential(internal)
            .without_tickets()
            .peer_addr(connect_info),
    );

    Router::new()
        .route_service(
            MINT_PATH,
            MintService::new(store)
                .peer_addr(connect_info)
                .audit_label(|user: &User| user.0.clone()),
        )
        .route_layer(middleware::from_fn(demo_auth))
        .merge(sockets)
        .merge(publish)
}

/// The peer address as axum's `ConnectInfo` carries it.
fn connect_info(extensions: &Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}

/// `/api/pub`: the layer already refuses tickets here (`without_tickets`);
/// the handler checks again before upgrading, so loosening the layer by
/// mistake cannot open this route to browsers.
async fn publish(
    upgrade: WebSocketUpgrade,
    Extension(principal): Extension<Principal<User>>,
) -> Response {
    if !matches!(principal, Principal::Internal) {
        return StatusCode::FORBIDDEN.into_response();
    }
    // Internal, so the same socket as `/api/ws`.
    socket(upgrade, Extension(principal)).await
}

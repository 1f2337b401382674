//! The axum 0.8 app of the `stack_axum` example, shared with
//! `tests/stack_axum.rs` so the example and its test cannot drift.
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

use std::net::SocketAddr;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Request};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use tower_ws_ticket::{InternalCredential, MemoryStore, MintService, Principal, WsTicketLayer};

/// Where the page asks for a ticket.
pub const MINT_PATH: &str = "/api/auth/ws-ticket";
/// The stand-in sign-in header (see [`demo_auth`]).
pub const DEMO_USER_HEADER: &str = "x-demo-user";

/// The signed-in user, as the application's own auth knows it: the identity
/// a ticket is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User(pub String);

/// The store shared by the mint route and the socket routes.
pub type Store = MemoryStore<User>;

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

/// Stand-in authentication: trusts the `x-demo-user` header and puts the
/// [`User`] it names into the request extensions, where [`MintService`]
/// looks for it. It never refuses: without the header the mint route
/// answers 401 itself. NOT authentication; replace it with your session
/// check.
async fn demo_auth(mut req: Request, next: Next) -> Response {
    if let Some(user) = demo_user(req.headers()) {
        req.extensions_mut().insert(user);
    }
    next.run(req).await
}

/// The user the stand-in header names: printable ASCII, 1 to 64 bytes.
fn demo_user(headers: &HeaderMap) -> Option<User> {
    let name = headers.get(DEMO_USER_HEADER)?.to_str().ok()?.trim();
    (!name.is_empty() && name.len() <= 64).then(|| User(name.to_owned()))
}

/// `/api/ws`: the layer admitted the upgrade and left the [`Principal`] in
/// the extensions. Taking it as `Extension` (not `Option<Extension>`) makes
/// the route fail closed should it ever be mounted without the layer.
async fn socket(
    upgrade: WebSocketUpgrade,
    Extension(principal): Extension<Principal<User>>,
) -> Response {
    let greeting = greeting(&principal);
    upgrade.on_upgrade(move |socket| echo(socket, greeting))
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
    let greeting = greeting(&principal);
    upgrade.on_upgrade(move |socket| echo(socket, greeting))
}

/// The first message on a socket: who the layer says is connected.
fn greeting(principal: &Principal<User>) -> String {
    match principal {
        Principal::Ticket(redeemed) => format!("hello {}", redeemed.identity.0),
        Principal::Internal => "hello internal client".to_owned(),
        Principal::SessionToken => "hello session".to_owned(),
        // Principal is non-exhaustive: a later credential kind greets too.
        _ => "hello".to_owned(),
    }
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

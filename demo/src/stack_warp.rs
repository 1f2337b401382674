//! The warp 0.4 app of the `stack_warp` example
//! (`examples/stack_warp/main.rs` starts it; `tests/it/stack_warp.rs`
//! drives it over real TCP).
//!
//! warp has no per-route tower layers, so the layer wraps the whole warp
//! filter, turned into a tower service by `warp::service`, and is scoped
//! to the socket path with `guard_path`: upgrades elsewhere (here the
//! public `/public/ws`) and every plain request pass untouched.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/auth/ws-ticket` | [`MintService`], beside the warp service |
//! | `/api/ws` | WebSocket, guarded: tickets only |
//! | `/public/ws` | WebSocket, outside the layer's scope: no credential |
//! | `GET /api/hello` | a plain warp route |
//!
//! # Reading the `Principal` in a warp handler
//!
//! The layer puts a [`Principal<User>`](Principal) in the request
//! extensions before warp sees the request. warp reads request extensions
//! with `warp::ext::get::<T>()`, which rejects (500) when the value is
//! missing, so a guarded route cannot run without it:
//!
//! ```
//! # use tower_ws_ticket::Principal;
//! # use tower_ws_ticket_demo::common::User;
//! use warp::Filter;
//!
//! let route = warp::path!("api" / "ws")
//!     .and(warp::ws())
//!     .and(warp::ext::get::<Principal<User>>())
//!     .map(|ws: warp::ws::Ws, principal: Principal<User>| {
//!         ws.on_upgrade(move |_socket| async move { drop(principal) })
//!     });
//! # let _ = route;
//! ```
//!
//! Sign-in is a stand-in: the mint route trusts an `x-demo-user` header
//! (through [`MintService::identity_from`]). Put your real session check
//! there. The stand-in, the [`User`] and the hyper-util accept loop are
//! shared with the other stack examples, in [`common`].

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceExt};
use tower_ws_ticket::{MintService, Principal, WsTicketLayer};
use warp::Filter;
use warp::ws::{Message, WebSocket, Ws};

use crate::common::{self, MINT_PATH, Store, User, demo_user, greeting};

/// One body type for the mint route's and warp's responses.
pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// The whole app as one tower service: the mint route, and the warp filter
/// behind the layer scoped to `/api/ws`.
pub fn service(
    store: Store,
) -> impl Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    let warp = WsTicketLayer::new(store.clone())
        .guard_path("/api/ws")
        .audit_label(|user: &User| user.0.clone())
        .layer(warp::service(routes()));
    let mint = MintService::new(store)
        .identity_from(|parts| demo_user(&parts.headers))
        .audit_label(|user: &User| user.0.clone());

    // The mint route is a tower service, not a warp filter, so a path
    // dispatch puts it beside warp.
    tower::service_fn(move |req: Request<Incoming>| {
        let mint = mint.clone();
        let warp = warp.clone();
        async move {
            if req.uri().path() == MINT_PATH {
                let response = mint.oneshot(req).await?;
                Ok(response.map(|body| body.map_err(Into::into).boxed()))
            } else {
                let response = warp.oneshot(req).await?;
                Ok(response.map(|body| body.map_err(Into::into).boxed()))
            }
        }
    })
}

/// The warp routes.
fn routes() -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    let guarded = warp::path!("api" / "ws")
        .and(warp::ws())
        .and(warp::ext::get::<Principal<User>>())
        .map(|ws: Ws, principal: Principal<User>| {
            let greeting = greeting(&principal);
            ws.on_upgrade(move |socket| echo(socket, greeting))
        });
    let public = warp::path!("public" / "ws")
        .and(warp::ws())
        .map(|ws: Ws| ws.on_upgrade(|socket| echo(socket, "hello anonymous".to_owned())));
    let hello = warp::path!("api" / "hello")
        .and(warp::get())
        .map(|| "hello from warp");
    guarded.or(public).or(hello)
}

/// Greets, then echoes text until the client closes.
async fn echo(mut socket: WebSocket, greeting: String) {
    if socket.send(Message::text(greeting)).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.next().await {
        if message.is_close() {
            break;
        }
        // Pings are answered by the WebSocket library; binary is ignored.
        if message.is_text() && socket.send(message).await.is_err() {
            break;
        }
    }
}

/// Serves [`service`] on `listener` with hyper-util, HTTP/1.1 upgrades
/// enabled (warp's `ws()` needs them).
///
/// # Errors
///
/// When accepting a connection fails.
pub async fn serve(listener: TcpListener, store: Store) -> std::io::Result<()> {
    let builder = auto::Builder::new(TokioExecutor::new());
    // A plain `SocketAddr` extension is where the layer looks for the peer
    // address by default (for audit events).
    common::serve_with_upgrades(listener, builder, service(store), |peer: SocketAddr| peer).await
}

//! The plain hyper 1 app of the `stack_hyper` example
//! (`examples/stack_hyper/main.rs` starts it; `tests/it/stack_hyper.rs`
//! drives it over real TCP).
//!
//! One port, HTTP/1.1 and HTTP/2 (hyper-util's auto server), the HTTP/2
//! side with extended CONNECT enabled so WebSockets run over HTTP/2 too
//! (RFC 8441). The service is a plain `service_fn` that does the WebSocket
//! handshake itself, in both shapes:
//!
//! - HTTP/1.1: `GET` with `Upgrade: websocket`, answered `101 Switching
//!   Protocols` with `Sec-WebSocket-Accept`;
//! - HTTP/2: `CONNECT` with `:protocol = websocket`, answered `200 OK`.
//!
//! Plain hyper has no routes to layer one by one, so [`WsTicketLayer`] wraps
//! the whole service and is scoped with `guard_prefix("/api/ws")`: upgrades
//! to `/api/ws` and below need a credential; everything else passes
//! untouched.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/auth/ws-ticket` | [`MintService`] |
//! | `/api/ws`, `/api/ws/…` | WebSocket (HTTP/1.1 or HTTP/2), guarded: tickets only |
//! | `GET /health` | plain text `ok` |
//!
//! Sign-in is a stand-in: the mint route trusts an `x-demo-user` header
//! (through [`MintService::identity_from`]). Put your real session check
//! there. The stand-in, the [`User`] and the hyper-util accept loop are
//! shared with the other stack examples, in [`common`].

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tower::{Layer, Service, ServiceExt};
use tower_ws_ticket::{MintService, Principal, WsTicketLayer};

use crate::common::{self, MINT_PATH, Store, User, demo_user, greeting};

/// The socket routes: this path and everything below it.
pub const WS_PREFIX: &str = "/api/ws";

/// The whole app as one tower service: the handler, wrapped by the layer
/// scoped to [`WS_PREFIX`].
pub fn service(
    store: Store,
) -> impl Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    let mint = MintService::new(store.clone())
        .identity_from(|parts| demo_user(&parts.headers))
        .audit_label(|user: &User| user.0.clone());
    let handler = tower::service_fn(move |req| handle(req, mint.clone()));
    WsTicketLayer::new(store)
        .guard_prefix(WS_PREFIX)
        .audit_label(|user: &User| user.0.clone())
        .layer(handler)
}

/// Serves [`service`] on `listener`: HTTP/1.1 with upgrades and HTTP/2
/// with extended CONNECT, told apart by hyper-util on each connection.
///
/// # Errors
///
/// When accepting a connection fails.
pub async fn serve(listener: TcpListener, store: Store) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Without it an HTTP/2 client may not send `:protocol` (RFC 8441).
    builder.http2().enable_connect_protocol();
    // A plain `SocketAddr` extension is where the layer looks for the peer
    // address by default (for audit events).
    common::serve_with_upgrades(listener, builder, service(store), |peer: SocketAddr| peer).await
}

async fn handle(
    req: Request<Incoming>,
    mint: MintService<Store>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    if path == MINT_PATH {
        return mint.oneshot(req).await;
    }
    let under_prefix = path
        .strip_prefix(WS_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if under_prefix {
        return Ok(websocket(req));
    }
    if path == "/health" && req.method() == Method::GET {
        return Ok(Response::new(Full::from("ok")));
    }
    Ok(status(StatusCode::NOT_FOUND))
}

/// The two shapes of a WebSocket handshake.
enum Handshake {
    /// HTTP/1.1 `GET` + `Upgrade`, with the `Sec-WebSocket-Accept` to send.
    Http1 { accept: HeaderValue },
    /// HTTP/2 extended CONNECT.
    Http2,
}

/// Upgrades a socket route request, greeting with the identity the layer
/// admitted.
fn websocket(mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(handshake) = handshake(&req) else {
        return status(StatusCode::BAD_REQUEST);
    };
    // The layer admitted this upgrade and left the Principal; without one
    // the layer is not in front of this handler, and the socket must not
    // open.
    let Some(principal) = req.extensions_mut().remove::<Principal<User>>() else {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let greeting = greeting(&principal);

    // Resolves once the response below is sent: for HTTP/1.1 the
    // connection, for HTTP/2 the CONNECT stream.
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let io = TokioIo::new(upgraded);
            let socket = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            echo(socket, greeting).await;
        }
    });

    match handshake {
        Handshake::Http1 { accept } => {
            let mut response = status(StatusCode::SWITCHING_PROTOCOLS);
            let headers = response.headers_mut();
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
            response
        }
        // RFC 8441: a 2xx to the CONNECT opens the stream, no accept key.
        Handshake::Http2 => status(StatusCode::OK),
    }
}

/// Which handshake `req` is, if it is a well-formed one. The upgrade tests
/// are token-exact, like the layer's, so nothing the layer passes over as
/// "not an upgrade" is upgraded here.
fn handshake<B>(req: &Request<B>) -> Option<Handshake> {
    let headers = req.headers();
    if headers.get(SEC_WEBSOCKET_VERSION)? != "13" {
        return None;
    }
    match (req.method(), req.version()) {
        (&Method::GET, Version::HTTP_11)
            if has_token(headers, &UPGRADE, "websocket")
                && has_token(headers, &CONNECTION, "upgrade") =>
        {
            let key = headers.get(SEC_WEBSOCKET_KEY)?;
            let accept = derive_accept_key(key.as_bytes());
            // Base64 text, always a valid header value; refuse rather than
            // panic should that ever change.
            let accept = HeaderValue::from_str(&accept).ok()?;
            Some(Handshake::Http1 { accept })
        }
        (&Method::CONNECT, Version::HTTP_2) => {
            let protocol = req.extensions().get::<hyper::ext::Protocol>()?;
            (protocol.as_str() == "websocket").then_some(Handshake::Http2)
        }
        _ => None,
    }
}

/// Whether a comma-separated header holds `token`, in any case.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Greets, then echoes text until the client closes.
async fn echo<S>(mut socket: WebSocketStream<S>, greeting: String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if socket.send(Message::text(greeting)).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.next().await {
        if message.is_close() {
            break;
        }
        // tungstenite answers pings itself; binary is ignored.
        if message.is_text() && socket.send(message).await.is_err() {
            break;
        }
    }
}

fn status(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::default());
    *response.status_mut() = status;
    response
}

//! An attacker's requests over real TCP, each against the stack it once
//! broke, as regression tests: the handshake is written by hand so that no
//! client library normalises the path or the headers on the attacker's
//! behalf.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::ws::WebSocketUpgrade;
use axum::routing::any;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tower::{Layer, Service};
use tower_ws_ticket::{MemoryStore, WsTicketLayer};
use warp::Filter;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The paths that used to pass `guard_prefix("/api/ws")` as `/api` while
/// the routers below still sent them to the socket handler.
const DOT_SEGMENT_PATHS: [&str; 4] = [
    "/api/ws/..",
    "/api/ws/%2e%2e",
    "/api/ws/.%2e",
    "/api/ws/x%2F..%2F..",
];

/// Sends a WebSocket handshake for `path` as raw bytes and returns the
/// status of the answer.
async fn handshake_status(addr: SocketAddr, path: &str) -> StatusCode {
    handshake_status_with(addr, path, b"").await
}

/// [`handshake_status`] with `extra` header lines (each ending in CRLF),
/// sent byte for byte.
async fn handshake_status_with(addr: SocketAddr, path: &str, extra: &[u8]) -> StatusCode {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    let request = [head.as_bytes(), extra, b"\r\n"].concat();
    stream.write_all(&request).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("answer in time")
            .expect("read");
        assert_eq!(read, 1, "connection closed mid-answer: {head:?}");
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    let code = line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no status in {line:?}"));
    StatusCode::from_u16(code).expect("status")
}

/// Serves `service` with hyper-util (HTTP/1.1 upgrades on) on a free port.
async fn serve<S>(service: S) -> SocketAddr
where
    S: Service<Request<Incoming>, Response = Response<axum::body::Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn guard() -> WsTicketLayer<MemoryStore<String>> {
    WsTicketLayer::new(MemoryStore::<String>::new()).guard_prefix("/api/ws")
}

/// Every dot-segment path is refused before the handler, and the routes
/// still work as routes: an ordinary room without a credential is a 401
/// (so the request did reach the guard), and outside the prefix nothing
/// changes.
async fn assert_no_bypass(addr: SocketAddr) {
    for path in DOT_SEGMENT_PATHS {
        let status = handshake_status(addr, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} got {status}");
    }
    assert_eq!(
        handshake_status(addr, "/api/ws/lobby").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn axum_whole_router_guard_prefix_refuses_dot_segments() {
    // The handler does not ask for a Principal: the guard alone stands
    // between the path and the socket, as in an app that trusts its scope.
    let router = axum::Router::new().route(
        "/api/ws/{room}",
        any(|ws: WebSocketUpgrade| async move { ws.on_upgrade(|_socket| async {}) }),
    );
    let addr = serve(guard().layer(router)).await;
    assert_no_bypass(addr).await;
}

#[tokio::test]
async fn warp_guard_prefix_refuses_dot_segments() {
    let route = warp::path!("api" / "ws" / String)
        .and(warp::ws())
        .map(|_room: String, ws: warp::ws::Ws| ws.on_upgrade(|_socket| async {}));
    let service = guard().layer(
        tower::util::MapResponseLayer::new(|r: Response<_>| r.map(axum::body::Body::new))
            .layer(warp::service(route)),
    );
    let addr = serve(service).await;
    assert_no_bypass(addr).await;
}

#[tokio::test]
async fn hyper_strip_prefix_router_refuses_dot_segments() {
    // A hand-written router: anything under /api/ws/ is a room's socket.
    let router = tower::service_fn(|req: Request<Incoming>| async move {
        let mut response = Response::new(axum::body::Body::empty());
        match req.uri().path().strip_prefix("/api/ws/") {
            Some(_room) => {
                let key = req
                    .headers()
                    .get("sec-websocket-key")
                    .map(|key| derive_accept_key(key.as_bytes()))
                    .unwrap_or_default();
                *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                let headers = response.headers_mut();
                headers.insert("upgrade", "websocket".parse().unwrap());
                headers.insert("connection", "upgrade".parse().unwrap());
                headers.insert("sec-websocket-accept", key.parse().unwrap());
            }
            None => *response.status_mut() = StatusCode::NOT_FOUND,
        }
        Ok::<_, Infallible>(response)
    });
    let addr = serve(guard().layer(router)).await;
    assert_no_bypass(addr).await;
    // The router itself is live: outside the prefix it answers.
    assert_eq!(
        handshake_status(addr, "/elsewhere").await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn guard_path_inside_a_nested_axum_router_still_guards() {
    // The layer inside `nest("/api", …)` sees `/ws`; the client sent
    // `/api/ws`, which is what `guard_path` names. Without reading axum's
    // OriginalUri the scope matched nothing and the socket opened with no
    // credential.
    let inner = axum::Router::new()
        .route(
            "/ws",
            any(|ws: WebSocketUpgrade| async move { ws.on_upgrade(|_socket| async {}) }),
        )
        .layer(WsTicketLayer::new(MemoryStore::<String>::new()).guard_path("/api/ws"));
    let router = axum::Router::new().nest("/api", inner);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    assert_eq!(
        handshake_status(addr, "/api/ws").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_credential_in_a_latin1_protocol_line_is_not_handed_on() {
    // Issue 18, finding 1: a `Sec-WebSocket-Protocol` line with obs-text
    // bytes was skipped unread; with a ticket in the query too, the query
    // ticket opened the socket and the handler got the line, with a second
    // credential in it.
    let store = MemoryStore::<String>::new();
    let router = axum::Router::new().route(
        "/api/ws",
        any(|ws: WebSocketUpgrade| async move { ws.on_upgrade(|_socket| async {}) }),
    );
    let addr = serve(WsTicketLayer::new(store.clone()).layer(router)).await;
    let query = store.mint("alice".to_owned()).unwrap();
    let hidden = store.mint("mallory".to_owned()).unwrap();
    let line = [
        b"Sec-WebSocket-Protocol: ws-ticket, ws-ticket.".as_slice(),
        hidden.expose_secret().as_bytes(),
        b", caf\xe9\r\n",
    ]
    .concat();
    let path = format!("/api/ws?ticket={}", query.expose_secret());
    assert_eq!(
        handshake_status_with(addr, &path, &line).await,
        StatusCode::UNAUTHORIZED
    );
    // Nothing consumed.
    assert!(store.consume(query.expose_secret()).is_ok());
    assert!(store.consume(hidden.expose_secret()).is_ok());
}

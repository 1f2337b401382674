//! An axum app over real TCP: the layer guards handshakes that bend
//! RFC 6455 as well as well-formed ones. (The end-to-end flow under a
//! TRACE subscriber is `tests/axum_log.rs`, alone in its binary.)

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use axum::routing::get;
use tower_ws_ticket::{MemoryStore, WsTicketLayer};
use tower_ws_ticket_demo::testkit::{self, User};

/// The status line of the answer to a raw HTTP/1.1 request.
async fn raw_status_line(addr: SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(testkit::STEP, stream.read(&mut answer))
        .await
        .expect("answer in time")
        .expect("read answer");
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    answer.lines().next().unwrap_or_default().to_owned()
}

// A handler that forgets to extract the Principal must still be guarded:
// axum upgrades handshakes that bend RFC 6455 (its Connection check is a
// substring match, and hyper upgrades on the Upgrade header alone), so the
// layer must treat those as upgrades too.
#[tokio::test]
async fn lenient_handshakes_cannot_slip_past_the_layer() {
    async fn careless(ws: WebSocketUpgrade) -> Response {
        ws.on_upgrade(|_socket| async {})
    }
    let store = MemoryStore::<User>::new();
    let app = Router::new()
        .route("/api/ws", get(careless))
        .route_layer(WsTicketLayer::new(store));
    let addr = testkit::serve_axum(app).await;
    for connection in ["Upgrade", "upgraded", "x-upgrade, keep-alive"] {
        let request = format!(
            "GET /api/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: {connection}\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        let status = raw_status_line(addr, &request).await;
        assert!(
            status.starts_with("HTTP/1.1 401"),
            "Connection: {connection} got {status}"
        );
    }
}

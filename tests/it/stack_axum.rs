//! The `stack_axum` example's app (`tower_ws_ticket_demo::stack_axum`) over
//! real TCP: a real HTTP client mints, a real WebSocket client
//! (tokio-tungstenite) connects.
//!
//! `/api/ws` takes tickets and the internal credential, `/api/pub` the
//! internal credential only: two `route_layer`s in one app.

use std::net::SocketAddr;
use tower_ws_ticket_demo::testkit;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_ws_ticket::{ChildCredential, InternalCredential};
use tower_ws_ticket_demo::common::{DEMO_USER_HEADER, MINT_PATH, Store};
use tower_ws_ticket_demo::stack_axum::app;
use tower_ws_ticket_demo::testkit::{
    connect, mint_for, next_text, refused_status, round_trip, send, serve_axum,
};

async fn serve() -> (SocketAddr, InternalCredential) {
    let internal = InternalCredential::generate();
    let addr = serve_axum(app(Store::new(), internal.clone())).await;
    (addr, internal)
}

/// The attach URL a spawned child would be given for `path`.
fn internal_url(addr: SocketAddr, path: &str, internal: &InternalCredential) -> String {
    ChildCredential::Internal(internal.clone())
        .attach_url(&format!("ws://{addr}{path}"))
        .expect("the base URL carries no credential")
}

#[tokio::test]
async fn ticket_opens_api_ws_once() {
    let (addr, _) = serve().await;
    let ticket = mint_for(addr, "alice").await;
    let url = format!("ws://{addr}/api/ws?ticket={ticket}");

    let mut socket = connect(&url).await.expect("a fresh ticket opens /api/ws");
    assert_eq!(next_text(&mut socket).await, "hello alice");
    assert_eq!(round_trip(&mut socket, "ping").await, "ping");

    assert_eq!(refused_status(&url).await, StatusCode::UNAUTHORIZED);
}

/// The page's way (README, "The page"): the ticket as a `Sec-WebSocket-Protocol`
/// entry. The handler selects no protocol of its own, so the layer answers
/// with the `ws-ticket` marker selected, without which a browser (and
/// tokio-tungstenite) fails the handshake. Still single-use.
#[tokio::test]
async fn ticket_in_the_subprotocol_opens_api_ws_once() {
    let (addr, _) = serve().await;
    let ticket = mint_for(addr, "alice").await;
    let url = format!("ws://{addr}/api/ws");
    testkit::assert_subprotocol_ticket_opens_once(&url, &ticket, "alice").await;
}

#[tokio::test]
async fn upgrades_without_a_credential_are_refused() {
    let (addr, _) = serve().await;
    for path in ["/api/ws", "/api/pub"] {
        let status = refused_status(&format!("ws://{addr}{path}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn mint_route_needs_the_signed_in_user_and_post() {
    let (addr, _) = serve().await;
    let url = format!("http://{addr}{MINT_PATH}");

    let anonymous = Request::post(&url).body(Full::<Bytes>::default()).unwrap();
    assert_eq!(send(anonymous).await.0, StatusCode::UNAUTHORIZED);

    let get = Request::builder()
        .method(Method::GET)
        .uri(&url)
        .header(DEMO_USER_HEADER, "alice")
        .body(Full::<Bytes>::default())
        .unwrap();
    let (status, headers, _) = send(get).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "POST");
}

#[tokio::test]
async fn internal_credential_opens_both_routes_any_number_of_times() {
    let (addr, internal) = serve().await;
    for path in ["/api/ws", "/api/pub"] {
        let url = internal_url(addr, path, &internal);
        // A child reuses its attach URL on every reconnect.
        for attempt in 0..2 {
            let mut socket = connect(&url)
                .await
                .unwrap_or_else(|err| panic!("{path}, attempt {attempt}: {err}"));
            assert_eq!(next_text(&mut socket).await, "hello internal client");
            assert_eq!(round_trip(&mut socket, "from child").await, "from child");
        }
    }
}

#[tokio::test]
async fn api_pub_refuses_a_ticket_without_consuming_it() {
    let (addr, _) = serve().await;
    let ticket = mint_for(addr, "bob").await;

    let status = refused_status(&format!("ws://{addr}/api/pub?ticket={ticket}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Refused on /api/pub, the ticket is still good where tickets belong.
    let mut socket = connect(&format!("ws://{addr}/api/ws?ticket={ticket}"))
        .await
        .expect("the ticket survived /api/pub");
    assert_eq!(next_text(&mut socket).await, "hello bob");
}

#[tokio::test]
async fn wrong_internal_credential_is_refused() {
    let (addr, _) = serve().await;
    let other = InternalCredential::generate();
    for path in ["/api/ws", "/api/pub"] {
        let status = refused_status(&internal_url(addr, path, &other)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn route_layer_keeps_unknown_paths_404() {
    let (addr, _) = serve().await;
    let status = refused_status(&format!("ws://{addr}/api/nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// axum's `WebSocketUpgrade` finds `upgrade` anywhere in the first
/// `Connection` value, and hyper upgrades any HTTP/1.1 request with an
/// `Upgrade` header, while the layer looks for the exact `upgrade` token.
/// A handshake with `Connection: upgraded` is therefore no upgrade to the
/// layer, which passes it on. The handlers take the `Principal` as a
/// required `Extension`, so the socket still does not open.
#[tokio::test]
async fn handshake_the_layer_does_not_see_as_an_upgrade_does_not_open() {
    let (addr, _) = serve().await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET /api/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: upgraded\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(testkit::STEP, stream.read(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    let status_line = String::from_utf8_lossy(&buf[..n]);
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    assert!(
        !status_line.starts_with("HTTP/1.1 101"),
        "the socket opened without a credential: {status_line}"
    );
}

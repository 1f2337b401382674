//! The `stack_hyper` example's app (`tower_ws_ticket_demo::stack_hyper`)
//! over real TCP, both protocols on one port: HTTP/1.1 with
//! tokio-tungstenite, and HTTP/2 with hyper's own HTTP/2 client sending an
//! extended CONNECT (RFC 8441), then speaking
//! WebSocket over the CONNECT stream.

use std::net::SocketAddr;
use tower_ws_ticket_demo::{stack_hyper, testkit};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper::ext::Protocol;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tower_ws_ticket_demo::common::Store;
use tower_ws_ticket_demo::stack_hyper::WS_PREFIX;
use tower_ws_ticket_demo::testkit::{
    STEP, connect, mint_for, next_text, offered_protocols, read_response, refused_status,
    round_trip, send,
};

async fn start() -> SocketAddr {
    testkit::serve_on_loopback(|listener| stack_hyper::serve(listener, Store::new())).await
}

/// An HTTP/2 connection (prior knowledge, no TLS) to `addr`.
async fn h2_client(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (client, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    client
}

/// Sends the RFC 8441 extended CONNECT for a WebSocket to
/// `path_and_query` on `client`.
async fn h2_websocket_connect(
    client: &mut SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    path_and_query: &str,
) -> Response<Incoming> {
    h2_websocket_connect_offering(client, addr, path_and_query, None).await
}

/// [`h2_websocket_connect`], offering `protocols` in
/// `Sec-WebSocket-Protocol` when given.
async fn h2_websocket_connect_offering(
    client: &mut SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    path_and_query: &str,
    protocols: Option<&str>,
) -> Response<Incoming> {
    let mut request = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{addr}{path_and_query}"))
        .header("sec-websocket-version", "13")
        .extension(Protocol::from_static("websocket"));
    if let Some(protocols) = protocols {
        request = request.header("sec-websocket-protocol", protocols);
    }
    let request = request.body(Empty::new()).expect("request");
    tokio::time::timeout(STEP, client.send_request(request))
        .await
        .expect("CONNECT answered in time")
        .expect("CONNECT sent")
}

#[tokio::test]
async fn h1_ticket_opens_the_socket_once() {
    let addr = start().await;
    let ticket = mint_for(addr, "grace").await;
    let url = format!("ws://{addr}{WS_PREFIX}?ticket={ticket}");

    let mut socket = connect(&url)
        .await
        .expect("a fresh ticket opens the socket");
    assert_eq!(next_text(&mut socket).await, "hello grace");
    assert_eq!(round_trip(&mut socket, "over h1").await, "over h1");

    assert_eq!(refused_status(&url).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused_status(&format!("ws://{addr}{WS_PREFIX}")).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The page's way (README, "The page"): the ticket as a `Sec-WebSocket-Protocol`
/// entry, over HTTP/1.1 and over HTTP/2. The hand-written handshake selects
/// no protocol, so the layer answers with the `ws-ticket` marker selected
/// (on the 101, and on the CONNECT's 200); without it a browser (and
/// tokio-tungstenite) fails the handshake. Each ticket works once.
#[tokio::test]
async fn ticket_in_the_subprotocol_opens_the_socket_once_on_both_protocols() {
    let addr = start().await;

    // HTTP/1.1.
    let ticket = mint_for(addr, "grace").await;
    let url = format!("ws://{addr}{WS_PREFIX}");
    testkit::assert_subprotocol_ticket_opens_once(&url, &ticket, "grace").await;

    // HTTP/2 extended CONNECT.
    let ticket = mint_for(addr, "ivan").await;
    let offered = offered_protocols(&ticket, &[]);
    let mut client = h2_client(addr).await;
    let response =
        h2_websocket_connect_offering(&mut client, addr, WS_PREFIX, Some(&offered)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["sec-websocket-protocol"], "ws-ticket");
    let upgraded = tokio::time::timeout(STEP, hyper::upgrade::on(response))
        .await
        .expect("upgrade in time")
        .expect("the CONNECT stream is handed over");
    let mut socket =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    assert_eq!(next_text(&mut socket).await, "hello ivan");
    assert_eq!(round_trip(&mut socket, "over h2").await, "over h2");
    let replay = h2_websocket_connect_offering(&mut client, addr, WS_PREFIX, Some(&offered)).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn h1_guard_prefix_covers_paths_below_it() {
    let addr = start().await;
    let below = format!("ws://{addr}{WS_PREFIX}/lobby");
    assert_eq!(refused_status(&below).await, StatusCode::UNAUTHORIZED);

    let ticket = mint_for(addr, "heidi").await;
    let mut socket = connect(&format!("{below}?ticket={ticket}"))
        .await
        .expect("a ticket opens a socket below the prefix");
    assert_eq!(next_text(&mut socket).await, "hello heidi");
}

#[tokio::test]
async fn h2_extended_connect_with_a_ticket_opens_the_socket_once() {
    let addr = start().await;
    let ticket = mint_for(addr, "ivan").await;
    let path = format!("{WS_PREFIX}?ticket={ticket}");
    let mut client = h2_client(addr).await;

    let response = h2_websocket_connect(&mut client, addr, &path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let upgraded = tokio::time::timeout(STEP, hyper::upgrade::on(response))
        .await
        .expect("upgrade in time")
        .expect("the CONNECT stream is handed over");
    let mut socket =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    assert_eq!(next_text(&mut socket).await, "hello ivan");
    assert_eq!(round_trip(&mut socket, "over h2").await, "over h2");

    // Replayed, on the same HTTP/2 connection and over HTTP/1.1.
    let replay = h2_websocket_connect(&mut client, addr, &path).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused_status(&format!("ws://{addr}{path}")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn h2_extended_connect_without_a_valid_ticket_is_refused() {
    let addr = start().await;
    let mut client = h2_client(addr).await;
    for query in ["", "?ticket=wst_forged", "?token=anything"] {
        let response =
            h2_websocket_connect(&mut client, addr, &format!("{WS_PREFIX}{query}")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{query:?}");
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn h2_ticket_used_over_h1_is_refused() {
    let addr = start().await;
    let ticket = mint_for(addr, "judy").await;
    let path = format!("{WS_PREFIX}?ticket={ticket}");
    let _socket = connect(&format!("ws://{addr}{path}"))
        .await
        .expect("the ticket opens over HTTP/1.1");

    let mut client = h2_client(addr).await;
    let response = h2_websocket_connect(&mut client, addr, &path).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn requests_outside_the_prefix_pass_untouched_on_both_protocols() {
    let addr = start().await;
    let health = Request::get(format!("http://{addr}/health"))
        .body(Full::<Bytes>::default())
        .unwrap();
    let (status, _, body) = send(health).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ok");

    let mut client = h2_client(addr).await;
    let health = Request::get(format!("http://{addr}/health"))
        .body(Empty::new())
        .unwrap();
    let response = tokio::time::timeout(STEP, client.send_request(health))
        .await
        .expect("answered in time")
        .expect("GET over HTTP/2");
    let (status, _, body) = read_response(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ok");

    // Upgrades outside the prefix reach the handler, which has no socket
    // there: the layer did not answer them (it would say 401). The h1
    // upgrade is a GET, so /health answers it plainly; the CONNECT gets 404.
    let status = refused_status(&format!("ws://{addr}/health")).await;
    assert_eq!(status, StatusCode::OK);
    let response = h2_websocket_connect(&mut client, addr, "/health").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

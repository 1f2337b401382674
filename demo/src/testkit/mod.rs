//! What the end-to-end tests and the benchmarks share: real TCP sockets
//! on loopback, a real HTTP client (hyper-util) and a real WebSocket client
//! (tokio-tungstenite), a throwaway `redis-server`
//! ([`redis_server::RedisServer`]), and a client for the dashboard
//! ([`dashboard::Demo`]).
//!
//! Every helper fails loudly (it panics with what went wrong) rather than
//! returning an error: a test or a benchmark has nothing better to do with
//! one.

pub mod bench;
pub mod dashboard;
pub mod failover;
pub mod log;
pub mod redis_server;
/// The revocation tests' app (`tests/it/revocation.rs`, `tests/revocation_redis.rs`).
pub mod revocation;
pub mod user;

pub use log::LogCapture;
pub use redis_server::RedisServer;
pub use user::{USER_HEADER, User, gate};

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tower_ws_ticket::wire::SUBPROTOCOL;

use crate::common;

/// A connected WebSocket client.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any single network step of a test may take before it fails.
pub const STEP: Duration = Duration::from_secs(10);

/// Serves an axum router on a free loopback port, with the peer address
/// available as `ConnectInfo<SocketAddr>`, and returns the address.
pub async fn serve_axum(router: axum::Router) -> SocketAddr {
    serve_on_loopback(|listener| async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    })
    .await
}

/// Binds a free loopback port, spawns `serve` on it (a server that fails
/// fails the test), and returns the address.
pub async fn serve_on_loopback<F, E>(serve: impl FnOnce(TcpListener) -> F) -> SocketAddr
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: Debug,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let server = serve(listener);
    tokio::spawn(async move { server.await.expect("server") });
    addr
}

/// Sends a request with an empty body and returns the status and body text.
pub async fn send(request: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = tokio::time::timeout(STEP, client.request(request))
        .await
        .expect("HTTP request timed out")
        .expect("HTTP request failed");
    read_response(response).await
}

/// The status, headers and body text of `response`.
pub async fn read_response(response: Response<Incoming>) -> (StatusCode, http::HeaderMap, String) {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// `POST`s to the mint route at `url` with `headers` (for example a
/// session cookie) and returns the ticket text from the JSON answer.
pub async fn mint(url: &str, headers: &[(&str, &str)]) -> String {
    let mut request = Request::post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, _, body) = send(request.body(Full::default()).expect("request")).await;
    assert_eq!(status, StatusCode::OK, "mint answered {status}: {body}");
    ticket_from_json(&body)
}

/// Mints a ticket for `user` from a stack app at `addr`, signed in with
/// the stack apps' stand-in header ([`common::DEMO_USER_HEADER`]).
pub async fn mint_for(addr: SocketAddr, user: &str) -> String {
    mint(
        &format!("http://{addr}{}", common::MINT_PATH),
        &[(common::DEMO_USER_HEADER, user)],
    )
    .await
}

/// The `ticket` field of the mint route's JSON answer.
pub fn ticket_from_json(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).expect("mint answer is JSON");
    value["ticket"]
        .as_str()
        .unwrap_or_else(|| panic!("no ticket in {body}"))
        .to_owned()
}

/// Opens a WebSocket to `url`.
pub async fn connect(url: &str) -> Result<Socket, tungstenite::Error> {
    tokio::time::timeout(STEP, tokio_tungstenite::connect_async(url))
        .await
        .expect("WebSocket connect timed out")
        .map(|(socket, _response)| socket)
}

/// What a browser offers in `Sec-WebSocket-Protocol` for `credential` (a
/// ticket or the internal credential): the marker, the credential entry,
/// then the app's own `protocols`: `ws-ticket, ws-ticket.wst_…, chat.v1`.
pub fn offered_protocols(credential: &str, protocols: &[&str]) -> String {
    let mut offered = format!("{SUBPROTOCOL}, {SUBPROTOCOL}.{credential}");
    for protocol in protocols {
        offered.push_str(", ");
        offered.push_str(protocol);
    }
    offered
}

/// Opens a WebSocket with `request` (a URL, or a request with headers of
/// its own) offering `protocols` in `Sec-WebSocket-Protocol` (see
/// [`offered_protocols`]), as a browser page does; returns the socket and
/// the protocol the server selected. tokio-tungstenite itself fails a
/// handshake whose server selects a protocol that was not offered, or none
/// at all.
pub async fn connect_offering(
    request: impl IntoClientRequest,
    protocols: &str,
) -> Result<(Socket, Option<String>), tungstenite::Error> {
    let mut request = request.into_client_request()?;
    let offered = http::HeaderValue::from_str(protocols).expect("a valid header value");
    request
        .headers_mut()
        .insert(http::header::SEC_WEBSOCKET_PROTOCOL, offered);
    let (socket, response) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .expect("WebSocket connect timed out")?;
    let selected = response
        .headers()
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .map(|value| value.to_str().expect("ASCII protocol").to_owned());
    Ok((socket, selected))
}

/// The stack examples' check of the subprotocol channel: a fresh ticket
/// for `user` in `Sec-WebSocket-Protocol` opens the socket at `url` (the
/// server selects the marker), which greets `hello <user>` and echoes;
/// offered again, the ticket is refused with 401.
///
/// # Panics
///
/// When any of that does not happen.
pub async fn assert_subprotocol_ticket_opens_once(url: &str, ticket: &str, user: &str) {
    let offered = offered_protocols(ticket, &[]);
    let (mut socket, selected) = connect_offering(url, &offered)
        .await
        .expect("a fresh ticket in the subprotocol opens the socket");
    assert_eq!(selected.as_deref(), Some(SUBPROTOCOL));
    assert_eq!(next_text(&mut socket).await, format!("hello {user}"));
    assert_eq!(
        round_trip(&mut socket, "via the header").await,
        "via the header"
    );
    match connect_offering(url, &offered).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        other => panic!("expected a 401, got {:?}", other.map(|_| "an open socket")),
    }
}

/// The close frame a socket refused with `accept_then_close` ends with: it
/// opened, and the first thing the server sends is a close.
pub async fn close_frame<S>(socket: &mut WebSocketStream<S>) -> CloseFrame
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(STEP, socket.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => frame,
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// The close code a handshake to `url` ends with on a route whose layer
/// accepts then closes refusals (`WsTicketLayer::accept_then_close`).
pub async fn refused_close_code(url: &str) -> u16 {
    let mut socket = connect(url)
        .await
        .unwrap_or_else(|err| panic!("expected an accepted handshake, got {err}"));
    close_frame(&mut socket).await.code.into()
}

/// The HTTP status a refused WebSocket handshake got.
pub async fn refused_status(url: &str) -> StatusCode {
    match connect(url).await {
        Err(tungstenite::Error::Http(response)) => response.status(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, the socket opened"),
    }
}

/// The next text message on `socket` (a [`Socket`], or a WebSocket over
/// any other stream).
pub async fn next_text<S>(socket: &mut WebSocketStream<S>) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let message = tokio::time::timeout(STEP, socket.next())
            .await
            .expect("no message in time")
            .expect("socket closed")
            .expect("socket error");
        match message {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Sends `text` and returns the next text message.
pub async fn round_trip<S>(socket: &mut WebSocketStream<S>, text: &str) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    socket
        .send(Message::text(text))
        .await
        .expect("send on socket");
    next_text(socket).await
}

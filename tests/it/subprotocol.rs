//! The credential in `Sec-WebSocket-Protocol` (off the URL) and refusals a
//! browser can read (close codes 4401 and 4403), over real TCP: axum behind the layer,
//! served by hyper-util with HTTP/1.1 upgrades and HTTP/2 extended CONNECT,
//! against tokio-tungstenite, hyper's HTTP/2 client, and raw bytes where a
//! client must misbehave.

use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::routing::any;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{Method, Request, StatusCode};
use http_body_util::Empty;
use hyper::ext::Protocol;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tower_ws_ticket::wire::{CLOSE_FORBIDDEN, CLOSE_TRY_AGAIN_LATER, CLOSE_UNAUTHORIZED};
use tower_ws_ticket::{
    Audience, ManualClock, MemoryStore, MintError, Principal, Redeemed, StoreUnavailable, Ticket,
    TicketError, TicketStore, WsTicketLayer,
};

const STEP: Duration = Duration::from_secs(10);

type Store = MemoryStore<String>;

/// The memory store, which can be switched off as if Redis went down.
#[derive(Clone)]
struct Switchable {
    store: Store,
    down: Arc<AtomicBool>,
}

impl TicketStore for Switchable {
    type Identity = String;
    type MintFuture = Ready<Result<Ticket, MintError>>;
    type ConsumeFuture = Ready<Result<Redeemed<String>, TicketError>>;

    fn mint_ticket(&self, identity: String, audience: Option<&Audience>) -> Self::MintFuture {
        self.store.mint_ticket(identity, audience)
    }

    fn consume_ticket(&self, presented: &str, audience: Option<&Audience>) -> Self::ConsumeFuture {
        if self.down.load(Ordering::SeqCst) {
            return ready(Err(TicketError::Unavailable(StoreUnavailable::new("down"))));
        }
        self.store.consume_ticket(presented, audience)
    }

    fn ttl(&self) -> Duration {
        self.store.ttl()
    }
}

/// Greets with the identity, then echoes text.
async fn echo(mut socket: WebSocket, who: Principal<String>) {
    let greeting = match who {
        Principal::Ticket(Redeemed { identity, .. }) => format!("hello {identity}"),
        _ => "hello".to_owned(),
    };
    if socket.send(Message::Text(greeting.into())).await.is_err() {
        return;
    }
    while let Some(Ok(Message::Text(text))) = socket.recv().await {
        if socket.send(Message::Text(text)).await.is_err() {
            return;
        }
    }
}

/// `/ws` selects no protocol of its own; `/chat` speaks `chat.v1`.
fn app(layer: WsTicketLayer<Switchable>) -> Router {
    Router::new()
        .route(
            "/ws",
            any(|ws: WebSocketUpgrade, who: Principal<String>| async move {
                ws.on_upgrade(move |socket| echo(socket, who))
            }),
        )
        .route(
            "/chat",
            any(|ws: WebSocketUpgrade, who: Principal<String>| async move {
                ws.protocols(["chat.v1"])
                    .on_upgrade(move |socket| echo(socket, who))
            }),
        )
        .route_layer(layer)
}

/// Serves `router` on a free port with HTTP/1.1 upgrades and HTTP/2
/// extended CONNECT.
async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder.http2().enable_connect_protocol();
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

struct Server {
    addr: SocketAddr,
    store: Store,
    down: Arc<AtomicBool>,
}

async fn start(
    configure: impl FnOnce(WsTicketLayer<Switchable>) -> WsTicketLayer<Switchable>,
) -> Server {
    let store = Store::new();
    let down = Arc::new(AtomicBool::new(false));
    let switchable = Switchable {
        store: store.clone(),
        down: Arc::clone(&down),
    };
    let addr = serve(app(configure(WsTicketLayer::new(switchable)))).await;
    Server { addr, store, down }
}

type Socket = WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Opens a socket to `path` offering `protocols`; the socket and the
/// protocol the server selected.
async fn open(
    addr: SocketAddr,
    path: &str,
    protocols: &str,
    origin: Option<&str>,
) -> Result<(Socket, Option<String>), tungstenite::Error> {
    let mut request = format!("ws://{addr}{path}").into_client_request()?;
    if !protocols.is_empty() {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    let (socket, response) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .expect("handshake in time")?;
    let selected = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    Ok((socket, selected))
}

async fn next_text(socket: &mut Socket) -> String {
    match tokio::time::timeout(STEP, socket.next()).await {
        Ok(Some(Ok(WsMessage::Text(text)))) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// The close frame the server ends `socket` with, right away.
async fn close_frame(socket: &mut Socket) -> CloseFrame {
    match tokio::time::timeout(STEP, socket.next()).await {
        Ok(Some(Ok(WsMessage::Close(Some(frame))))) => frame,
        other => panic!("expected a close frame, got {other:?}"),
    }
}

fn entry(ticket: &str) -> String {
    format!("ws-ticket, ws-ticket.{ticket}")
}

#[tokio::test]
async fn a_ticket_in_the_subprotocol_opens_a_socket_and_the_marker_is_selected() {
    let server = start(|layer| layer).await;
    let ticket = server.store.mint("alice".to_owned()).unwrap();
    let (mut socket, selected) = open(server.addr, "/ws", &entry(ticket.expose_secret()), None)
        .await
        .expect("the ticket in the header opens /ws");
    assert_eq!(selected.as_deref(), Some("ws-ticket"));
    assert_eq!(next_text(&mut socket).await, "hello alice");
    socket.send(WsMessage::text("ping")).await.unwrap();
    assert_eq!(next_text(&mut socket).await, "ping");
    // Single use over the header too: the replay is an HTTP 401 (no
    // accept_then_close on this server).
    match open(server.addr, "/ws", &entry(ticket.expose_secret()), None).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        other => panic!("replay: {:?}", other.map(|(_, p)| p)),
    }
}

#[tokio::test]
async fn the_application_protocol_is_selected_when_the_handler_speaks_one() {
    let server = start(|layer| layer).await;
    let ticket = server.store.mint("bob".to_owned()).unwrap();
    let offered = format!("{}, chat.v1", entry(ticket.expose_secret()));
    let (mut socket, selected) = open(server.addr, "/chat", &offered, None)
        .await
        .expect("opens /chat");
    assert_eq!(selected.as_deref(), Some("chat.v1"));
    assert_eq!(next_text(&mut socket).await, "hello bob");
}

#[tokio::test]
async fn refusals_close_with_codes_a_browser_can_read() {
    let server = start(|layer| {
        layer
            .allowed_origins(["http://app.example"])
            .accept_then_close()
    })
    .await;
    // Unknown ticket: accepted, then closed with 4401 and the one reason
    // text of that code (the audit trail has "unknown").
    let forged = server.store.mint("x".to_owned()).unwrap();
    server.store.consume(forged.expose_secret()).unwrap();
    let (mut socket, selected) = open(server.addr, "/ws", &entry(forged.expose_secret()), None)
        .await
        .expect("the refusal completes the handshake");
    // The marker is selected so a browser completes the handshake.
    assert_eq!(selected.as_deref(), Some("ws-ticket"));
    let frame = close_frame(&mut socket).await;
    assert_eq!(u16::from(frame.code), CLOSE_UNAUTHORIZED);
    assert_eq!(frame.reason.as_str(), "unauthorized");
    assert!(!frame.reason.contains(&forged.expose_secret()[4..]));

    // No credential at all, in the query channel: 4401 again.
    let (mut socket, _) = open(server.addr, "/ws", "", None).await.expect("handshake");
    let frame = close_frame(&mut socket).await;
    assert_eq!(u16::from(frame.code), CLOSE_UNAUTHORIZED);
    assert_eq!(frame.reason.as_str(), "unauthorized");

    // A forbidden Origin: 4403, and the ticket is not consumed.
    let ticket = server.store.mint("carol".to_owned()).unwrap();
    let (mut socket, _) = open(
        server.addr,
        "/ws",
        &entry(ticket.expose_secret()),
        Some("http://evil.example"),
    )
    .await
    .expect("handshake");
    let frame = close_frame(&mut socket).await;
    assert_eq!(u16::from(frame.code), CLOSE_FORBIDDEN);
    assert_eq!(frame.reason.as_str(), "forbidden");
    assert!(server.store.consume(ticket.expose_secret()).is_ok());

    // The store down: 1013, try again later.
    server.down.store(true, Ordering::SeqCst);
    let ticket = server.store.mint("dave".to_owned()).unwrap();
    let (mut socket, _) = open(server.addr, "/ws", &entry(ticket.expose_secret()), None)
        .await
        .expect("handshake");
    let frame = close_frame(&mut socket).await;
    assert_eq!(frame.code, CloseCode::Again);
    assert_eq!(u16::from(frame.code), CLOSE_TRY_AGAIN_LATER);
    assert_eq!(frame.reason.as_str(), "try again later");
    server.down.store(false, Ordering::SeqCst);

    // A valid ticket still opens a socket.
    let ticket = server.store.mint("erin".to_owned()).unwrap();
    let (mut socket, _) = open(server.addr, "/ws", &entry(ticket.expose_secret()), None)
        .await
        .expect("opens");
    assert_eq!(next_text(&mut socket).await, "hello erin");
}

/// A server whose store runs on `clock`, closing refusals at once.
async fn start_with_clock(
    clock: ManualClock,
    configure: impl FnOnce(WsTicketLayer<Switchable>) -> WsTicketLayer<Switchable>,
) -> Server {
    let store = Store::builder().clock(clock).build();
    let down = Arc::new(AtomicBool::new(false));
    let switchable = Switchable {
        store: store.clone(),
        down: Arc::clone(&down),
    };
    let layer = configure(WsTicketLayer::new(switchable).accept_then_close());
    let addr = serve(app(layer)).await;
    Server { addr, store, down }
}

#[tokio::test]
async fn close_reasons_tell_the_code_and_expired_only() {
    // Issue 18, finding 7: each refusal's close reason was its short name
    // (`revoked`, `wrong-audience`, `bad-token`, …), telling an outsider
    // more than the status would.
    let clock = ManualClock::new();
    let server = start_with_clock(clock.clone(), |layer| layer).await;
    let stale = server.store.mint("frank".to_owned()).unwrap();
    clock.advance(server.store.ttl() + Duration::from_secs(1));
    let (mut socket, _) = open(server.addr, "/ws", &entry(stale.expose_secret()), None)
        .await
        .expect("handshake");
    let frame = close_frame(&mut socket).await;
    assert_eq!(u16::from(frame.code), CLOSE_UNAUTHORIZED);
    assert_eq!(frame.reason.as_str(), "expired");
    // Another 401 reason, the internal credential where none is set.
    let (mut socket, _) = open(server.addr, "/ws?internal=wsi_guess", "", None)
        .await
        .expect("handshake");
    assert_eq!(
        close_frame(&mut socket).await.reason.as_str(),
        "unauthorized"
    );

    // In development, the short names.
    let server = start_with_clock(ManualClock::new(), |layer| layer.detailed_close_reasons()).await;
    let (mut socket, _) = open(server.addr, "/ws?internal=wsi_guess", "", None)
        .await
        .expect("handshake");
    assert_eq!(
        close_frame(&mut socket).await.reason.as_str(),
        "bad-internal"
    );
}

/// Sends `request` as raw bytes and returns the answer's head.
async fn raw_exchange(addr: SocketAddr, request: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(STEP, stream.read(&mut byte))
            .await
            .expect("answer in time")
            .expect("read");
        assert_eq!(
            n,
            1,
            "closed mid-answer: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    (stream, String::from_utf8_lossy(&head).into_owned())
}

fn raw_handshake(addr: SocketAddr, method: &str, version: &str) -> String {
    format!(
        "{method} /ws?ticket=wst_nope HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: {version}\r\n\r\n"
    )
}

#[tokio::test]
async fn only_valid_handshakes_are_accepted_then_closed() {
    let server = start(|layer| layer.accept_then_close()).await;
    let (_, head) = raw_exchange(server.addr, &raw_handshake(server.addr, "GET", "13")).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
    // Not a valid handshake: the HTTP status, as before.
    for request in [
        raw_handshake(server.addr, "GET", "8"),
        raw_handshake(server.addr, "POST", "13"),
    ] {
        let (_, head) = raw_exchange(server.addr, &request).await;
        assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    }
}

#[tokio::test]
async fn closes_in_flight_are_bounded_and_each_ends_in_time() {
    let timeout = Duration::from_millis(400);
    let server = start(|layer| layer.max_closes_in_flight(2).close_timeout(timeout)).await;
    let handshake = raw_handshake(server.addr, "GET", "13");
    // Two clients that never read nor answer hold both places.
    let (first, head) = raw_exchange(server.addr, &handshake).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (_second, head) = raw_exchange(server.addr, &handshake).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let started = Instant::now();
    // Past the bound: the HTTP status.
    let (_, head) = raw_exchange(server.addr, &handshake).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    // The silent clients' sockets end at the timeout, freeing the places.
    let mut first = first;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(STEP, first.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the server ended the silent socket");
    assert!(started.elapsed() < timeout + Duration::from_secs(2));
    // Its close frame came first: 0x88, the length, 4401, and the reason
    // (`wst_nope` is not a ticket of ours).
    assert_eq!(&rest[..4], &[0x88, 2 + 12, 0x11, 0x31]);
    assert_eq!(&rest[4..16], b"unauthorized");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, head) = raw_exchange(server.addr, &handshake).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
}

#[tokio::test]
async fn an_http2_extended_connect_is_accepted_then_closed() {
    let server = start(|layer| layer.accept_then_close()).await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut client, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let request = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{}/ws", server.addr))
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", "ws-ticket, ws-ticket.wst_nope")
        .extension(Protocol::from_static("websocket"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = tokio::time::timeout(STEP, client.send_request(request))
        .await
        .expect("answered in time")
        .expect("CONNECT");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["sec-websocket-protocol"], "ws-ticket");
    let upgraded = hyper::upgrade::on(response).await.expect("the stream");
    let mut socket =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    match tokio::time::timeout(STEP, socket.next()).await {
        Ok(Some(Ok(WsMessage::Close(Some(frame))))) => {
            assert_eq!(u16::from(frame.code), CLOSE_UNAUTHORIZED);
            assert_eq!(frame.reason.as_str(), "unauthorized");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

//! The `axum` feature over real TCP: `Principal` as an extractor, axum's
//! `ConnectInfo` as the default peer address, and the credential stripped
//! from axum's `OriginalUri`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::OriginalUri;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;
use futures_util::StreamExt as _;
use http::StatusCode;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tower_ws_ticket::{InternalCredential, MemoryStore, Principal, WsTicketLayer};

const STEP: Duration = Duration::from_secs(10);

/// Greets with what the handler saw: who, and the URI axum recorded.
async fn socket(
    ws: WebSocketUpgrade,
    who: Principal<String>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let who = match who {
        Principal::Ticket(redeemed) => redeemed.identity,
        Principal::Internal => "internal".to_owned(),
        Principal::SessionToken => "session".to_owned(),
        _ => "other".to_owned(),
    };
    ws.on_upgrade(move |mut socket| async move {
        let _ = socket
            .send(Message::Text(format!("{who} {uri}").into()))
            .await;
    })
}

/// Serves `router`; with `connect_info`, the peer address as axum's
/// `ConnectInfo<SocketAddr>`.
async fn serve(router: Router, connect_info: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        if connect_info {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        } else {
            axum::serve(listener, router).await
        }
    });
    addr
}

/// The greeting of the socket at `url`, or the HTTP status that refused it.
async fn greeting(url: &str) -> Result<String, StatusCode> {
    let connected = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(url))
        .await
        .expect("handshake in time");
    let mut socket = match connected {
        Ok((socket, _)) => socket,
        Err(tungstenite::Error::Http(response)) => return Err(response.status()),
        Err(other) => panic!("{other}"),
    };
    match tokio::time::timeout(STEP, socket.next()).await {
        Ok(Some(Ok(WsMessage::Text(text)))) => Ok(text.to_string()),
        other => panic!("expected a greeting, got {other:?}"),
    }
}

#[tokio::test]
async fn the_extractor_finds_the_principal_and_refuses_without_the_layer() {
    let store = MemoryStore::<String>::new();
    let guarded = Router::new()
        .route("/api/ws", any(socket))
        .route_layer(WsTicketLayer::new(store.clone()));
    // The same handler mounted without the layer by mistake.
    let forgotten = Router::new().route("/open/ws", any(socket));
    let addr = serve(guarded.merge(forgotten), true).await;

    let ticket = store.mint("alice".to_owned()).unwrap();
    let url = format!("ws://{addr}/api/ws?ticket={}", ticket.expose_secret());
    assert_eq!(greeting(&url).await.unwrap(), "alice /api/ws");
    // Fails closed: no principal, no socket.
    assert_eq!(
        greeting(&format!("ws://{addr}/open/ws")).await,
        Err(StatusCode::INTERNAL_SERVER_ERROR)
    );
}

#[tokio::test]
async fn original_uri_loses_the_credential_too() {
    // axum records OriginalUri before route layers run; the layer strips the
    // credential from it as from the URI, so a handler that logs it leaks
    // nothing: the multi-use internal credential least of all.
    let store = MemoryStore::<String>::new();
    let internal = InternalCredential::generate();
    let router = Router::new()
        .route("/api/ws", any(socket))
        .route_layer(WsTicketLayer::new(store).internal_credential(internal.clone()));
    let addr = serve(router, true).await;
    let url = format!(
        "ws://{addr}/api/ws?room=1&internal={}&x=2",
        internal.expose_secret()
    );
    assert_eq!(greeting(&url).await.unwrap(), "internal /api/ws?room=1&x=2");
}

#[tokio::test]
async fn loopback_mode_reads_connect_info_and_refuses_an_unknown_peer() {
    let layer = WsTicketLayer::new(MemoryStore::<String>::new()).loopback_token("s3cret-session");
    let router = Router::new()
        .route("/api/ws", any(socket))
        .route_layer(layer);
    // With ConnectInfo, the default peer lookup finds the loopback peer.
    let with_peer = serve(router.clone(), true).await;
    let url = format!("ws://{with_peer}/api/ws?token=s3cret-session");
    assert_eq!(greeting(&url).await.unwrap(), "session /api/ws");
    // Without it the peer is unknown, and the token is refused: the check
    // cannot decide, so it fails closed (it used to admit any peer).
    let without_peer = serve(router, false).await;
    let url = format!("ws://{without_peer}/api/ws?token=s3cret-session");
    assert_eq!(greeting(&url).await, Err(StatusCode::FORBIDDEN));
}

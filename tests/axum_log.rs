//! End to end over real TCP: an axum app with the mint route and a guarded
//! socket, driven by a real HTTP client and a real WebSocket client. The
//! whole flow runs under a tracing subscriber that records every event at
//! TRACE level, which is then searched for the secrets it handled.
//!
//! One test in its own binary on purpose: the subscriber is global to the
//! process, so the buffer holds this flow and nothing else (the other
//! end-to-end tests are in `tests/it/`).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Extension};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::StatusCode;
use http_body_util::Full;
use tower_ws_ticket::{InternalCredential, MemoryStore, MintService, Principal, WsTicketLayer};
use tower_ws_ticket_demo::testkit::{self, LogCapture, User};

/// The test app: a stand-in auth gate that trusts `x-user`, the mint route
/// behind it, and a socket route that greets and echoes.
fn app(store: MemoryStore<User>, internal: InternalCredential) -> Router {
    async fn socket(ws: WebSocketUpgrade, Extension(who): Extension<Principal<User>>) -> Response {
        let name = match who {
            Principal::Ticket(redeemed) => redeemed.identity.0,
            Principal::Internal => "child".to_owned(),
            _ => "token".to_owned(),
        };
        ws.on_upgrade(move |socket| echo(socket, name))
    }

    async fn echo(mut socket: WebSocket, name: String) {
        if socket
            .send(Message::text(format!("hello {name}")))
            .await
            .is_err()
        {
            return;
        }
        while let Some(Ok(Message::Text(text))) = socket.next().await {
            if socket
                .send(Message::text(format!("echo: {text}")))
                .await
                .is_err()
            {
                return;
            }
        }
    }

    let guard = WsTicketLayer::new(store.clone())
        .internal_credential(internal)
        .audit_label(|user: &User| user.0.clone())
        .peer_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0));
    Router::new()
        .route("/api/ws", get(socket))
        .route_layer(guard)
        .route_service("/api/auth/ws-ticket", MintService::new(store))
        .layer(middleware::from_fn(testkit::gate))
}

fn ws_url(addr: SocketAddr, query: &str) -> String {
    format!("ws://{addr}/api/ws?{query}")
}

// One test function on purpose: the tracing subscriber is global, and the
// secret search must cover every event the flow produced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_connect_echo_replay_and_no_secret_in_any_trace() {
    // Everything at TRACE, from every crate in the process, except the test
    // client's own handshake dump: that is the client printing the URL it
    // was given, which is not the server's to keep secret.
    let captured = LogCapture::install("trace,tungstenite::handshake::client=off");

    let store = MemoryStore::<User>::new();
    let internal = InternalCredential::generate();
    let addr = testkit::serve_axum(app(store.clone(), internal.clone())).await;
    let mint_url = format!("http://{addr}/api/auth/ws-ticket");

    // Not signed in: no ticket.
    let anonymous = http::Request::post(&mint_url)
        .body(Full::<Bytes>::default())
        .unwrap();
    assert_eq!(testkit::send(anonymous).await.0, StatusCode::UNAUTHORIZED);

    // Mint, connect, greet, echo.
    let ticket = testkit::mint(&mint_url, &[(testkit::USER_HEADER, "alice")]).await;
    let mut socket = testkit::connect(&ws_url(addr, &format!("ticket={ticket}&room=1")))
        .await
        .expect("a fresh ticket opens the socket");
    assert_eq!(testkit::next_text(&mut socket).await, "hello alice");
    assert_eq!(testkit::round_trip(&mut socket, "ping").await, "echo: ping");

    // Replay: refused before the upgrade.
    let replay = ws_url(addr, &format!("ticket={ticket}"));
    assert_eq!(
        testkit::refused_status(&replay).await,
        StatusCode::UNAUTHORIZED
    );
    // No ticket, a forged one, a token in gated mode: refused.
    assert_eq!(
        testkit::refused_status(&ws_url(addr, "room=1")).await,
        StatusCode::UNAUTHORIZED
    );
    let forged = format!("wst_{}", "A".repeat(43));
    assert_eq!(
        testkit::refused_status(&ws_url(addr, &format!("ticket={forged}"))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        testkit::refused_status(&ws_url(addr, "token=session")).await,
        StatusCode::UNAUTHORIZED
    );

    // The internal credential attaches any number of times.
    let attach = ws_url(addr, &format!("internal={}", internal.expose_secret()));
    for _ in 0..2 {
        let mut child = testkit::connect(&attach)
            .await
            .expect("internal credential attaches");
        assert_eq!(testkit::next_text(&mut child).await, "hello child");
    }
    assert!(store.is_empty(), "the one ticket was consumed");
    drop(socket);

    let logs = captured.text();
    assert!(
        logs.contains("tower_ws_ticket::audit"),
        "audit events were traced:\n{logs}"
    );
    assert!(logs.contains("event=\"consumed\""), "{logs}");
    assert!(logs.contains("reason=\"unknown\""), "{logs}");
    for secret in [ticket.as_str(), internal.expose_secret(), forged.as_str()] {
        // Anything past the 8-character prefix is a leak.
        assert!(
            !logs.contains(&secret[..9]),
            "secret prefix {} leaked into:\n{logs}",
            &secret[..9]
        );
        assert!(
            !logs.contains(&secret[4..]),
            "secret body leaked into:\n{logs}"
        );
    }
}

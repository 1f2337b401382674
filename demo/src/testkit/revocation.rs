//! The app of the revocation tests (one replica of it): a stand-in auth
//! gate that trusts `x-user`, the mint route, and a socket that greets,
//! echoes, and closes with 4401 once its user is signed out. Shared by
//! `tests/it/revocation.rs` (memory store) and `tests/revocation_redis.rs`
//! (several replicas on one Redis).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Extension;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::middleware;
use axum::response::Response;
use axum::routing::any;
use futures_util::StreamExt as _;
use tokio_tungstenite::tungstenite;
use tower_ws_ticket::{
    MintService, Principal, Revocation, Revocations, TicketStore, WsTicketLayer,
};

use super::Socket;

// The signed-in user; its name is the revocation key.
pub use super::user::User;
use super::user::{USER_HEADER, gate};

/// The close code the socket sends when its user is signed out.
pub const SIGNED_OUT: u16 = 4401;

/// One replica of the app, on `store` and `revocations`.
pub fn app<T>(store: T, revocations: Revocations<String>) -> Router
where
    T: TicketStore<Identity = User>,
{
    let guard =
        WsTicketLayer::new(store.clone()).revocations(revocations, |user: &User| user.0.clone());
    app_behind(store, guard)
}

/// The app with `guard` in front of its socket: a layer on `store` that
/// attaches a [`Revocation`] handle (revocations, an expiry or a maximum
/// age).
pub fn app_behind<T>(store: T, guard: WsTicketLayer<T>) -> Router
where
    T: TicketStore<Identity = User>,
{
    async fn socket(
        ws: WebSocketUpgrade,
        Extension(who): Extension<Principal<User>>,
        Extension(revocation): Extension<Revocation>,
    ) -> Response {
        let name = match who {
            Principal::Ticket(redeemed) => redeemed.identity.0,
            _ => "child".to_owned(),
        };
        ws.on_upgrade(move |socket| serve(socket, name, revocation))
    }

    Router::new()
        .route("/api/ws", any(socket))
        .route_layer(guard)
        .route_service("/api/auth/ws-ticket", MintService::new(store))
        .layer(middleware::from_fn(gate))
}

/// The socket: a greeting, then echoes until the client leaves or the
/// socket's handle is signalled (the user signed out, or the sign-in or the
/// socket's age ran out): then 4401, with the reason's name as its text.
async fn serve(mut socket: WebSocket, name: String, revocation: Revocation) {
    if socket
        .send(Message::text(format!("hello {name}")))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            () = revocation.revoked() => {
                let reason = revocation.reason().map_or("revoked", |reason| reason.as_str());
                let close = CloseFrame { code: SIGNED_OUT, reason: reason.into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                return;
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if socket.send(Message::text(format!("echo: {text}"))).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// A ticket for `user` from the replica at `addr`.
pub async fn ticket(addr: SocketAddr, user: &str) -> String {
    super::mint(
        &format!("http://{addr}/api/auth/ws-ticket"),
        &[(USER_HEADER, user)],
    )
    .await
}

/// The socket URL of the replica at `addr` for `ticket`.
pub fn socket_url(addr: SocketAddr, ticket: &str) -> String {
    format!("ws://{addr}/api/ws?ticket={ticket}")
}

/// Opens a socket as `user` on the replica at `addr` (minting on `mint_at`)
/// and reads its greeting.
pub async fn open(mint_at: SocketAddr, addr: SocketAddr, user: &str) -> Socket {
    let ticket = ticket(mint_at, user).await;
    let mut socket = super::connect(&socket_url(addr, &ticket))
        .await
        .unwrap_or_else(|err| panic!("{user}'s socket: {err}"));
    assert_eq!(super::next_text(&mut socket).await, format!("hello {user}"));
    socket
}

/// The close code of the next frame on `socket`, waiting at most `within`.
///
/// # Panics
///
/// When the socket sends text instead, or nothing in time.
pub async fn close_code(socket: &mut Socket, within: Duration) -> u16 {
    close_frame(socket, within).await.0
}

/// The close code and reason text of the next frame on `socket`, waiting
/// at most `within`.
///
/// # Panics
///
/// When the socket sends text instead, or nothing in time.
pub async fn close_frame(socket: &mut Socket, within: Duration) -> (u16, String) {
    let next = tokio::time::timeout(within, async {
        loop {
            match socket.next().await {
                Some(Ok(tungstenite::Message::Close(frame))) => {
                    return frame.map_or((1005, String::new()), |frame| {
                        (u16::from(frame.code), frame.reason.to_string())
                    });
                }
                Some(Ok(tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_))) => {}
                Some(Ok(other)) => panic!("expected a close frame, got {other:?}"),
                Some(Err(err)) => panic!("socket error before a close frame: {err}"),
                None => panic!("socket ended without a close frame"),
            }
        }
    });
    next.await
        .unwrap_or_else(|_| panic!("no close frame within {within:?}"))
}

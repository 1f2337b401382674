//! `GET /api/ws`: the page's socket. [`WsTicketLayer`] in front of it
//! (see [`app`](super::app)) has consumed the ticket and left the
//! [`Principal`]; only tickets are configured on this route.
//!
//! [`WsTicketLayer`]: tower_ws_ticket::WsTicketLayer

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_ws_ticket::Principal;

use super::child_hub::ChildHub;
use super::user::User;

/// Largest message the page's socket accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// `GET /api/ws`: upgrades for the user the ticket was minted for.
pub async fn page_socket(
    ws: WebSocketUpgrade,
    principal: Option<Extension<Principal<User>>>,
    State(hub): State<ChildHub>,
) -> Response {
    // Anything but a ticket (or no layer at all): no socket.
    let Some(Extension(Principal::Ticket(redeemed))) = principal else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let user = redeemed.identity;
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| page_session(socket, user, hub))
}

/// A message to the page: `{"kind": "...", "text": "..."}`. The page puts
/// `text` in the document with `textContent` only.
fn to_page(kind: &str, text: &str) -> Message {
    Message::text(serde_json::json!({ "kind": kind, "text": text }).to_string())
}

/// Greets the user by name, echoes their text, and passes on the child's
/// news until either side closes.
async fn page_session(mut socket: WebSocket, user: User, hub: ChildHub) {
    tracing::info!(target: "dashboard", user = %user.name, "page socket opened");
    let greeting = format!(
        "Hello, {}! This socket opened with a single-use ticket.",
        user.name
    );
    let mut news = hub.news();
    let current = news.borrow_and_update().clone();
    let greeting = serde_json::json!({ "kind": "greeting", "text": greeting, "user": user.name });
    if socket
        .send(Message::text(greeting.to_string()))
        .await
        .is_err()
        || socket.send(to_page("child", &current)).await.is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if socket.send(to_page("echo", text.as_str())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let close = CloseFrame { code: 1003, reason: "text only".into() };
                    let _ = socket.send(Message::Close(Some(close))).await;
                    break;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            changed = news.changed() => {
                if changed.is_err() {
                    break;
                }
                let text = news.borrow_and_update().clone();
                if socket.send(to_page("child", &text)).await.is_err() {
                    break;
                }
            }
        }
    }
    tracing::info!(target: "dashboard", user = %user.name, "page socket closed");
}

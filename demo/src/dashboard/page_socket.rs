//! `GET /api/ws`: the page's socket, and `POST /api/ws/drop`, the page's
//! button that closes it from the server side.
//!
//! [`WsTicketLayer`] in front of the socket (see [`app`](super::app)) has
//! consumed the ticket and left the [`Principal`] and the socket's
//! [`Revocation`] handle, keyed by the sign-in; only tickets are configured
//! on this route. The socket ends with 4401 when its sign-in is revoked:
//! by signing out ([`sign_out`](super::sign_in::sign_out)), or by the
//! page's drop button, the same mechanism with the session kept. The page sends its ticket in the
//! `Sec-WebSocket-Protocol` header, and the layer takes the ticket's entry
//! out of it before this handler sees it, so the handler negotiates its own
//! protocol ([`APP_PROTOCOL`]) as if tickets did not exist.
//!
//! [`WsTicketLayer`]: tower_ws_ticket::WsTicketLayer

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;
use tower_ws_ticket::wire::CLOSE_UNAUTHORIZED;
use tower_ws_ticket::{Principal, Revocation, Revocations};

use super::child_hub::ChildHub;
use super::session;
use super::user::{SessionKey, User};

/// Largest message the page's socket accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// The app's own subprotocol, selected when a page offers it (axum's
/// `WebSocketUpgrade::protocols`). A page that offers none gets the
/// layer's `ws-ticket` marker instead: a browser fails a handshake whose
/// client offered protocols and whose server selected none.
pub const APP_PROTOCOL: &str = "chat.v1";

/// The close reason of a socket whose sign-in was revoked: signed out, or
/// dropped with the page's button.
pub const REVOKED_REASON: &str = "revoked";

/// `GET /api/ws`: upgrades for the user the ticket was minted for.
pub async fn page_socket(
    ws: WebSocketUpgrade,
    principal: Principal<User>,
    revocation: Revocation,
    State(hub): State<ChildHub>,
) -> Response {
    // Anything but a ticket: no socket. (Without the layer in front, the
    // extractors above have refused already.)
    let Principal::Ticket(redeemed) = principal else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let user = redeemed.identity;
    ws.protocols([APP_PROTOCOL])
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| page_session(socket, user, hub, revocation))
}

/// `POST /api/ws/drop`: revokes the caller's sign-in, keeping the session:
/// every page socket of it closes with close code 4401, and the page's
/// client answers by minting a fresh ticket (minted after the revocation,
/// so admitted) and reconnecting. Answers `{"dropped": n}`. Signed-in users
/// only; cross-site requests never get here (the CSRF layer, see
/// [`origins::csrf`](super::origins::csrf)).
pub async fn drop_page_sockets(
    session: Session,
    State(revocations): State<Revocations<SessionKey>>,
) -> Response {
    let user = match session::user(&session).await {
        Ok(Some(user)) => user,
        Ok(None) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(err) => return session::store_failed(&err),
    };
    let dropped = revocations.revoke(&user.session);
    tracing::info!(
        target: "dashboard",
        user = %user.name,
        dropped,
        "closing the page's sockets with 4401"
    );
    (
        [(CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "dropped": dropped })),
    )
        .into_response()
}

/// A message to the page: `{"kind": "...", "text": "..."}`. The page puts
/// `text` in the document with `textContent` only.
fn to_page(kind: &str, text: &str) -> Message {
    Message::text(serde_json::json!({ "kind": kind, "text": text }).to_string())
}

/// Greets the user by name, echoes their text, and passes on the child's
/// news until either side closes or the sign-in is revoked.
async fn page_session(mut socket: WebSocket, user: User, hub: ChildHub, revocation: Revocation) {
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
    // One future for the socket's life, polled by every turn of the loop:
    // cheaper than a new one per turn, and it cannot miss the revocation.
    let revoked = revocation.revoked();
    tokio::pin!(revoked);
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if socket.send(to_page("echo", text.as_str())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    close(socket, 1003, "text only").await;
                    tracing::info!(target: "dashboard", user = %user.name, "page socket closed");
                    return;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            () = &mut revoked => {
                // "revoked" (signed out, dropped) or "expired" (the
                // session ran out): the page shows which.
                let reason = revocation.reason().map_or(REVOKED_REASON, |reason| reason.as_str());
                close(socket, CLOSE_UNAUTHORIZED, reason).await;
                tracing::info!(target: "dashboard", user = %user.name, reason, "page socket ended");
                return;
            }
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

/// Closes `socket` with `code` and `reason`, then waits (briefly) for the
/// page's answering close frame, so the browser reports a clean close with
/// the code: `wasClean` is false when the server just hangs up.
async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
    let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
}

/// How long [`close`] waits for the page's answering close frame.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

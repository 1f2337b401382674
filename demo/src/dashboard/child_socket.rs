//! The child's side of the server: `GET /api/pub`, where the child
//! attaches with the internal credential, and `POST /api/child/drop`, the
//! page's button that closes the child's socket to show it reconnect.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;
use tower_ws_ticket::Principal;

use super::child_hub::ChildHub;
use super::page_socket::MAX_MESSAGE_BYTES;
use super::session;
use super::user::User;

/// Longest child message passed on to pages, in characters.
pub const MAX_CHILD_TEXT_CHARS: usize = 200;

/// `GET /api/pub`: the child's socket. Its layer admits the internal
/// credential and nothing else, so the `Principal` is always `Internal`
/// here; the handler still takes it, so that the route fails closed should
/// it ever be mounted without its layer.
pub async fn child_socket(
    ws: WebSocketUpgrade,
    Extension(principal): Extension<Principal<User>>,
    State(hub): State<ChildHub>,
) -> Response {
    debug_assert!(matches!(principal, Principal::Internal));
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| child_session(socket, hub))
}

/// Passes the child's messages on to the pages until the child goes away
/// or a page asks for its socket to be dropped.
async fn child_session(mut socket: WebSocket, hub: ChildHub) {
    let n = hub.next_connection();
    let mut kicks = hub.kicks();
    tracing::info!(target: "dashboard", connection = n, "child attached to /api/pub");
    hub.publish(format!("child attached (connection #{n})"));
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let text: String = text.as_str().chars().take(MAX_CHILD_TEXT_CHARS).collect();
                    hub.publish(format!("connection #{n}: {text}"));
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = kicks.changed() => {
                let close = CloseFrame { code: 1001, reason: "dropped from the dashboard".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
        }
    }
    tracing::info!(target: "dashboard", connection = n, "child detached from /api/pub");
    hub.publish(format!(
        "child detached (connection #{n}); it reconnects with the same credential"
    ));
}

/// `POST /api/child/drop`: closes the child's socket, so the page can show
/// it reattach with the same internal credential. Signed-in users only;
/// cross-site requests never get here (the CSRF layer, see
/// [`origins::csrf`](super::origins::csrf)).
pub async fn drop_child(session: Session, State(hub): State<ChildHub>) -> Response {
    let user = match session::user(&session).await {
        Ok(Some(user)) => user,
        Ok(None) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(err) => return session::store_failed(&err),
    };
    tracing::info!(target: "dashboard", user = %user.name, "dropping the child's socket");
    hub.kick();
    StatusCode::NO_CONTENT.into_response()
}

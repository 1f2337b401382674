//! The socket side the stack apps share: the greeting, and the axum
//! handlers of `stack_axum` and of `stack_tonic`'s web routes.

use axum::Extension;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::middleware::Next;
use tower_ws_ticket::Principal;

use super::identity::{User, demo_user};

/// The first message on a socket: who the layer says is connected.
pub fn greeting(principal: &Principal<User>) -> String {
    match principal {
        Principal::Ticket(redeemed) => format!("hello {}", redeemed.identity.0),
        Principal::Internal => "hello internal client".to_owned(),
        Principal::SessionToken => "hello session".to_owned(),
        // Principal is non-exhaustive: a later credential kind greets too.
        _ => "hello".to_owned(),
    }
}

/// Stand-in authentication as axum middleware: puts the [`User`] that
/// [`demo_user`] finds into the request extensions, where `MintService`
/// looks for it. It never refuses: without the header the mint route
/// answers 401 itself.
pub async fn demo_auth(mut req: axum::extract::Request, next: Next) -> axum::response::Response {
    if let Some(user) = demo_user(req.headers()) {
        req.extensions_mut().insert(user);
    }
    next.run(req).await
}

/// A socket route: the layer admitted the upgrade and left the
/// [`Principal`] in the extensions. Taking it as `Extension` (not
/// `Option<Extension>`) makes the route fail closed should it ever be
/// mounted without the layer.
pub async fn socket(
    upgrade: WebSocketUpgrade,
    Extension(principal): Extension<Principal<User>>,
) -> axum::response::Response {
    let greeting = greeting(&principal);
    upgrade.on_upgrade(move |socket| echo(socket, greeting))
}

/// Greets, then echoes text until the client closes.
pub async fn echo(mut socket: WebSocket, greeting: String) {
    if socket.send(Message::Text(greeting.into())).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        let reply: Utf8Bytes = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            // axum answers pings itself; binary is not part of this demo.
            _ => continue,
        };
        if socket.send(Message::Text(reply)).await.is_err() {
            break;
        }
    }
}

//! Sessions on [tower-sessions](tower_sessions), and the one piece of glue
//! between them and the ticket flow: [`identify`].
//!
//! tower-sessions keeps the session (here in its in-process
//! [`MemoryStore`]) and its cookie; the sign-in handlers
//! ([`sign_in`](super::sign_in)) put the [`User`] into it. [`identify`]
//! turns that user into the identity `MintService` reads from the request
//! extensions, so the mint route binds each ticket to whoever the session
//! says is signed in.
//!
//! Several replicas need a session store they share (for example
//! `tower-sessions-redis-store`) as well as a shared ticket store
//! (`RedisStore`): the memory store keeps each process's sessions to
//! itself. It also never forgets an expired session by itself; a store
//! with expiry (Redis's TTLs, or the SQL stores' deletion task) does.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time;
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer, session};

use super::user::User;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "dashboard_session";

/// How long a sign-in lasts: the cookie's `Max-Age`, counted again from
/// each request that changes the session.
pub const SESSION_LIFETIME: time::Duration = time::Duration::hours(8);

/// Where the session keeps its [`User`].
const USER_KEY: &str = "user";

/// The session layer: an in-memory store, and a cookie that page scripts
/// cannot read (`HttpOnly`) and that no other site can make the browser
/// send (`SameSite=Strict`), so no other site can mint a ticket with it.
/// `Secure` (sent over HTTPS only) when `secure`, that is when the demo
/// serves HTTPS; over plain HTTP a browser would not keep such a cookie.
pub fn layer(secure: bool) -> SessionManagerLayer<MemoryStore> {
    SessionManagerLayer::new(MemoryStore::default())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(secure)
        .with_expiry(Expiry::OnInactivity(SESSION_LIFETIME))
}

/// The user signed in on `session`, if any.
///
/// # Errors
///
/// When the session store fails.
pub async fn user(session: &Session) -> Result<Option<User>, session::Error> {
    session.get::<User>(USER_KEY).await
}

/// Signs `user` in on `session`, under a new session id: an id someone
/// planted in the browser before (session fixation) is worthless after.
///
/// # Errors
///
/// When the session store fails.
pub async fn start(session: &Session, user: &User) -> Result<(), session::Error> {
    session.cycle_id().await?;
    session.insert(USER_KEY, user).await
}

/// Ends the session: the one place a sign-out goes through.
///
/// It deletes the session from the store; tower-sessions then clears the
/// cookie on the way out, and the old cookie names no session any more,
/// so it cannot mint another ticket. Returns who was signed in.
///
/// A ticket only admits a socket, it does not keep it alive: the sockets
/// the session opened are closed by the sign-out route, which revokes the
/// [`SessionKey`](super::SessionKey) their tickets carry
/// ([`sign_out`](super::sign_in::sign_out)).
///
/// # Errors
///
/// When the session store fails.
pub async fn end(session: &Session) -> Result<Option<User>, session::Error> {
    let user = user(session).await?;
    session.flush().await?;
    Ok(user)
}

/// The auth gate: puts the signed-in [`User`] into the request extensions,
/// where `MintService` (and `/api/me`) find it. It leaves anonymous
/// requests alone; the mint route answers them 401 itself.
pub async fn identify(session: Session, mut req: Request, next: Next) -> Response {
    match user(&session).await {
        Ok(Some(user)) => {
            req.extensions_mut().insert(user);
        }
        Ok(None) => {}
        Err(err) => return store_failed(&err),
    }
    next.run(req).await
}

/// The answer when the session store fails: try again later. The error is
/// logged (it names no session id or cookie), not sent.
pub fn store_failed(err: &session::Error) -> Response {
    tracing::error!(target: "dashboard", error = %err, "session store failed");
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

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
//! A sign-in lasts [`Lifetime`] (`SESSION_SECS` for the example; 8 hours
//! unless told) from the sign-in or the last renewal ("Stay signed in"):
//! a fixed expiry, so that the socket a ticket opens can end exactly when
//! the session does.
//!
//! Several replicas need a session store they share (for example
//! `tower-sessions-redis-store`) as well as a shared ticket store
//! (`RedisStore`): the memory store keeps each process's sessions to
//! itself. It also never forgets an expired session by itself; a store
//! with expiry (Redis's TTLs, or the SQL stores' deletion task) does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// How long a sign-in lasts unless told otherwise: 8 hours.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// How long a sign-in lasts, from the sign-in or its last renewal. Clones
/// share one value, which the app can change while it runs (the tests
/// shorten it).
#[derive(Debug, Clone)]
pub struct Lifetime(Arc<AtomicU64>);

impl Lifetime {
    /// A lifetime of `duration` (whole seconds, at least one).
    pub fn new(duration: Duration) -> Self {
        Self(Arc::new(AtomicU64::new(duration.as_secs().max(1))))
    }

    /// Changes it for sign-ins and renewals from now on.
    pub fn set(&self, duration: Duration) {
        self.0.store(duration.as_secs().max(1), Ordering::Relaxed);
    }

    /// The end of a session signed in or renewed now.
    fn end_if_started_now(&self) -> SystemTime {
        let secs = self.0.load(Ordering::Relaxed);
        let now = SystemTime::now();
        now.checked_add(Duration::from_secs(secs)).unwrap_or(now)
    }
}

impl Default for Lifetime {
    fn default() -> Self {
        Self::new(SESSION_LIFETIME)
    }
}

/// Where the session keeps its [`User`].
const USER_KEY: &str = "user";

/// Where the session keeps its end, in milliseconds since the Unix epoch.
/// tower-sessions keeps the record's expiry but gives a loaded session
/// only its configured [`Expiry`], so the end is kept beside the user.
const ENDS_KEY: &str = "ends_at_ms";

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
/// The session ends `lifetime` from now.
///
/// # Errors
///
/// When the session store fails.
pub async fn start(
    session: &Session,
    user: &User,
    lifetime: &Lifetime,
) -> Result<(), session::Error> {
    session.cycle_id().await?;
    set_end(session, lifetime.end_if_started_now()).await?;
    session.insert(USER_KEY, user).await
}

/// Ends `session` at `end`: the store forgets it, the browser drops its
/// cookie, and the socket layer ends its tickets' sockets then.
async fn set_end(session: &Session, end: SystemTime) -> Result<(), session::Error> {
    session.set_expiry(Some(Expiry::AtDateTime(time::OffsetDateTime::from(end))));
    session.insert(ENDS_KEY, millis(end)).await
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

/// Renews a signed-in session: it ends `lifetime` from now. Returns the
/// user with the new expiry, or `None` when nobody is signed in.
///
/// Sockets already open keep the end they were admitted with; the page's
/// client reconnects on a fresh ticket, which carries the new one.
///
/// # Errors
///
/// When the session store fails.
pub async fn renew(session: &Session, lifetime: &Lifetime) -> Result<Option<User>, session::Error> {
    let Some(user) = user(session).await? else {
        return Ok(None);
    };
    set_end(session, lifetime.end_if_started_now()).await?;
    // Saved now, so that a mint right after reads the new end.
    session.save().await?;
    with_end(user, session).await.map(Some)
}

/// `user` with the session's end.
async fn with_end(mut user: User, session: &Session) -> Result<User, session::Error> {
    let ends = session.get::<u64>(ENDS_KEY).await?;
    user.expires = ends.map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    Ok(user)
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
/// with the session's expiry, where `MintService` (and `/api/me`) find it.
/// It leaves anonymous requests alone; the mint route answers them 401
/// itself.
pub async fn identify(session: Session, mut req: Request, next: Next) -> Response {
    match user(&session).await {
        Ok(Some(user)) => match with_end(user, &session).await {
            Ok(user) => {
                req.extensions_mut().insert(user);
            }
            Err(err) => return store_failed(&err),
        },
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

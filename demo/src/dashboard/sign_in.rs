//! The stand-in sign-in: `POST /login`, `POST /logout`, `GET /api/me`,
//! and `POST /api/session/renew` ("Stay signed in").
//!
//! It takes any well-formed name and no password; put your own
//! authentication in [`sign_in`] (or use axum-login, see
//! [`with_axum_login`](crate::with_axum_login)). Everything after it, the
//! session and the ticket flow, stays the same.
//!
//! Both forms are state-changing `POST`s, so they sit behind tower-http's
//! CSRF layer ([`origins::csrf`](super::origins::csrf)): a form on another
//! site cannot sign a visitor in as someone else (login CSRF) or out.

use std::time::UNIX_EPOCH;

use axum::extract::{Extension, Form, State};
use axum::http::StatusCode;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;
use tower_ws_ticket::Revocations;

use super::session::{self, Lifetime};
use super::user::{SessionKey, User};

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    /// The name to sign in as.
    pub user: String,
}

/// `POST /login`: signs in with any well-formed name, for the session's
/// [`Lifetime`], then back to the page. A refused name goes back with
/// `?signin=invalid` and no session.
pub async fn sign_in(
    session: Session,
    State(lifetime): State<Lifetime>,
    Form(form): Form<SignInForm>,
) -> Response {
    let Some(user) = User::from_sign_in(&form.user) else {
        return Redirect::to("/?signin=invalid").into_response();
    };
    if let Err(err) = session::start(&session, &user, &lifetime).await {
        return session::store_failed(&err);
    }
    tracing::info!(target: "dashboard", user = %user.name, "signed in");
    Redirect::to("/").into_response()
}

/// `POST /logout`: ends the session (see [`session::end`]) and revokes
/// it, closing its sockets; then back to the page.
pub async fn sign_out(
    session: Session,
    State(revocations): State<Revocations<SessionKey>>,
) -> Response {
    match session::end(&session).await {
        Ok(Some(user)) => {
            // The session's sockets close with 4401, and its tickets minted
            // before now are refused: the page's client mints again, gets
            // 401, and stops with "signed out".
            let closed = revocations.revoke(&user.session);
            tracing::info!(target: "dashboard", user = %user.name, closed, "signed out");
        }
        Ok(None) => {}
        Err(err) => return session::store_failed(&err),
    }
    Redirect::to("/").into_response()
}

/// `POST /api/session/renew` ("Stay signed in"): the session ends one
/// [`Lifetime`] from now; answers like [`me`], or 401 when nobody is
/// signed in. The socket open now still ends at the old expiry (its ticket
/// carried it); the page's client then mints a ticket with the new one
/// and reconnects.
pub async fn renew(session: Session, State(lifetime): State<Lifetime>) -> Response {
    match session::renew(&session, &lifetime).await {
        Ok(Some(user)) => {
            tracing::info!(target: "dashboard", user = %user.name, "session renewed");
            who(&user)
        }
        Ok(None) => StatusCode::UNAUTHORIZED.into_response(),
        Err(err) => session::store_failed(&err),
    }
}

/// `GET /api/me`: who is signed in and until when,
/// `{"user": "...", "expires_at_ms": 1765000000000}`, or 401. The page asks
/// this first, so an anonymous visit does not show up in the logs as a
/// refused mint. It sits behind [`session::identify`], so it sees what the
/// mint route sees.
pub async fn me(user: Option<Extension<User>>) -> Response {
    match user {
        Some(Extension(user)) => who(&user),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// `{"user": ..., "expires_at_ms": ...}`, not to be cached.
fn who(user: &User) -> Response {
    let expires_at_ms = user
        .expires
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
    (
        [(CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({ "user": user.name, "expires_at_ms": expires_at_ms })),
    )
        .into_response()
}

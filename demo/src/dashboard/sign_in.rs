//! The stand-in sign-in: `POST /login`, `POST /logout`, `GET /api/me`.
//!
//! It takes any well-formed name and no password; put your own
//! authentication in [`sign_in`] (or use axum-login, see
//! [`with_axum_login`](crate::with_axum_login)). Everything after it, the
//! session and the ticket flow, stays the same.
//!
//! Both forms are state-changing `POST`s, so they sit behind tower-http's
//! CSRF layer ([`origins::csrf`](super::origins::csrf)): a form on another
//! site cannot sign a visitor in as someone else (login CSRF) or out.

use axum::extract::{Extension, Form, State};
use axum::http::StatusCode;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;
use tower_ws_ticket::Revocations;

use super::session;
use super::user::{SessionKey, User};

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    /// The name to sign in as.
    pub user: String,
}

/// `POST /login`: signs in with any well-formed name, then back to the
/// page. A refused name goes back with `?signin=invalid` and no session.
pub async fn sign_in(session: Session, Form(form): Form<SignInForm>) -> Response {
    let Some(user) = User::from_sign_in(&form.user) else {
        return Redirect::to("/?signin=invalid").into_response();
    };
    if let Err(err) = session::start(&session, &user).await {
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

/// `GET /api/me`: who is signed in, `{"user": "..."}`, or 401. The page
/// asks this first, so an anonymous visit does not show up in the logs as
/// a refused mint. It sits behind [`session::identify`], so it sees what
/// the mint route sees.
pub async fn me(user: Option<Extension<User>>) -> Response {
    match user {
        Some(Extension(user)) => (
            [(CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({ "user": user.name })),
        )
            .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

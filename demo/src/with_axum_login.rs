//! [axum-login](axum_login): its `AuthSession` user is the identity a
//! ticket is bound to.
//!
//! An app on axum-login already knows who is signed in: its
//! `AuthManagerLayer` puts an [`AuthSession`] in every request's extensions,
//! with the signed-in `user` in it. The mint route reads the identity from
//! there with `MintService::identity_from`; nothing else changes, and the
//! socket route and its layer are the same as in any other app.
//!
//! `examples/with_axum_login/main.rs` serves [`app`];
//! `tests/it/with_axum_login.rs` drives it over real TCP.
//!
//! | route | what it does |
//! |---|---|
//! | `POST /login` | form field `name`: axum-login's `authenticate`, then `login` |
//! | `POST /logout` | axum-login's `logout` |
//! | `POST /api/auth/ws-ticket` | `MintService`: a ticket for the `AuthSession`'s user |
//! | `GET /api/ws?ticket=…` | greets the user by name, then echoes |
//!
//! The [`Backend`] is a stand-in that signs in any well-formed name
//! without a password; yours checks your user database.
//!
//! axum-login 0.18 builds on tower-sessions 0.14 and re-exports it. The app
//! takes its session layer from that re-export
//! (`axum_login::tower_sessions`), so the two always agree, whatever
//! version the [`dashboard`](crate::dashboard) uses.

use std::convert::Infallible;

use axum::extract::{Extension, Form};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, post};
use axum::{Router, extract::ws::WebSocketUpgrade};
use axum_login::tower_sessions::{MemoryStore as SessionStore, SessionManagerLayer};
use axum_login::{AuthManagerLayerBuilder, AuthUser, AuthnBackend, UserId};
use serde::Deserialize;
use tower_http::csrf::CsrfLayer;
use tower_ws_ticket::{MemoryStore, MintService, Principal, WsTicketLayer};

use crate::common::{MINT_PATH, echo};

/// A signed-in user as axum-login knows it, and the identity bound to
/// tickets: the same type, so nothing converts between the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name given at sign-in.
    pub name: String,
}

impl AuthUser for User {
    type Id = String;

    fn id(&self) -> String {
        self.name.clone()
    }

    /// axum-login ends a session when this changes (usually a password
    /// hash, so a new password signs out every session). The stand-in has
    /// no password; a user's name never changes.
    fn session_auth_hash(&self) -> &[u8] {
        self.name.as_bytes()
    }
}

/// What the sign-in form sends.
#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    /// The name to sign in as.
    pub name: String,
}

/// The stand-in user backend: any name of 1 to 32 letters, digits, `-` or
/// `_` signs in, without a password. Put your user lookup and password
/// check here.
#[derive(Debug, Clone, Default)]
pub struct Backend;

impl Backend {
    fn user(name: &str) -> Option<User> {
        let fine = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
        ((1..=32).contains(&name.chars().count()) && name.chars().all(fine)).then(|| User {
            name: name.to_owned(),
        })
    }
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = Infallible;

    async fn authenticate(&self, credentials: Credentials) -> Result<Option<User>, Infallible> {
        Ok(Self::user(&credentials.name))
    }

    async fn get_user(&self, name: &UserId<Self>) -> Result<Option<User>, Infallible> {
        Ok(Self::user(name))
    }
}

/// axum-login's handle on the session, for this backend.
pub type AuthSession = axum_login::AuthSession<Backend>;

/// The whole app: sign-in, the mint route and the socket route, all
/// behind axum-login's layer, with tickets in `tickets`.
pub fn app(tickets: MemoryStore<User>) -> Router {
    // axum-login on tower-sessions: a session layer, and axum-login's own.
    let sessions = SessionManagerLayer::new(SessionStore::default());
    let auth = AuthManagerLayerBuilder::new(Backend, sessions).build();

    // The identity is whoever the AuthSession says is signed in; no
    // AuthSession user, no ticket (401).
    let mint = MintService::new(tickets.clone())
        .identity_from(|parts| parts.extensions.get::<AuthSession>()?.user.clone());

    Router::new()
        .route("/api/ws", any(socket))
        .route_layer(WsTicketLayer::new(tickets))
        .route_service(MINT_PATH, mint)
        .route("/login", post(login))
        .route("/logout", post(logout))
        // tower-http's CSRF layer refuses cross-site POSTs (the forms and
        // the mint route); upgrades are GETs, which the ticket guards.
        .layer(CsrfLayer::new())
        .layer(auth)
}

/// `POST /login`: axum-login checks the credentials with the [`Backend`],
/// then signs the user in (a new session id, a session cookie).
async fn login(mut auth: AuthSession, Form(credentials): Form<Credentials>) -> Response {
    let user = match auth.authenticate(credentials).await {
        Ok(Some(user)) => user,
        Ok(None) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if auth.login(&user).await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    Redirect::to("/").into_response()
}

/// `POST /logout`: axum-login ends the session.
async fn logout(mut auth: AuthSession) -> Response {
    match auth.logout().await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /api/ws`: the layer consumed the ticket and left its identity.
async fn socket(
    upgrade: WebSocketUpgrade,
    Extension(principal): Extension<Principal<User>>,
) -> Response {
    let Principal::Ticket(redeemed) = principal else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let greeting = format!("hello {}", redeemed.identity.name);
    upgrade.on_upgrade(move |socket| echo(socket, greeting))
}

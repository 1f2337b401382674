//! The dashboard demo (`cargo run --example dashboard`): a browser page
//! that signs in, mints single-use WebSocket tickets and opens a socket
//! with them, beside a server-spawned "child" that attaches with the
//! internal credential.
//!
//! It is built from the parts an axum app usually already runs: sign-in on
//! [tower-sessions](tower_sessions), CSRF protection and the access log
//! from [tower-http](tower_http). The crate adds the mint route and the
//! socket guard; [`session::identify`] is the only glue between the two.
//!
//! | route | what it does | module |
//! |---|---|---|
//! | `GET /` | the page (inline HTML, CSS and JS) | [`page`] |
//! | `POST /login` | stand-in sign-in: form field `user`, starts a session | [`sign_in`] |
//! | `POST /logout` | ends the session | [`sign_in`] |
//! | `GET /api/me` | who is signed in, or 401 | [`sign_in`] |
//! | `POST /api/auth/ws-ticket` | `MintService`: a ticket for the signed-in user | [`app`] |
//! | `GET /api/ws?ticket=…` | the page's socket, behind `WsTicketLayer`: greets, echoes | [`page_socket`] |
//! | `GET /api/pub?internal=…` | the child's socket: the internal credential only | [`child_socket`] |
//! | `POST /api/child/drop` | closes the child's socket, to show it reconnect | [`child_socket`] |
//!
//! The other modules, one job each: [`user`] (who a ticket is for),
//! [`origins`] (where requests may come from), [`access_log`] (tower-http's
//! `TraceLayer`, credentials redacted), [`child_hub`] (what the child tells
//! the pages), [`child`] (the in-process child itself), and [`app`], which
//! puts the routes together and serves them.
//!
//! The sign-in is a demo, and says so: it takes any well-formed name and
//! no password. A real application signs users in its own way and keeps
//! [`session::identify`] (or, with axum-login, reads its `AuthSession`: see
//! [`with_axum_login`](crate::with_axum_login)); the ticket flow after it
//! stays the same.

pub mod access_log;
pub mod app;
pub mod child;
pub mod child_hub;
pub mod child_socket;
pub mod origins;
pub mod page;
pub mod page_socket;
pub mod session;
pub mod sign_in;
pub mod user;

pub use app::App;
pub use child::{AttachUrl, CHILD_TICK};
pub use page::PAGE;
pub use session::{SESSION_COOKIE, SESSION_LIFETIME};
pub use user::{MAX_NAME_CHARS, SessionKey, User};

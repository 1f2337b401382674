//! The dashboard demo (`cargo run --example dashboard`): a browser page
//! that signs in and keeps one ticket-authenticated socket open through the
//! browser client module (`client/ws-ticket.js`), beside a server-spawned
//! "child" that attaches with the internal credential.
//!
//! It is built from the parts an axum app usually already runs: sign-in on
//! [tower-sessions](tower_sessions), CSRF protection and the access log
//! from [tower-http](tower_http). The crate adds the mint route and the
//! socket guard; [`session::identify`] is the only glue between the two.
//!
//! | route | what it does | module |
//! |---|---|---|
//! | `GET /` | the page (inline HTML, CSS and a module script) | [`page`] |
//! | `GET /ws-ticket.js` | the browser client module the pages import | [`page`] |
//! | `GET /protocols` | a second page: the socket with and without an app protocol | [`page`] |
//! | `POST /login` | stand-in sign-in: form field `user`, starts a session | [`sign_in`] |
//! | `POST /logout` | ends the session and revokes it: its sockets close with 4401 | [`sign_in`] |
//! | `GET /api/me` | who is signed in, or 401 | [`sign_in`] |
//! | `POST /api/auth/ws-ticket` | `MintService`: a ticket for the signed-in user | [`app`] |
//! | `GET /api/ws` | the page's socket, behind `WsTicketLayer` (ticket in `Sec-WebSocket-Protocol`, refusals as close codes): greets, echoes | [`page_socket`] |
//! | `POST /api/ws/drop` | revokes the caller's sign-in, keeping the session: its page sockets close with 4401, and the client mints again and reconnects | [`page_socket`] |
//! | `GET /metrics` | the crate's metrics, Prometheus text format; the page's panel draws them | [`metrics`] |
//! | `GET /api/pub` | the child's socket: the internal credential only, in `Sec-WebSocket-Protocol` | [`child_socket`] |
//! | `POST /api/child/drop` | closes the child's socket, to show it reconnect | [`child_socket`] |
//!
//! The other modules, one job each: [`user`] (who a ticket is for),
//! [`endpoint`] (where it is served, over HTTP or HTTPS),
//! [`origins`] (where requests may come from), [`access_log`] (tower-http's
//! `TraceLayer`, credentials redacted), [`child_hub`] (what the child tells
//! the pages), [`child`] (the in-process child itself), and [`app`], which
//! puts the routes together and serves them (the page sockets'
//! `Revocations` among them).
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
pub mod endpoint;
pub mod metrics;
pub mod origins;
pub mod page;
pub mod page_socket;
pub mod session;
pub mod sign_in;
pub mod user;

pub use app::{App, Shared};
pub use child::{CHILD_TICK, ChildAttach};
pub use endpoint::Endpoint;
pub use page::{CLIENT_MODULE, CLIENT_MODULE_PATH, PAGE, PROTOCOLS_PAGE};
pub use page_socket::{APP_PROTOCOL, REVOKED_REASON};
pub use session::{Lifetime, SESSION_COOKIE, SESSION_LIFETIME};
pub use user::{MAX_NAME_CHARS, SessionKey, User};

//! The apps behind tower-ws-ticket's examples, and the helpers its tests and
//! benchmarks share.
//!
//! Each example in the repository (`cargo run --example NAME`) is a short
//! `main.rs` that starts one of the apps below; its end-to-end test in
//! `tests/` drives the same app over real TCP, so the example and its test
//! cannot drift apart. Nothing here is published: it is example code, meant
//! to be read and copied, and each module says why it does what it does.
//!
//! | module | what it holds | example |
//! |---|---|---|
//! | [`dashboard`] | the browser demo: sign-in on tower-sessions, a page on the browser client module (tickets in the subprotocol, close codes), a server-spawned child, an access log through tower-http's `TraceLayer` | `dashboard` |
//! | [`stack_axum`] | axum 0.8: two socket routes, each with its own `route_layer` | `stack_axum` |
//! | [`stack_tonic`] | tonic 0.14: gRPC and a guarded socket on one port | `stack_tonic` |
//! | [`stack_warp`] | warp 0.4: a `warp::ws()` filter behind the layer | `stack_warp` |
//! | [`stack_hyper`] | plain hyper 1: HTTP/1.1 and HTTP/2 sockets on one port | `stack_hyper` |
//! | [`with_axum_login`] | axum-login: its `AuthSession` user is the ticket's identity | `with_axum_login` |
//! | [`common`] | what the four stack apps share: the stand-in sign-in, the greeting, the echo, the accept loop, start-up | |
//! | [`logging`] | the log set-up every example starts with: no secret, no colour codes in a file | |
//! | [`tls`] | HTTPS for the dashboard (`TLS=self-signed`, or `TLS_CERT` / `TLS_KEY`): rustls, HTTP/2 and HTTP/1.1 by ALPN, extended CONNECT on | |
//! | [`testkit`] | for tests and benchmarks: servers on loopback, a real HTTP and WebSocket client, a throwaway `redis-server` | |
//!
//! The apps are generic over the ticket store where a store choice matters
//! (the dashboard takes any `TicketStore<Identity = User>`): cargo features
//! of `tower-ws-ticket` such as `redis` are the root package's, so the
//! example's `main.rs` builds a `RedisStore` when that feature is on and
//! hands it to the app here.
//!
//! The apps use `tower-ws-ticket`'s public API only, as a user's code would.
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![warn(missing_debug_implementations, rust_2018_idioms, clippy::all)]

pub mod common;
pub mod dashboard;
pub mod logging;
pub mod stack_axum;
pub mod stack_hyper;
pub mod stack_tonic;
pub mod stack_warp;
pub mod testkit;
pub mod tls;
pub mod with_axum_login;

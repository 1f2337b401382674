//! The dashboard demo: a browser page that signs in (on tower-sessions) and
//! keeps one socket open with single-use tickets through the browser client
//! (`client/ws-ticket.js`, served at `/ws-ticket.js`), showing the close
//! codes it gets and what it does about them, beside a server-spawned
//! "child" that attaches with the internal credential.
//!
//! ```text
//! cargo run --example dashboard                  # http://127.0.0.1:3000/
//! ADDR=127.0.0.1:0 cargo run --example dashboard # any free port
//! TLS=self-signed cargo run --example dashboard  # https://, HTTP/2, a certificate made at start
//! TLS_CERT=cert.pem TLS_KEY=key.pem cargo run --example dashboard # https:// with your own
//! SESSION_SECS=45 cargo run --example dashboard  # sign-ins (and their sockets) end after 45 s
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example dashboard --features redis
//! REDIS_SENTINEL=127.0.0.1:26379,127.0.0.1:26380 REDIS_SENTINEL_SERVICE=mymaster \
//!   cargo run --example dashboard --features redis  # through Redis Sentinel
//! REDIS_CLUSTER=127.0.0.1:7000,127.0.0.1:7001 cargo run --example dashboard --features redis
//! RUST_LOG=debug cargo run --example dashboard   # more detail
//! ```
//!
//! This file picks the ticket store and starts the server. The app itself
//! (routes, sign-in, sockets, the child, the access log) is
//! `tower_ws_ticket_demo::dashboard`, in `demo/src/dashboard/`, which the
//! end-to-end tests drive too.

use std::error::Error;
use std::fmt::Display;
use std::time::Duration;

use tokio::net::TcpListener;
use tower_ws_ticket::MemoryStore;
use tower_ws_ticket_demo::dashboard::{App, Endpoint, User};
use tower_ws_ticket_demo::logging;
use tower_ws_ticket_demo::tls::TlsChoice;

#[cfg(feature = "redis")]
mod redis;

/// Where the demo listens unless `ADDR` says otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:3000";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // `info` shows every request (credentials redacted) and the crate's
    // audit events (target `tower_ws_ticket::audit`); RUST_LOG overrides.
    logging::init();

    // Read before binding: a mistake in TLS, TLS_CERT or TLS_KEY stops
    // the demo at once, with what to change.
    let tls = TlsChoice::from_env().unwrap_or_else(|err| exit_with(&err));
    let session_lifetime = session_lifetime().unwrap_or_else(|err| exit_with(&err));
    let requested = std::env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_owned());
    let listener = TcpListener::bind(&requested).await.map_err(|err| {
        format!("cannot listen on {requested}: {err} (set ADDR, for example ADDR=127.0.0.1:0)")
    })?;
    let addr = listener.local_addr()?;
    let endpoint = match tls.load(addr).unwrap_or_else(|err| exit_with(&err)) {
        Some(tls) => {
            if tls.is_self_signed() {
                tracing::info!(
                    target: "dashboard",
                    "HTTPS with a self-signed certificate made at start: the browser warns \
                     once (or start Chromium with --ignore-certificate-errors)"
                );
            }
            Endpoint::https(addr, tls)
        }
        None => Endpoint::http(addr),
    };

    let url = endpoint.browse_url("/");
    let app = build(endpoint).await?;
    app.session_lifetime().set(session_lifetime);
    println!("dashboard demo: open {url}");
    app.serve(listener).await?;
    Ok(())
}

/// The app over the Redis store when built with `--features redis` and
/// one of `REDIS_CLUSTER`, `REDIS_SENTINEL`, `REDIS_URL` is set, else over the memory
/// store. The feature is this package's, so the choice is made here and
/// the app takes any store.
async fn build(addr: Endpoint) -> Result<App, Box<dyn Error>> {
    #[cfg(feature = "redis")]
    if let Some(app) = redis::from_env(addr.clone()).await? {
        return Ok(app);
    }
    #[cfg(not(feature = "redis"))]
    if ["REDIS_URL", "REDIS_SENTINEL", "REDIS_CLUSTER"]
        .iter()
        .any(|name| std::env::var_os(name).is_some())
    {
        tracing::warn!(
            target: "dashboard",
            "a Redis is configured, but this build has no Redis support: \
             run with `--features redis`; using the memory store"
        );
    }
    tracing::info!(target: "dashboard", "ticket store: in memory");
    Ok(App::new(MemoryStore::<User>::new(), addr))
}

/// How long a sign-in lasts: `SESSION_SECS` (whole seconds, at least 1),
/// or 8 hours.
fn session_lifetime() -> Result<Duration, String> {
    let Ok(raw) = std::env::var("SESSION_SECS") else {
        return Ok(tower_ws_ticket_demo::dashboard::SESSION_LIFETIME);
    };
    match raw.trim().parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "SESSION_SECS must be a whole number of seconds, at least 1 (got {raw:?})"
        )),
    }
}

/// Ends the process with `err`'s message as it reads (an `Err` out of
/// `main` would print its `Debug` form instead).
fn exit_with(err: &dyn Display) -> ! {
    eprintln!("Error: {err}");
    std::process::exit(2)
}

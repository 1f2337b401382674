//! The first lines of each stack example's `main`.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::identity::{DEMO_USER_HEADER, MINT_PATH};

/// Where an example listens unless `ADDR` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The start of each stack example's `main`: turns on logging (see
/// [`logging::init`](crate::logging::init)) and binds `ADDR` (default
/// [`DEFAULT_ADDR`]; `127.0.0.1:0` picks a free port). Returns the listener
/// and the address it is bound to.
///
/// # Errors
///
/// When binding fails.
///
/// # Panics
///
/// When a global tracing subscriber is already set: call it once, first.
pub async fn listen() -> std::io::Result<(TcpListener, SocketAddr)> {
    crate::logging::init();

    let addr = std::env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Prints how to get a ticket from the server at `local`.
pub fn print_ticket_hint(local: SocketAddr) {
    println!("  ticket: curl -X POST -H '{DEMO_USER_HEADER}: alice' http://{local}{MINT_PATH}");
}

//! Plain hyper 1 with hyper-util: HTTP/1.1 and HTTP/2 on one port, a
//! WebSocket over either (HTTP/2 through extended CONNECT, RFC 8441), all
//! guarded by the layer scoped to `/api/ws`. The app itself is in
//! `app.rs`, which `tests/stack_hyper.rs` drives over real TCP.
//!
//! ```sh
//! cargo run --example stack_hyper       # ADDR=127.0.0.1:0 picks a free port
//! curl -X POST -H 'x-demo-user: alice' http://127.0.0.1:3000/api/auth/ws-ticket
//! # then open ws://127.0.0.1:3000/api/ws?ticket=<ticket> within 30 s
//! ```

mod app;

use std::error::Error;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Audit events are tracing events (target tower_ws_ticket::audit).
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;

    println!("stack_hyper listening on http://{local} (HTTP/1.1 and HTTP/2)");
    println!(
        "  ticket: curl -X POST -H '{}: alice' http://{local}{}",
        app::DEMO_USER_HEADER,
        app::MINT_PATH
    );
    println!(
        "  socket: ws://{local}{}?ticket=<ticket>  (HTTP/1.1, or HTTP/2 extended CONNECT)",
        app::WS_PREFIX
    );

    app::serve(listener, app::Store::new()).await?;
    Ok(())
}

//! tonic 0.14: a real gRPC service (tonic-health) and a guarded WebSocket
//! route on one port. The app itself is in `app.rs`, which
//! `tests/stack_tonic.rs` drives over real TCP.
//!
//! ```sh
//! cargo run --example stack_tonic               # ADDR=127.0.0.1:0 picks a free port
//! SERVER=tonic cargo run --example stack_tonic  # tonic's own server: gRPC only, sockets refused
//! ```
//!
//! By default the app is served with hyper-util (HTTP/1.1 upgrades on, so
//! sockets open). `SERVER=tonic` serves the same routes with
//! `tonic::transport::Server::builder().layer(...)`, which cannot upgrade
//! connections: see the docs of `app.rs`.

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
    let tonic_server = std::env::var("SERVER").is_ok_and(|server| server == "tonic");
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    let store = app::Store::new();

    println!("stack_tonic listening on http://{local}");
    println!("  gRPC:   grpc.health.v1.Health/Check on the same port");
    println!(
        "  ticket: curl -X POST -H '{}: alice' http://{local}{}",
        app::DEMO_USER_HEADER,
        app::MINT_PATH
    );
    println!("  socket: ws://{local}/api/ws?ticket=<ticket>");

    if tonic_server {
        println!("  (tonic's own server: WebSockets cannot open here)");
        app::serve_tonic(listener, store).await?;
    } else {
        app::serve(listener, store).await?;
    }
    Ok(())
}

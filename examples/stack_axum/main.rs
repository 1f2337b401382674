//! axum 0.8: two socket routes with different settings, each guarded by
//! its own `route_layer`. The app itself is in `app.rs`, which
//! `tests/stack_axum.rs` drives over real TCP.
//!
//! ```sh
//! cargo run --example stack_axum        # ADDR=127.0.0.1:0 picks a free port
//! curl -X POST -H 'x-demo-user: alice' http://127.0.0.1:3000/api/auth/ws-ticket
//! # then open ws://127.0.0.1:3000/api/ws?ticket=<ticket> within 30 s
//! ```

mod app;

use std::error::Error;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tower_ws_ticket::InternalCredential;
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

    // One internal credential per process. It reaches only the children
    // this server spawns (ChildCredential::attach_url), so it is not printed.
    let app = app::app(app::Store::new(), InternalCredential::generate());

    println!("stack_axum listening on http://{local}");
    println!(
        "  ticket: curl -X POST -H '{}: alice' http://{local}{}",
        app::DEMO_USER_HEADER,
        app::MINT_PATH
    );
    println!("  socket: ws://{local}/api/ws?ticket=<ticket>");

    // ConnectInfo gives the layers the peer address for audit events.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

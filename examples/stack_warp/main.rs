//! warp 0.4: a `warp::ws()` filter turned into a tower service, wrapped by
//! the layer scoped to `/api/ws`, served with hyper-util. The app itself is
//! in `app.rs`, which `tests/stack_warp.rs` drives over real TCP.
//!
//! ```sh
//! cargo run --example stack_warp        # ADDR=127.0.0.1:0 picks a free port
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

    println!("stack_warp listening on http://{local}");
    println!(
        "  ticket: curl -X POST -H '{}: alice' http://{local}{}",
        app::DEMO_USER_HEADER,
        app::MINT_PATH
    );
    println!("  socket: ws://{local}/api/ws?ticket=<ticket>  (guarded)");
    println!("  public: ws://{local}/public/ws  (outside the layer's scope)");

    app::serve(listener, app::Store::new()).await?;
    Ok(())
}

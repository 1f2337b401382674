//! axum 0.8: two socket routes with different settings, each guarded by
//! its own `route_layer`. The app itself is
//! `tower_ws_ticket_demo::stack_axum` (`demo/src/stack_axum.rs`), which
//! `tests/it/stack_axum.rs` drives over real TCP.
//!
//! ```sh
//! cargo run --example stack_axum        # ADDR=127.0.0.1:0 picks a free port
//! curl -X POST -H 'x-demo-user: alice' http://127.0.0.1:3000/api/auth/ws-ticket
//! # then open ws://127.0.0.1:3000/api/ws?ticket=<ticket> within 30 s
//! ```

use std::error::Error;
use std::net::SocketAddr;

use tower_ws_ticket::InternalCredential;
use tower_ws_ticket_demo::common::{self, Store};
use tower_ws_ticket_demo::stack_axum;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Logging (audit events included) on, and bound to `ADDR`.
    let (listener, local) = common::listen().await?;

    // One internal credential per process. It reaches only the children
    // this server spawns (ChildCredential::attach_url), so it is not printed.
    let app = stack_axum::app(Store::new(), InternalCredential::generate());

    println!("stack_axum listening on http://{local}");
    common::print_ticket_hint(local);
    println!("  socket: ws://{local}/api/ws?ticket=<ticket>");

    // ConnectInfo gives the layers the peer address for audit events.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

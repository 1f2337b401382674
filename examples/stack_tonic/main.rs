//! tonic 0.14: a real gRPC service (tonic-health) and a guarded WebSocket
//! route on one port. The app itself is `tower_ws_ticket_demo::stack_tonic`
//! (`demo/src/stack_tonic.rs`), which `tests/it/stack_tonic.rs` drives over
//! real TCP.
//!
//! ```sh
//! cargo run --example stack_tonic               # ADDR=127.0.0.1:0 picks a free port
//! SERVER=tonic cargo run --example stack_tonic  # tonic's own server: gRPC only, sockets refused
//! ```
//!
//! By default the app is served with hyper-util (HTTP/1.1 upgrades on, so
//! sockets open). `SERVER=tonic` serves the same routes with
//! `tonic::transport::Server::builder().layer(...)`, which cannot upgrade
//! connections: see the app's docs.

use std::error::Error;

use tower_ws_ticket_demo::common::{self, Store};
use tower_ws_ticket_demo::stack_tonic;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Logging (audit events included) on, and bound to `ADDR`.
    let (listener, local) = common::listen().await?;
    let tonic_server = std::env::var("SERVER").is_ok_and(|server| server == "tonic");
    let store = Store::new();

    println!("stack_tonic listening on http://{local}");
    println!("  gRPC:   grpc.health.v1.Health/Check on the same port");
    common::print_ticket_hint(local);
    println!("  socket: ws://{local}/api/ws?ticket=<ticket>");

    if tonic_server {
        println!("  (tonic's own server: WebSockets cannot open here)");
        stack_tonic::serve_tonic(listener, store).await?;
    } else {
        stack_tonic::serve(listener, store).await?;
    }
    Ok(())
}

//! Plain hyper 1 with hyper-util: HTTP/1.1 and HTTP/2 on one port, a
//! WebSocket over either (HTTP/2 through extended CONNECT, RFC 8441), all
//! guarded by the layer scoped to `/api/ws`. The app itself is
//! `tower_ws_ticket_demo::stack_hyper` (`demo/src/stack_hyper.rs`), which
//! `tests/it/stack_hyper.rs` drives over real TCP.
//!
//! ```sh
//! cargo run --example stack_hyper       # ADDR=127.0.0.1:0 picks a free port
//! curl -X POST -H 'x-demo-user: alice' http://127.0.0.1:3000/api/auth/ws-ticket
//! # then open ws://127.0.0.1:3000/api/ws?ticket=<ticket> within 30 s
//! ```

use std::error::Error;

use tower_ws_ticket_demo::common::{self, Store};
use tower_ws_ticket_demo::stack_hyper;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Logging (audit events included) on, and bound to `ADDR`.
    let (listener, local) = common::listen().await?;

    println!("stack_hyper listening on http://{local} (HTTP/1.1 and HTTP/2)");
    common::print_ticket_hint(local);
    println!(
        "  socket: ws://{local}{}?ticket=<ticket>  (HTTP/1.1, or HTTP/2 extended CONNECT)",
        stack_hyper::WS_PREFIX
    );

    stack_hyper::serve(listener, Store::new()).await?;
    Ok(())
}

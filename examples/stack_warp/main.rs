//! warp 0.4: a `warp::ws()` filter turned into a tower service, wrapped by
//! the layer scoped to `/api/ws`, served with hyper-util. The app itself is
//! `tower_ws_ticket_demo::stack_warp` (`demo/src/stack_warp.rs`), which
//! `tests/it/stack_warp.rs` drives over real TCP.
//!
//! ```sh
//! cargo run --example stack_warp        # ADDR=127.0.0.1:0 picks a free port
//! curl -X POST -H 'x-demo-user: alice' http://127.0.0.1:3000/api/auth/ws-ticket
//! # then open ws://127.0.0.1:3000/api/ws?ticket=<ticket> within 30 s
//! ```

use std::error::Error;

use tower_ws_ticket_demo::common::{self, Store};
use tower_ws_ticket_demo::stack_warp;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Logging (audit events included) on, and bound to `ADDR`.
    let (listener, local) = common::listen().await?;

    println!("stack_warp listening on http://{local}");
    common::print_ticket_hint(local);
    println!("  socket: ws://{local}/api/ws?ticket=<ticket>  (guarded)");
    println!("  public: ws://{local}/public/ws  (outside the layer's scope)");

    stack_warp::serve(listener, Store::new()).await?;
    Ok(())
}

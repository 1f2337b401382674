//! Tickets in an app that signs users in with axum-login: the mint route
//! binds each ticket to the `AuthSession`'s user. The app itself is
//! `tower_ws_ticket_demo::with_axum_login` (`demo/src/with_axum_login.rs`),
//! which `tests/it/with_axum_login.rs` drives over real TCP.
//!
//! ```sh
//! cargo run --example with_axum_login   # ADDR=127.0.0.1:0 picks a free port
//! curl -c jar -d name=alice http://127.0.0.1:3000/login
//! curl -b jar -X POST http://127.0.0.1:3000/api/auth/ws-ticket
//! # then open ws://127.0.0.1:3000/api/ws?ticket=<ticket> within 30 s
//! ```

use std::error::Error;

use tower_ws_ticket::MemoryStore;
use tower_ws_ticket_demo::{common, with_axum_login};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Logging (audit events included) on, and bound to `ADDR`.
    let (listener, local) = common::listen().await?;

    let app = with_axum_login::app(MemoryStore::new());

    println!("with_axum_login listening on http://{local}");
    println!("  sign in: curl -c jar -d name=alice http://{local}/login");
    println!(
        "  ticket:  curl -b jar -X POST http://{local}{}",
        common::MINT_PATH
    );
    println!("  socket:  ws://{local}/api/ws?ticket=<ticket>");

    axum::serve(listener, app).await?;
    Ok(())
}

//! Refused WebSocket connects per second over loopback TCP: an HTTP 401
//! (the default) against `accept_then_close`'s handshake and close frame
//! with 4401, on the same axum route with the same bad ticket.
//!
//! Each connect opens a TCP connection and sends the handshake; for the
//! HTTP refusal it reads the 401, for accept-then-close it completes the
//! WebSocket handshake and reads the close frame. The two run interleaved,
//! in short rounds with the order alternating, so outside load falls on
//! both alike; the figure is their ratio (no target: the close costs a
//! task, a handshake and a frame more than a status line).
//!
//! Run: `cargo bench --bench refusal` (about half a minute).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use futures_util::StreamExt as _;
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::{self, Message};
use tower_ws_ticket::{MemoryStore, WsTicketLayer};
use tower_ws_ticket_demo::testkit::bench::{serve_on_own_runtime, upgrade_and_close};

/// Serves the route behind `layer` on its own one-worker runtime.
fn serve(layer: WsTicketLayer<MemoryStore<u32>>) -> (Runtime, SocketAddr) {
    serve_on_own_runtime(Router::new().route("/ws", get(upgrade_and_close).route_layer(layer)))
}

/// `count` refused connects to `addr`, one after another; the time taken.
async fn refused(addr: SocketAddr, count: usize) -> Duration {
    let url = format!("ws://{addr}/ws?ticket=wst_not-a-ticket");
    let started = Instant::now();
    for _ in 0..count {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            Ok((mut socket, _)) => match socket.next().await {
                Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4401),
                other => panic!("expected a close frame, got {other:?}"),
            },
            Err(other) => panic!("{other}"),
        }
    }
    started.elapsed()
}

fn main() {
    if std::env::args().any(|arg| arg == "--test" || arg == "--list") {
        return;
    }
    const ROUNDS: usize = 200;
    const BATCH: usize = 100;
    let store = MemoryStore::<u32>::new();
    let (_status_runtime, status) = serve(WsTicketLayer::new(store.clone()));
    let (_close_runtime, close) = serve(WsTicketLayer::new(store).accept_then_close());
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let (mut by_status, mut by_close) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (a, b) = if round % 2 == 0 {
            let a = client.block_on(refused(status, BATCH));
            (a, client.block_on(refused(close, BATCH)))
        } else {
            let b = client.block_on(refused(close, BATCH));
            (client.block_on(refused(status, BATCH)), b)
        };
        by_status += a;
        by_close += b;
        ratios.push(a.as_secs_f64() / b.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let total = (ROUNDS * BATCH) as f64;
    let rate = |elapsed: Duration| total / elapsed.as_secs_f64();
    println!(
        "refused connects, {ROUNDS} rounds of {BATCH}: HTTP 401 {:.0}/s, accept-then-close \
         {:.0}/s, ratio {:.3}; per-round ratio median {:.3} (quartiles {:.3} to {:.3})",
        rate(by_status),
        rate(by_close),
        rate(by_close) / rate(by_status),
        ratios[ROUNDS / 2],
        ratios[ROUNDS / 4],
        ratios[3 * ROUNDS / 4]
    );
}

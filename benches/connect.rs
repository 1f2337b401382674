//! WebSocket connects per second over loopback TCP, the dashboard's socket
//! shape: the same axum server with and without `WsTicketLayer` on the
//! route.
//!
//! Each iteration opens a TCP connection, completes the WebSocket handshake
//! (the server upgrades and closes at once), reads to the server's close
//! and drops the socket. Tickets
//! are minted and handshake requests built before the timer starts, so only
//! the connect and the upgrade are timed. Both servers receive the same
//! request shape (`/ws?ticket=wst_…`); the one without the layer ignores
//! the query.
//!
//! Connects are sequential from one client task on a current-thread
//! runtime; each server runs on its own one-worker runtime, so client and
//! server each have a core of a two-core machine.
//!
//! Run: `cargo bench --bench connect` (under a minute). Criterion reports
//! the time per connect and, as throughput, connects per second; then an
//! interleaved run of both variants prints their ratio, the figure that
//! holds up on a busy machine.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use criterion::{Criterion, Throughput, criterion_group};
use futures_util::StreamExt as _;
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tower_ws_ticket::{MemoryStore, WsTicketLayer};
use tower_ws_ticket_demo::testkit::bench::{serve_on_own_runtime, upgrade_and_close};

/// The two servers, the same route with and without the layer, and the
/// client's runtime (dropped first: fields drop in order).
struct Servers {
    client: Runtime,
    /// Without the layer; it ignores the `?ticket=` query.
    plain: SocketAddr,
    /// With the layer, over the store given to [`Servers::start`].
    guarded: SocketAddr,
    /// A ticket for the server without the layer, to get the same URL
    /// shape: one ticket, never consumed, serves for all its requests.
    decoy: String,
    _guarded_runtime: Runtime,
    _plain_runtime: Runtime,
}

impl Servers {
    fn start(store: &MemoryStore<u32>) -> Self {
        let (_plain_runtime, plain) =
            serve_on_own_runtime(Router::new().route("/ws", get(upgrade_and_close)));
        let (_guarded_runtime, guarded) = serve_on_own_runtime(Router::new().route(
            "/ws",
            get(upgrade_and_close).route_layer(WsTicketLayer::new(store.clone())),
        ));
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        let decoy = store.mint(0).expect("mint").expose_secret().to_owned();
        Self {
            client,
            plain,
            guarded,
            decoy,
            _guarded_runtime,
            _plain_runtime,
        }
    }
}

/// `iters` handshake requests to `addr`, one per ticket.
fn requests(addr: SocketAddr, tickets: impl Iterator<Item = String>) -> Vec<Request> {
    tickets
        .map(|ticket| {
            format!("ws://{addr}/ws?ticket={ticket}")
                .into_client_request()
                .expect("handshake request")
        })
        .collect()
}

/// Opens and drops one socket per request, in order; the time it took.
async fn connect_all(requests: Vec<Request>) -> Duration {
    let started = Instant::now();
    for request in requests {
        let (mut socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("handshake");
        assert_eq!(response.status(), 101);
        // Wait for the server's close before dropping: the side that closes
        // first keeps the TIME_WAIT, and on the server side it does not tie
        // up the client's ephemeral ports, which would slow later connects.
        while let Some(Ok(_)) = socket.next().await {}
        drop(socket);
    }
    started.elapsed()
}

fn connects(c: &mut Criterion) {
    let store = MemoryStore::<u32>::builder()
        .ttl(Duration::from_secs(600))
        .build();
    let servers = Servers::start(&store);

    let mut group = c.benchmark_group("ws_connect_loopback");
    group.throughput(Throughput::Elements(1));
    group.bench_function("without_layer", |b| {
        b.iter_custom(|iters| {
            let requests = requests(servers.plain, (0..iters).map(|_| servers.decoy.clone()));
            servers.client.block_on(connect_all(requests))
        })
    });
    group.bench_function("with_layer", |b| {
        b.iter_custom(|iters| {
            let tickets = (0..iters).map(|i| {
                let ticket = store.mint(u32::try_from(i).unwrap_or(u32::MAX));
                ticket.expect("mint").expose_secret().to_owned()
            });
            let requests = requests(servers.guarded, tickets);
            servers.client.block_on(connect_all(requests))
        })
    });
    group.finish();
}

/// The two variants interleaved: short rounds of `PAIRED_BATCH` connects
/// to each server, the order alternating, so that load from anything else
/// on the machine falls on both alike. Prints both rates, their ratio, and
/// the median and quartiles of the per-round ratios, which a burst of
/// outside load in a few rounds does not move.
fn paired() {
    const ROUNDS: usize = 400;
    const PAIRED_BATCH: usize = 100;
    let store = MemoryStore::<u32>::new();
    let servers = Servers::start(&store);

    let (mut without, mut with) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let plain_requests = requests(
            servers.plain,
            (0..PAIRED_BATCH).map(|_| servers.decoy.clone()),
        );
        let tickets =
            (0..PAIRED_BATCH).map(|_| store.mint(0).expect("mint").expose_secret().to_owned());
        let guarded_requests = requests(servers.guarded, tickets);
        let (a, b) = if round % 2 == 0 {
            let a = servers.client.block_on(connect_all(plain_requests));
            (a, servers.client.block_on(connect_all(guarded_requests)))
        } else {
            let b = servers.client.block_on(connect_all(guarded_requests));
            (servers.client.block_on(connect_all(plain_requests)), b)
        };
        without += a;
        with += b;
        ratios.push(a.as_secs_f64() / b.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let total = (ROUNDS * PAIRED_BATCH) as f64;
    let rate = |elapsed: Duration| total / elapsed.as_secs_f64();
    println!(
        "paired, {ROUNDS} rounds of {PAIRED_BATCH} each: without layer {:.0} connects/s, \
         with layer {:.0} connects/s, ratio {:.3}; per-round ratio median {:.3} \
         (quartiles {:.3} to {:.3})",
        rate(without),
        rate(with),
        rate(with) / rate(without),
        ratios[ROUNDS / 2],
        ratios[ROUNDS / 4],
        ratios[3 * ROUNDS / 4]
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(15));
    targets = connects
}

fn main() {
    benches();
    // Criterion's test mode (`cargo bench -- --test`) and `--list` only
    // check that the benchmarks run.
    if !std::env::args().any(|arg| arg == "--test" || arg == "--list") {
        paired();
    }
    Criterion::default().configure_from_args().final_summary();
}

//! What live revocation costs.
//!
//! - An upgrade with a valid ticket through the layer, with revocations off
//!   and on: the price of registering (and, as the request is dropped with
//!   its handle, unregistering) one socket, next to the whole ticket path.
//!   Target: under 10% of it.
//! - `Revocations::revoke` for a key with 1, 100 and 10,000 live sockets:
//!   the record, taking the key's handles out, and signalling each. The
//!   sockets are registered in the untimed setup, and each has a `revoked()`
//!   future waiting on it (polled once with a no-op waker), so the
//!   measurement includes waking real listeners.
//! - The same with the sockets spread over 1,000 other keys too, to show
//!   that a revocation touches only its key.
//!
//! - Deadlines (`WsTicketLayer::expires_at` / `max_socket_age`): an
//!   admitted socket with no deadline, with one beside revocations, and
//!   with one and no registry, while 100,000 other sockets with deadlines
//!   stay open; and the memory a socket with a deadline holds, measured as
//!   the growth of the process's resident set over 100,000 of them.
//!
//! Every future here is ready at once, so each is polled once with a no-op
//! waker and no runtime sits in the measurement, as in `benches/layer.rs`.
//!
//! Run: `cargo bench --bench revocation`

use std::convert::Infallible;
use std::future::{Future, ready};
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use tower::{Layer, service_fn};
use tower_ws_ticket::{MemoryStore, Revocation, Revocations, RevokedFuture, WsTicketLayer};
use tower_ws_ticket_demo::testkit::bench::{admit, ready_inner, upgrade_request};

fn admitted_socket(c: &mut Criterion) {
    let store = MemoryStore::<u64>::builder()
        .max_outstanding(usize::MAX)
        .build();
    let revocations = Revocations::<u64>::new();
    // Other users' sockets stay open meanwhile, as on a busy server.
    let others: Vec<Revocation> = (0..10_000).map(|i| revocations.watch(i % 1_000)).collect();
    // The inner service drops the request, and the handle with it, as when
    // a socket closes: registering and unregistering are both measured.
    let mut off = WsTicketLayer::new(store.clone()).layer(ready_inner());
    let mut on = WsTicketLayer::new(store.clone())
        .revocations(revocations.clone(), |user: &u64| *user)
        .layer(ready_inner());
    let mut group = c.benchmark_group("admitted socket");
    for (name, service) in [("revocations off", &mut off), ("revocations on", &mut on)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || upgrade_request(store.mint(7).expect("mint").expose_secret()),
                |req| admit(service, req),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    assert_eq!(revocations.live(), others.len());
}

/// `n` sockets of key 0, each with a `revoked()` future registered.
fn sockets(revocations: &Revocations<u64>, n: usize) -> Vec<(Revocation, RevokedFuture)> {
    let mut cx = Context::from_waker(Waker::noop());
    (0..n)
        .map(|_| {
            let handle = revocations.watch(0);
            let mut waiting = handle.revoked();
            assert!(Pin::new(&mut waiting).poll(&mut cx).is_pending());
            (handle, waiting)
        })
        .collect()
}

fn revoke_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("revoke a key");
    for n in [1, 100, 10_000] {
        let revocations = Revocations::<u64>::new();
        group.bench_with_input(BenchmarkId::new("live sockets", n), &n, |b, &n| {
            b.iter_batched(
                || sockets(&revocations, n),
                |sockets| {
                    assert_eq!(revocations.revoke(&0), n);
                    sockets
                },
                BatchSize::PerIteration,
            )
        });
        let crowded = Revocations::<u64>::new();
        let _others: Vec<Revocation> = (0..10_000).map(|i| crowded.watch(1 + i % 1_000)).collect();
        group.bench_with_input(
            BenchmarkId::new("live sockets, 10,000 others open", n),
            &n,
            |b, &n| {
                b.iter_batched(
                    || sockets(&crowded, n),
                    |sockets| {
                        assert_eq!(crowded.revoke(&0), n);
                        sockets
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    group.finish();
}

/// An hour from now: deadlines that never fall due in a benchmark.
fn in_an_hour() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

/// Admits `n` sockets through `layer` and keeps their handles open.
fn open_sockets(
    layer: &WsTicketLayer<MemoryStore<u64>>,
    store: &MemoryStore<u64>,
    n: u64,
) -> Vec<Revocation> {
    let keep = service_fn(|req: Request<()>| {
        let mut response = Response::new(());
        if let Some(handle) = req.extensions().get::<Revocation>().cloned() {
            response.extensions_mut().insert(handle);
        }
        ready(Ok::<_, Infallible>(response))
    });
    let mut service = layer.clone().layer(keep);
    (0..n)
        .map(|user| {
            let ticket = store.mint(user).expect("mint");
            let response = admit(&mut service, upgrade_request(ticket.expose_secret()));
            response
                .extensions()
                .get::<Revocation>()
                .cloned()
                .expect("a handle")
        })
        .collect()
}

/// The process's resident set in bytes (Linux), to see what sockets hold.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Bytes per socket held open through `layer`, over 100,000 of them, and
/// the sockets: the caller keeps them open, so that the next measurement
/// gets no memory back from these.
fn bytes_per_socket(
    layer: &WsTicketLayer<MemoryStore<u64>>,
    store: &MemoryStore<u64>,
) -> (f64, Vec<Revocation>) {
    const N: u64 = 100_000;
    let before = resident_bytes().unwrap_or(0);
    let sockets = open_sockets(layer, store, N);
    let after = resident_bytes().unwrap_or(0);
    (after.saturating_sub(before) as f64 / N as f64, sockets)
}

/// The three ways a layer can give sockets handles, each on a store and a
/// registry of its own.
/// A named layer on its own store.
type Contender = (
    &'static str,
    WsTicketLayer<MemoryStore<u64>>,
    MemoryStore<u64>,
);

fn deadline_layers() -> [Contender; 3] {
    let store = || {
        MemoryStore::<u64>::builder()
            .max_outstanding(usize::MAX)
            .build()
    };
    let registry = |store: &MemoryStore<u64>| {
        WsTicketLayer::new(store.clone()).revocations(Revocations::<u64>::new(), |user: &u64| *user)
    };
    let (a, b, c) = (store(), store(), store());
    [
        ("revocations, no deadline", registry(&a), a),
        (
            "revocations and a deadline",
            registry(&b)
                .expires_at(|_: &u64| Some(in_an_hour()))
                .max_socket_age(Duration::from_secs(7200)),
            b,
        ),
        (
            "a deadline, no registry",
            WsTicketLayer::new(c.clone()).max_socket_age(Duration::from_secs(3600)),
            c,
        ),
    ]
}

fn deadlines(c: &mut Criterion) {
    // Memory first: 100,000 sockets each way, each on a registry of its
    // own, all kept open, so that none reuses what another freed. They
    // stay open through the timings: each layer then admits beside
    // 100,000 open sockets of its kind.
    let layers = deadline_layers();
    let mut open = Vec::new();
    for (name, layer, store) in &layers {
        let (bytes, sockets) = bytes_per_socket(layer, store);
        println!(
            "memory per open socket, {name}: {bytes:.0} bytes (resident set growth over 100,000)"
        );
        open.push(sockets);
    }

    let mut group = c.benchmark_group("admitted socket, 100,000 open");
    for (name, layer, store) in &layers {
        let mut service = layer.clone().layer(ready_inner());
        group.bench_function(*name, |b| {
            b.iter_batched(
                || upgrade_request(store.mint(7).expect("mint").expose_secret()),
                |req| admit(&mut service, req),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    drop(open);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = admitted_socket, revoke_latency, deadlines
}
criterion_main!(benches);

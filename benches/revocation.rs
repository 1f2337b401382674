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
//! Every future here is ready at once, so each is polled once with a no-op
//! waker and no runtime sits in the measurement, as in `benches/layer.rs`.
//!
//! Run: `cargo bench --bench revocation`

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use tower::Layer;
use tower_ws_ticket::{MemoryStore, Revocation, Revocations, Revoked, WsTicketLayer};
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
fn sockets(revocations: &Revocations<u64>, n: usize) -> Vec<(Revocation, Revoked)> {
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

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = admitted_socket, revoke_latency
}
criterion_main!(benches);

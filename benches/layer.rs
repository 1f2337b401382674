//! The layer's cost, side by side with what it wraps.
//!
//! - A request that is not an upgrade, through the layer and straight to the
//!   inner service: the layer's toll on ordinary traffic.
//! - An upgrade with a valid ticket through the layer, `store.consume` of
//!   the same kind of ticket alone, and the same upgrade request straight
//!   to the inner service: the layer's cost beyond the store.
//! - The same upgrade with the ticket in the query and in the
//!   `Sec-WebSocket-Protocol` header.
//!
//! Every future here is ready at once (the memory store and the inner
//! service answer synchronously), so each is polled once with a no-op waker
//! and no runtime sits in the measurement. Requests and tickets are built
//! in the untimed setup of `iter_batched`.
//!
//! Run: `cargo bench --bench layer`

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tower::{Layer, Service};
use tower_ws_ticket::{MemoryStore, WsTicketLayer};
use tower_ws_ticket_demo::testkit::bench::{
    admit, header_upgrade_request, plain_request, poll_once, ready_inner, upgrade_request,
};

fn non_upgrade(c: &mut Criterion) {
    let store = MemoryStore::<u64>::new();
    let mut bare = ready_inner();
    let mut layered = WsTicketLayer::new(store).layer(ready_inner());
    let mut group = c.benchmark_group("non-upgrade request");
    group.bench_function("bare inner service", |b| {
        b.iter_batched(
            plain_request,
            |req| poll_once(bare.call(req)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("through the layer", |b| {
        b.iter_batched(
            plain_request,
            |req| poll_once(layered.call(req)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn upgrade_with_ticket(c: &mut Criterion) {
    let store = MemoryStore::<u64>::builder()
        .max_outstanding(usize::MAX)
        .build();
    let mut bare = ready_inner();
    let mut layered = WsTicketLayer::new(store.clone()).layer(ready_inner());
    let mut group = c.benchmark_group("upgrade with a valid ticket");
    // The same request straight to the inner service: what handling the
    // request costs with no layer at all, so the layer's own share is the
    // difference from "through the layer".
    group.bench_function("bare inner service", |b| {
        b.iter_batched(
            || upgrade_request(store.mint(7).expect("mint").expose_secret()),
            |req| poll_once(bare.call(req)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("store.consume alone", |b| {
        b.iter_batched(
            || store.mint(7).expect("mint").expose_secret().to_owned(),
            |ticket| store.consume(&ticket).expect("valid ticket"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("through the layer", |b| {
        b.iter_batched(
            || upgrade_request(store.mint(7).expect("mint").expose_secret()),
            |req| admit(&mut layered, req),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The same upgrade with the ticket in the query and in the
/// `Sec-WebSocket-Protocol` header (with the marker and an app protocol, as
/// a browser sends it).
fn credential_channel(c: &mut Criterion) {
    let store = MemoryStore::<u64>::builder()
        .max_outstanding(usize::MAX)
        .build();
    let mut layered = WsTicketLayer::new(store.clone()).layer(ready_inner());
    let mut group = c.benchmark_group("credential channel");
    group.bench_function("ticket in the query", |b| {
        b.iter_batched(
            || upgrade_request(store.mint(7).expect("mint").expose_secret()),
            |req| poll_once(layered.call(req)).expect("infallible"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("ticket in the subprotocol header", |b| {
        b.iter_batched(
            || header_upgrade_request(store.mint(7).expect("mint").expose_secret()),
            |req| admit(&mut layered, req),
            BatchSize::SmallInput,
        )
    });
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
    targets = non_upgrade, upgrade_with_ticket, credential_channel
}
criterion_main!(benches);

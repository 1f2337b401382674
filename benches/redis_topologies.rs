//! Mint + consume pairs per second through `RedisStore` on one Redis,
//! through Sentinel (one primary, one replica, three sentinels) and on a
//! three-primary Cluster (a replica each), side by side in one run, one
//! pair at a time and with 64 pairs in flight; then, for Sentinel and
//! Cluster, how long calls fail when a primary is killed with SIGKILL
//! mid-traffic.
//!
//! Run with `cargo bench --features redis --bench redis_topologies`; the
//! bench starts its own processes on loopback ports (the demo crate's
//! `testkit::redis_server`). BENCHMARKS.md records the results. Every
//! store is the default one (no cap): a bare `SET … NX PX` and `GETDEL`,
//! one round trip each, on every topology.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::runtime::Runtime;
use tower_ws_ticket::RedisStore;
use tower_ws_ticket_demo::testkit::RedisServer;
use tower_ws_ticket_demo::testkit::redis_server::{ClusterGroup, SENTINEL_SERVICE, SentinelGroup};

const IN_FLIGHT: usize = 64;
const ROUNDS: usize = 7;
const SERIAL_PAIRS: usize = 2_000;
const BATCHES: usize = 60;
const TIMEOUT: Duration = Duration::from_millis(500);

async fn pair(store: &RedisStore<u64>) -> bool {
    match store.mint(42).await {
        Ok(ticket) => store.consume(ticket.expose_secret()).await.is_ok(),
        Err(_) => false,
    }
}

/// Pairs per second: the median of `ROUNDS` rounds.
async fn rate(store: &RedisStore<u64>, in_flight: usize) -> f64 {
    let mut rates = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let pairs = if in_flight == 1 {
            for _ in 0..SERIAL_PAIRS {
                assert!(pair(store).await, "a pair failed");
            }
            SERIAL_PAIRS
        } else {
            for _ in 0..BATCHES {
                let done = join_all((0..in_flight).map(|_| pair(store))).await;
                assert!(done.into_iter().all(|ok| ok), "a pair failed");
            }
            BATCHES * in_flight
        };
        rates.push(pairs as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    rates[ROUNDS / 2]
}

/// Pairs one after another while `kill` kills a primary: how long pairs
/// failed (from the first failure to the end of the last, once a second
/// has passed without one: on Cluster only the pairs that meet the killed
/// primary's slots fail) and the longest call.
async fn failover(store: &RedisStore<u64>, kill: impl FnOnce()) -> (Duration, Duration) {
    let (mut first_failure, mut last_failure, mut longest) = (None, None, Duration::ZERO);
    let started = Instant::now();
    let mut kill = Some(kill);
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "no recovery");
        if started.elapsed() > Duration::from_millis(300)
            && let Some(kill) = kill.take()
        {
            kill();
        }
        let call = Instant::now();
        let ok = pair(store).await;
        longest = longest.max(call.elapsed() / 2);
        if ok {
            if let Some(last) = last_failure
                && call.duration_since(last) > Duration::from_secs(1)
            {
                break;
            }
        } else {
            first_failure.get_or_insert(call);
            last_failure = Some(Instant::now());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let failing = match (first_failure, last_failure) {
        (Some(first), Some(last)) => last.duration_since(first),
        _ => Duration::ZERO,
    };
    (failing, longest)
}

fn main() {
    let rt = Runtime::new().expect("a runtime");
    let single = RedisServer::start();
    let mut sentinel = SentinelGroup::start();
    let mut cluster = ClusterGroup::start();
    let stores = rt.block_on(async {
        let builder = || {
            RedisStore::<u64>::builder()
                .key_prefix("bench:")
                .timeout(TIMEOUT)
        };
        [
            (
                "one Redis",
                builder().connect(single.url()).await.expect("connect"),
            ),
            (
                "Sentinel",
                builder()
                    .connect_sentinel(sentinel.sentinel_urls(), SENTINEL_SERVICE)
                    .await
                    .expect("connect"),
            ),
            (
                "Cluster (3 primaries)",
                builder()
                    .connect_cluster(cluster.urls())
                    .await
                    .expect("connect"),
            ),
        ]
    });
    println!("| topology | pairs/s, serial | pairs/s, {IN_FLIGHT} in flight |");
    println!("|---|---:|---:|");
    for (name, store) in &stores {
        let serial = rt.block_on(rate(store, 1));
        let parallel = rt.block_on(rate(store, IN_FLIGHT));
        println!("| {name} | {serial:.0} | {parallel:.0} |");
    }
    let (failing, longest) = rt.block_on(failover(&stores[1].1, || {
        sentinel.kill_primary();
    }));
    println!("Sentinel, primary killed: calls failed for {failing:?}; longest call {longest:?}");
    let (failing, longest) = rt.block_on(failover(&stores[2].1, || {
        cluster.kill_primary();
    }));
    println!("Cluster, a primary killed: pairs failed for {failing:?}; longest call {longest:?}");
}

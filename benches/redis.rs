//! Mint + consume pairs per second through `RedisStore`, beside the raw
//! `redis` crate doing the same `SET key value NX PX ttl` + `GETDEL` on the
//! same connection.
//!
//! Run with `cargo bench --features redis --bench redis`; the bench starts
//! its own `redis-server` on a free loopback port (see
//! `tower_ws_ticket_demo::testkit::RedisServer`, in
//! `demo/src/testkit/redis_server.rs`). BENCHMARKS.md records the results.
//!
//! Contenders, all on one `ConnectionManager` (clones of one handle):
//! - `raw`: a random 16-hex-digit key, a 43-byte value (the size of the
//!   store's value for a `u64` identity), `SET … NX PX 30000`, then
//!   `GETDEL`.
//! - `store`: `RedisStore<u64>` with its defaults (no cap: bare
//!   `SET … PX … NX` and `GETDEL`).
//! - `store_capped`: `RedisStore<u64>` with `.max_outstanding(100_000)`
//!   (one `EVALSHA` each way).
//! - `store_audience`: the default store, tickets minted and consumed with
//!   an `Audience` (still a bare `SET` and `GETDEL`; 33 more bytes in the
//!   value).
//! - `store_per_identity`: `RedisStore<u64>` with `.max_per_identity(1_000)`
//!   (never reached; one `EVALSHA` each way), every pair for one identity,
//!   so all of them meet in its sorted set.
//!
//! Side by side, `store` / `store_audience` / `store_per_identity` are the
//! plain store and its two options (`store_capped` is the other script).
//!
//! Each is measured one pair at a time (latency-bound) and with 64 pairs in
//! flight (where Redis's own work shows). After the timed groups the bench
//! counts the commands each pair sends, with `MONITOR` (commands a script
//! runs inside Redis are listed apart and are no round trip), and prints a
//! side-by-side summary: the median pairs per second of 21 rounds in which
//! the contenders take turns, and each one's ratio to `raw`.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use futures_util::StreamExt as _;
use futures_util::future::join_all;
use rand::RngCore as _;
use redis::aio::ConnectionManager;
use tokio::runtime::Runtime;
use tower_ws_ticket::{Audience, RedisStore};
use tower_ws_ticket_demo::testkit::RedisServer;

const TTL_MS: u64 = 30_000;
const VALUE_LEN: usize = 43;
const IN_FLIGHT: usize = 64;

#[derive(Clone)]
enum Contender {
    Raw(ConnectionManager),
    Store(RedisStore<u64>),
    StoreAudience(RedisStore<u64>, Audience),
}

impl Contender {
    /// One mint and one consume; panics on any failure (a bench must not
    /// count errors as work).
    async fn pair(&self) {
        match self {
            Self::Raw(manager) => {
                let mut conn = manager.clone();
                let mut raw = [0u8; 8 + VALUE_LEN];
                rand::rng().fill_bytes(&mut raw);
                let key = format!(
                    "raw:{:016x}",
                    u64::from_le_bytes(raw[..8].try_into().unwrap())
                );
                let set: redis::Value = redis::cmd("SET")
                    .arg(&key)
                    .arg(&raw[8..])
                    .arg("NX")
                    .arg("PX")
                    .arg(TTL_MS)
                    .query_async(&mut conn)
                    .await
                    .expect("SET");
                assert_eq!(set, redis::Value::Okay);
                let value: Option<Vec<u8>> = redis::cmd("GETDEL")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("GETDEL");
                assert_eq!(value.as_deref(), Some(&raw[8..]));
            }
            Self::Store(store) => {
                let ticket = store.mint(42).await.expect("mint");
                let redeemed = store
                    .consume(ticket.expose_secret())
                    .await
                    .expect("consume");
                assert_eq!(black_box(redeemed.identity), 42);
            }
            Self::StoreAudience(store, audience) => {
                let ticket = store.mint_with_audience(42, audience).await.expect("mint");
                let redeemed = store
                    .consume_with_audience(ticket.expose_secret(), audience)
                    .await
                    .expect("consume");
                assert_eq!(black_box(redeemed.identity), 42);
            }
        }
    }

    async fn pairs(&self, n: usize, in_flight: usize) {
        if in_flight == 1 {
            for _ in 0..n {
                self.pair().await;
            }
        } else {
            for _ in 0..n {
                join_all((0..in_flight).map(|_| self.pair())).await;
            }
        }
    }
}

fn contenders(rt: &Runtime, server: &RedisServer) -> Vec<(&'static str, Contender)> {
    let manager = rt.block_on(async {
        redis::Client::open(server.url())
            .expect("url")
            .get_connection_manager()
            .await
            .expect("connect")
    });
    vec![
        ("raw", Contender::Raw(manager.clone())),
        (
            "store",
            Contender::Store(
                RedisStore::builder()
                    .key_prefix("uncapped:")
                    .build(manager.clone()),
            ),
        ),
        (
            "store_capped",
            Contender::Store(
                RedisStore::builder()
                    .key_prefix("capped:")
                    .max_outstanding(100_000)
                    .build(manager.clone()),
            ),
        ),
        (
            "store_audience",
            Contender::StoreAudience(
                RedisStore::builder()
                    .key_prefix("audience:")
                    .build(manager.clone()),
                Audience::new("bench"),
            ),
        ),
        (
            "store_per_identity",
            Contender::Store(
                RedisStore::builder()
                    .key_prefix("per_identity:")
                    .max_per_identity(1_000)
                    .build(manager),
            ),
        ),
    ]
}

fn timed(rt: &Runtime, contender: &Contender, iters: u64, in_flight: usize) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        contender.pairs(iters as usize, in_flight).await;
        start.elapsed()
    })
}

fn bench(c: &mut Criterion, rt: &Runtime, contenders: &[(&'static str, Contender)]) {
    for (group, in_flight) in [
        ("redis_pair/sequential", 1),
        ("redis_pair/64_in_flight", IN_FLIGHT),
    ] {
        let mut g = c.benchmark_group(group);
        g.sample_size(15)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(in_flight as u64));
        for (name, contender) in contenders {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| timed(rt, contender, iters, in_flight));
            });
        }
        g.finish();
    }
}

/// Top-level commands per pair, counted with `MONITOR` between two markers.
fn round_trips(rt: &Runtime, server: &RedisServer, contender: &Contender) -> f64 {
    const PAIRS: usize = 200;
    rt.block_on(async {
        let client = redis::Client::open(server.url()).expect("url");
        let marker = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let monitor = client.get_async_monitor().await.expect("MONITOR");
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let collected = lines.clone();
        let collector = tokio::spawn(async move {
            let mut stream = monitor.into_on_message::<String>();
            while let Some(line) = stream.next().await {
                let done = line.contains("\"bench-end\"");
                collected.lock().unwrap().push(line);
                if done {
                    break;
                }
            }
        });
        // MONITOR is on once its first marker shows up.
        let echo = |text: &'static str| {
            let mut conn = marker.clone();
            async move {
                let _: String = redis::cmd("ECHO")
                    .arg(text)
                    .query_async(&mut conn)
                    .await
                    .expect("ECHO");
            }
        };
        echo("bench-start").await;
        contender.pairs(PAIRS, 1).await;
        echo("bench-end").await;
        collector.await.expect("monitor task");
        let lines = lines.lock().unwrap();
        let start = lines
            .iter()
            .position(|l| l.contains("\"bench-start\""))
            .expect("start marker seen");
        let top_level = lines[start + 1..]
            .iter()
            .filter(|l| !l.contains(" lua]") && !l.contains("\"ECHO\""))
            .count();
        top_level as f64 / PAIRS as f64
    })
}

/// Pairs per second for each contender: the median over rounds that take
/// turns, so that bursts of other work on the machine hit all of them
/// alike and drop out of the median.
fn summary(rt: &Runtime, contenders: &[(&'static str, Contender)], in_flight: usize) -> Vec<f64> {
    const ROUNDS: usize = 21;
    let batches = if in_flight == 1 { 1_000 } else { 25 };
    let pairs = (batches * in_flight) as f64;
    let mut rates = vec![Vec::with_capacity(ROUNDS); contenders.len()];
    for _ in 0..ROUNDS {
        for (i, (_, contender)) in contenders.iter().enumerate() {
            let elapsed = timed(rt, contender, batches as u64, in_flight);
            rates[i].push(pairs / elapsed.as_secs_f64());
        }
    }
    rates
        .into_iter()
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            r[ROUNDS / 2]
        })
        .collect()
}

fn main() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let contenders = contenders(&rt, &server);
    // Warm up: loads the scripts, opens the connection.
    for (_, contender) in &contenders {
        rt.block_on(contender.pairs(100, 1));
    }

    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &rt, &contenders);
    c.final_summary();

    println!("\nround trips (top-level commands) per mint + consume pair, measured with MONITOR:");
    for (name, contender) in &contenders {
        println!("  {name:<15} {:.2}", round_trips(&rt, &server, contender));
    }
    for (label, in_flight) in [("one pair at a time", 1), ("64 pairs in flight", IN_FLIGHT)] {
        let rates = summary(&rt, &contenders, in_flight);
        println!("\npairs per second, {label} (median of 21 interleaved rounds):");
        for ((name, _), rate) in contenders.iter().zip(&rates) {
            println!("  {name:<15} {rate:>9.0}  {:.2} of raw", rate / rates[0]);
        }
    }
}

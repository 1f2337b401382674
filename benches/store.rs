//! Mint + consume pairs per second: `MemoryStore` beside the stores a user
//! would otherwise write or pick off the shelf, and beside two floors: the
//! honest one, what any store with `MemoryStore`'s semantics has to pay,
//! and the bare one, what is left of a concurrent map of random keys.
//!
//! Run with `cargo bench --bench store`; BENCHMARKS.md records the results
//! and the ratios the store is held to.
//!
//! Contenders:
//! - `ours`: `MemoryStore<u64>`, `mint` then `consume`.
//! - `honest_floor`: the target `ours` is held to (at most 1.2x). Mint: 32
//!   bytes from `rand::rng()` (the thread-local CSPRNG the store draws
//!   from), the `wst_` + base64url text in a `String`, a wall-clock read
//!   (what the store dates a mint by) and a monotonic read, one insert of a
//!   48-byte record (secret half, both mint times, identity). Consume: the
//!   text parsed back to its 32 bytes, a monotonic read, one remove, the
//!   secret half compared in constant time, the age checked, the identity
//!   and wall-clock mint time handed back. No expiry queue, no cap on live
//!   tickets, no audience, no cap per identity.
//! - `bare_floor`: the same 32 random bytes, then one insert and one remove
//!   of the first 8 as a `u64` in a map of `()`: no text, clock,
//!   secret, identity, expiry or cap. Kept to show how much of the honest
//!   floor is the map itself (it was `floor` before the third release: a
//!   `DashMap`, with a hasher that did not multiply).
//! - `ironclad`: the hand-rolled shape found in the wild (ironclad-api
//!   0.9.8): 32 bytes from the OS RNG, hex with a `wst_` prefix, a
//!   `Mutex<HashMap<String, Instant>>`, and a full `retain` sweep on every
//!   mint once 1,000 tickets are outstanding.
//! - `moka`: `moka::sync::Cache<String, u64>` with a 30 s TTL, remove on
//!   consume; ticket text made the way ours is.
//!
//! Both floors keep their records as `MemoryStore` keeps its tickets: in
//! as many shards as it has by default, picked by the lookup half's low
//! bits, each a `HashMap` behind a `Mutex`, keyed by the lookup half with
//! the crate's own hasher (`src/hash.rs`: one multiplication by an odd
//! constant; the bench cannot reach that crate-private type, so
//! `U64Hasher` below mirrors it).
//!
//! Each contender is measured with 0, 100k and 1M live tickets outstanding
//! (prefilled once per contender, 30 s TTL, so they stay live through its
//! runs), at 1 and 2 threads. Before the timed groups, the bench prints the
//! heap bytes each store holds per live ticket at 1M tickets, counted by a
//! global allocator wrapper.
//!
//! The `features/…` groups put `MemoryStore`'s own options side by side,
//! with 0 and 100k live tickets, at 1 and 2 threads:
//! - `plain`: `mint` then `consume`, as `ours` above.
//! - `audience`: `mint_with_audience` then `consume_with_audience`.
//! - `per_identity`: a store built with `.max_per_identity(1024)` (never
//!   reached), every pair for another identity: each mint files a record
//!   for its identity and each consume removes it. The prefill leaves one
//!   record per live ticket.
//! - `per_identity_one`: the same store, every pair of every thread for one
//!   identity, whose record stays (the prefill's own ticket holds it): the
//!   threads meet on its lock.
//!
//! The `refused mint at the cap` group times a mint into a full store
//! (1,000 live tickets, the cap) with 64 and with 65,536 shards: a flood of
//! refused mints is what an attacker sends, so its cost must not grow with
//! the shard count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use rand::{RngCore as _, TryRngCore as _};
use subtle::ConstantTimeEq as _;
use tower_ws_ticket::{Audience, MemoryStore};

const TTL: Duration = Duration::from_secs(30);
const LIVE: [(usize, &str); 3] = [(0, "0"), (100_000, "100k"), (1_000_000, "1M")];
const THREADS: [usize; 2] = [1, 2];
const MEMORY_TICKETS: usize = 1_000_000;

// ---------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------

/// Counts requested heap bytes while `COUNTING` is on.
///
/// Off by default, so that the timed runs pay one load of a never-written
/// flag per allocation rather than a contended atomic add on a shared line.
/// Requested sizes are counted, not what malloc rounds them up to.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static HEAP_BYTES: AtomicIsize = AtomicIsize::new(0);

fn note(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        HEAP_BYTES.fetch_add(delta, Ordering::Relaxed);
    }
}

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the wrapper only adds to a counter.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same layout as given to us, per the caller's contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note(signed(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note(signed(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) };
        note(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with this layout.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            note(signed(new_size) - signed(layout.size()));
        }
        new
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f` with the counter on, from zero.
fn counting<T>(f: impl FnOnce() -> T) -> T {
    HEAP_BYTES.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    let kept = f();
    COUNTING.store(false, Ordering::SeqCst);
    kept
}

/// Bytes counted so far, per ticket of `tickets`.
fn per_ticket(tickets: usize) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "a ratio for a report")]
    let per = HEAP_BYTES.load(Ordering::Relaxed) as f64 / tickets as f64;
    per
}

// ---------------------------------------------------------------------------
// Contenders
// ---------------------------------------------------------------------------

trait Contender: Sync {
    type Token;

    fn mint(&self, identity: u64) -> Self::Token;

    /// Consumes a ticket minted a moment ago; panics if the store refuses
    /// it, so that a broken contender cannot look fast.
    fn consume(&self, token: Self::Token);

    /// Leaves `n` live tickets in the store.
    fn prefill(&self, n: usize) {
        for i in 0..n {
            drop(self.mint(i as u64));
        }
    }

    /// Live tickets, to check that the prefill outlived the runs.
    fn live(&self) -> usize;
}

struct Ours(MemoryStore<u64>);

impl Ours {
    fn new() -> Self {
        Self(
            MemoryStore::builder()
                .ttl(TTL)
                .max_outstanding(4_000_000)
                .build(),
        )
    }
}

impl Contender for Ours {
    type Token = tower_ws_ticket::Ticket;

    fn mint(&self, identity: u64) -> Self::Token {
        self.0.mint(identity).expect("store has room")
    }

    fn consume(&self, token: Self::Token) {
        let redeemed = self.0.consume(token.expose_secret()).expect("fresh ticket");
        black_box(redeemed);
    }

    fn live(&self) -> usize {
        self.0.len()
    }
}

/// `MemoryStore` with tickets bound to an audience.
struct OursAudience(MemoryStore<u64>, Audience);

impl OursAudience {
    fn new() -> Self {
        Self(Ours::new().0, Audience::new("bench"))
    }
}

impl Contender for OursAudience {
    type Token = tower_ws_ticket::Ticket;

    fn mint(&self, identity: u64) -> Self::Token {
        self.0
            .mint_with_audience(identity, &self.1)
            .expect("store has room")
    }

    fn consume(&self, token: Self::Token) {
        let redeemed = self
            .0
            .consume_with_audience(token.expose_secret(), &self.1)
            .expect("fresh ticket");
        black_box(redeemed);
    }

    fn live(&self) -> usize {
        self.0.len()
    }
}

/// `MemoryStore` with a cap per identity that is never reached; with
/// `one_identity`, every pair is for identity 0.
struct OursPerIdentity {
    store: MemoryStore<u64>,
    one_identity: bool,
}

impl OursPerIdentity {
    const CAP: usize = 1024;

    fn build() -> MemoryStore<u64> {
        MemoryStore::builder()
            .ttl(TTL)
            .max_outstanding(4_000_000)
            .max_per_identity(Self::CAP)
            .build()
    }

    fn new() -> Self {
        Self {
            store: Self::build(),
            one_identity: false,
        }
    }

    fn one_identity() -> Self {
        Self {
            store: Self::build(),
            one_identity: true,
        }
    }
}

impl Contender for OursPerIdentity {
    type Token = tower_ws_ticket::Ticket;

    fn mint(&self, identity: u64) -> Self::Token {
        let identity = if self.one_identity { 0 } else { identity };
        self.store.mint(identity).expect("store has room")
    }

    fn consume(&self, token: Self::Token) {
        let redeemed = self
            .store
            .consume(token.expose_secret())
            .expect("fresh ticket");
        black_box(redeemed);
    }

    /// Distinct identities (identity 0 once), so that no identity reaches
    /// the cap.
    fn prefill(&self, n: usize) {
        for i in 0..n {
            drop(self.store.mint(i as u64 + 1).expect("store has room"));
        }
        if self.one_identity {
            drop(self.store.mint(0).expect("store has room"));
        }
    }

    fn live(&self) -> usize {
        self.store.len()
    }
}

/// The hand-rolled store: one lock around a map keyed by ticket text.
struct Ironclad(Mutex<HashMap<String, Instant>>);

impl Ironclad {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    fn text() -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut raw = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut raw)
            .expect("OS RNG available");
        let mut text = String::with_capacity(4 + 64);
        text.push_str("wst_");
        for b in raw {
            text.push(char::from(HEX[usize::from(b >> 4)]));
            text.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        text
    }
}

impl Contender for Ironclad {
    type Token = String;

    fn mint(&self, _identity: u64) -> String {
        let text = Self::text();
        let mut map = self.0.lock().expect("not poisoned");
        if map.len() >= 1_000 {
            map.retain(|_, minted| minted.elapsed() < TTL);
        }
        map.insert(text.clone(), Instant::now());
        text
    }

    fn consume(&self, token: String) {
        let minted = self.0.lock().expect("not poisoned").remove(&token);
        assert!(minted.is_some_and(|t| t.elapsed() <= TTL), "fresh ticket");
    }

    /// Inserts without the per-mint sweep: filling through `mint` would cost
    /// O(n²) and leave the same map behind.
    fn prefill(&self, n: usize) {
        let mut map = self.0.lock().expect("not poisoned");
        for _ in 0..n {
            map.insert(Self::text(), Instant::now());
        }
    }

    fn live(&self) -> usize {
        self.0.lock().expect("not poisoned").len()
    }
}

/// The off-the-shelf choice: a TTL cache, remove on consume.
struct Moka(moka::sync::Cache<String, u64>);

impl Moka {
    fn new() -> Self {
        Self(moka::sync::Cache::builder().time_to_live(TTL).build())
    }
}

impl Contender for Moka {
    type Token = String;

    fn mint(&self, identity: u64) -> String {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let mut text = String::with_capacity(4 + 43);
        text.push_str("wst_");
        URL_SAFE_NO_PAD.encode_string(raw, &mut text);
        self.0.insert(text.clone(), identity);
        text
    }

    fn consume(&self, token: String) {
        let identity = self.0.remove(&token).expect("fresh ticket");
        black_box(identity);
    }

    fn live(&self) -> usize {
        self.0.run_pending_tasks();
        usize::try_from(self.0.entry_count()).unwrap_or(usize::MAX)
    }
}

/// The crate's hasher for maps keyed by a `u64` it draws itself
/// (`src/hash.rs`, crate-private, so mirrored here): one multiplication by
/// an odd constant. Both floors key their maps with it, as `MemoryStore`
/// keys its tickets.
#[derive(Default)]
struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed");
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map sharded as `MemoryStore` shards its tickets: as many shards
/// (sixteen per core, at least 64), picked by the key's low bits, each a
/// `HashMap` behind a `Mutex` on a cache line of its own. So a floor pays
/// no contention ours avoids, and no lock ours does not take.
struct FloorMap<V> {
    shards: Box<[FloorShard<V>]>,
}

#[repr(align(128))]
struct FloorShard<V>(Mutex<HashMap<u64, V, BuildHasherDefault<U64Hasher>>>);

impl<V> FloorMap<V> {
    fn shard(
        &self,
        key: u64,
    ) -> std::sync::MutexGuard<'_, HashMap<u64, V, BuildHasherDefault<U64Hasher>>> {
        let index = (key as usize) & (self.shards.len() - 1);
        self.shards[index].0.lock().expect("not poisoned")
    }

    fn insert(&self, key: u64, value: V) {
        self.shard(key).insert(key, value);
    }

    fn remove(&self, key: u64) -> Option<V> {
        self.shard(key).remove(&key)
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.0.lock().expect("not poisoned").len())
            .sum()
    }
}

fn floor_map<V>() -> FloorMap<V> {
    let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let shards = (cores * 16).max(64).next_power_of_two();
    FloorMap {
        shards: (0..shards)
            .map(|_| FloorShard(Mutex::new(HashMap::default())))
            .collect(),
    }
}

/// The bare floor: random bytes, one insert, one remove. No text, no
/// secret check, no identity, no clock, no expiry, no cap.
struct BareFloor(FloorMap<()>);

impl BareFloor {
    fn new() -> Self {
        Self(floor_map())
    }
}

impl Contender for BareFloor {
    type Token = u64;

    fn mint(&self, _identity: u64) -> u64 {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let lookup = u64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
        self.0.insert(lookup, ());
        lookup
    }

    fn consume(&self, lookup: u64) {
        assert!(self.0.remove(lookup).is_some(), "fresh key");
    }

    fn live(&self) -> usize {
        self.0.len()
    }
}

/// What the honest floor keeps per ticket: what a consume must hand back
/// or check (the identity, the wall-clock mint time, the secret half, the
/// monotonic mint time), and nothing else.
struct FloorRecord {
    secret: [u64; 3],
    minted: u64,
    minted_wall: u64,
    identity: u64,
}

/// The honest floor: the work any store with `MemoryStore`'s semantics
/// must do, and no more. Mint: 32 bytes from the thread-local CSPRNG (the
/// one the store draws from), the `wst_` + base64url text in a `String`,
/// the wall-clock read that dates the mint and a monotonic read, one
/// insert. Consume: the text parsed back to bytes (prefix, length,
/// decode), a monotonic read, one remove, the secret half compared in
/// constant time, the age checked, the identity and the wall-clock mint
/// time handed back. No expiry queue, no cap, no audience, no cap per
/// identity.
struct HonestFloor {
    map: FloorMap<FloorRecord>,
    epoch: Instant,
}

impl HonestFloor {
    fn new() -> Self {
        Self {
            map: floor_map(),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }

    fn words(bytes: &[u8]) -> [u64; 3] {
        let mut words = [0u64; 3];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        words
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Contender for HonestFloor {
    type Token = String;

    fn mint(&self, identity: u64) -> String {
        let minted_wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, nanos);
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let mut text = String::with_capacity(4 + 43);
        text.push_str("wst_");
        URL_SAFE_NO_PAD.encode_string(raw, &mut text);
        let lookup = u64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
        let record = FloorRecord {
            secret: Self::words(&raw[8..]),
            minted: self.now(),
            minted_wall,
            identity,
        };
        self.map.insert(lookup, record);
        text
    }

    fn consume(&self, text: String) {
        let encoded = text.strip_prefix("wst_").expect("our prefix");
        assert_eq!(encoded.len(), 43, "our length");
        let mut raw = [0u8; 32];
        let decoded = URL_SAFE_NO_PAD
            .decode_slice(encoded, &mut raw)
            .expect("base64url");
        assert_eq!(decoded, 32);
        let lookup = u64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
        let now = self.now();
        let record = self.map.remove(lookup).expect("fresh ticket");
        let secret = Self::words(&raw[8..]);
        assert!(
            bool::from(secret[..].ct_eq(&record.secret[..])),
            "our secret"
        );
        assert!(now.saturating_sub(record.minted) <= nanos(TTL), "fresh");
        black_box((
            record.identity,
            UNIX_EPOCH + Duration::from_nanos(record.minted_wall),
        ));
    }

    fn live(&self) -> usize {
        self.map.len()
    }
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

/// Wall time of `iters` pairs split over `threads` threads that start
/// together: the slowest thread's time, so the result is throughput.
fn pairs<C: Contender>(store: &C, threads: usize, iters: u64) -> Duration {
    let run = |n: u64| {
        let start = Instant::now();
        for i in 0..n {
            store.consume(store.mint(i));
        }
        start.elapsed()
    };
    if threads == 1 {
        return run(iters);
    }
    let barrier = Barrier::new(threads);
    let share = iters / threads as u64;
    let extra = iters % threads as u64;
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let n = share + u64::from(t < extra);
                let (barrier, run) = (&barrier, &run);
                s.spawn(move || {
                    barrier.wait();
                    run(n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .max()
            .unwrap_or_default()
    })
}

fn bench_contender<C: Contender>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    live: usize,
    build: impl FnOnce() -> C,
) {
    let store = build();
    let filled = Instant::now();
    store.prefill(live);
    for threads in THREADS {
        group.bench_function(BenchmarkId::new(name, format!("{threads}t")), |b| {
            b.iter_custom(|iters| pairs(&store, threads, iters));
        });
    }
    // The prefill must have stayed live through the runs, or they measured
    // a smaller store than they claim.
    let after = store.live();
    if after < live || filled.elapsed() >= TTL {
        eprintln!(
            "warning: {name} with {live} live: {after} left after {:?}",
            filled.elapsed()
        );
    }
}

fn mint_consume_pairs(c: &mut Criterion) {
    for (live, label) in LIVE {
        let mut group = c.benchmark_group(format!("pairs/live={label}"));
        group
            .throughput(Throughput::Elements(1))
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        bench_contender(&mut group, "ours", live, Ours::new);
        bench_contender(&mut group, "honest_floor", live, HonestFloor::new);
        bench_contender(&mut group, "bare_floor", live, BareFloor::new);
        bench_contender(&mut group, "moka", live, Moka::new);
        if live > 0 {
            // Each ironclad mint sweeps the whole map, ~25 ms a pair at 1M:
            // criterion's fewest samples, flat as it advises for long
            // iterations, keep the group within seconds and the prefill live.
            group.sample_size(10).sampling_mode(SamplingMode::Flat);
        }
        bench_contender(&mut group, "ironclad", live, Ironclad::new);
        group.finish();
    }
}

/// `MemoryStore`'s options side by side: plain, with an audience, with a
/// cap per identity.
fn feature_pairs(c: &mut Criterion) {
    for (live, label) in &LIVE[..2] {
        let mut group = c.benchmark_group(format!("features/live={label}"));
        group
            .throughput(Throughput::Elements(1))
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        bench_contender(&mut group, "plain", *live, Ours::new);
        bench_contender(&mut group, "audience", *live, OursAudience::new);
        bench_contender(&mut group, "per_identity", *live, OursPerIdentity::new);
        bench_contender(
            &mut group,
            "per_identity_one",
            *live,
            OursPerIdentity::one_identity,
        );
        group.finish();
    }
}

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

/// Heap bytes a store holds per live ticket once `n` tickets are live.
fn filled<C: Contender>(n: usize, build: impl FnOnce() -> C) -> f64 {
    let store = counting(|| {
        let store = build();
        store.prefill(n);
        // Settles moka's pending writes, so that they are counted.
        assert_eq!(store.live(), n);
        store
    });
    let per = per_ticket(n);
    drop(store);
    per
}

fn bytes_per_live_ticket() {
    let n = MEMORY_TICKETS;
    let ours = filled(n, Ours::new);
    // A store in use also holds the expiry pairs of consumed tickets until
    // a sweep drops them: count it again after as many pairs as live tickets.
    let churned = counting(|| {
        let store = Ours::new();
        store.prefill(n);
        for i in 0..n as u64 {
            store.consume(store.mint(i));
        }
        assert_eq!(store.live(), n);
        per_ticket(n)
    });
    let audience = filled(n, OursAudience::new);
    let per_identity = filled(n, OursPerIdentity::new);
    let honest = filled(n, HonestFloor::new);
    let floor = filled(n, BareFloor::new);
    let moka = filled(n, Moka::new);
    let ironclad = filled(n, Ironclad::new);
    println!("heap bytes per live ticket, {n} live (requested sizes, u64 identity):");
    println!("  ours      {ours:6.1}  just minted");
    println!("  ours      {churned:6.1}  after {n} more mint + consume pairs");
    println!("  ours      {audience:6.1}  with an audience");
    println!("  ours      {per_identity:6.1}  with a cap per identity, one identity per ticket");
    println!("  honest    {honest:6.1}  (key, secret half, two mint times, identity)");
    println!("  bare      {floor:6.1}  (u64 key only)");
    println!("  moka      {moka:6.1}");
    println!("  ironclad  {ironclad:6.1}  (text key and Instant, no identity)");
}

/// A mint into a full store, by shard count.
fn refused_at_the_cap(c: &mut Criterion) {
    let mut group = c.benchmark_group("refused mint at the cap");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for shards in [64, 1 << 16] {
        let store = MemoryStore::<u64>::builder()
            .max_outstanding(1_000)
            .shards(shards)
            .build();
        let _live: Vec<_> = (0..1_000).map(|i| store.mint(i).expect("fill")).collect();
        group.bench_with_input(BenchmarkId::new("shards", shards), &store, |b, store| {
            b.iter(|| black_box(store.mint(7)).expect_err("the store is full"));
        });
    }
    group.finish();
}

fn main() {
    bytes_per_live_ticket();
    let mut c = Criterion::default().configure_from_args();
    mint_consume_pairs(&mut c);
    feature_pairs(&mut c);
    refused_at_the_cap(&mut c);
    c.final_summary();
}

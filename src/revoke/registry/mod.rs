//! The registry: which sockets are live for which key, and which keys were
//! revoked lately.
//!
//! # Data structures
//!
//! - `keys`: a [`DashMap`] (sharded locks) from a key to its state: the
//!   live handles of that key, as a map from a handle's id to a weak
//!   pointer onto it and the wall-clock time its ticket was minted; and
//!   the key's revocation record, if it was revoked within the window.
//!   An entry exists only while it holds a handle or a record.
//! - `unkeyed`: the handles of sockets admitted without a ticket (the
//!   internal credential, the session token), which only
//!   [`revoke_all`](Revocations::revoke_all) reaches.
//! - `expiry`: the revocation records in the order they expire (every one
//!   lives for the same window, so that is the order they were made), so
//!   that reclaiming an expired record is a pop from the front, once per
//!   record, never a scan.
//! - `all`: the time of the latest `revoke_all`, two atomics.
//!
//! A handle is one allocation (its registration, with its flag and its
//! event), shared by its clones and pointed to weakly from the registry;
//! dropping the last clone removes the registry's entry for it.
//!
//! # Costs
//!
//! - Admitting a socket: one shard lock, two small hash-map operations and
//!   the handle's allocation; no lock shared by every socket. An atomic
//!   load tells whether the oldest record has ended and may be reclaimed.
//! - Dropping a handle: one shard lock.
//! - `revoke(&key)`: one shard lock to record the revocation and take the
//!   key's handles out, then, with no lock held, one flag and one
//!   notification per handle: O(handles of that key).
//! - `revoke_all()`: every shard in turn, O(live handles).
//!
//! # Why the check and the registration share a lock
//!
//! An admission reads the key's record and registers its handle under the
//! key's shard lock; a revocation writes the record and takes the handles
//! under the same lock. So an admission racing a revocation either sees
//! the record (and is refused, when its ticket is older) or is registered
//! before the revocation takes the handles (and is woken). No handle of a
//! revoked key's older tickets is ever left unwoken.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError, Weak};
use std::time::{Duration, Instant, SystemTime};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::handle::Revocation;
use super::signal::{Deadline, Registered, RevokeReason, Signal};
use crate::clock::{Clock, SystemClock, nanos, nanos_since, wall_nanos, wall_now};
use crate::hash::BuildU64Hasher;
use crate::store::DEFAULT_TTL;

/// Added to the longest ticket TTL to make the refusal window, for clocks
/// that round (Redis keeps TTLs in milliseconds, rounded up) and for a
/// revocation that reaches another replica a little late.
pub(crate) const WINDOW_SLACK: Duration = Duration::from_secs(1);

/// A registry of live sockets keyed by a revocation key `K` (a session or
/// user id), to close them when their key is revoked; see the
/// [module docs](crate::revoke).
///
/// Cheap to [`Clone`]: clones share one registry. Give one to
/// [`WsTicketLayer::revocations`](crate::WsTicketLayer::revocations) with a
/// function from the ticket's identity to its key, keep a clone where the
/// application signs users out, and call [`revoke`](Self::revoke) there.
///
/// ```
/// use tower_ws_ticket::Revocations;
///
/// let revocations = Revocations::<u64>::new();
/// let socket = revocations.watch(7);
/// assert_eq!(revocations.revoke(&8), 0);
/// assert!(!socket.is_revoked());
/// assert_eq!(revocations.revoke(&7), 1);
/// assert!(socket.is_revoked());
/// ```
pub struct Revocations<K> {
    inner: Arc<Inner<K>>,
}

/// What a registry shares with its other replicas: implemented by the
/// Redis bridge. Type-erased, so that the registry itself knows nothing of
/// serde or Redis.
pub(crate) trait Bridge<K>: Send + Sync + 'static {
    /// Hands a revocation made here to the other replicas: of `key`, or of
    /// everything when `None`, at `at` (wall clock, nanoseconds since the
    /// Unix epoch).
    fn publish(&self, key: Option<&K>, at: u64);

    /// Whether revocations made elsewhere reach this replica right now.
    fn is_connected(&self) -> bool;
}

pub(crate) struct Inner<K> {
    keys: DashMap<K, KeyState<K>>,
    unkeyed: Mutex<IdMap<Live<K>>>,
    /// Records in the order they expire: the key and its record's end.
    expiry: Mutex<VecDeque<(K, u64)>>,
    /// When the oldest record in `expiry` ends (`u64::MAX`: none), read
    /// without its lock: admissions reap only once it has passed.
    next_expiry: AtomicU64,
    /// The latest `revoke_all`: wall-clock nanoseconds (0: never), and the
    /// end of its window on `clock`. Written `until` first, read `at` first.
    all_at: AtomicU64,
    all_until: AtomicU64,
    live: AtomicUsize,
    next_id: AtomicU64,
    /// The refusal window in nanoseconds: the longest TTL plus the slack.
    window: AtomicU64,
    clock: Arc<dyn Clock>,
    epoch: Instant,
    bridge: Option<Box<dyn Bridge<K>>>,
}

/// One key's live handles and its revocation record.
struct KeyState<K> {
    handles: IdMap<Live<K>>,
    record: Option<Record>,
}

/// A revocation: tickets minted at or before `at` (wall clock) are refused
/// while `clock` reads at most `until`.
#[derive(Clone, Copy, Debug)]
struct Record {
    at: u64,
    until: u64,
}

/// The registry's pointer to a handle, with the wall-clock time its ticket
/// was minted (or, for other sockets, the time they were admitted).
struct Live<K> {
    registration: Weak<Registration<K>>,
    since: u64,
}

/// A live socket's entry: the allocation every clone of its [`Revocation`]
/// shares. Dropping it (with the last clone) takes it out of the registry.
struct Registration<K> {
    signal: Signal,
    key: Option<K>,
    id: u64,
    registry: Weak<dyn Leave<K>>,
}

/// How a dropped registration takes itself out of its registry.
trait Leave<K>: Send + Sync {
    fn leave(&self, key: Option<&K>, id: u64);
}

/// Why an admission was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The key (or everything) was revoked after the ticket was minted.
    Revoked,
    /// The registry is bridged to other replicas and cannot hear them now.
    Unavailable,
}

impl<K> Revocations<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// An empty registry for this process alone, refusing older tickets
    /// for [`DEFAULT_TTL`] plus a second's slack (raised by each layer it
    /// is given to, to its store's TTL).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to set the clock or the window (and, with the `redis`
    /// feature, to share the registry between replicas).
    pub fn builder() -> RevocationsBuilder<K> {
        RevocationsBuilder::new()
    }

    /// Revokes `key`: every live socket of that key here is signalled
    /// (its [`revoked`](Revocation::revoked) future completes), and the
    /// key's tickets minted until now are refused (401, audit reason
    /// `revoked`) for the [window](Self::window). Bridged to Redis, the
    /// other replicas do the same for theirs.
    ///
    /// Returns how many live sockets of the key this process signalled.
    /// Sockets whose tickets are minted after the call are not affected:
    /// a user who signs out and in again gets new sockets that stay.
    pub fn revoke(&self, key: &K) -> usize {
        let at = wall_now();
        let woken = self.inner.revoke_key(key.clone(), at, None);
        if let Some(bridge) = &self.inner.bridge {
            bridge.publish(Some(key), at);
        }
        outlast(at);
        woken
    }

    /// Revokes everything: every live socket here is signalled, those
    /// admitted with the internal credential or the session token included,
    /// and every ticket minted until now is refused for the window. For
    /// "rotate everything". Returns how many live sockets were signalled.
    ///
    /// The internal credential itself stays valid (it is the process's, for
    /// its life), so the server's own children reconnect at once: for them
    /// this means "reconnect now", not "locked out".
    pub fn revoke_all(&self) -> usize {
        let at = wall_now();
        let woken = self.inner.revoke_everything(at, None);
        if let Some(bridge) = &self.inner.bridge {
            bridge.publish(None, at);
        }
        outlast(at);
        woken
    }

    /// A handle for a socket of `key` that the application admitted by
    /// other means (a session cookie, say): signalled by the next
    /// revocation of `key`, like the handles the layer attaches. Nothing
    /// is refused here.
    pub fn watch(&self, key: K) -> Revocation {
        match self.register(key, wall_now(), false, None) {
            Ok(handle) => handle,
            Err(refusal) => unreachable!("refused ({refusal:?}) without a check"),
        }
    }

    /// How many live handles the registry holds: sockets not yet closed
    /// (their handles not yet dropped) and not yet revoked.
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// How long a revocation refuses the key's older tickets: the longest
    /// TTL of the stores of the layers the registry was given to (or the
    /// builder's [`window`](RevocationsBuilder::window)) plus a second of
    /// slack for clocks. Every older ticket has expired by then.
    pub fn window(&self) -> Duration {
        Duration::from_nanos(self.inner.window_nanos())
    }

    /// Whether the registry can admit tickets: always for a registry of
    /// this process alone; for one bridged to Redis, whether it is
    /// subscribed and caught up, so that no revocation made on another
    /// replica can be missing. While it is not, the layer refuses ticket
    /// upgrades with 503 (retry later).
    pub fn is_available(&self) -> bool {
        self.inner.is_connected()
    }

    /// Makes the refusal window cover tickets that live `ttl`.
    pub(crate) fn cover_ttl(&self, ttl: Duration) {
        let nanos = nanos(ttl.saturating_add(WINDOW_SLACK));
        self.inner.window.fetch_max(nanos, Ordering::Relaxed);
    }

    /// Admits a socket whose ticket for `key` was minted at `minted_at`,
    /// to be signalled at `deadline` too: its handle, or why it is refused.
    pub(crate) fn admit(
        &self,
        key: K,
        minted_at: SystemTime,
        deadline: Option<SystemTime>,
    ) -> Result<Revocation, Refusal> {
        if !self.inner.is_connected() {
            return Err(Refusal::Unavailable);
        }
        self.register(key, wall_nanos(minted_at), true, deadline)
    }

    /// A handle for a socket admitted without a ticket: only
    /// [`revoke_all`](Self::revoke_all) signals it, or its `deadline`.
    pub(crate) fn unkeyed(&self, deadline: Option<SystemTime>) -> Revocation {
        let inner = &*self.inner;
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let registration = self.registration(None, id, deadline);
        let live = Live {
            registration: Arc::downgrade(&registration),
            since: wall_now(),
        };
        {
            let mut unkeyed = lock(&inner.unkeyed);
            inner.live.fetch_add(1, Ordering::Relaxed);
            unkeyed.insert(id, live);
        }
        Revocation::new(registration)
    }

    #[cfg(feature = "redis")]
    pub(crate) fn downgrade(&self) -> Weak<Inner<K>> {
        Arc::downgrade(&self.inner)
    }

    /// Registers a handle for `key`, first refusing it (when `check`) if
    /// the key or everything was revoked at or after `since`.
    fn register(
        &self,
        key: K,
        since: u64,
        check: bool,
        deadline: Option<SystemTime>,
    ) -> Result<Revocation, Refusal> {
        let inner = &*self.inner;
        let now = inner.now();
        if now > inner.next_expiry.load(Ordering::Relaxed) {
            inner.reap(now);
        }
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        // The check and the registration happen under the key's shard
        // lock, as revocations do: see the module docs.
        let entry = inner.keys.entry(key);
        if check {
            let record = match &entry {
                Entry::Occupied(slot) => slot.get().record,
                Entry::Vacant(_) => None,
            };
            if record.is_some_and(|r| r.refuses(since, now)) || inner.all_refuses(since, now) {
                // A refused key that had no state gets none.
                return Err(Refusal::Revoked);
            }
        }
        let mut state = entry.or_default();
        let registration = self.registration(Some(state.key().clone()), id, deadline);
        let live = Live {
            registration: Arc::downgrade(&registration),
            since,
        };
        inner.live.fetch_add(1, Ordering::Relaxed);
        state.handles.insert(id, live);
        Ok(Revocation::new(registration))
    }

    fn registration(
        &self,
        key: Option<K>,
        id: u64,
        deadline: Option<SystemTime>,
    ) -> Arc<Registration<K>> {
        let registry: Weak<dyn Leave<K>> = Arc::downgrade(&self.inner) as Weak<Inner<K>>;
        Arc::new(Registration {
            signal: Signal::new(deadline.map(Deadline::at)),
            key,
            id,
            registry,
        })
    }

    #[cfg(test)]
    fn records(&self) -> usize {
        lock(&self.inner.expiry).len()
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.inner.keys.len()
    }
}

impl<K> Inner<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Records a revocation of `key` at `at` and signals its handles: all
    /// of them (`older_than` `None`, a revocation made here), or those
    /// whose ticket was minted at or before `older_than` (one heard from
    /// another replica, which must spare sockets opened here since with
    /// newer tickets). Returns how many were signalled.
    pub(crate) fn revoke_key(&self, key: K, at: u64, older_than: Option<u64>) -> usize {
        let now = self.now();
        let until = now.saturating_add(self.window_nanos());
        let taken: Vec<Live<K>> = {
            let mut state = self.keys.entry(key.clone()).or_default();
            let record = match state.record {
                Some(record) => Record {
                    at: record.at.max(at),
                    until: record.until.max(until),
                },
                None => Record { at, until },
            };
            state.record = Some(record);
            match older_than {
                None => std::mem::take(&mut state.handles).into_values().collect(),
                Some(cutoff) => state
                    .handles
                    .extract_if(|_, live| live.since <= cutoff)
                    .map(|(_, live)| live)
                    .collect(),
            }
        };
        self.live.fetch_sub(taken.len(), Ordering::Relaxed);
        {
            let mut expiry = lock(&self.expiry);
            expiry.push_back((key, until));
            self.reap_locked(&mut expiry, now);
        }
        // With no lock held: dropping a handle here (its socket closed
        // meanwhile) takes a shard lock.
        signal(taken)
    }

    /// Records a revocation of everything at `at` and signals every handle
    /// (or those minted at or before `older_than`, as for a key).
    pub(crate) fn revoke_everything(&self, at: u64, older_than: Option<u64>) -> usize {
        let until = self.now().saturating_add(self.window_nanos());
        // `until` first: a reader that sees the new `at` sees it too.
        self.all_until.fetch_max(until, Ordering::AcqRel);
        self.all_at.fetch_max(at, Ordering::AcqRel);
        let cutoff = older_than.unwrap_or(u64::MAX);
        let mut taken = Vec::new();
        self.keys.retain(|_, state| {
            taken.extend(
                state
                    .handles
                    .extract_if(|_, live| live.since <= cutoff)
                    .map(|(_, live)| live),
            );
            !state.is_idle()
        });
        taken.extend(
            lock(&self.unkeyed)
                .extract_if(|_, live| live.since <= cutoff)
                .map(|(_, live)| live),
        );
        self.live.fetch_sub(taken.len(), Ordering::Relaxed);
        signal(taken)
    }

    pub(crate) fn window_nanos(&self) -> u64 {
        self.window.load(Ordering::Relaxed)
    }

    fn is_connected(&self) -> bool {
        self.bridge
            .as_ref()
            .is_none_or(|bridge| bridge.is_connected())
    }

    /// Nanoseconds since the registry was built, on its clock.
    fn now(&self) -> u64 {
        nanos_since(&*self.clock, self.epoch)
    }

    fn all_refuses(&self, since: u64, now: u64) -> bool {
        let at = self.all_at.load(Ordering::Acquire);
        at != 0 && since <= at && now <= self.all_until.load(Ordering::Acquire)
    }

    /// Reclaims expired records, unless another thread is at it.
    fn reap(&self, now: u64) {
        let mut expiry = match self.expiry.try_lock() {
            Ok(expiry) => expiry,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        self.reap_locked(&mut expiry, now);
    }

    fn reap_locked(&self, expiry: &mut VecDeque<(K, u64)>, now: u64) {
        while let Some((_, until)) = expiry.front()
            && *until < now
        {
            let Some((key, _)) = expiry.pop_front() else {
                break;
            };
            self.keys.remove_if_mut(&key, |_, state| {
                if state.record.is_some_and(|record| record.until < now) {
                    state.record = None;
                }
                state.is_idle()
            });
        }
        let next = expiry.front().map_or(u64::MAX, |&(_, until)| until);
        self.next_expiry.store(next, Ordering::Relaxed);
    }
}

impl<K> Leave<K> for Inner<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Takes a dropped handle out of the registry.
    fn leave(&self, key: Option<&K>, id: u64) {
        let removed = match key {
            Some(key) => {
                let mut removed = false;
                self.keys.remove_if_mut(key, |_, state| {
                    removed = state.handles.remove(&id).is_some();
                    state.is_idle()
                });
                removed
            }
            None => lock(&self.unkeyed).remove(&id).is_some(),
        };
        // Not there: a revocation took it out already, and counted it.
        if removed {
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Signals the handles still alive among `taken`; returns how many.
fn signal<K>(taken: Vec<Live<K>>) -> usize {
    let mut signalled = 0;
    for live in taken {
        if let Some(registration) = live.registration.upgrade() {
            registration.signal.fire(RevokeReason::Revoked);
            signalled += 1;
        }
    }
    signalled
}

impl Record {
    fn refuses(self, since: u64, now: u64) -> bool {
        since <= self.at && now <= self.until
    }
}

impl<K> KeyState<K> {
    fn is_idle(&self) -> bool {
        self.handles.is_empty() && self.record.is_none()
    }
}

impl<K> Default for KeyState<K> {
    fn default() -> Self {
        Self {
            handles: IdMap::default(),
            record: None,
        }
    }
}

impl<K> Registered for Registration<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn signal(&self) -> &Signal {
        &self.signal
    }
}

impl<K> Drop for Registration<K> {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            registry.leave(self.key.as_ref(), self.id);
        }
    }
}

/// Configures a [`Revocations`] registry; from [`Revocations::builder`].
///
/// ```
/// use std::time::Duration;
/// use tower_ws_ticket::{ManualClock, Revocations};
///
/// let revocations = Revocations::<String>::builder()
///     .window(Duration::from_secs(60))
///     .clock(ManualClock::new())
///     .build();
/// assert_eq!(revocations.window(), Duration::from_secs(61));
/// ```
#[must_use]
pub struct RevocationsBuilder<K> {
    clock: Arc<dyn Clock>,
    window: Duration,
    /// The Redis bridge's settings.
    #[cfg(feature = "redis")]
    pub(super) redis: super::redis::Settings,
    key: PhantomData<fn() -> K>,
}

impl<K> RevocationsBuilder<K> {
    fn new() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            window: DEFAULT_TTL,
            #[cfg(feature = "redis")]
            redis: super::redis::Settings::default(),
            key: PhantomData,
        }
    }

    /// The longest ticket TTL the registry must outlast (default
    /// [`DEFAULT_TTL`], 30 s): a revocation refuses the key's older tickets
    /// for this long plus a second. Each layer the registry is given to
    /// raises it to its store's TTL, so set it only for tickets checked
    /// some other way.
    pub fn window(mut self, ttl: Duration) -> Self {
        self.window = ttl;
        self
    }

    /// The monotonic clock that ends revocation records (default
    /// [`SystemClock`]); a [`ManualClock`](crate::ManualClock) in tests.
    /// Which tickets a record refuses is decided on wall-clock time, the
    /// tickets' [`minted_at`](crate::Redeemed::minted_at).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds a registry for this process alone.
    pub fn build(self) -> Revocations<K>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        self.build_with(None)
    }

    pub(crate) fn build_with(self, bridge: Option<Box<dyn Bridge<K>>>) -> Revocations<K>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        let epoch = self.clock.now();
        Revocations {
            inner: Arc::new(Inner {
                keys: DashMap::new(),
                unkeyed: Mutex::new(IdMap::default()),
                expiry: Mutex::new(VecDeque::new()),
                next_expiry: AtomicU64::new(u64::MAX),
                all_at: AtomicU64::new(0),
                all_until: AtomicU64::new(0),
                live: AtomicUsize::new(0),
                next_id: AtomicU64::new(0),
                window: AtomicU64::new(nanos(self.window.saturating_add(WINDOW_SLACK))),
                clock: self.clock,
                epoch,
                bridge,
            }),
        }
    }
}

impl<K> fmt::Debug for RevocationsBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationsBuilder")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl<K> Default for Revocations<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K> Clone for Revocations<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> fmt::Debug for Revocations<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocations")
            .field("live", &self.inner.live.load(Ordering::Relaxed))
            .field(
                "window",
                &Duration::from_nanos(self.inner.window.load(Ordering::Relaxed)),
            )
            .field("bridged", &self.inner.bridge.is_some())
            .finish_non_exhaustive()
    }
}

/// How long [`outlast`] waits at most for the wall clock to move.
const OUTLAST_AT_MOST: Duration = Duration::from_millis(2);

/// Returns once the wall clock reads later than `at`, the instant a
/// revocation refuses tickets up to (inclusive). The stores date a ticket
/// by the wall clock as its mint begins, so a ticket minted after
/// `revoke` returns is dated after `at` and admitted, and one minted before
/// `revoke` was called is dated at or before it and refused. On Linux the
/// wall clock moves in nanoseconds and this returns at once; elsewhere it
/// may take a tick (100 ns on Windows, 1 µs on macOS). A wall clock stepped
/// back stops the wait after a bound: tickets minted meanwhile are then
/// refused, never wrongly admitted.
fn outlast(at: u64) {
    let started = Instant::now();
    while wall_now() <= at && started.elapsed() < OUTLAST_AT_MOST {
        std::hint::spin_loop();
    }
}

/// Handles by their id, a counter (see [`crate::hash`]).
type IdMap<V> = HashMap<u64, V, BuildU64Hasher>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here leaves the data half-changed across a panic.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;

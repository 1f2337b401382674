//! The in-process ticket store: sharded, lock-light, amortized O(1).
//!
//! Tickets sit in shards, picked by their lookup half; each shard holds,
//! under one lock, a map of its tickets keyed by the lookup half, and a
//! FIFO of `(lookup, minted)` pairs. Because one store has one TTL,
//! tickets expire in the order they were minted: reclaiming expired
//! tickets is a pop from the front, once per ticket, and no call ever walks
//! the whole store. A mint and a consume each take one shard's lock once,
//! and two threads rarely want the same shard.
//!
//! A consume marks its ticket's pair in the FIFO as consumed, under the
//! shard's lock. The pair is found from the back, where a ticket consumed
//! soon after its mint sits, in steps that double: O(1) for a fresh
//! ticket, O(log n) for the oldest. Marked pairs are dropped when they
//! reach the front, or by a sweep once they outnumber the live pairs in
//! the shard; neither looks them up in the map. The sweep visits at most
//! twice as many pairs as consumes paid for it, so it too is amortized
//! O(1), and the FIFO stays within about twice the live tickets whatever
//! the mint rate.
//!
//! The cap on live tickets is kept without a counter shared by every call,
//! which would move between cores twice per ticket: each shard holds a
//! quota of places under the cap, never fewer than the tickets in its map,
//! and the places no shard holds wait in a pool. A shard takes places from the pool in batches
//! (smaller as the pool runs low); only once the pool is empty does a mint
//! take back the places shards hold beyond their live tickets, one shard at
//! a time, and the store is full when none are left.
//!
//! A cap per identity ([`MemoryStoreBuilder::max_per_identity`]) is kept in
//! `per_identity.rs`: a second sharded map with a record per identity that
//! has live tickets, counted in and out under that identity's lock. Its
//! work per call is O(1) amortized as well, and an identity without live
//! tickets leaves no record behind. Lock order: an identity's record, then
//! a shard. A mint with a cap takes the record first, and whoever takes
//! tickets out of a shard (a consume, reaping) counts their identities out
//! once the shard's lock is dropped.
//!
//! An audience is kept with its ticket as the number the process
//! registered its name under, and compared as that number.

use std::collections::VecDeque;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::num::{NonZeroU32, NonZeroUsize};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;

use self::per_identity::{ByIdentity, ByKey, IdentityCap, Quota, Refused, Tickets};
use super::{DEFAULT_TTL, Redeemed, TicketStore};
use crate::audience::Audience;
use crate::clock::{Clock, SystemClock, nanos, nanos_since, wall_from_nanos, wall_nanos};
use crate::error::Redacted;
use crate::error::{MintError, TicketError};
use crate::hash::BuildU64Hasher;
use crate::ticket::{SECRET_LEN, Ticket, TicketParts};

/// Default cap on live tickets: about 15 MiB of tickets at most.
const DEFAULT_MAX_OUTSTANDING: usize = 100_000;
/// A shard's FIFO is swept once it holds at least this many pairs marked
/// consumed, and more of them than live pairs.
const SWEEP_MIN: usize = 64;
/// The lookup half a consumed ticket's pair is marked with. No ticket is
/// filed under it: a mint that draws it draws again.
const CONSUMED: u64 = 0;

/// The default in-process ticket store.
///
/// Tickets sit in shards picked by their random lookup half; each shard
/// keeps, under one lock, a map of its tickets and a queue of them in mint
/// order: one TTL per store means they expire in that order, so reclaiming
/// an expired ticket is a pop from a queue's front, done once per ticket
/// (amortized O(1)) while minting, and no call ever walks the whole store.
///
/// Cheap to [`Clone`]: clones are handles onto one store. `I` is the
/// identity a ticket is bound to, typically the application's user or
/// session id; any `Send + Sync + 'static` type works (`Clone` too, to use
/// it with the layer).
///
/// ```
/// use std::time::Duration;
/// use tower_ws_ticket::{MemoryStore, TicketError};
///
/// let store = MemoryStore::<u64>::builder()
///     .ttl(Duration::from_secs(10))
///     .max_outstanding(10_000)
///     .build();
/// let ticket = store.mint(42).unwrap();
/// assert_eq!(store.len(), 1);
/// assert_eq!(store.consume(ticket.expose_secret()).unwrap().identity, 42);
/// assert!(matches!(
///     store.consume(ticket.expose_secret()),
///     Err(TicketError::Unknown(_))
/// ));
/// assert!(store.is_empty());
/// ```
pub struct MemoryStore<I> {
    shared: Arc<Shared<I>>,
}

struct Shared<I> {
    shards: Box<[Shard<I>]>,
    /// Places under the cap that no shard holds. With every shard's
    /// `quota`, they add up to `max_outstanding`.
    pool: AtomicUsize,
    max_outstanding: usize,
    /// Set while the store is full: consumes then hand their places
    /// straight to the pool, so that a refused mint need not look for them
    /// in every shard.
    tight: AtomicBool,
    /// While `tight`: the monotonic time (store nanoseconds) before which
    /// no ticket can expire, so a refused mint until then costs O(1).
    full_until: AtomicU64,
    /// Full walks over the shards, for tests of what a refused mint costs.
    #[cfg(test)]
    walks: AtomicUsize,
    /// The cap per identity, when there is one.
    per_identity: Option<Box<dyn Quota<I>>>,
    ttl: Duration,
    ttl_nanos: u64,
    clock: Arc<dyn Clock>,
    /// Times are kept as nanoseconds since this instant: 8 bytes a ticket
    /// instead of the 16 of an `Instant`.
    epoch: Instant,
}

struct Stored<I> {
    secret: [u8; SECRET_LEN],
    /// Monotonic store nanoseconds at the mint: what expiry reads.
    minted: u64,
    /// Wall-clock nanoseconds since the Unix epoch as the mint began: what
    /// a revocation compares with its own instant. Kept rather than worked
    /// out from the monotonic age at consume time, which a descheduling
    /// between the two clock reads would move.
    minted_wall: u64,
    identity: I,
    /// The audience's registered number ([`Audience::id`]).
    audience: Option<NonZeroU32>,
}

/// One shard of the store, on a cache line of its own so that
/// neighbouring shards' locks do not bounce between cores.
#[repr(align(128))]
struct Shard<I> {
    state: Mutex<ShardState<I>>,
}

struct ShardState<I> {
    /// The shard's tickets by lookup half: its live tickets, so many
    /// places under the cap in use.
    tickets: HashMap<u64, Stored<I>, BuildU64Hasher>,
    /// The shard's tickets in mint order, consumed ones marked.
    fifo: VecDeque<Minted>,
    /// Places under the cap this shard holds; never fewer than `tickets`.
    quota: usize,
    /// Pairs in `fifo` marked [`CONSUMED`].
    consumed: usize,
}

#[derive(Clone, Copy, PartialEq)]
struct Minted {
    lookup: u64,
    at: u64,
}

impl<I> MemoryStore<I> {
    /// A store with TTL [`DEFAULT_TTL`] (30 s), at most 100,000 live
    /// tickets, the system clock, and sixteen shards per core (at least 64).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to set the TTL, the cap, the clock or the shard count.
    pub fn builder() -> MemoryStoreBuilder<I> {
        MemoryStoreBuilder::new()
    }

    /// Mints a ticket bound to `identity`, with no audience.
    ///
    /// # Errors
    ///
    /// [`MintError::Full`] when `max_outstanding` live tickets exist already,
    /// and [`MintError::IdentityFull`] when `identity` holds
    /// [`max_per_identity`](MemoryStoreBuilder::max_per_identity) of them.
    /// Expired tickets are reclaimed before the store says so, so they never
    /// count.
    pub fn mint(&self, identity: I) -> Result<Ticket, MintError> {
        self.mint_for(identity, None)
    }

    /// Mints a ticket bound to `identity` that only a consume for
    /// `audience` accepts ([`consume_with_audience`](Self::consume_with_audience),
    /// or a [`WsTicketLayer`](crate::WsTicketLayer) with that
    /// [`audience`](crate::WsTicketLayer::audience)).
    ///
    /// ```
    /// use tower_ws_ticket::{Audience, MemoryStore};
    ///
    /// let store = MemoryStore::<u64>::new();
    /// let admin = Audience::new("admin");
    /// let ticket = store.mint_with_audience(7, &admin).unwrap();
    /// assert_eq!(store.consume_with_audience(ticket.expose_secret(), &admin).unwrap().identity, 7);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`mint`](Self::mint).
    pub fn mint_with_audience(
        &self,
        identity: I,
        audience: &Audience,
    ) -> Result<Ticket, MintError> {
        self.mint_for(identity, Some(audience))
    }

    fn mint_for(&self, mut identity: I, audience: Option<&Audience>) -> Result<Ticket, MintError> {
        let store = &*self.shared;
        let audience = audience.map(Audience::id);
        // Read before anything else, so that a ticket whose mint began
        // before a revocation was called is dated at or before it.
        let minted_wall = wall_nanos(store.clock.wall());
        // Identities of tickets reaped on the way, to count out once no
        // shard's lock is held (only with a cap per identity; no
        // allocation unless one is reaped).
        let mut reaped = Vec::new();
        loop {
            let (parts, ticket) = TicketParts::generate(store.ttl);
            if parts.lookup == CONSUMED {
                continue;
            }
            let mut file =
                |identity: I| store.file(&parts, identity, minted_wall, audience, &mut reaped);
            let filed = match &store.per_identity {
                None => file(identity).map(drop),
                Some(quota) => quota.admit(identity, parts.lookup, store, &mut file),
            };
            store.count_out(&mut reaped);
            match filed {
                Ok(()) => return Ok(ticket),
                // A 64-bit lookup half collided with a live ticket's: draw
                // again.
                Err(Refused::Taken(back)) => identity = back,
                // No place left in the shard or the pool: reclaim expired
                // tickets everywhere and the places other shards hold beyond
                // their live tickets. Full only when that finds none.
                Err(Refused::StoreFull(back)) => {
                    if !store.reclaim() {
                        return Err(MintError::Full);
                    }
                    identity = back;
                }
                Err(Refused::Full { wait }) => {
                    // A store with no place left says so first: the
                    // identity's cap is the answer only when the store
                    // would have taken the ticket.
                    if !store.has_place(parts.lookup) && !store.reclaim() {
                        return Err(MintError::Full);
                    }
                    return Err(MintError::IdentityFull {
                        retry_after: Duration::from_nanos(wait),
                    });
                }
            }
        }
    }

    /// Consumes the ticket text `presented`, minted with no audience:
    /// atomically, and only once.
    ///
    /// Of any number of concurrent calls for one ticket, exactly one gets the
    /// identity; the ticket is gone afterwards. A well-formed ticket whose
    /// lookup half exists but whose secret half is wrong is burned: the real
    /// holder's ticket stops working too (fail closed). So is a ticket
    /// minted with an audience.
    ///
    /// # Errors
    ///
    /// [`TicketError::Malformed`] for text that is not a ticket of ours,
    /// [`TicketError::Unknown`] for a ticket never minted here, already
    /// used, or presented with a wrong secret half,
    /// [`TicketError::Expired`] when presented after its TTL, and
    /// [`TicketError::WrongAudience`] for a ticket minted with an audience.
    /// An expired ticket that the store has already reclaimed (minting
    /// reclaims them as it goes) is indistinguishable from one never
    /// minted: `Unknown`.
    pub fn consume(&self, presented: &str) -> Result<Redeemed<I>, TicketError> {
        self.consume_for(presented, None)
    }

    /// Consumes the ticket text `presented`, minted for `audience`:
    /// atomically, and only once. A ticket minted for another audience or
    /// for none is refused and burned.
    ///
    /// # Errors
    ///
    /// As [`consume`](Self::consume), with [`TicketError::WrongAudience`]
    /// for a ticket minted for another audience or for none.
    pub fn consume_with_audience(
        &self,
        presented: &str,
        audience: &Audience,
    ) -> Result<Redeemed<I>, TicketError> {
        self.consume_for(presented, Some(audience))
    }

    fn consume_for(
        &self,
        presented: &str,
        audience: Option<&Audience>,
    ) -> Result<Redeemed<I>, TicketError> {
        let store = &*self.shared;
        let parts = TicketParts::parse(presented)?;
        let now = store.now_nanos();
        // Remove first, check after: the removal is the atomic step that
        // makes the ticket single use, and a wrong secret or audience burns
        // it.
        let stored = {
            let mut state = store.shard(parts.lookup).lock();
            let Some(stored) = state.tickets.remove(&parts.lookup) else {
                return Err(TicketError::Unknown(Redacted::new(presented)));
            };
            if let Some(at) = find(&state.fifo, parts.lookup, stored.minted) {
                state.fifo[at].lookup = CONSUMED;
                state.consumed += 1;
            }
            // While the store is full, the freed place goes to the pool at
            // once, where a mint in any shard finds it. The lock orders
            // this with `reclaim`: either the walk after it set `tight`
            // came through this shard later and took the place, or this
            // consume sees the flag.
            if store.tight.load(Ordering::SeqCst) {
                store.take_spare(&mut state);
            }
            stored
        };
        if let Some(quota) = &store.per_identity {
            quota.release(&stored.identity, store);
        }
        if !parts.secret_matches(&stored.secret) {
            return Err(TicketError::Unknown(Redacted::new(presented)));
        }
        if now.saturating_sub(stored.minted) > store.ttl_nanos {
            return Err(TicketError::Expired(Redacted::new(presented)));
        }
        // Registered numbers: equal exactly when the names are.
        if stored.audience != audience.map(Audience::id) {
            return Err(TicketError::WrongAudience(Redacted::new(presented)));
        }
        Ok(Redeemed {
            identity: stored.identity,
            minted_at: wall_from_nanos(stored.minted_wall),
        })
    }

    /// How long tickets from this store stay valid.
    pub fn ttl(&self) -> Duration {
        self.shared.ttl
    }

    /// The cap on live tickets.
    pub fn max_outstanding(&self) -> usize {
        self.shared.max_outstanding
    }

    /// The cap on one identity's live tickets, when there is one.
    pub fn max_per_identity(&self) -> Option<usize> {
        self.shared.per_identity.as_ref().map(|quota| quota.max())
    }

    /// Live tickets: minted, not yet consumed, not expired.
    ///
    /// Reclaims expired tickets first, one shard front at a time (amortized
    /// O(1) each), so the answer never counts them. While other threads
    /// mint and consume, the answer is a moment's estimate: shards are
    /// counted one after another, so a ticket consumed in a shard already
    /// counted and one minted in a shard not yet counted are both seen.
    /// It never exceeds `max_outstanding`, which no moment's count can.
    pub fn len(&self) -> usize {
        let store = &*self.shared;
        let now = store.now_nanos();
        let mut live = 0;
        for shard in &store.shards {
            let mut reaped = Vec::new();
            {
                let mut state = shard.lock();
                store.reap(&mut state, now, &mut reaped);
                live += state.tickets.len();
            }
            store.count_out(&mut reaped);
        }
        live.min(store.max_outstanding)
    }

    /// Whether no live ticket exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<I> Shared<I> {
    fn now_nanos(&self) -> u64 {
        nanos_since(&*self.clock, self.epoch)
    }

    fn shard(&self, lookup: u64) -> &Shard<I> {
        // The shard count is a power of two; the lookup half is uniform.
        let index = (lookup as usize) & (self.shards.len() - 1);
        &self.shards[index]
    }

    /// Live tickets, without reaping: a moment's estimate, as
    /// [`MemoryStore::len`].
    fn live(&self) -> usize {
        // Counted shard by shard while others mint and consume, the sum can
        // pass the cap, which no moment's count can: clamped, as `len`.
        self.shards
            .iter()
            .map(|shard| shard.lock().tickets.len())
            .sum::<usize>()
            .min(self.max_outstanding)
    }

    /// Files a ticket in its shard, unless the lookup half is taken
    /// (`Taken`) or no place is left in the shard or the pool
    /// (`StoreFull`): its mint time in store nanoseconds. Tickets reaped
    /// on the way leave their identities in `reaped` when there is a cap
    /// per identity.
    fn file(
        &self,
        parts: &TicketParts,
        identity: I,
        minted_wall: u64,
        audience: Option<NonZeroU32>,
        reaped: &mut Vec<I>,
    ) -> Result<u64, Refused<I>> {
        let mut state = self.shard(parts.lookup).lock();
        // Claimed before reaping: when the shard and the pool have no
        // place, `reclaim` reaps every shard, not just this one.
        if !self.claim(&mut state) {
            return Err(Refused::StoreFull(identity));
        }
        // The time is read under the shard lock so that each FIFO is in
        // mint order even when two threads mint into it at once.
        let now = self.now_nanos();
        self.reap(&mut state, now, reaped);
        match state.tickets.entry(parts.lookup) {
            MapEntry::Vacant(slot) => {
                slot.insert(Stored {
                    secret: parts.secret,
                    minted: now,
                    minted_wall,
                    identity,
                    audience,
                });
            }
            MapEntry::Occupied(_) => {
                // While the store is full, the place goes back to the pool.
                if self.tight.load(Ordering::SeqCst) {
                    self.take_spare(&mut state);
                }
                return Err(Refused::Taken(identity));
            }
        }
        state.fifo.push_back(Minted {
            lookup: parts.lookup,
            at: now,
        });
        sweep_if_due(&mut state);
        Ok(now)
    }

    /// Whether the shard whose `state` the caller holds has a place under
    /// the cap for one more ticket: in its quota, topped up from the pool
    /// when it is used up. `false` when the pool is empty too.
    fn claim(&self, state: &mut ShardState<I>) -> bool {
        if state.tickets.len() >= state.quota {
            let taken = self.take_from_pool();
            if taken == 0 {
                return false;
            }
            state.quota += taken;
        }
        true
    }

    /// Whether the shard of `lookup` or the pool has a place for one more
    /// ticket. Only looks: a refused mint that took a place out of the pool
    /// would leave it in one shard, where, while the store is `tight`, a
    /// mint in any other shard would not find it.
    fn has_place(&self, lookup: u64) -> bool {
        let state = self.shard(lookup).lock();
        state.tickets.len() < state.quota || self.pool.load(Ordering::Relaxed) > 0
    }

    /// Counts out the identities of reaped tickets under the cap per
    /// identity; the caller holds no shard's lock.
    #[inline]
    fn count_out(&self, reaped: &mut Vec<I>) {
        // Most calls have nothing to count out: that check stays inline.
        if let Some(quota) = &self.per_identity
            && !reaped.is_empty()
        {
            self.count_out_each(&**quota, reaped);
        }
    }

    #[inline(never)]
    fn count_out_each(&self, quota: &dyn Quota<I>, reaped: &mut Vec<I>) {
        // The application's code runs here (a key function, an identity's
        // `Hash`, `Eq` or `Drop`). Should it panic for one identity, the
        // others of the batch are still counted out, or they would stay
        // counted as live, refused at their cap for good; then the first
        // panic goes on. A record is left as it was when its release
        // panics (the key is made before the record is touched).
        let mut first_panic = None;
        for identity in reaped.drain(..) {
            let release = AssertUnwindSafe(|| {
                quota.release(&identity, self);
                drop(identity);
            });
            if let Err(panic) = std::panic::catch_unwind(release) {
                first_panic.get_or_insert(panic);
            }
        }
        if let Some(panic) = first_panic {
            std::panic::resume_unwind(panic);
        }
    }

    /// Takes a batch of places out of the pool: a share of what is left,
    /// so that shards seldom come back while places are plenty, and one at
    /// a time once they are scarce. 0 when the pool is empty.
    fn take_from_pool(&self) -> usize {
        let batch = |free: usize| (free / (4 * self.shards.len())).clamp(1, 1024);
        self.pool
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |free| {
                (free > 0).then(|| free - batch(free))
            })
            .map_or(0, batch)
    }

    /// Finds places for a mint that found none in its shard nor in the
    /// pool; `false` when the store is full.
    ///
    /// Refused mints are the cheap case, since a flood of them is the
    /// attack: once a walk over every shard (reaping expired tickets, taking
    /// back the places shards hold beyond their live tickets) has found
    /// none, the store is `tight`. While it is, consumes hand their places
    /// straight to the pool, and nothing expires before `full_until`, so a
    /// mint until then looks at the pool alone: O(1), whatever the shard
    /// count. A walk comes again only once `full_until` has passed: it
    /// reaps at least the pair that set it, or, when the last places went
    /// to mints behind the walk that found the store full (`full_until`
    /// then counts from that walk's start), it is at most one walk a TTL.
    /// A flood of refused mints never buys more walks.
    fn reclaim(&self) -> bool {
        let now = self.now_nanos();
        if self.tight.load(Ordering::SeqCst) && now < self.full_until.load(Ordering::Acquire) {
            return self.pool.load(Ordering::Relaxed) > 0;
        }
        let (found, oldest) = self.walk(now);
        if found > 0 || self.pool.load(Ordering::Relaxed) > 0 {
            self.tight.store(false, Ordering::SeqCst);
            return true;
        }
        // Full. The oldest pair left (a live ticket's or a consumed one's:
        // either way a lower bound) says when the next ticket can expire.
        // A ticket minted during the walk, in a shard it had passed, is no
        // pair it saw, but it was minted after `now`: the walk's start
        // bounds it, and bounds the wait when every shard looked empty.
        let expiry = oldest
            .map_or(now, |at| at.min(now))
            .saturating_add(self.ttl_nanos)
            .saturating_add(1);
        self.full_until.store(expiry, Ordering::Release);
        if !self.tight.swap(true, Ordering::SeqCst) {
            // Consumes that ran during the walk may have missed the flag
            // and left their places in a shard: one more walk finds them.
            let (found, _) = self.walk(now);
            if found > 0 {
                return true;
            }
        }
        self.pool.load(Ordering::Relaxed) > 0
    }

    /// Reaps expired tickets in every shard and returns to the pool the
    /// places each holds beyond its live tickets, one shard at a time: the
    /// places found, and the mint time of the oldest pair left in any
    /// shard. O(shards).
    fn walk(&self, now: u64) -> (usize, Option<u64>) {
        #[cfg(test)]
        self.walks.fetch_add(1, Ordering::Relaxed);
        let mut found = 0;
        let mut oldest: Option<u64> = None;
        let mut reaped = Vec::new();
        for shard in &self.shards {
            {
                let mut state = shard.lock();
                self.reap(&mut state, now, &mut reaped);
                found += self.take_spare(&mut state);
                if let Some(front) = state.fifo.front() {
                    oldest = Some(oldest.map_or(front.at, |at| at.min(front.at)));
                }
            }
            self.count_out(&mut reaped);
        }
        (found, oldest)
    }

    /// Returns to the pool the places the shard whose `state` the caller
    /// holds has beyond its live tickets. How many.
    fn take_spare(&self, state: &mut ShardState<I>) -> usize {
        let spare = state.quota - state.tickets.len().min(state.quota);
        state.quota -= spare;
        self.pool.fetch_add(spare, Ordering::Relaxed);
        spare
    }

    /// Pops every expired pair off the front of a shard's FIFO, removing
    /// its ticket from the map if it is still there (a pair marked
    /// consumed has none); with a cap per identity, the ticket's identity
    /// goes to `reaped`.
    #[inline]
    fn reap(&self, state: &mut ShardState<I>, now: u64, reaped: &mut Vec<I>) {
        // Most calls find nothing expired: that check stays in the caller.
        if state
            .fifo
            .front()
            .is_some_and(|front| now.saturating_sub(front.at) > self.ttl_nanos)
        {
            self.reap_expired(state, now, reaped);
        }
    }

    #[inline(never)]
    fn reap_expired(&self, state: &mut ShardState<I>, now: u64, reaped: &mut Vec<I>) {
        while let Some(&front) = state.fifo.front() {
            if now.saturating_sub(front.at) <= self.ttl_nanos {
                break;
            }
            state.fifo.pop_front();
            if front.lookup == CONSUMED {
                state.consumed -= 1;
                continue;
            }
            // None when the cap per identity took it out as expired already.
            let Some(stored) = take_minted(state, front.lookup, front.at) else {
                continue;
            };
            if self.per_identity.is_some() {
                reaped.push(stored.identity);
            }
        }
    }
}

/// Takes out of a shard the ticket filed under `lookup` at `at`, if it is
/// still there. Matching on the mint time as well keeps a leftover pair
/// from removing a newer ticket that drew the same lookup half.
fn take_minted<I>(state: &mut ShardState<I>, lookup: u64, at: u64) -> Option<Stored<I>> {
    match state.tickets.entry(lookup) {
        MapEntry::Occupied(entry) if entry.get().minted == at => Some(entry.remove()),
        _ => None,
    }
}

/// Sweeps the pairs marked consumed out of a shard's FIFO once they
/// outnumber its live pairs.
fn sweep_if_due<I>(state: &mut ShardState<I>) {
    if state.consumed < SWEEP_MIN || state.consumed * 2 < state.fifo.len() {
        return;
    }
    state.fifo.retain(|m| m.lookup != CONSUMED);
    state.consumed = 0;
}

/// Where in `fifo` the pair of the ticket filed under `lookup` at `at`
/// sits, if it is still there. The FIFO is in mint order, and a ticket is
/// mostly consumed soon after its mint: look from the back, in steps that
/// double, then halve the last step.
fn find(fifo: &VecDeque<Minted>, lookup: u64, at: u64) -> Option<usize> {
    let len = fifo.len();
    if fifo.back() == Some(&Minted { lookup, at }) {
        return Some(len - 1);
    }
    // Every pair from `after` on was minted after `at`.
    let mut after = len;
    let mut step = 1;
    while step <= len && fifo[len - step].at > at {
        after = len - step;
        step *= 2;
    }
    // Every pair before `lo` was minted at or before `at`.
    let mut lo = len.saturating_sub(step);
    if step <= len {
        lo += 1;
    }
    while lo < after {
        let mid = lo + (after - lo) / 2;
        if fifo[mid].at > at {
            after = mid;
        } else {
            lo = mid + 1;
        }
    }
    // Tickets minted in the same nanosecond sit together.
    (0..after)
        .rev()
        .take_while(|&i| fifo[i].at == at)
        .find(|&i| fifo[i].lookup == lookup)
}

impl<I> Shard<I> {
    fn lock(&self) -> MutexGuard<'_, ShardState<I>> {
        // The state is plain data and every update leaves it consistent,
        // so a panic elsewhere while it was locked does not spoil it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the cap per identity asks of the store. Lock order: an identity's
/// record, then a shard; nothing that holds a shard takes a record.
impl<I> Tickets for Shared<I> {
    fn holds(&self, lookup: u64, at: u64) -> bool {
        self.shard(lookup)
            .lock()
            .tickets
            .get(&lookup)
            .is_some_and(|stored| stored.minted == at)
    }

    fn expire(&self, lookup: u64, at: u64) -> bool {
        // Its FIFO pair stays unmarked, and is expired: the shard's next
        // reap drops it.
        take_minted(&mut self.shard(lookup).lock(), lookup, at).is_some()
    }

    fn now(&self) -> u64 {
        self.now_nanos()
    }

    fn ttl_nanos(&self) -> u64 {
        self.ttl_nanos
    }
}

impl<I> Clone for MemoryStore<I> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<I> Default for MemoryStore<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I> fmt::Debug for MemoryStore<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("ttl", &self.shared.ttl)
            .field("max_outstanding", &self.shared.max_outstanding)
            .field("max_per_identity", &self.max_per_identity())
            .field("outstanding", &self.shared.live())
            .field("shards", &self.shared.shards.len())
            .finish_non_exhaustive()
    }
}

impl<I> TicketStore for MemoryStore<I>
where
    I: Clone + Send + Sync + 'static,
{
    type Identity = I;
    type MintFuture = std::future::Ready<Result<Ticket, MintError>>;
    type ConsumeFuture = std::future::Ready<Result<Redeemed<I>, TicketError>>;

    fn mint_ticket(&self, identity: I, audience: Option<&Audience>) -> Self::MintFuture {
        std::future::ready(self.mint_for(identity, audience))
    }

    fn consume_ticket(&self, presented: &str, audience: Option<&Audience>) -> Self::ConsumeFuture {
        std::future::ready(self.consume_for(presented, audience))
    }

    fn ttl(&self) -> Duration {
        self.shared.ttl
    }
}

/// Configures a [`MemoryStore`]; from [`MemoryStore::builder`].
///
/// ```
/// use std::time::Duration;
/// use tower_ws_ticket::{ManualClock, MemoryStore};
///
/// let store = MemoryStore::<String>::builder()
///     .ttl(Duration::from_secs(15))
///     .max_outstanding(1_000)
///     .clock(ManualClock::new())
///     .shards(16)
///     .build();
/// assert_eq!(store.ttl(), Duration::from_secs(15));
/// assert_eq!(store.max_outstanding(), 1_000);
/// ```
#[must_use]
pub struct MemoryStoreBuilder<I> {
    ttl: Duration,
    max_outstanding: usize,
    per_identity: Option<Box<dyn Quota<I>>>,
    clock: Arc<dyn Clock>,
    shards: usize,
    identity: PhantomData<fn() -> I>,
}

impl<I> MemoryStoreBuilder<I> {
    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self {
            ttl: DEFAULT_TTL,
            max_outstanding: DEFAULT_MAX_OUTSTANDING,
            per_identity: None,
            clock: Arc::new(SystemClock),
            // Well beyond the core count, so that a ticket's shard has
            // seldom been touched by another core since it was minted.
            shards: (cores * 16).max(64),
            identity: PhantomData,
        }
    }

    /// How long a ticket stays valid after it is minted (default 30 s). A
    /// ticket presented exactly at `minted + ttl` is still valid.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The hard cap on live tickets (default 100,000). Past it, `mint`
    /// answers [`MintError::Full`] until tickets are consumed or expire.
    /// Each live ticket costs about 130 bytes with a `u64` identity (its
    /// audience included, whether it has one or not), up to about 150
    /// while expiry queues hold pairs of consumed tickets; a cap per
    /// identity adds a record per identity with live tickets.
    pub fn max_outstanding(mut self, max: usize) -> Self {
        self.max_outstanding = max;
        self
    }

    /// Caps the live tickets of each identity at `max` (default: no cap
    /// but [`max_outstanding`](Self::max_outstanding)), so that one
    /// signed-in client minting in a loop cannot use up the store for
    /// everyone. Past it, `mint` answers [`MintError::IdentityFull`], with
    /// how long until the identity's oldest live ticket expires, and the
    /// [`MintService`](crate::MintService) answers `429` with `Retry-After`.
    /// Consumed, burned and expired tickets free their place at once;
    /// `max_outstanding` still caps the store as a whole. Identities are
    /// told apart by their `Hash + Eq`; to count several identities as one
    /// (every session of a user, say) use
    /// [`max_per_identity_by`](Self::max_per_identity_by).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_ws_ticket::{MemoryStore, MintError};
    ///
    /// let store = MemoryStore::<u64>::builder().max_per_identity(2).build();
    /// let first = store.mint(7).unwrap();
    /// store.mint(7).unwrap();
    /// assert!(matches!(store.mint(7), Err(MintError::IdentityFull { retry_after })
    ///     if retry_after <= Duration::from_secs(30)));
    /// // Others are not held back, and a consumed ticket frees its place.
    /// store.mint(8).unwrap();
    /// store.consume(first.expose_secret()).unwrap();
    /// store.mint(7).unwrap();
    /// ```
    ///
    /// Each identity with live tickets costs a record of about 100 bytes
    /// beside its key (16 more for each live ticket past its first); an
    /// identity without live tickets costs nothing. Each mint and consume
    /// takes that identity's lock once and does O(1) amortized work under
    /// it, so identities do not wait on each other, while one identity's
    /// concurrent mints are counted exactly.
    pub fn max_per_identity(self, max: usize) -> Self
    where
        I: Hash + Eq + Clone + Send + Sync + 'static,
    {
        self.per_identity(IdentityCap::new(max, ByIdentity))
    }

    /// Caps the live tickets of each *key* at `max`, where `key` makes the
    /// key of an identity: every session of one user, say, or everyone of
    /// one tenant. Otherwise as [`max_per_identity`](Self::max_per_identity).
    ///
    /// ```
    /// use tower_ws_ticket::{MemoryStore, MintError};
    ///
    /// #[derive(Clone)]
    /// struct Session { user: u64, id: u64 }
    ///
    /// let store = MemoryStore::<Session>::builder()
    ///     .max_per_identity_by(2, |session: &Session| session.user)
    ///     .build();
    /// store.mint(Session { user: 1, id: 10 }).unwrap();
    /// store.mint(Session { user: 1, id: 11 }).unwrap();
    /// assert!(matches!(
    ///     store.mint(Session { user: 1, id: 12 }),
    ///     Err(MintError::IdentityFull { .. })
    /// ));
    /// ```
    pub fn max_per_identity_by<K, F>(self, max: usize, key: F) -> Self
    where
        I: 'static,
        K: Hash + Eq + Send + Sync + 'static,
        F: Fn(&I) -> K + Send + Sync + 'static,
    {
        self.per_identity(IdentityCap::new(max, ByKey::new(key)))
    }

    fn per_identity(mut self, quota: impl Quota<I> + 'static) -> Self {
        self.per_identity = Some(Box::new(quota));
        self
    }

    /// The clock expiry is measured on (default [`SystemClock`]); use a
    /// [`ManualClock`](crate::ManualClock) in tests.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How many shards the store is split into (default sixteen per core,
    /// at least 64). Rounded up to a power of two, at least 2 and at most
    /// 65,536.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore<I> {
        let shards = self.shards.clamp(2, 1 << 16).next_power_of_two();
        let epoch = self.clock.now();
        let shards = (0..shards)
            .map(|_| Shard {
                state: Mutex::new(ShardState {
                    tickets: HashMap::default(),
                    fifo: VecDeque::new(),
                    quota: 0,
                    consumed: 0,
                }),
            })
            .collect();
        MemoryStore {
            shared: Arc::new(Shared {
                shards,
                pool: AtomicUsize::new(self.max_outstanding),
                max_outstanding: self.max_outstanding,
                tight: AtomicBool::new(false),
                full_until: AtomicU64::new(0),
                #[cfg(test)]
                walks: AtomicUsize::new(0),
                per_identity: self.per_identity,
                ttl: self.ttl,
                ttl_nanos: nanos(self.ttl),
                clock: self.clock,
                epoch,
            }),
        }
    }
}

impl<I> fmt::Debug for MemoryStoreBuilder<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStoreBuilder")
            .field("ttl", &self.ttl)
            .field("max_outstanding", &self.max_outstanding)
            .field(
                "max_per_identity",
                &self.per_identity.as_ref().map(|quota| quota.max()),
            )
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

mod per_identity;

#[cfg(test)]
mod tests;

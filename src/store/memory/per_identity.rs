//! The memory store's cap per identity: how many live tickets one identity
//! may hold at once.
//!
//! A second sharded map, keyed by the identity (or by what a key function
//! makes of it), holds a [`Record`] for each identity that has live
//! tickets: how many, and their `(lookup, minted)` pairs in mint order.
//! The map is sharded like the tickets' own, so two identities seldom wait
//! on one lock; one identity's mints do wait on each other, which is what
//! keeps its cap exact.
//!
//! - A mint pops the identity's expired pairs off the front of its queue
//!   (taking those tickets out of the store at once, so that they free
//!   their place now rather than when the store's own reaping reaches
//!   them), checks the count, and files the ticket under the record's lock.
//! - Whoever else takes a ticket out of the store (a consume, the store's
//!   reaping) tells the record, which counts it out. A record that counts
//!   no ticket is removed: an identity without live tickets leaves nothing
//!   behind.
//! - A consumed ticket leaves its pair in the queue. The record sweeps the
//!   leftovers out once they outnumber its live pairs (and are at least
//!   [`SWEEP_MIN`]), so its queue stays within about twice its live
//!   tickets, and each call's share of the work is O(1) amortized, as in
//!   the store's expiry queues.
//!
//! The module knows nothing of how the store keeps tickets: it asks through
//! [`Tickets`].

use std::collections::VecDeque;
use std::hash::Hash;
use std::marker::PhantomData;

use dashmap::DashMap;

/// An identity's queue is swept once it holds at least this many leftovers
/// of consumed tickets, and more leftovers than live pairs.
const SWEEP_MIN: usize = 16;

/// What a quota asks of the store whose tickets it counts.
pub(super) trait Tickets {
    /// Whether the ticket filed under `lookup` at `at` is still in the store.
    fn holds(&self, lookup: u64, at: u64) -> bool;

    /// Takes that ticket out of the store as expired, freeing its place
    /// under the store's cap; whether it was still there. The quota counts
    /// it out itself: the store must not [`release`](Quota::release) it.
    fn expire(&self, lookup: u64, at: u64) -> bool;

    /// Now, in the store's nanoseconds.
    fn now(&self) -> u64;

    /// The store's TTL, in the nanoseconds its times are kept in.
    fn ttl_nanos(&self) -> u64;
}

/// Why a mint was not filed.
pub(super) enum Refused<I> {
    /// The store already has a ticket under the drawn lookup half: draw
    /// again, with the identity given back.
    Taken(I),
    /// The store has no place left under its cap in the ticket's shard nor
    /// in its pool: reclaim places and try again, with the identity given
    /// back.
    StoreFull(I),
    /// The identity holds its maximum; its oldest live ticket expires in
    /// `wait` nanoseconds.
    Full { wait: u64 },
}

/// A cap per identity, whatever the identity's key.
pub(super) trait Quota<I>: Send + Sync {
    /// The most live tickets one identity may hold.
    fn max(&self) -> usize;

    /// Files a ticket for `identity` (under `lookup`) through `file` unless
    /// the identity holds its maximum already. `file` runs under the
    /// identity's lock and answers the ticket's mint time, or why it was
    /// not filed (with the identity given back).
    fn admit(
        &self,
        identity: I,
        lookup: u64,
        tickets: &dyn Tickets,
        file: &mut dyn FnMut(I) -> Result<u64, Refused<I>>,
    ) -> Result<(), Refused<I>>;

    /// Counts out one of `identity`'s tickets, which the caller has just
    /// taken out of the store (consumed, burned, or reaped as expired).
    fn release(&self, identity: &I, tickets: &dyn Tickets);

    /// Identities with a record, and pairs queued over all of them (tests:
    /// nothing is left behind, queues stay bounded).
    #[cfg(test)]
    fn footprint(&self) -> (usize, usize);
}

/// How a quota keys its records.
pub(super) trait Keying<I>: Send + Sync + 'static {
    type Key: Hash + Eq + Send + Sync + 'static;

    /// The key, owned, to file a record under.
    fn owned(&self, identity: &I) -> Self::Key;

    /// Calls `f` with the key, borrowed from the identity when it can be.
    fn with<R>(&self, identity: &I, f: impl FnOnce(&Self::Key) -> R) -> R;
}

/// Keys records by the identity itself.
pub(super) struct ByIdentity;

impl<I> Keying<I> for ByIdentity
where
    I: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Key = I;

    fn owned(&self, identity: &I) -> I {
        identity.clone()
    }

    fn with<R>(&self, identity: &I, f: impl FnOnce(&I) -> R) -> R {
        f(identity)
    }
}

/// Keys records by what a function makes of the identity.
pub(super) struct ByKey<F, K> {
    key: F,
    output: PhantomData<fn() -> K>,
}

impl<F, K> ByKey<F, K> {
    pub(super) fn new(key: F) -> Self {
        Self {
            key,
            output: PhantomData,
        }
    }
}

impl<I, F, K> Keying<I> for ByKey<F, K>
where
    F: Fn(&I) -> K + Send + Sync + 'static,
    K: Hash + Eq + Send + Sync + 'static,
{
    type Key = K;

    fn owned(&self, identity: &I) -> K {
        (self.key)(identity)
    }

    fn with<R>(&self, identity: &I, f: impl FnOnce(&K) -> R) -> R {
        f(&(self.key)(identity))
    }
}

/// The cap: at most `max` live tickets per key.
pub(super) struct IdentityCap<I, G: Keying<I>> {
    max: usize,
    keying: G,
    records: DashMap<G::Key, Record>,
    identity: PhantomData<fn(&I)>,
}

impl<I, G: Keying<I>> IdentityCap<I, G> {
    pub(super) fn new(max: usize, keying: G) -> Self {
        Self {
            max,
            keying,
            records: DashMap::new(),
            identity: PhantomData,
        }
    }
}

/// One identity's live tickets.
#[derive(Default)]
struct Record {
    /// Its tickets in the store: filed, and not yet counted out.
    live: usize,
    /// Pairs in `pairs` whose tickets were counted out by a release,
    /// approximately: a hint for when to sweep, never used for counting.
    leftovers: usize,
    pairs: Pairs,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Pair {
    lookup: u64,
    at: u64,
}

/// An identity's pairs in mint order. The oldest sits inline, so that an
/// identity holding one ticket at a time (the usual case) costs no
/// allocation beside its record.
#[derive(Default)]
struct Pairs {
    first: Option<Pair>,
    /// Empty whenever `first` is.
    rest: VecDeque<Pair>,
}

impl Pairs {
    fn front(&self) -> Option<Pair> {
        self.first
    }

    fn pop_front(&mut self) {
        self.first = self.rest.pop_front();
    }

    /// Adds a pair in mint order. A record's mints file their tickets one
    /// at a time under its lock, reading the time as they do, so pairs come
    /// in order; one that does not (a clock that went back) is put in its
    /// place all the same.
    fn push(&mut self, pair: Pair) {
        let Some(first) = self.first else {
            self.first = Some(pair);
            return;
        };
        if pair.at < first.at {
            self.first = Some(pair);
            self.rest.push_front(first);
        } else if self.rest.back().is_none_or(|last| last.at <= pair.at) {
            self.rest.push_back(pair);
        } else {
            let at = self.rest.partition_point(|p| p.at <= pair.at);
            self.rest.insert(at, pair);
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(Pair) -> bool) {
        let keep_first = self.first.is_some_and(&mut keep);
        self.rest.retain(|&p| keep(p));
        if !keep_first {
            self.pop_front();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }
}

impl<I, G: Keying<I>> Quota<I> for IdentityCap<I, G> {
    fn max(&self) -> usize {
        self.max
    }

    fn admit(
        &self,
        identity: I,
        lookup: u64,
        tickets: &dyn Tickets,
        file: &mut dyn FnMut(I) -> Result<u64, Refused<I>>,
    ) -> Result<(), Refused<I>> {
        let ttl = tickets.ttl_nanos();
        if self.max == 0 {
            return Err(Refused::Full { wait: ttl });
        }
        let mut record = self
            .records
            .entry(self.keying.owned(&identity))
            .or_default();
        // For this identity's expiry and its wait; the ticket's own mint
        // time is read as `file` files it.
        let now = tickets.now();
        // Expired tickets free their place now: take them out of the store
        // rather than wait for its reaping to reach them.
        while let Some(front) = record.pairs.front() {
            if now.saturating_sub(front.at) <= ttl {
                break;
            }
            record.pairs.pop_front();
            if tickets.expire(front.lookup, front.at) {
                record.live -= 1;
            } else {
                record.leftovers = record.leftovers.saturating_sub(1);
            }
        }
        if record.live >= self.max {
            // The oldest ticket still in the store frees the next place.
            while let Some(front) = record.pairs.front() {
                if tickets.holds(front.lookup, front.at) {
                    break;
                }
                record.pairs.pop_front();
                record.leftovers = record.leftovers.saturating_sub(1);
            }
            let wait = record.pairs.front().map_or(ttl, |oldest| {
                oldest.at.saturating_add(ttl).saturating_sub(now)
            });
            return Err(Refused::Full { wait });
        }
        match file(identity) {
            Ok(at) => {
                record.live += 1;
                record.pairs.push(Pair { lookup, at });
                Ok(())
            }
            Err(refused) => {
                // A fresh record must not stay behind empty.
                let empty = record.live == 0;
                drop(record);
                if empty && let Refused::Taken(identity) | Refused::StoreFull(identity) = &refused {
                    self.keying.with(identity, |key| {
                        self.records.remove_if(key, |_, record| record.live == 0)
                    });
                }
                Err(refused)
            }
        }
    }

    #[cfg(test)]
    fn footprint(&self) -> (usize, usize) {
        let pairs = self.records.iter().map(|r| r.pairs.len()).sum();
        (self.records.len(), pairs)
    }

    fn release(&self, identity: &I, tickets: &dyn Tickets) {
        self.keying.with(identity, |key| {
            self.records.remove_if_mut(key, |_, record| {
                debug_assert!(record.live > 0, "a release without a live ticket");
                record.live = record.live.saturating_sub(1);
                if record.live == 0 {
                    return true;
                }
                record.leftovers += 1;
                if record.leftovers >= SWEEP_MIN && record.leftovers > record.live {
                    record.pairs.retain(|p| tickets.holds(p.lookup, p.at));
                    record.leftovers = 0;
                }
                false
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(at: u64) -> Pair {
        Pair { lookup: at, at }
    }

    fn drain(pairs: &mut Pairs) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(front) = pairs.front() {
            out.push(front.at);
            pairs.pop_front();
        }
        out
    }

    #[test]
    fn pairs_stay_in_mint_order_whatever_order_they_arrive_in() {
        let mut pairs = Pairs::default();
        for at in [5, 3, 9, 7, 7, 1, 12, 10] {
            pairs.push(pair(at));
        }
        assert_eq!(pairs.len(), 8);
        assert_eq!(drain(&mut pairs), [1, 3, 5, 7, 7, 9, 10, 12]);
        assert_eq!(pairs.len(), 0);
    }

    #[test]
    fn retain_keeps_the_first_inline() {
        let mut pairs = Pairs::default();
        for at in 1..=6 {
            pairs.push(pair(at));
        }
        pairs.retain(|p| p.at % 2 == 0);
        assert_eq!(pairs.front(), Some(pair(2)));
        assert_eq!(drain(&mut pairs), [2, 4, 6]);
        pairs.push(pair(1));
        pairs.retain(|_| false);
        assert_eq!(pairs.front(), None);
        assert!(pairs.rest.is_empty());
    }
}

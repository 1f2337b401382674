use std::sync::atomic::AtomicU8;
use std::thread;
use std::time::SystemTime;

use super::*;
use crate::ManualClock;

fn manual_store(ttl: Duration, max: usize) -> (MemoryStore<u64>, ManualClock) {
    let clock = ManualClock::new();
    let store = MemoryStore::builder()
        .ttl(ttl)
        .max_outstanding(max)
        .clock(clock.clone())
        .build();
    (store, clock)
}

fn fifo_pairs<I>(store: &MemoryStore<I>) -> usize {
    store
        .shared
        .shards
        .iter()
        .map(|s| s.lock().fifo.len())
        .sum()
}

#[test]
fn a_full_store_reclaims_expired_tickets_when_minting() {
    let (store, clock) = manual_store(Duration::from_secs(30), 50);
    for i in 0..50 {
        store.mint(i).unwrap();
    }
    clock.advance(Duration::from_secs(31));
    // No len() call in between: mint itself must find the expired ones.
    assert!(store.mint(50).is_ok());
    assert_eq!(store.shared.live(), 1);
}

#[test]
fn expired_tickets_are_reclaimed_from_memory() {
    let (store, clock) = manual_store(Duration::from_secs(30), 10_000);
    for i in 0..5_000 {
        store.mint(i).unwrap();
    }
    clock.advance(Duration::from_secs(30) + Duration::from_nanos(1));
    assert_eq!(store.len(), 0);
    assert_eq!(store.shared.live(), 0);
    assert_eq!(fifo_pairs(&store), 0);
}

#[test]
fn reaping_spares_tickets_that_are_still_valid() {
    let (store, clock) = manual_store(Duration::from_secs(30), 100);
    let old = store.mint(1).unwrap();
    clock.advance(Duration::from_secs(20));
    let young = store.mint(2).unwrap();
    clock.advance(Duration::from_secs(11));
    assert_eq!(store.len(), 1);
    assert!(matches!(
        store.consume(old.expose_secret()),
        Err(TicketError::Unknown(_))
    ));
    assert_eq!(store.consume(young.expose_secret()).unwrap().identity, 2);
}

#[test]
fn consumed_tickets_do_not_pile_up_in_the_expiry_fifo() {
    let store = MemoryStore::<u32>::builder().shards(4).build();
    for i in 0..100_000 {
        let ticket = store.mint(i).unwrap();
        store.consume(ticket.expose_secret()).unwrap();
    }
    // Each shard sweeps once leftovers reach SWEEP_MIN and outnumber the
    // live pairs; with none live that caps a shard near 2 * SWEEP_MIN.
    let pairs = fifo_pairs(&store);
    assert!(pairs <= 4 * 2 * SWEEP_MIN, "{pairs} pairs left behind");
    assert!(store.is_empty());
}

#[test]
fn eight_threads_redeem_each_of_20_000_tickets_exactly_once() {
    const TICKETS: usize = 20_000;
    let store = MemoryStore::<usize>::builder()
        .max_outstanding(TICKETS)
        .build();
    let tickets: Vec<String> = (0..TICKETS)
        .map(|i| store.mint(i).unwrap().expose_secret().to_owned())
        .collect();
    let wins: Vec<AtomicU8> = (0..TICKETS).map(|_| AtomicU8::new(0)).collect();
    thread::scope(|scope| {
        for t in 0..8 {
            let (store, tickets, wins) = (&store, &tickets, &wins);
            scope.spawn(move || {
                // Each thread walks the tickets from its own starting point,
                // so every ticket sees several racers.
                for k in 0..TICKETS {
                    let i = (k + t * TICKETS / 8) % TICKETS;
                    match store.consume(&tickets[i]) {
                        Ok(redeemed) => {
                            assert_eq!(redeemed.identity, i);
                            wins[i].fetch_add(1, Ordering::Relaxed);
                        }
                        Err(TicketError::Unknown(_)) => {}
                        Err(other) => panic!("unexpected {other}"),
                    }
                }
            });
        }
    });
    assert!(wins.iter().all(|w| w.load(Ordering::Relaxed) == 1));
    assert!(store.is_empty());
}

#[test]
fn error_text_shows_at_most_eight_characters() {
    let (store, clock) = manual_store(Duration::from_secs(1), 10);
    let unknown = MemoryStore::<u64>::new().mint(0).unwrap();
    let expired = store.mint(1).unwrap();
    clock.advance(Duration::from_secs(2));
    let long_garbage = "x".repeat(100);
    let cases = [
        (
            store.consume(unknown.expose_secret()).unwrap_err(),
            unknown.expose_secret(),
        ),
        (
            store.consume(expired.expose_secret()).unwrap_err(),
            expired.expose_secret(),
        ),
        (
            store.consume(&long_garbage).unwrap_err(),
            long_garbage.as_str(),
        ),
    ];
    for (err, presented) in cases {
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(&presented[..8]), "{shown}");
        assert!(!shown.contains(&presented[..9]), "{shown}");
    }
}

#[test]
fn debug_output_never_shows_a_secret() {
    let store = MemoryStore::<u8>::new();
    let ticket = store.mint(1).unwrap();
    let secret = ticket.expose_secret();
    let shown = format!("{store:?} {ticket:?} {:?}", MemoryStore::<u8>::builder());
    assert!(!shown.contains(&secret[4..]), "{shown}");
    assert!(!shown.contains(&secret[..9]), "{shown}");
}

#[test]
fn shard_count_is_rounded_to_a_power_of_two() {
    for (asked, got) in [
        (0, 2),
        (1, 2),
        (3, 4),
        (64, 64),
        (100, 128),
        (usize::MAX, 65_536),
    ] {
        let store = MemoryStore::<u8>::builder().shards(asked).build();
        assert_eq!(store.shared.shards.len(), got, "asked for {asked}");
    }
}

#[test]
fn clones_share_one_store() {
    let a = MemoryStore::<u8>::new();
    let b = a.clone();
    let ticket = a.mint(5).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b.consume(ticket.expose_secret()).unwrap().identity, 5);
    assert!(a.is_empty());
}

#[test]
fn zero_cap_refuses_every_mint() {
    let store = MemoryStore::<u8>::builder().max_outstanding(0).build();
    assert_eq!(store.mint(1).unwrap_err(), MintError::Full);
}

// The cap is split into per-shard quotas and a shared pool (see the module
// docs): these check that it stays exact under concurrency, whatever the
// shard count, and that places spread over shards all come back.

#[test]
fn exactly_max_concurrent_mints_succeed() {
    for shards in [2, 8, 64, 1024] {
        for max in [0usize, 1, 7, 100, 1000, 5000] {
            let store = MemoryStore::<u8>::builder()
                .max_outstanding(max)
                .shards(shards)
                .build();
            let ok = AtomicUsize::new(0);
            thread::scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| {
                        for _ in 0..(max / 2 + 50) {
                            if store.mint(0).is_ok() {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                }
            });
            assert_eq!(ok.load(Ordering::Relaxed), max, "shards {shards} max {max}");
            assert_eq!(store.len(), max);
            assert_eq!(store.mint(0).unwrap_err(), MintError::Full);
        }
    }
}

#[test]
fn churn_then_fill_to_exactly_the_cap() {
    for shards in [2, 64, 1024] {
        let max = 3000;
        let store = MemoryStore::<u32>::builder()
            .max_outstanding(max)
            .shards(shards)
            .build();
        thread::scope(|s| {
            for t in 0..4 {
                let store = &store;
                s.spawn(move || {
                    let mut held = Vec::new();
                    for i in 0..20_000u32 {
                        if (i + t) % 3 == 0 && !held.is_empty() {
                            let tk: Ticket = held.swap_remove(i as usize % held.len());
                            store.consume(tk.expose_secret()).unwrap();
                        } else if let Ok(tk) = store.mint(i) {
                            held.push(tk);
                        }
                        if i % 5000 == 0 {
                            assert!(store.len() <= max);
                        }
                    }
                    for tk in held {
                        store.consume(tk.expose_secret()).unwrap();
                    }
                });
            }
        });
        assert!(store.is_empty());
        // Places are spread over shards' quotas now; a single thread must
        // still get every one of them back.
        let tickets: Vec<_> = (0..max).map(|i| store.mint(i as u32).unwrap()).collect();
        assert_eq!(store.mint(0).unwrap_err(), MintError::Full);
        assert_eq!(store.len(), max);
        drop(tickets);
    }
}

#[test]
fn concurrent_mint_and_consume_never_exceed_the_cap() {
    let max = 40;
    let store = MemoryStore::<u8>::builder()
        .max_outstanding(max)
        .shards(64)
        .build();
    let live = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                let mut held = Vec::new();
                for i in 0..30_000usize {
                    if i % 2 == 0 {
                        if let Ok(t) = store.mint(1) {
                            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            held.push(t);
                        }
                    } else if let Some(t) = held.pop() {
                        live.fetch_sub(1, Ordering::SeqCst);
                        store.consume(t.expose_secret()).unwrap();
                    }
                }
                for t in held {
                    live.fetch_sub(1, Ordering::SeqCst);
                    store.consume(t.expose_secret()).unwrap();
                }
            });
        }
    });
    assert!(
        peak.load(Ordering::SeqCst) <= max,
        "{}",
        peak.load(Ordering::SeqCst)
    );
    assert!(store.is_empty());
    for _ in 0..max {
        store.mint(0).unwrap();
    }
    assert!(store.mint(0).is_err());
}

#[test]
fn expired_places_come_back_concurrently() {
    let clock = ManualClock::new();
    let max = 500;
    let store = MemoryStore::<u8>::builder()
        .max_outstanding(max)
        .shards(64)
        .clock(clock.clone())
        .build();
    for _ in 0..max {
        store.mint(0).unwrap();
    }
    assert!(store.mint(0).is_err());
    clock.advance(Duration::from_secs(31));
    let ok = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..300 {
                    if store.mint(0).is_ok() {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(ok.load(Ordering::Relaxed), max);
    assert_eq!(store.len(), max);
}

// Caps per identity (per_identity.rs): exact under concurrency, freed at
// once by consumes, burns and expiry, and leaving nothing behind.

fn capped_store(per_identity: usize, max: usize) -> (MemoryStore<u64>, ManualClock) {
    let clock = ManualClock::new();
    let store = MemoryStore::builder()
        .max_outstanding(max)
        .max_per_identity(per_identity)
        .clock(clock.clone())
        .build();
    (store, clock)
}

/// Identities with a record, and pairs in their queues.
fn footprint<I>(store: &MemoryStore<I>) -> (usize, usize) {
    store
        .shared
        .per_identity
        .as_ref()
        .map_or((0, 0), |quota| quota.footprint())
}

fn retry_after(outcome: Result<Ticket, MintError>) -> Duration {
    match outcome {
        Err(MintError::IdentityFull { retry_after }) => retry_after,
        other => panic!("expected IdentityFull, got {other:?}"),
    }
}

#[test]
fn expired_tickets_free_their_place_at_once() {
    let (store, clock) = capped_store(2, 100);
    let a = store.mint(1).unwrap();
    let b = store.mint(1).unwrap();
    retry_after(store.mint(1));
    clock.advance(Duration::from_secs(30));
    // Still valid at the boundary, so still counted.
    retry_after(store.mint(1));
    clock.advance(Duration::from_nanos(1));
    // No len() or reaping in between: the identity's own queue frees them,
    // and takes them out of the store.
    store.mint(1).unwrap();
    store.mint(1).unwrap();
    assert_eq!(store.shared.live(), 2);
    for gone in [a, b] {
        assert!(matches!(
            store.consume(gone.expose_secret()),
            Err(TicketError::Unknown(_))
        ));
    }
    retry_after(store.mint(1));
}

#[test]
fn an_identity_without_live_tickets_leaves_no_record() {
    let (store, clock) = capped_store(4, 10_000);
    let tickets: Vec<Ticket> = (0..1_000).map(|i| store.mint(i % 300).unwrap()).collect();
    assert_eq!(footprint(&store).0, 300);
    for ticket in &tickets[..500] {
        store.consume(ticket.expose_secret()).unwrap();
    }
    // Every identity still holds its ticket minted 600th or later.
    assert_eq!(footprint(&store).0, 300);
    for ticket in &tickets[500..] {
        store.consume(ticket.expose_secret()).unwrap();
    }
    assert_eq!(footprint(&store), (0, 0));

    // Expired ones, reaped by the store rather than consumed, too.
    for i in 0..1_000 {
        store.mint(i % 250).unwrap();
    }
    clock.advance(Duration::from_secs(31));
    assert_eq!(store.len(), 0);
    assert_eq!(footprint(&store), (0, 0));
}

#[test]
fn an_identitys_queue_stays_bounded_under_churn() {
    let (store, _clock) = capped_store(3, 100);
    // One ticket held for long, and a stream of mint + consume beside it:
    // leftovers pile up behind the held one until a sweep drops them.
    let held = store.mint(1).unwrap();
    for _ in 0..10_000 {
        let ticket = store.mint(1).unwrap();
        store.consume(ticket.expose_secret()).unwrap();
        let (records, pairs) = footprint(&store);
        assert_eq!(records, 1);
        assert!(
            pairs <= 2 + 16 + 1,
            "{pairs} pairs queued for 1 live ticket"
        );
    }
    store.consume(held.expose_secret()).unwrap();
    assert_eq!(footprint(&store), (0, 0));
}

#[test]
fn a_key_function_counts_identities_together() {
    let store = MemoryStore::<(u64, u64)>::builder()
        .max_per_identity_by(2, |&(user, _session): &(u64, u64)| user)
        .build();
    store.mint((1, 10)).unwrap();
    store.mint((1, 11)).unwrap();
    assert!(matches!(
        store.mint((1, 12)),
        Err(MintError::IdentityFull { .. })
    ));
    store.mint((2, 10)).unwrap();
    let ticket = store.mint((2, 11)).unwrap();
    assert_eq!(
        store.consume(ticket.expose_secret()).unwrap().identity,
        (2, 11)
    );
    store.mint((2, 12)).unwrap();
    assert_eq!(footprint(&store).0, 2);
}

#[test]
fn a_zero_cap_per_identity_refuses_every_mint_for_a_ttl() {
    let (store, _clock) = capped_store(0, 100);
    assert_eq!(retry_after(store.mint(1)), Duration::from_secs(30));
    assert!(store.is_empty());
    assert_eq!(footprint(&store), (0, 0));
    assert_eq!(store.shared.live(), 0);
}

#[test]
fn eight_threads_minting_for_one_identity_never_exceed_its_cap() {
    const CAP: usize = 5;
    for shards in [2, 64] {
        let store = MemoryStore::<u8>::builder()
            .max_per_identity(CAP)
            .shards(shards)
            .build();
        let live = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let refused = AtomicUsize::new(0);
        thread::scope(|s| {
            for t in 0..8 {
                let (store, live, peak, refused) = (&store, &live, &peak, &refused);
                s.spawn(move || {
                    let mut held = Vec::new();
                    for i in 0..5_000usize {
                        if (i + t) % 3 != 0 {
                            match store.mint(7) {
                                Ok(ticket) => {
                                    let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                                    peak.fetch_max(now, Ordering::SeqCst);
                                    held.push(ticket);
                                }
                                Err(MintError::IdentityFull { .. }) => {
                                    refused.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(other) => panic!("{other}"),
                            }
                        } else if let Some(ticket) = held.pop() {
                            // Counted out before the store sees the consume,
                            // so `live` never trails the store's own count.
                            live.fetch_sub(1, Ordering::SeqCst);
                            store.consume(ticket.expose_secret()).unwrap();
                        }
                    }
                    for ticket in held {
                        live.fetch_sub(1, Ordering::SeqCst);
                        store.consume(ticket.expose_secret()).unwrap();
                    }
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= CAP, "{peak:?}");
        assert!(refused.load(Ordering::Relaxed) > 0);
        assert!(store.is_empty());
        assert_eq!(footprint(&store), (0, 0));
        // Every place comes back.
        let all: Vec<Ticket> = (0..CAP).map(|_| store.mint(7).unwrap()).collect();
        assert!(store.mint(7).is_err());
        drop(all);
    }
}

#[test]
fn debug_shows_the_cap_per_identity() {
    let (store, _clock) = capped_store(3, 10);
    assert_eq!(store.max_per_identity(), Some(3));
    assert_eq!(MemoryStore::<u8>::new().max_per_identity(), None);
    assert!(format!("{store:?}").contains("max_per_identity: Some(3)"));
    let builder = MemoryStore::<u8>::builder().max_per_identity(4);
    assert!(format!("{builder:?}").contains("max_per_identity: Some(4)"));
}

#[test]
fn minted_at_is_never_in_the_future() {
    // It used to be the store's wall-clock epoch plus the monotonic time
    // since, read in the other order: a ticket consumed at once claimed a
    // mint time some microseconds ahead of the wall clock.
    let store = MemoryStore::<u8>::new();
    for _ in 0..1_000 {
        let ticket = store.mint(1).unwrap();
        let redeemed = store.consume(ticket.expose_secret()).unwrap();
        let age = SystemTime::now()
            .duration_since(redeemed.minted_at)
            .expect("minted_at is not after now");
        assert!(age < Duration::from_secs(1), "{age:?}");
    }
}

#[test]
fn minted_at_is_never_after_the_mint() {
    // A revocation refuses the tickets minted before it by comparing its
    // wall-clock time with `minted_at`. When the store read the monotonic
    // clock before the wall clock, the work between the two reads moved
    // `minted_at` later than the mint: a ticket minted a microsecond
    // before a revocation came out after it and was admitted.
    let store = MemoryStore::<u8>::new();
    for _ in 0..10_000 {
        let ticket = store.mint(1).unwrap();
        let after_mint = SystemTime::now();
        let redeemed = store.consume(ticket.expose_secret()).unwrap();
        assert!(
            redeemed.minted_at <= after_mint,
            "minted_at {:?} after the mint returned",
            redeemed.minted_at.duration_since(after_mint)
        );
    }
}

#[test]
fn minted_at_is_the_mint_on_the_stores_clock() {
    let (store, clock) = manual_store(Duration::from_secs(30), 10);
    clock.advance(Duration::from_secs(5));
    let at_mint = clock.wall();
    let ticket = store.mint(1).unwrap();
    clock.advance(Duration::from_secs(20));
    let redeemed = store.consume(ticket.expose_secret()).unwrap();
    assert_eq!(redeemed.minted_at, at_mint);
    assert_eq!(
        clock.wall().duration_since(redeemed.minted_at).ok(),
        Some(Duration::from_secs(20))
    );
}

#[test]
fn refused_mints_at_the_cap_cost_the_same_whatever_the_shard_count() {
    // A flood of refused mints is the attack: after the walk that finds
    // the store full, refusing walks no shard at all.
    let clock = ManualClock::new();
    let store = MemoryStore::<u32>::builder()
        .max_outstanding(8)
        .shards(1 << 16)
        .clock(clock.clone())
        .build();
    let tickets: Vec<_> = (0..8).map(|i| store.mint(i).unwrap()).collect();
    let walks = || store.shared.walks.load(Ordering::Relaxed);
    let before = walks();
    for _ in 0..10_000 {
        assert_eq!(store.mint(9).unwrap_err(), MintError::Full);
    }
    // The walk that found it full, and the one after it saw the flag.
    assert!(walks() - before <= 2, "{} walks", walks() - before);

    // A consume frees a place at once, with no walk: still exact.
    let before = walks();
    store.consume(tickets[0].expose_secret()).unwrap();
    store.mint(10).expect("the place a consume freed");
    assert_eq!(store.mint(11).unwrap_err(), MintError::Full);
    assert_eq!(walks(), before);

    // Expiry frees places too: the next mint after it walks once.
    clock.advance(Duration::from_secs(31));
    store.mint(12).expect("expired places come back");
    assert_eq!(store.len(), 1);
}

#[test]
fn find_locates_every_pair_from_the_back_or_the_front() {
    // Mint times with runs of equal ones (a coarse or manual clock), and
    // a marked pair among them.
    let ats = [1, 1, 2, 2, 2, 5, 9, 9, 12, 40, 40, 40, 41];
    for len in 0..=ats.len() {
        let fifo: VecDeque<Minted> = ats[..len]
            .iter()
            .enumerate()
            .map(|(i, &at)| Minted {
                lookup: if i == 3 { CONSUMED } else { 100 + i as u64 },
                at,
            })
            .collect();
        for (i, &at) in ats[..len].iter().enumerate() {
            let expected = (i != 3).then_some(i);
            assert_eq!(
                find(&fifo, 100 + i as u64, at),
                expected,
                "{len} pairs, #{i}"
            );
            // The right lookup at the wrong time, or the wrong lookup.
            assert_eq!(find(&fifo, 100 + i as u64, at + 1), None);
            assert_eq!(find(&fifo, 999, at), None);
        }
    }
}

#[test]
fn a_consumed_tickets_pair_is_marked_and_dropped_without_a_lookup() {
    let clock = ManualClock::new();
    let store = MemoryStore::<u64>::builder()
        .shards(2)
        .clock(clock.clone())
        .build();
    let marked = || -> usize { store.shared.shards.iter().map(|s| s.lock().consumed).sum() };
    // Two shards: most tickets sit behind newer ones in their FIFO.
    let tickets: Vec<Ticket> = (0..20)
        .map(|i| {
            clock.advance(Duration::from_millis(10));
            store.mint(i).unwrap()
        })
        .collect();
    for (n, i) in [0, 19, 7, 8, 3].into_iter().enumerate() {
        assert_eq!(
            store.consume(tickets[i].expose_secret()).unwrap().identity,
            i as u64
        );
        assert_eq!(marked(), n + 1);
    }
    assert_eq!(fifo_pairs(&store), 20);
    assert_eq!(store.len(), 15);
    // Expired, the marked pairs leave with the rest; the live ones' tickets
    // leave the map.
    clock.advance(Duration::from_secs(31));
    assert_eq!(store.len(), 0);
    assert_eq!((marked(), fifo_pairs(&store)), (0, 0));
    assert_eq!(store.shared.live(), 0);
}

#[test]
fn a_full_store_says_so_before_an_identity_at_its_cap() {
    // Both caps reached: the store's answer comes first, as it did when
    // the store's place was claimed before the identity was counted.
    let (store, clock) = capped_store(2, 2);
    store.mint(1).unwrap();
    store.mint(1).unwrap();
    assert_eq!(store.mint(1).unwrap_err(), MintError::Full);
    // Once the store has room, the identity's cap answers.
    clock.advance(Duration::from_secs(31));
    store.mint(1).unwrap();
    store.mint(1).unwrap();
    assert_eq!(store.mint(2).unwrap_err(), MintError::Full);
    let (store, _clock) = capped_store(2, 3);
    store.mint(1).unwrap();
    store.mint(1).unwrap();
    retry_after(store.mint(1));
}

#[test]
fn an_identity_at_its_cap_does_not_hold_back_the_stores_last_place() {
    // The store is full and knows it (`tight`, nothing expires for a
    // TTL): a consume hands its place to the pool. An identity at its
    // own cap then asks again and again; each answer must leave that
    // place where any mint finds it, not in the shard its drawn lookup
    // happened to pick.
    let clock = ManualClock::new();
    let store = MemoryStore::<u64>::builder()
        .max_outstanding(64)
        .max_per_identity(1)
        .shards(64)
        .clock(clock.clone())
        .build();
    let mut tickets: Vec<Ticket> = (0..64).map(|i| store.mint(i).unwrap()).collect();
    assert_eq!(store.mint(1_000).unwrap_err(), MintError::Full);
    for round in 0..8 {
        let freed = tickets.pop().unwrap();
        store.consume(freed.expose_secret()).unwrap();
        for _ in 0..8 {
            // Identity 0 holds its one ticket: refused, whatever the shard.
            retry_after(store.mint(0));
        }
        let ticket = store
            .mint(2_000 + round)
            .unwrap_or_else(|e| panic!("round {round}: 63 live of 64, yet {e:?}"));
        tickets.push(ticket);
        assert_eq!(store.mint(3_000).unwrap_err(), MintError::Full);
    }
}

/// Live tickets at one instant: every shard locked at once (in order;
/// nothing else holds two).
fn exact_live<I>(store: &MemoryStore<I>) -> usize {
    let states: Vec<_> = store.shared.shards.iter().map(Shard::lock).collect();
    states.iter().map(|state| state.tickets.len()).sum()
}

#[test]
fn both_caps_hold_and_no_place_leaks_under_racing_mints_consumes_and_expiry() {
    // Near the cap, with a cap per identity that refuses often, consumes
    // racing the walks that find the store full, and a clock that moves
    // tickets past their TTL meanwhile. Neither cap is ever exceeded, and
    // once the threads stop the store takes exactly `max` fresh tickets.
    let clock = ManualClock::new();
    let max = 48;
    let store = MemoryStore::<u64>::builder()
        .max_outstanding(max)
        .max_per_identity(3)
        .shards(16)
        .ttl(Duration::from_secs(30))
        .clock(clock.clone())
        .build();
    thread::scope(|s| {
        for t in 0..4u64 {
            let (store, clock) = (&store, &clock);
            s.spawn(move || {
                let mut held = Vec::new();
                for i in 0..4_000u64 {
                    // Eight identities per thread, three places each: the
                    // store's 48 are contended and the identities' caps
                    // bite too.
                    match store.mint(t * 8 + i % 8) {
                        Ok(ticket) => held.push(ticket),
                        Err(MintError::Full | MintError::IdentityFull { .. }) => {}
                        Err(other) => panic!("{other:?}"),
                    }
                    assert!(exact_live(store) <= max);
                    if i % 3 == 0 && !held.is_empty() {
                        // Consumed, or already expired: either way it goes.
                        let ticket = held.swap_remove(i as usize % held.len());
                        let _ = store.consume(ticket.expose_secret());
                    }
                    if t == 0 && i % 200 == 0 {
                        clock.advance(Duration::from_secs(7));
                    }
                }
            });
        }
    });
    // No place is left stranded in a shard: what is not live is minted.
    let live = store.len();
    let mut fresh = 0;
    while store.mint(1_000 + fresh).is_ok() {
        fresh += 1;
    }
    assert_eq!(live + fresh as usize, max, "{live} live, {fresh} fresh");
    clock.advance(Duration::from_secs(31));
    assert!(store.is_empty());
    assert_eq!(footprint(&store).0, 0);
}

#[test]
fn same_instant_consumes_mark_only_their_own_pair_through_sweeps() {
    // A manual clock that never moves: every pair in a shard has one
    // mint time, so `find` tells them apart by lookup half alone. After
    // each consume, in a shuffled order and across sweeps, each shard's
    // unmarked pairs are exactly its map's tickets.
    let (store, _clock) = manual_store(Duration::from_secs(30), 10_000);
    let mut tickets: Vec<(u64, Ticket)> = (0..600).map(|i| (i, store.mint(i).unwrap())).collect();
    // A fixed shuffle: oldest, newest and middle ones in turn.
    let mut order = Vec::new();
    while !tickets.is_empty() {
        order.push(tickets.remove(0));
        if let Some(last) = tickets.pop() {
            order.push(last);
        }
        if !tickets.is_empty() {
            order.push(tickets.remove(tickets.len() / 2));
        }
    }
    let consistent = || {
        for shard in store.shared.shards.iter() {
            let state = shard.lock();
            let marked = state.fifo.iter().filter(|m| m.lookup == CONSUMED).count();
            assert_eq!(marked, state.consumed);
            let unmarked: Vec<_> = state.fifo.iter().filter(|m| m.lookup != CONSUMED).collect();
            assert_eq!(unmarked.len(), state.tickets.len());
            for m in unmarked {
                assert_eq!(state.tickets.get(&m.lookup).map(|s| s.minted), Some(m.at));
            }
        }
    };
    for (n, (identity, ticket)) in order.iter().enumerate() {
        assert_eq!(
            store.consume(ticket.expose_secret()).unwrap().identity,
            *identity
        );
        if n % 37 == 0 {
            consistent();
        }
        // A new ticket at the same instant, consumed at once.
        let fresh = store.mint(1_000_000).unwrap();
        store.consume(fresh.expose_secret()).unwrap();
    }
    consistent();
    assert!(store.is_empty());
    // With nothing live, the sweeps leave each shard fewer than SWEEP_MIN
    // marked pairs.
    for shard in store.shared.shards.iter() {
        assert!(shard.lock().fifo.len() < SWEEP_MIN);
    }
}

#[test]
fn a_full_store_walks_again_once_its_last_ticket_can_expire() {
    // A store of one place, its ticket never consumed: each round, once
    // the previous ticket has expired, three threads race to mint, and
    // exactly one may win. A walk that finds the store full while a
    // racing mint takes the last place behind it must still date the
    // next possible expiry, or no mint ever walks again. Many shards make
    // the walk long enough for that race to come often.
    let clock = ManualClock::new();
    let store = MemoryStore::<u64>::builder()
        .max_outstanding(1)
        .shards(256)
        .ttl(Duration::from_secs(1))
        .clock(clock.clone())
        .build();
    let barrier = std::sync::Barrier::new(3);
    for round in 0..300 {
        clock.advance(Duration::from_secs(2));
        let won = AtomicUsize::new(0);
        thread::scope(|s| {
            for t in 0..3u64 {
                let (store, barrier, won) = (&store, &barrier, &won);
                s.spawn(move || {
                    barrier.wait();
                    // The winner walks away from its ticket; the losers
                    // try again a few times, walking the shards.
                    for _ in 0..20 {
                        if store.mint(t).is_ok() {
                            won.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(won.load(Ordering::Relaxed), 1, "round {round}");
    }
}

/// A key function that panics for one identity as its expired tickets are
/// counted out must not leave the others of the batch counted as live:
/// they could never mint again. The panic still reaches the caller.
#[test]
fn a_panicking_key_function_leaves_no_other_identity_at_its_cap() {
    static PANIC_ON_7: AtomicBool = AtomicBool::new(false);
    let clock = ManualClock::new();
    let store = MemoryStore::<u64>::builder()
        .ttl(Duration::from_secs(30))
        .shards(1)
        .clock(clock.clone())
        .max_per_identity_by(1, |&user: &u64| {
            assert!(
                !(user == 7 && PANIC_ON_7.load(Ordering::SeqCst)),
                "key of 7"
            );
            user
        })
        .build();
    // One shard, so one batch, in mint order: 7 first, then the others.
    for user in [7, 1, 2, 3] {
        store.mint(user).expect("under the caps");
    }
    clock.advance(Duration::from_secs(31));
    PANIC_ON_7.store(true, Ordering::SeqCst);
    let reaping = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.len()));
    assert!(
        reaping.is_err(),
        "the key function's panic reaches the caller"
    );
    PANIC_ON_7.store(false, Ordering::SeqCst);
    for user in [1, 2, 3] {
        store
            .mint(user)
            .expect("counted out despite the panic on 7");
    }
    assert_eq!(store.len(), 3);
}

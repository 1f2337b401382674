use std::sync::atomic::AtomicU8;
use std::thread;

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
    store.shared.expiry.iter().map(|s| s.lock().len()).sum()
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
    assert_eq!(store.shared.tickets.len(), 1);
}

#[test]
fn expired_tickets_are_reclaimed_from_memory() {
    let (store, clock) = manual_store(Duration::from_secs(30), 10_000);
    for i in 0..5_000 {
        store.mint(i).unwrap();
    }
    clock.advance(Duration::from_secs(30) + Duration::from_nanos(1));
    assert_eq!(store.len(), 0);
    assert_eq!(store.shared.tickets.len(), 0);
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
fn concurrent_minting_respects_the_cap() {
    let store = MemoryStore::<u8>::builder().max_outstanding(1_000).build();
    let minted = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..500 {
                    if store.mint(0).is_ok() {
                        minted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(minted.load(Ordering::Relaxed), 1_000);
    assert_eq!(store.len(), 1_000);
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
        assert_eq!(store.shared.expiry.len(), got, "asked for {asked}");
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
fn minted_at_follows_the_tickets_age_on_the_stores_clock() {
    let (store, clock) = manual_store(Duration::from_secs(30), 10);
    let ticket = store.mint(1).unwrap();
    clock.advance(Duration::from_secs(20));
    let redeemed = store.consume(ticket.expose_secret()).unwrap();
    let age = SystemTime::now()
        .duration_since(redeemed.minted_at)
        .expect("in the past");
    assert!(
        age >= Duration::from_secs(20) && age < Duration::from_secs(21),
        "{age:?}"
    );
}

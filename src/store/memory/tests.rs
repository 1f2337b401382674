use std::collections::HashSet;
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
fn round_trip_returns_the_identity() {
    let store = MemoryStore::<String>::new();
    let before = SystemTime::now();
    let ticket = store.mint("alice".to_owned()).unwrap();
    assert_eq!(ticket.ttl(), DEFAULT_TTL);
    let redeemed = store.consume(ticket.expose_secret()).unwrap();
    assert_eq!(redeemed.identity, "alice");
    let skew = redeemed
        .minted_at
        .duration_since(before)
        .unwrap_or_else(|e| e.duration());
    assert!(skew < Duration::from_secs(5), "minted_at off by {skew:?}");
}

#[test]
fn ten_thousand_mints_are_all_unique() {
    let store = MemoryStore::<u32>::builder()
        .max_outstanding(20_000)
        .build();
    let texts: HashSet<String> = (0..10_000)
        .map(|i| store.mint(i).unwrap().expose_secret().to_owned())
        .collect();
    assert_eq!(texts.len(), 10_000);
    assert_eq!(store.len(), 10_000);
}

#[test]
fn replayed_ticket_is_unknown() {
    let store = MemoryStore::<u8>::new();
    let ticket = store.mint(1).unwrap();
    assert!(store.consume(ticket.expose_secret()).is_ok());
    assert!(matches!(
        store.consume(ticket.expose_secret()),
        Err(TicketError::Unknown(_))
    ));
    assert!(store.is_empty());
}

#[test]
fn empty_and_garbage_are_malformed() {
    let store = MemoryStore::<u8>::new();
    let ticket = store.mint(1).unwrap();
    for bad in [
        "",
        "wst_",
        "garbage",
        "wst_!!!!",
        "Bearer abc",
        "\u{0}\u{1}",
    ] {
        assert!(
            matches!(store.consume(bad), Err(TicketError::Malformed(_))),
            "{bad:?}"
        );
    }
    // None of that touched the real ticket.
    assert_eq!(store.consume(ticket.expose_secret()).unwrap().identity, 1);
}

#[test]
fn foreign_ticket_is_unknown() {
    let ours = MemoryStore::<u8>::new();
    let theirs = MemoryStore::<u8>::new();
    let mine = ours.mint(1).unwrap();
    let foreign = theirs.mint(2).unwrap();
    assert!(matches!(
        ours.consume(foreign.expose_secret()),
        Err(TicketError::Unknown(_))
    ));
    assert!(ours.consume(mine.expose_secret()).is_ok());
    assert!(theirs.consume(foreign.expose_secret()).is_ok());
}

/// Flips one bit of the decoded byte at `byte` (0..32) of a ticket's text.
fn tamper(text: &str, byte: usize) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut raw = URL_SAFE_NO_PAD.decode(&text[4..]).unwrap();
    raw[byte] ^= 0x01;
    format!("wst_{}", URL_SAFE_NO_PAD.encode(raw))
}

#[test]
fn wrong_secret_half_burns_the_ticket() {
    let store = MemoryStore::<u8>::new();
    let ticket = store.mint(1).unwrap();
    let forged = tamper(ticket.expose_secret(), 20);
    assert!(matches!(
        store.consume(&forged),
        Err(TicketError::Unknown(_))
    ));
    // Fail closed: the real holder's ticket is gone too.
    assert!(matches!(
        store.consume(ticket.expose_secret()),
        Err(TicketError::Unknown(_))
    ));
    assert!(store.is_empty());
}

#[test]
fn wrong_lookup_half_leaves_the_ticket_alone() {
    let store = MemoryStore::<u8>::new();
    let ticket = store.mint(1).unwrap();
    let forged = tamper(ticket.expose_secret(), 0);
    assert!(matches!(
        store.consume(&forged),
        Err(TicketError::Unknown(_))
    ));
    assert_eq!(store.consume(ticket.expose_secret()).unwrap().identity, 1);
}

#[test]
fn valid_at_exactly_the_ttl_and_not_a_nanosecond_later() {
    let ttl = Duration::from_secs(30);
    let (store, clock) = manual_store(ttl, 10);
    let on_time = store.mint(1).unwrap();
    let late = store.mint(2).unwrap();
    clock.advance(ttl);
    assert_eq!(store.consume(on_time.expose_secret()).unwrap().identity, 1);
    clock.advance(Duration::from_nanos(1));
    assert!(matches!(
        store.consume(late.expose_secret()),
        Err(TicketError::Expired(_))
    ));
    // An expired ticket is gone once presented.
    assert!(matches!(
        store.consume(late.expose_secret()),
        Err(TicketError::Unknown(_))
    ));
    assert!(store.is_empty());
}

#[test]
fn the_cap_holds_and_consuming_frees_a_slot() {
    let (store, _clock) = manual_store(Duration::from_secs(30), 3);
    let tickets: Vec<_> = (0..3).map(|i| store.mint(i).unwrap()).collect();
    assert_eq!(store.mint(9).unwrap_err(), MintError::Full);
    assert_eq!(store.len(), 3);
    store.consume(tickets[1].expose_secret()).unwrap();
    let fourth = store.mint(3).unwrap();
    assert_eq!(store.mint(9).unwrap_err(), MintError::Full);
    assert_eq!(store.consume(fourth.expose_secret()).unwrap().identity, 3);
}

#[test]
fn a_burned_ticket_frees_its_slot() {
    let (store, _clock) = manual_store(Duration::from_secs(30), 1);
    let ticket = store.mint(1).unwrap();
    assert!(store.consume(&tamper(ticket.expose_secret(), 31)).is_err());
    assert!(store.mint(2).is_ok());
}

#[test]
fn expired_tickets_never_count_against_the_cap() {
    let (store, clock) = manual_store(Duration::from_secs(30), 100);
    for i in 0..100 {
        store.mint(i).unwrap();
    }
    assert_eq!(store.mint(100).unwrap_err(), MintError::Full);
    clock.advance(Duration::from_secs(31));
    assert_eq!(store.len(), 0);
    for i in 0..100 {
        store.mint(i).unwrap();
    }
    assert_eq!(store.len(), 100);
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

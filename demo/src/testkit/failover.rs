//! What the failover tests of every Redis topology share: traffic that
//! mints and consumes on two handles of one store while a primary is
//! killed, and what it saw (the longest call, tickets redeemed twice, the
//! last success); and waiting for bridged registries to hear Redis again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tower_ws_ticket::{Revocations, TicketStore};

/// Four tasks minting on one handle and racing both handles to consume
/// each ticket, until [`stop`](Self::stop)ped.
#[derive(Debug)]
pub struct Traffic {
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
    tasks: Vec<JoinHandle<()>>,
}

/// What the traffic saw.
#[derive(Debug)]
struct Seen {
    longest: Mutex<Duration>,
    redeemed: Mutex<HashSet<String>>,
    twice: AtomicUsize,
    last_ok: Mutex<Instant>,
}

/// What the traffic saw, once stopped.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// The longest single call.
    pub longest: Duration,
    /// Tickets redeemed more than once (by both handles, or again later).
    pub twice: usize,
}

impl Traffic {
    /// Starts the traffic on `handles`, two handles onto one store.
    pub fn start<T: TicketStore<Identity = String>>(handles: [T; 2]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Seen {
            longest: Mutex::new(Duration::ZERO),
            redeemed: Mutex::new(HashSet::new()),
            twice: AtomicUsize::new(0),
            last_ok: Mutex::new(Instant::now()),
        });
        let tasks = (0..4)
            .map(|task| {
                let minter = handles[task % 2].clone();
                let consumer = handles[(task + 1) % 2].clone();
                let (stop, seen) = (stop.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        n += 1;
                        let started = Instant::now();
                        let minted = minter.mint_ticket(format!("t{task}-{n}"), None).await;
                        seen.note(started.elapsed());
                        let Ok(ticket) = minted else {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        // Both handles race for the ticket: at most one may win.
                        let text = ticket.expose_secret().to_owned();
                        let (first, second) = tokio::join!(
                            consumer.consume_ticket(&text, None),
                            minter.consume_ticket(&text, None)
                        );
                        // Two calls at once: each had its own bound.
                        seen.note(started.elapsed() / 2);
                        let wins = usize::from(first.is_ok()) + usize::from(second.is_ok());
                        let again = wins == 1 && !lock(&seen.redeemed).insert(text);
                        if wins > 1 || again {
                            seen.twice.fetch_add(1, Ordering::Relaxed);
                        }
                        if wins == 1 {
                            *lock(&seen.last_ok) = Instant::now();
                        }
                    }
                })
            })
            .collect();
        Self { stop, seen, tasks }
    }

    /// Waits until a ticket is redeemed after `since`; returns how long
    /// after it.
    ///
    /// # Panics
    ///
    /// When none is within `within` of `since`.
    pub async fn until_redeemed_after(&self, since: Instant, within: Duration) -> Duration {
        let deadline = since + within;
        loop {
            let last_ok = *lock(&self.seen.last_ok);
            if last_ok > since {
                return last_ok - since;
            }
            assert!(
                Instant::now() < deadline,
                "no redemption within {within:?} of the promotion"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the traffic and says what it saw.
    ///
    /// # Panics
    ///
    /// When a task panicked.
    pub async fn stop(self) -> Report {
        self.stop.store(true, Ordering::Release);
        for task in self.tasks {
            task.await.expect("traffic task");
        }
        Report {
            longest: *lock(&self.seen.longest),
            twice: self.seen.twice.load(Ordering::Relaxed),
        }
    }
}

impl Seen {
    /// Keeps the longest of the durations noted.
    fn note(&self, took: Duration) {
        let mut longest = lock(&self.longest);
        *longest = (*longest).max(took);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits until every registry hears Redis again.
///
/// # Panics
///
/// When one does not within `within`.
pub async fn until_available<K>(registries: &[&Revocations<K>], within: Duration)
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    let deadline = Instant::now() + within;
    for registry in registries {
        while !registry.is_available() {
            assert!(Instant::now() < deadline, "a registry did not come back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

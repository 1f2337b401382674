//! One conformance suite for every [`TicketStore`]: what the crate
//! promises of a store, checked the same way against each backend.
//!
//! A test file names a [`Backend`] (how to build a fresh store to a
//! [`Spec`], and how to let time pass for it) and calls
//! [`store_suite!`](crate::store_suite), which expands to one `#[tokio::test]`
//! per rule. A new backend gets every check by writing one `Backend`.
//!
//! Identities are `String`s, which every store can keep (Redis serialises
//! them).
#![allow(dead_code, reason = "each test file uses the backends it runs")]

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use tower_ws_ticket::{
    Audience, ManualClock, MemoryStore, MintError, Redeemed, Ticket, TicketError, TicketStore,
};

/// What a test asks of a fresh store.
#[derive(Clone, Debug)]
pub struct Spec {
    pub ttl: Duration,
    /// `None`: the backend's default (which may be uncapped).
    pub max_outstanding: Option<usize>,
    /// The cap on one identity's live tickets; `None`: no cap.
    pub max_per_identity: Option<usize>,
    /// The clock a store that takes one is built with; [`Backend::elapse`]
    /// advances it.
    pub clock: ManualClock,
}

impl Spec {
    pub fn new() -> Self {
        Self {
            ttl: Duration::from_secs(30),
            max_outstanding: None,
            max_per_identity: None,
            clock: ManualClock::new(),
        }
    }

    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn max_outstanding(mut self, max: usize) -> Self {
        self.max_outstanding = Some(max);
        self
    }

    pub fn max_per_identity(mut self, max: usize) -> Self {
        self.max_per_identity = Some(max);
        self
    }
}

/// A store implementation under test.
pub trait Backend: Send + Sync + 'static {
    type Store: TicketStore<Identity = String>;

    /// Whether stores follow [`Spec::clock`] (so TTL boundaries can be hit
    /// to the nanosecond); otherwise the suite checks expiry in real time.
    const FOLLOWS_CLOCK: bool;

    /// The shortest TTL the backend keeps faithfully in real time.
    const SHORT_TTL: Duration;

    /// A fresh, empty store built to `spec`.
    fn build(&self, spec: &Spec) -> impl Future<Output = Self::Store> + Send;

    /// Lets `by` pass for a store built to `spec`: advances the manual
    /// clock, or sleeps.
    fn elapse(&self, spec: &Spec, by: Duration) -> impl Future<Output = ()> + Send {
        let clock = spec.clock.clone();
        async move {
            if Self::FOLLOWS_CLOCK {
                clock.advance(by);
            } else {
                tokio::time::sleep(by).await;
            }
        }
    }
}

fn who(n: usize) -> String {
    format!("user-{n}")
}

async fn mint<S: TicketStore<Identity = String>>(store: &S, identity: &str) -> Ticket {
    mint_for(store, identity, None).await
}

async fn mint_for<S: TicketStore<Identity = String>>(
    store: &S,
    identity: &str,
    audience: Option<&Audience>,
) -> Ticket {
    store
        .mint_ticket(identity.to_owned(), audience)
        .await
        .unwrap_or_else(|err| panic!("mint for {identity}: {err}"))
}

/// What a consume answers, for the ticket text `presented`.
async fn consume<S: TicketStore<Identity = String>>(
    store: &S,
    presented: &str,
    audience: Option<&Audience>,
) -> Result<Redeemed<String>, TicketError> {
    store.consume_ticket(presented, audience).await
}

/// How long a refused mint says to wait; panics unless the identity was
/// full.
fn identity_full(outcome: Result<Ticket, MintError>) -> Duration {
    match outcome {
        Err(MintError::IdentityFull { retry_after }) => retry_after,
        other => panic!("expected IdentityFull, got {other:?}"),
    }
}

fn page() -> Audience {
    Audience::new("suite-page")
}

fn admin() -> Audience {
    Audience::new("suite-admin")
}

/// `ticket`'s text with one character of its secret half changed.
fn with_wrong_secret(ticket: &Ticket) -> String {
    let mut text = ticket.expose_secret().to_owned();
    let at = text.len() - 5;
    let replacement = if &text[at..=at] == "A" { "B" } else { "A" };
    text.replace_range(at..=at, replacement);
    text
}

/// `ticket`'s text with one character of its lookup half changed.
fn with_wrong_lookup(ticket: &Ticket) -> String {
    let mut text = ticket.expose_secret().to_owned();
    let at = "wst_".len() + 2;
    let replacement = if &text[at..=at] == "A" { "B" } else { "A" };
    text.replace_range(at..=at, replacement);
    text
}

fn is_refusal(outcome: &Result<Redeemed<String>, TicketError>) -> bool {
    matches!(
        outcome,
        Err(TicketError::Unknown(_) | TicketError::Expired(_))
    )
}

pub async fn round_trip_returns_the_identity_and_mint_time<B: Backend>(backend: B) {
    let spec = Spec::new();
    let store = backend.build(&spec).await;
    let before = SystemTime::now();
    let ticket = mint(&store, "alice").await;
    assert!(ticket.expose_secret().starts_with("wst_"));
    assert_eq!(ticket.ttl(), spec.ttl);
    assert_eq!(store.ttl(), spec.ttl);
    let redeemed = store
        .consume_ticket(ticket.expose_secret(), None)
        .await
        .expect("a fresh ticket is consumed");
    assert_eq!(redeemed.identity, "alice");
    // Never in the future, so a caller's `now - minted_at` always works; and
    // close to the real mint time (a millisecond of rounding allowed).
    let age = SystemTime::now()
        .duration_since(redeemed.minted_at)
        .expect("minted_at is not in the future");
    assert!(age < Duration::from_secs(5), "minted {age:?} ago");
    assert!(redeemed.minted_at + Duration::from_millis(1) >= before);
}

pub async fn every_ticket_is_distinct<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    let mut seen = HashSet::new();
    for n in 0..500 {
        let ticket = mint(&store, &who(n)).await;
        assert!(seen.insert(ticket.expose_secret().to_owned()));
    }
}

pub async fn a_ticket_is_single_use<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    let ticket = mint(&store, "alice").await;
    store
        .consume_ticket(ticket.expose_secret(), None)
        .await
        .expect("first use");
    let replay = store.consume_ticket(ticket.expose_secret(), None).await;
    assert!(matches!(replay, Err(TicketError::Unknown(_))), "{replay:?}");
}

pub async fn concurrent_consumers_get_each_ticket_once<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    let tickets: Vec<Ticket> = futures_join(200, |n| {
        let store = store.clone();
        async move { mint(&store, &who(n)).await }
    })
    .await;
    let won = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let tickets = tickets.clone();
        let won = Arc::clone(&won);
        tasks.push(tokio::spawn(async move {
            for ticket in &tickets {
                if store
                    .consume_ticket(ticket.expose_secret(), None)
                    .await
                    .is_ok()
                {
                    won.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("consumer task");
    }
    assert_eq!(won.load(Ordering::SeqCst), tickets.len());
}

pub async fn malformed_text_is_refused_and_burns_nothing<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    let ticket = mint(&store, "alice").await;
    let text = ticket.expose_secret();
    for bad in [
        String::new(),
        "wst_".to_owned(),
        "wst_short".to_owned(),
        format!("{text}A"),
        text[..text.len() - 1].to_owned(),
        text.replacen("wst_", "wsi_", 1),
        text.replacen("wst_", "WST_", 1),
        format!("{}+", &text[..text.len() - 1]),
        "Bearer abc".to_owned(),
        "\u{0}\u{1}".to_owned(),
    ] {
        let outcome = store.consume_ticket(&bad, None).await;
        assert!(
            matches!(outcome, Err(TicketError::Malformed(_))),
            "{bad:?}: {outcome:?}"
        );
    }
    assert!(store.consume_ticket(text, None).await.is_ok());
}

pub async fn a_wrong_secret_burns_the_ticket<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    let ticket = mint(&store, "alice").await;
    let forged = store
        .consume_ticket(&with_wrong_secret(&ticket), None)
        .await;
    assert!(matches!(forged, Err(TicketError::Unknown(_))), "{forged:?}");
    // Fail closed: the real holder's ticket is gone as well.
    let real = store.consume_ticket(ticket.expose_secret(), None).await;
    assert!(matches!(real, Err(TicketError::Unknown(_))), "{real:?}");
}

pub async fn a_wrong_lookup_half_leaves_the_ticket_alone<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    let ticket = mint(&store, "alice").await;
    let stray = store
        .consume_ticket(&with_wrong_lookup(&ticket), None)
        .await;
    assert!(matches!(stray, Err(TicketError::Unknown(_))), "{stray:?}");
    assert!(
        store
            .consume_ticket(ticket.expose_secret(), None)
            .await
            .is_ok()
    );
}

pub async fn another_stores_ticket_is_unknown<B: Backend>(backend: B) {
    let ours = backend.build(&Spec::new()).await;
    let theirs = backend.build(&Spec::new()).await;
    let mine = mint(&ours, "alice").await;
    let foreign = mint(&theirs, "mallory").await;
    let outcome = ours.consume_ticket(foreign.expose_secret(), None).await;
    assert!(
        matches!(outcome, Err(TicketError::Unknown(_))),
        "{outcome:?}"
    );
    assert!(
        ours.consume_ticket(mine.expose_secret(), None)
            .await
            .is_ok()
    );
    assert!(
        theirs
            .consume_ticket(foreign.expose_secret(), None)
            .await
            .is_ok()
    );
}

pub async fn valid_until_the_ttl_and_not_after<B: Backend>(backend: B) {
    if B::FOLLOWS_CLOCK {
        // To the nanosecond: valid at exactly minted + ttl, not one later.
        let spec = Spec::new();
        let store = backend.build(&spec).await;
        let at_boundary = mint(&store, "alice").await;
        let past_boundary = mint(&store, "bob").await;
        backend.elapse(&spec, spec.ttl).await;
        assert!(
            store
                .consume_ticket(at_boundary.expose_secret(), None)
                .await
                .is_ok()
        );
        backend.elapse(&spec, Duration::from_nanos(1)).await;
        let late = store
            .consume_ticket(past_boundary.expose_secret(), None)
            .await;
        assert!(is_refusal(&late), "{late:?}");
    } else {
        let spec = Spec::new().ttl(B::SHORT_TTL);
        let store = backend.build(&spec).await;
        let early = mint(&store, "alice").await;
        let late = mint(&store, "bob").await;
        assert!(
            store
                .consume_ticket(early.expose_secret(), None)
                .await
                .is_ok()
        );
        backend.elapse(&spec, B::SHORT_TTL * 3).await;
        let outcome = store.consume_ticket(late.expose_secret(), None).await;
        assert!(is_refusal(&outcome), "{outcome:?}");
    }
}

pub async fn the_cap_is_hard_and_consuming_frees_a_place<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new().max_outstanding(3)).await;
    let first = mint(&store, "a").await;
    mint(&store, "b").await;
    let third = mint(&store, "c").await;
    let full = store.mint_ticket("d".to_owned(), None).await;
    assert!(matches!(full, Err(MintError::Full)), "{full:?}");
    store
        .consume_ticket(first.expose_secret(), None)
        .await
        .expect("consume");
    mint(&store, "d").await;
    // A burned ticket frees its place too.
    let _ = store.consume_ticket(&with_wrong_secret(&third), None).await;
    mint(&store, "e").await;
    let full = store.mint_ticket("f".to_owned(), None).await;
    assert!(matches!(full, Err(MintError::Full)), "{full:?}");
}

pub async fn expired_tickets_never_count_against_the_cap<B: Backend>(backend: B) {
    let spec = Spec::new().ttl(B::SHORT_TTL).max_outstanding(2);
    let store = backend.build(&spec).await;
    mint(&store, "a").await;
    mint(&store, "b").await;
    let full = store.mint_ticket("c".to_owned(), None).await;
    assert!(matches!(full, Err(MintError::Full)), "{full:?}");
    backend.elapse(&spec, B::SHORT_TTL * 3).await;
    mint(&store, "c").await;
    mint(&store, "d").await;
}

pub async fn concurrent_mints_never_pass_the_cap<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new().max_outstanding(50)).await;
    let minted = futures_join(8, |task| {
        let store = store.clone();
        async move {
            let mut ok = 0;
            for n in 0..20 {
                if store.mint_ticket(who(task * 100 + n), None).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        }
    })
    .await;
    assert_eq!(minted.iter().sum::<usize>(), 50);
}

pub async fn an_audience_round_trips<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    let ticket = mint_for(&store, "alice", Some(&admin())).await;
    let redeemed = consume(&store, ticket.expose_secret(), Some(&admin()))
        .await
        .expect("consumed for its own audience");
    assert_eq!(redeemed.identity, "alice");
    let replay = consume(&store, ticket.expose_secret(), Some(&admin())).await;
    assert!(matches!(replay, Err(TicketError::Unknown(_))), "{replay:?}");
}

/// Minted for `minted`, consumed for `asked`: refused as the wrong
/// audience, then gone for its own audience too.
async fn refused_and_burned<S: TicketStore<Identity = String>>(
    store: &S,
    minted: Option<&Audience>,
    asked: Option<&Audience>,
) {
    let ticket = mint_for(store, "alice", minted).await;
    let refused = consume(store, ticket.expose_secret(), asked).await;
    assert!(
        matches!(refused, Err(TicketError::WrongAudience(_))),
        "minted for {minted:?}, asked for {asked:?}: {refused:?}"
    );
    // The message names no audience.
    let text = refused.unwrap_err().to_string();
    assert!(!text.contains("suite-"), "{text}");
    let burned = consume(store, ticket.expose_secret(), minted).await;
    assert!(
        matches!(burned, Err(TicketError::Unknown(_))),
        "minted for {minted:?}: {burned:?}"
    );
}

pub async fn a_ticket_of_another_audience_is_refused_and_burned<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    refused_and_burned(&store, Some(&page()), Some(&admin())).await;
    refused_and_burned(&store, Some(&admin()), Some(&page())).await;
    // A wrong secret half is unknown, whatever the audience.
    let ticket = mint_for(&store, "alice", Some(&admin())).await;
    let forged = consume(&store, &with_wrong_secret(&ticket), Some(&page())).await;
    assert!(matches!(forged, Err(TicketError::Unknown(_))), "{forged:?}");
}

pub async fn a_ticket_without_an_audience_is_refused_where_one_is_asked_for<B: Backend>(
    backend: B,
) {
    let store = backend.build(&Spec::new()).await;
    refused_and_burned(&store, None, Some(&admin())).await;
}

pub async fn a_ticket_with_an_audience_is_refused_where_none_is_asked_for<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    refused_and_burned(&store, Some(&admin()), None).await;
}

pub async fn the_cap_per_identity_is_hard_and_per_identity<B: Backend>(backend: B) {
    let spec = Spec::new().max_per_identity(2);
    let store = backend.build(&spec).await;
    mint(&store, "alice").await;
    mint_for(&store, "alice", Some(&admin())).await;
    let wait = identity_full(store.mint_ticket("alice".to_owned(), None).await);
    // What is left of the oldest ticket's TTL (a real-time backend may have
    // let a little pass).
    assert!(wait <= spec.ttl, "{wait:?}");
    assert!(wait + Duration::from_secs(5) > spec.ttl, "{wait:?}");
    identity_full(store.mint_ticket("alice".to_owned(), Some(&page())).await);
    // Other identities are not held back.
    mint(&store, "bob").await;
    mint(&store, "bob").await;
    identity_full(store.mint_ticket("bob".to_owned(), None).await);
    mint(&store, "carol").await;
}

pub async fn retry_after_counts_down_from_the_oldest_live_ticket<B: Backend>(backend: B) {
    let spec = Spec::new().max_per_identity(2);
    let store = backend.build(&spec).await;
    let oldest = mint(&store, "alice").await;
    let step = if B::FOLLOWS_CLOCK {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(300)
    };
    backend.elapse(&spec, step).await;
    mint(&store, "alice").await;
    let wait = identity_full(store.mint_ticket("alice".to_owned(), None).await);
    if B::FOLLOWS_CLOCK {
        assert_eq!(wait, spec.ttl - step);
    } else {
        assert!(wait <= spec.ttl - step, "{wait:?}");
        assert!(wait + Duration::from_secs(2) > spec.ttl - step, "{wait:?}");
    }
    // Consumed, the oldest no longer counts (nor does whatever the store
    // kept of it): the younger one is oldest.
    consume(&store, oldest.expose_secret(), None)
        .await
        .expect("consume");
    mint(&store, "alice").await;
    backend.elapse(&spec, step / 4).await;
    let wait = identity_full(store.mint_ticket("alice".to_owned(), None).await);
    if B::FOLLOWS_CLOCK {
        assert_eq!(wait, spec.ttl - step / 4);
    } else {
        assert!(wait > spec.ttl - step - Duration::from_secs(2), "{wait:?}");
        assert!(wait <= spec.ttl, "{wait:?}");
    }
}

pub async fn consumed_and_burned_tickets_free_an_identity_place<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new().max_per_identity(1)).await;
    let ticket = mint(&store, "alice").await;
    identity_full(store.mint_ticket("alice".to_owned(), None).await);
    consume(&store, ticket.expose_secret(), None)
        .await
        .expect("consume");
    // Burned by a wrong secret.
    let ticket = mint(&store, "alice").await;
    let _ = consume(&store, &with_wrong_secret(&ticket), None).await;
    // Burned by a wrong audience.
    let ticket = mint_for(&store, "alice", Some(&admin())).await;
    identity_full(store.mint_ticket("alice".to_owned(), None).await);
    let refused = consume(&store, ticket.expose_secret(), Some(&page())).await;
    assert!(matches!(refused, Err(TicketError::WrongAudience(_))));
    mint(&store, "alice").await;
}

pub async fn expired_tickets_free_an_identity_place<B: Backend>(backend: B) {
    let spec = Spec::new().ttl(B::SHORT_TTL).max_per_identity(2);
    let store = backend.build(&spec).await;
    mint(&store, "alice").await;
    mint(&store, "alice").await;
    identity_full(store.mint_ticket("alice".to_owned(), None).await);
    backend.elapse(&spec, B::SHORT_TTL * 3).await;
    mint(&store, "alice").await;
    mint(&store, "alice").await;
    identity_full(store.mint_ticket("alice".to_owned(), None).await);
}

pub async fn the_store_cap_still_applies_under_a_cap_per_identity<B: Backend>(backend: B) {
    let spec = Spec::new().max_outstanding(3).max_per_identity(2);
    let store = backend.build(&spec).await;
    mint(&store, "alice").await;
    mint(&store, "alice").await;
    identity_full(store.mint_ticket("alice".to_owned(), None).await);
    let bob = mint(&store, "bob").await;
    let full = store.mint_ticket("carol".to_owned(), None).await;
    assert!(matches!(full, Err(MintError::Full)), "{full:?}");
    consume(&store, bob.expose_secret(), None)
        .await
        .expect("consume");
    mint(&store, "carol").await;
}

pub async fn concurrent_mints_for_one_identity_never_exceed_its_cap<B: Backend>(backend: B) {
    const CAP: usize = 5;
    let store = backend.build(&Spec::new().max_per_identity(CAP)).await;
    // Minting only: exactly the cap succeeds, however the tasks interleave.
    let minted = futures_join(8, |_| {
        let store = store.clone();
        async move {
            let mut ok = Vec::new();
            for _ in 0..10 {
                match store.mint_ticket("alice".to_owned(), None).await {
                    Ok(ticket) => ok.push(ticket),
                    Err(MintError::IdentityFull { .. }) => {}
                    Err(err) => panic!("{err}"),
                }
            }
            ok
        }
    })
    .await;
    let held: Vec<Ticket> = minted.into_iter().flatten().collect();
    assert_eq!(held.len(), CAP);
    for ticket in &held {
        consume(&store, ticket.expose_secret(), None)
            .await
            .expect("consume");
    }
    // Minting and consuming: never more than the cap live at once.
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    futures_join(8, |task| {
        let (store, live, peak) = (store.clone(), Arc::clone(&live), Arc::clone(&peak));
        async move {
            let mut held = Vec::new();
            for n in 0..60 {
                if (n + task) % 3 == 0 {
                    if let Some(ticket) = held.pop() {
                        let ticket: Ticket = ticket;
                        live.fetch_sub(1, Ordering::SeqCst);
                        consume(&store, ticket.expose_secret(), None)
                            .await
                            .expect("consume");
                    }
                } else if let Ok(ticket) = store.mint_ticket("alice".to_owned(), None).await {
                    let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    held.push(ticket);
                }
            }
            for ticket in held {
                live.fetch_sub(1, Ordering::SeqCst);
                consume(&store, ticket.expose_secret(), None)
                    .await
                    .expect("consume");
            }
        }
    })
    .await;
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= CAP, "{peak} live at once");
    assert!(peak > 0);
}

/// Runs `make(0..n)` as tasks at once and collects their outputs in order.
async fn futures_join<T, F>(n: usize, make: impl Fn(usize) -> F) -> Vec<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(make(i))).collect();
    let mut out = Vec::with_capacity(n);
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

/// Expands to one `#[tokio::test]` per rule of the suite, each building its
/// stores with `$backend` (an expression, evaluated once per test).
///
/// `store_suite!(in_one_test name, $backend)` expands to one test instead,
/// `name`, that runs every rule in turn on one backend (`Clone`): for a
/// backend that is costly to start, such as a group of Redis processes.
#[macro_export]
macro_rules! store_suite {
    (in_one_test $name:ident, $backend:expr) => {
        $crate::store_suite!(@rules @one $name, $backend);
    };
    ($backend:expr) => {
        $crate::store_suite!(@rules @tests $backend);
    };
    (@rules @$kind:ident $($head:tt)*) => {
        $crate::store_suite!(@$kind $($head)*;
            round_trip_returns_the_identity_and_mint_time,
            every_ticket_is_distinct,
            a_ticket_is_single_use,
            concurrent_consumers_get_each_ticket_once,
            malformed_text_is_refused_and_burns_nothing,
            a_wrong_secret_burns_the_ticket,
            a_wrong_lookup_half_leaves_the_ticket_alone,
            another_stores_ticket_is_unknown,
            valid_until_the_ttl_and_not_after,
            the_cap_is_hard_and_consuming_frees_a_place,
            expired_tickets_never_count_against_the_cap,
            concurrent_mints_never_pass_the_cap,
            an_audience_round_trips,
            a_ticket_of_another_audience_is_refused_and_burned,
            a_ticket_without_an_audience_is_refused_where_one_is_asked_for,
            a_ticket_with_an_audience_is_refused_where_none_is_asked_for,
            the_cap_per_identity_is_hard_and_per_identity,
            retry_after_counts_down_from_the_oldest_live_ticket,
            consumed_and_burned_tickets_free_an_identity_place,
            expired_tickets_free_an_identity_place,
            the_store_cap_still_applies_under_a_cap_per_identity,
            concurrent_mints_for_one_identity_never_exceed_its_cap,
        );
    };
    (@one $name:ident, $backend:expr; $($rule:ident),* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let backend = $backend;
            $(
                $crate::store_suite::$rule(::std::clone::Clone::clone(&backend)).await;
            )*
        }
    };
    (@tests $backend:expr; $($rule:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $rule() {
                $crate::store_suite::$rule($backend).await;
            }
        )*
    };
}

/// [`MemoryStore`], on the suite's manual clock.
pub struct Memory;

impl Backend for Memory {
    type Store = MemoryStore<String>;
    const FOLLOWS_CLOCK: bool = true;
    const SHORT_TTL: Duration = Duration::from_secs(1);

    fn build(&self, spec: &Spec) -> impl Future<Output = Self::Store> + Send {
        let mut builder = MemoryStore::builder()
            .ttl(spec.ttl)
            .clock(spec.clock.clone());
        if let Some(max) = spec.max_outstanding {
            builder = builder.max_outstanding(max);
        }
        if let Some(max) = spec.max_per_identity {
            builder = builder.max_per_identity(max);
        }
        std::future::ready(builder.build())
    }
}

/// A store whose every answer comes a poll late: the memory store behind a
/// future that is pending once. It stands for a networked store (the
/// layer's waiting path), and shows the suite holds for one.
#[derive(Clone)]
pub struct LateStore(pub MemoryStore<String>);

/// A future that is pending on its first poll (waking itself), then ready.
pub struct Late<T> {
    value: Option<T>,
    polled: bool,
}

impl<T> Late<T> {
    pub fn new(value: T) -> Self {
        Self {
            value: Some(value),
            polled: false,
        }
    }
}

impl<T: Unpin> Future for Late<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if !self.polled {
            self.polled = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.value.take().expect("Late polled after completion"))
    }
}

impl TicketStore for LateStore {
    type Identity = String;
    type MintFuture = Late<Result<Ticket, MintError>>;
    type ConsumeFuture = Late<Result<Redeemed<String>, TicketError>>;

    fn mint_ticket(&self, identity: String, audience: Option<&Audience>) -> Self::MintFuture {
        Late::new(self.0.mint_ticket(identity, audience).into_inner())
    }

    fn consume_ticket(&self, presented: &str, audience: Option<&Audience>) -> Self::ConsumeFuture {
        Late::new(self.0.consume_ticket(presented, audience).into_inner())
    }

    fn ttl(&self) -> Duration {
        self.0.ttl()
    }
}

/// [`LateStore`], on the suite's manual clock.
pub struct LateMemory;

impl Backend for LateMemory {
    type Store = LateStore;
    const FOLLOWS_CLOCK: bool = true;
    const SHORT_TTL: Duration = Duration::from_secs(1);

    fn build(&self, spec: &Spec) -> impl Future<Output = Self::Store> + Send {
        let store = Memory.build(spec);
        async move { LateStore(store.await) }
    }
}

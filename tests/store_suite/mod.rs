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
    ManualClock, MemoryStore, MintError, Redeemed, Ticket, TicketError, TicketStore,
};

/// What a test asks of a fresh store.
#[derive(Clone, Debug)]
pub struct Spec {
    pub ttl: Duration,
    /// `None`: the backend's default (which may be uncapped).
    pub max_outstanding: Option<usize>,
    /// The clock a store that takes one is built with; [`Backend::elapse`]
    /// advances it.
    pub clock: ManualClock,
}

impl Spec {
    pub fn new() -> Self {
        Self {
            ttl: Duration::from_secs(30),
            max_outstanding: None,
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
    store
        .mint_ticket(identity.to_owned())
        .await
        .unwrap_or_else(|err| panic!("mint for {identity}: {err}"))
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
        .consume_ticket(ticket.expose_secret())
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
        .consume_ticket(ticket.expose_secret())
        .await
        .expect("first use");
    let replay = store.consume_ticket(ticket.expose_secret()).await;
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
                if store.consume_ticket(ticket.expose_secret()).await.is_ok() {
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
        let outcome = store.consume_ticket(&bad).await;
        assert!(
            matches!(outcome, Err(TicketError::Malformed(_))),
            "{bad:?}: {outcome:?}"
        );
    }
    assert!(store.consume_ticket(text).await.is_ok());
}

pub async fn a_wrong_secret_burns_the_ticket<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    let ticket = mint(&store, "alice").await;
    let forged = store.consume_ticket(&with_wrong_secret(&ticket)).await;
    assert!(matches!(forged, Err(TicketError::Unknown(_))), "{forged:?}");
    // Fail closed: the real holder's ticket is gone as well.
    let real = store.consume_ticket(ticket.expose_secret()).await;
    assert!(matches!(real, Err(TicketError::Unknown(_))), "{real:?}");
}

pub async fn a_wrong_lookup_half_leaves_the_ticket_alone<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new()).await;
    let ticket = mint(&store, "alice").await;
    let stray = store.consume_ticket(&with_wrong_lookup(&ticket)).await;
    assert!(matches!(stray, Err(TicketError::Unknown(_))), "{stray:?}");
    assert!(store.consume_ticket(ticket.expose_secret()).await.is_ok());
}

pub async fn another_stores_ticket_is_unknown<B: Backend>(backend: B) {
    let ours = backend.build(&Spec::new()).await;
    let theirs = backend.build(&Spec::new()).await;
    let mine = mint(&ours, "alice").await;
    let foreign = mint(&theirs, "mallory").await;
    let outcome = ours.consume_ticket(foreign.expose_secret()).await;
    assert!(
        matches!(outcome, Err(TicketError::Unknown(_))),
        "{outcome:?}"
    );
    assert!(ours.consume_ticket(mine.expose_secret()).await.is_ok());
    assert!(theirs.consume_ticket(foreign.expose_secret()).await.is_ok());
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
                .consume_ticket(at_boundary.expose_secret())
                .await
                .is_ok()
        );
        backend.elapse(&spec, Duration::from_nanos(1)).await;
        let late = store.consume_ticket(past_boundary.expose_secret()).await;
        assert!(is_refusal(&late), "{late:?}");
    } else {
        let spec = Spec::new().ttl(B::SHORT_TTL);
        let store = backend.build(&spec).await;
        let early = mint(&store, "alice").await;
        let late = mint(&store, "bob").await;
        assert!(store.consume_ticket(early.expose_secret()).await.is_ok());
        backend.elapse(&spec, B::SHORT_TTL * 3).await;
        let outcome = store.consume_ticket(late.expose_secret()).await;
        assert!(is_refusal(&outcome), "{outcome:?}");
    }
}

pub async fn the_cap_is_hard_and_consuming_frees_a_place<B: Backend>(backend: B) {
    let store = backend.build(&Spec::new().max_outstanding(3)).await;
    let first = mint(&store, "a").await;
    mint(&store, "b").await;
    let third = mint(&store, "c").await;
    let full = store.mint_ticket("d".to_owned()).await;
    assert!(matches!(full, Err(MintError::Full)), "{full:?}");
    store
        .consume_ticket(first.expose_secret())
        .await
        .expect("consume");
    mint(&store, "d").await;
    // A burned ticket frees its place too.
    let _ = store.consume_ticket(&with_wrong_secret(&third)).await;
    mint(&store, "e").await;
    let full = store.mint_ticket("f".to_owned()).await;
    assert!(matches!(full, Err(MintError::Full)), "{full:?}");
}

pub async fn expired_tickets_never_count_against_the_cap<B: Backend>(backend: B) {
    let spec = Spec::new().ttl(B::SHORT_TTL).max_outstanding(2);
    let store = backend.build(&spec).await;
    mint(&store, "a").await;
    mint(&store, "b").await;
    let full = store.mint_ticket("c".to_owned()).await;
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
                if store.mint_ticket(who(task * 100 + n)).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        }
    })
    .await;
    assert_eq!(minted.iter().sum::<usize>(), 50);
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
#[macro_export]
macro_rules! store_suite {
    ($backend:expr) => {
        $crate::store_suite!(@tests $backend;
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
        );
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

    fn mint_ticket(&self, identity: String) -> Self::MintFuture {
        Late::new(self.0.mint(identity))
    }

    fn consume_ticket(&self, presented: &str) -> Self::ConsumeFuture {
        Late::new(self.0.consume(presented))
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

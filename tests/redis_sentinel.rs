//! The Redis store and the revocation bridge through Redis Sentinel
//! (feature `redis`): one primary, one replica and three sentinels,
//! started by each test on loopback ports (`SentinelGroup` in the demo
//! crate's testkit), and a primary killed with SIGKILL mid-traffic.

mod store_suite;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tower_ws_ticket::{Audience, MintError, RedisStore, Revocations, TicketError};
use tower_ws_ticket_demo::testkit::failover::{Report, Traffic, until_available};
use tower_ws_ticket_demo::testkit::redis_server::{SENTINEL_SERVICE, SentinelGroup};
use tower_ws_ticket_demo::testkit::{self as support};

use support::revocation::{SIGNED_OUT, User, app, close_code, open, socket_url, ticket};

/// The bound on each call in these tests.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How late a call may end past its bound: a timer fires on time, but on
/// a loaded test machine the task that reads it may run late.
const SLACK: Duration = Duration::from_millis(500);

async fn store<I>(group: &SentinelGroup, prefix: &str) -> RedisStore<I> {
    RedisStore::builder()
        .key_prefix(prefix)
        .timeout(TIMEOUT)
        .connect_sentinel(group.sentinel_urls(), SENTINEL_SERVICE)
        .await
        .expect("the store finds the primary")
}

/// The conformance suite's backend: stores on one sentinel group, each
/// under a key prefix of its own.
#[derive(Clone)]
struct Sentinel {
    group: Arc<SentinelGroup>,
    stores: Arc<AtomicU32>,
}

impl store_suite::Backend for Sentinel {
    type Store = RedisStore<String>;
    const FOLLOWS_CLOCK: bool = false;
    const SHORT_TTL: Duration = Duration::from_millis(200);

    fn build(&self, spec: &store_suite::Spec) -> impl Future<Output = Self::Store> + Send {
        let n = self.stores.fetch_add(1, Ordering::Relaxed);
        let mut builder = RedisStore::builder()
            .ttl(spec.ttl)
            .timeout(TIMEOUT)
            .key_prefix(format!("suite{n}:"));
        if let Some(max) = spec.max_outstanding {
            builder = builder.max_outstanding(max);
        }
        if let Some(max) = spec.max_per_identity {
            builder = builder.max_per_identity(max);
        }
        let sentinels = self.group.sentinel_urls();
        async move {
            builder
                .connect_sentinel(sentinels, SENTINEL_SERVICE)
                .await
                .expect("the store finds the primary")
        }
    }
}

crate::store_suite!(
    in_one_test the_store_suite_through_sentinel,
    Sentinel {
        group: Arc::new(SentinelGroup::start()),
        stores: Arc::new(AtomicU32::new(0)),
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_redeem_each_ticket_once_and_share_caps_and_audiences() {
    const TICKETS: usize = 500;
    let group = SentinelGroup::start();
    let nodes = [
        store::<String>(&group, "race:").await,
        store::<String>(&group, "race:").await,
    ];
    let mut tickets = Vec::with_capacity(TICKETS);
    for i in 0..TICKETS {
        let ticket = nodes[i % 2].mint(format!("user-{i}")).await.expect("mint");
        tickets.push(ticket.expose_secret().to_owned());
    }
    let tickets = Arc::new(tickets);
    let wins: Arc<Vec<AtomicU32>> = Arc::new((0..TICKETS).map(|_| AtomicU32::new(0)).collect());
    let mut tasks = Vec::new();
    for task in 0..8 {
        let (node, tickets, wins) = (nodes[task % 2].clone(), tickets.clone(), wins.clone());
        tasks.push(tokio::spawn(async move {
            for k in 0..TICKETS {
                let i = (task * TICKETS / 8 + k) % TICKETS;
                match node.consume(&tickets[i]).await {
                    Ok(redeemed) => {
                        assert_eq!(redeemed.identity, format!("user-{i}"));
                        wins[i].fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TicketError::Unknown(_)) => {}
                    Err(err) => panic!("ticket {i}: {err}"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("consumer task");
    }
    assert!(wins.iter().all(|won| won.load(Ordering::Relaxed) == 1));

    // Caps and audiences hold across the two handles.
    let sentinels = group.sentinel_urls();
    let capped = |prefix: &'static str| {
        let sentinels = sentinels.clone();
        async move {
            RedisStore::<String>::builder()
                .key_prefix(prefix)
                .timeout(TIMEOUT)
                .max_outstanding(3)
                .max_per_identity(2)
                .connect_sentinel(sentinels, SENTINEL_SERVICE)
                .await
                .expect("connects")
        }
    };
    let (a, b) = (capped("caps:").await, capped("caps:").await);
    a.mint("alice".to_owned()).await.expect("mint");
    b.mint("alice".to_owned()).await.expect("mint");
    assert!(matches!(
        a.mint("alice".to_owned()).await,
        Err(MintError::IdentityFull { .. })
    ));
    let admin = Audience::new("admin");
    let for_admin = b
        .mint_with_audience("bob".to_owned(), &admin)
        .await
        .expect("mint");
    assert!(matches!(
        b.mint("carol".to_owned()).await,
        Err(MintError::Full)
    ));
    assert_eq!(
        a.consume_with_audience(for_admin.expose_secret(), &admin)
            .await
            .expect("consume on a")
            .identity,
        "bob"
    );
    assert_eq!(a.outstanding().await, Ok(Some(2)));
}

async fn replica(group: &SentinelGroup) -> (std::net::SocketAddr, Revocations<String>) {
    let store = store::<User>(group, "app:").await;
    let revocations = Revocations::builder()
        .key_prefix("app:")
        .timeout(TIMEOUT)
        .connect_sentinel(group.sentinel_urls(), SENTINEL_SERVICE)
        .await
        .expect("the registry finds the primary");
    let addr = support::serve_axum(app(store, revocations.clone())).await;
    (addr, revocations)
}

/// A primary killed with SIGKILL while two handles mint and consume: no
/// call outlives its bound, the same handles work again within 5 s of the
/// promotion, no ticket is redeemed twice, and revocations cross again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_killed_mid_traffic_is_followed_without_a_restart() {
    let mut group = SentinelGroup::start();
    let handles = [
        store::<String>(&group, "failover:").await,
        store::<String>(&group, "failover:").await,
    ];
    let (a, a_revocations) = replica(&group).await;
    let (b, b_revocations) = replica(&group).await;
    let mut alice_on_b = open(a, b, "alice").await;
    a_revocations.revoke(&"alice".to_owned());
    assert_eq!(
        close_code(&mut alice_on_b, Duration::from_secs(1)).await,
        SIGNED_OUT
    );

    let traffic = Traffic::start(handles);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let old = group.kill_primary();
    let killed = Instant::now();
    // The sentinels answer through redis-cli, a blocking call.
    let promotion = tokio::task::block_in_place(|| group.until_promoted(old));
    let promoted = killed + promotion;
    // Calls succeed again within 5 s of the promotion.
    let recovered = traffic
        .until_redeemed_after(promoted, Duration::from_secs(5))
        .await;
    let Report { longest, twice } = traffic.stop().await;
    assert!(longest <= TIMEOUT + SLACK, "a call took {longest:?}");
    assert_eq!(twice, 0, "a ticket was redeemed twice");
    eprintln!(
        "primary killed; promoted after {promotion:?}, calls succeed again {recovered:?} later; \
         longest call {longest:?}"
    );

    // The bridges moved too: a revocation made now crosses.
    until_available(&[&a_revocations, &b_revocations], Duration::from_secs(5)).await;
    let mut bob_on_b = open(a, b, "bob").await;
    let before = ticket(a, "bob").await;
    a_revocations.revoke(&"bob".to_owned());
    assert_eq!(
        close_code(&mut bob_on_b, Duration::from_secs(1)).await,
        SIGNED_OUT
    );
    assert_eq!(
        support::refused_status(&socket_url(b, &before)).await,
        http::StatusCode::UNAUTHORIZED
    );
}

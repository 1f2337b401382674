//! The Redis store and the revocation bridge on Redis Cluster (feature
//! `redis`): three primaries with a replica each, started by each test on
//! loopback ports (`ClusterGroup` in the demo crate's testkit), and a
//! primary killed with SIGKILL mid-traffic.

mod store_suite;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tower_ws_ticket::{Audience, MintError, RedisStore, Revocations, TicketError};
use tower_ws_ticket_demo::testkit::failover::{Report, Traffic, until_available};
use tower_ws_ticket_demo::testkit::redis_server::ClusterGroup;
use tower_ws_ticket_demo::testkit::{self as support};

use support::revocation::{SIGNED_OUT, User, app, close_code, open, socket_url, ticket};

/// The bound on each call in these tests.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How late a call may end past its bound: a timer fires on time, but on
/// a loaded test machine the task that reads it may run late.
const SLACK: Duration = Duration::from_millis(500);

async fn store<I>(group: &ClusterGroup, prefix: &str) -> RedisStore<I> {
    RedisStore::builder()
        .key_prefix(prefix)
        .timeout(TIMEOUT)
        .connect_cluster(group.urls())
        .await
        .expect("the store connects to the cluster")
}

/// The conformance suite's backend: stores on one cluster, each
/// under a key prefix of its own.
#[derive(Clone)]
struct Cluster {
    group: Arc<ClusterGroup>,
    stores: Arc<AtomicU32>,
}

impl store_suite::Backend for Cluster {
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
        let nodes = self.group.urls();
        async move {
            builder
                .connect_cluster(nodes)
                .await
                .expect("the store connects to the cluster")
        }
    }
}

crate::store_suite!(
    in_one_test the_store_suite_on_a_cluster,
    Cluster {
        group: Arc::new(ClusterGroup::start()),
        stores: Arc::new(AtomicU32::new(0)),
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_redeem_each_ticket_once_and_share_caps_and_audiences() {
    const TICKETS: usize = 500;
    let group = ClusterGroup::start();
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
    let nodes = group.urls();
    let capped = |prefix: &'static str| {
        let nodes = nodes.clone();
        async move {
            RedisStore::<String>::builder()
                .key_prefix(prefix)
                .timeout(TIMEOUT)
                .max_outstanding(3)
                .max_per_identity(2)
                .connect_cluster(nodes)
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

async fn replica(group: &ClusterGroup) -> (std::net::SocketAddr, Revocations<String>) {
    let store = store::<User>(group, "app:").await;
    let revocations = Revocations::builder()
        .key_prefix("app:")
        .timeout(TIMEOUT)
        .connect_cluster(group.urls())
        .await
        .expect("the registry connects to the cluster");
    let addr = support::serve_axum(app(store, revocations.clone())).await;
    (addr, revocations)
}

/// A primary killed with SIGKILL while two handles mint and consume: no
/// call outlives its bound, the same handles work again within 5 s of its
/// replica's promotion, no ticket is redeemed twice, and revocations cross
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_killed_mid_traffic_is_followed_without_a_restart() {
    let mut group = ClusterGroup::start();
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
    let _ = old;
    // The nodes answer through redis-cli, a blocking call.
    let promotion = tokio::task::block_in_place(|| group.until_recovered());
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

/// Tickets spread over every primary, and `max_outstanding` is met, never
/// passed, and not refused before it: each bucket keeps its share, and a
/// mint that finds its bucket full tries the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tickets_spread_over_every_primary_and_the_cap_is_kept_to_the_ticket() {
    const CAP: usize = 400;
    let group = ClusterGroup::start();
    let plain = store::<String>(&group, "spread:").await;
    for i in 0..200 {
        plain.mint(format!("user-{i}")).await.expect("mint");
    }
    for port in group.primaries() {
        let mut raw = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .expect("a URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connects");
        let keys: usize = redis::cmd("DBSIZE")
            .query_async(&mut raw)
            .await
            .expect("DBSIZE");
        assert!(
            keys >= 20,
            "primary {port} holds only {keys} of 200 tickets"
        );
    }

    let capped = RedisStore::<String>::builder()
        .key_prefix("cap:")
        .timeout(TIMEOUT)
        .max_outstanding(CAP)
        .connect_cluster(group.urls())
        .await
        .expect("connects");
    let minted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..8 {
        let (capped, minted) = (capped.clone(), minted.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                match capped.mint(format!("t{task}-{n}")).await {
                    Ok(_) => minted.fetch_add(1, Ordering::Relaxed),
                    Err(MintError::Full) => return,
                    Err(err) => panic!("{err}"),
                };
            }
        }));
    }
    for task in tasks {
        task.await.expect("mint task");
    }
    assert_eq!(minted.load(Ordering::Relaxed), CAP);
    assert_eq!(capped.outstanding().await, Ok(Some(CAP)));
}

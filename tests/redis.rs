//! The Redis store against a real `redis-server` (feature `redis`).
//!
//! Each test starts its own server on a free loopback port, without
//! persistence, and kills it at the end (see `RedisServer` in the demo
//! crate's `testkit`).
//! The tests fail with a clear message when `redis-server` is not on PATH.

mod store_suite;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::AsyncCommands as _;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tower_ws_ticket::{Audience, MintError, RedisStore, Ticket, TicketError};
use tower_ws_ticket_demo::testkit::{self, RedisServer};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

fn user(id: u64) -> User {
    User {
        id,
        name: format!("user-{id}"),
    }
}

/// A store with a cap, so that tests can read `outstanding()`; the
/// default, uncapped store is exercised by `each_call_is_one_command`.
async fn connect(server: &RedisServer) -> RedisStore<User> {
    RedisStore::builder()
        .max_outstanding(100_000)
        .connect(server.url())
        .await
        .expect("connect to the test redis-server")
}

/// A plain connection, to look at what the store wrote.
async fn raw(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("valid url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test redis-server")
}

/// The ticket keys under `prefix` (the live set left out).
async fn ticket_keys(raw: &mut MultiplexedConnection, prefix: &str) -> Vec<String> {
    let keys: Vec<String> = raw.keys(format!("{prefix}*")).await.expect("KEYS");
    keys.into_iter()
        .filter(|key| *key != format!("{prefix}live"))
        .collect()
}

/// Calls per command since the server started, from `INFO commandstats`
/// (the `INFO` calls themselves left out).
async fn command_calls(raw: &mut MultiplexedConnection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(raw)
        .await
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.strip_prefix("calls=")?.split(',').next()?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .filter(|(name, _)| name != "info")
        .collect()
}

fn calls_between(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
) -> HashMap<String, u64> {
    after
        .iter()
        .map(|(name, calls)| (name.clone(), calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, calls)| *calls > 0)
        .collect()
}

/// The commands Redis ran while `call` ran (`INFO` itself left out).
async fn calls_during<T>(
    raw: &mut MultiplexedConnection,
    call: impl std::future::Future<Output = T>,
) -> (T, HashMap<String, u64>) {
    let before = command_calls(raw).await;
    let out = call.await;
    let after = command_calls(raw).await;
    (out, calls_between(&before, &after))
}

/// What one capped mint runs inside Redis: one EVALSHA, and its script's
/// commands.
const SCRIPTED_MINT: &[&str] = &[
    "evalsha",
    "time",
    "zremrangebyscore",
    "zcard",
    "set",
    "zadd",
    "pexpire",
];

/// What one capped consume runs inside Redis.
const SCRIPTED_CONSUME: &[&str] = &["evalsha", "getdel", "zrem"];

/// The ticket's secret half, decoded from its text.
fn secret_half(ticket: &Ticket) -> Vec<u8> {
    let text = ticket.expose_secret();
    let raw = URL_SAFE_NO_PAD
        .decode(&text["wst_".len()..])
        .expect("ticket text is base64url");
    raw[8..].to_vec()
}

/// The conformance suite's backend: a store on this test's own
/// redis-server, under a key prefix of its own per store, so every store
/// starts empty.
struct Redis {
    server: RedisServer,
    stores: AtomicU32,
}

impl Redis {
    fn start() -> Self {
        Self {
            server: RedisServer::start(),
            stores: AtomicU32::new(0),
        }
    }
}

impl store_suite::Backend for Redis {
    type Store = RedisStore<String>;
    // Redis keeps time itself, to the millisecond.
    const FOLLOWS_CLOCK: bool = false;
    const SHORT_TTL: Duration = Duration::from_millis(200);

    fn build(&self, spec: &store_suite::Spec) -> impl Future<Output = Self::Store> + Send {
        let n = self.stores.fetch_add(1, Ordering::Relaxed);
        let mut builder = RedisStore::builder()
            .ttl(spec.ttl)
            .key_prefix(format!("suite{n}:"));
        if let Some(max) = spec.max_outstanding {
            builder = builder.max_outstanding(max);
        }
        if let Some(max) = spec.max_per_identity {
            builder = builder.max_per_identity(max);
        }
        let url = self.server.url();
        async move {
            builder
                .connect(url)
                .await
                .expect("connect to the test redis-server")
        }
    }
}

crate::store_suite!(Redis::start());

#[tokio::test]
async fn malformed_ticket_is_refused_without_asking_redis() {
    let mut server = RedisServer::start();
    let store = connect(&server).await;
    server.kill();
    for bad in ["", "nope", "wst_", "wst_AbCd"] {
        let err = store.consume(bad).await.unwrap_err();
        assert!(matches!(err, TicketError::Malformed(_)), "{bad:?}: {err:?}");
    }
}

#[tokio::test]
async fn ticket_expires_in_redis() {
    let server = RedisServer::start();
    let mut raw = raw(&server).await;
    let store = RedisStore::<User>::builder()
        .ttl(Duration::from_millis(300))
        .max_outstanding(10)
        .connect(server.url())
        .await
        .expect("connect");
    let kept = store.mint(user(1)).await.expect("mint");
    let dropped = store.mint(user(2)).await.expect("mint");

    // Redis holds the TTL: it counts down from 300 ms.
    let keys = ticket_keys(&mut raw, store.key_prefix()).await;
    assert_eq!(keys.len(), 2);
    for key in &keys {
        let pttl: i64 = raw.pttl(key).await.expect("PTTL");
        assert!((1..=300).contains(&pttl), "{pttl}");
    }
    store
        .consume(kept.expose_secret())
        .await
        .expect("valid within its TTL");

    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        ticket_keys(&mut raw, store.key_prefix()).await.is_empty(),
        "expired in Redis"
    );
    // Redis cannot tell an expired ticket from an unknown one.
    let err = store.consume(dropped.expose_secret()).await.unwrap_err();
    assert!(matches!(err, TicketError::Unknown(_)), "{err:?}");
    assert_eq!(store.outstanding().await, Ok(Some(0)));
}

#[tokio::test]
async fn applications_sharing_a_redis_do_not_share_tickets_by_default() {
    // App A's ticket for "alice" must not open app B's socket for "alice"
    // when neither set a key prefix: the default is derived from the
    // identity type's full name, which names each application's crate
    // (finding 7 of the hardening issue), and not from the executable's
    // name, which a rolling deploy may change.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct AppAUser(String);
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct AppBUser(String);
    let server = RedisServer::start();
    let a = RedisStore::<AppAUser>::connect(server.url())
        .await
        .expect("connect a");
    let b = RedisStore::<AppBUser>::connect(server.url())
        .await
        .expect("connect b");
    assert_ne!(a.key_prefix(), b.key_prefix());
    assert!(a.key_prefix().starts_with("wst:") && a.key_prefix().ends_with(':'));
    let ticket = a.mint(AppAUser("alice".into())).await.expect("mint");
    let err = b.consume(ticket.expose_secret()).await.unwrap_err();
    assert!(matches!(err, TicketError::Unknown(_)), "{err:?}");
    // Replicas of one application agree.
    let a2 = RedisStore::<AppAUser>::connect(server.url())
        .await
        .expect("connect a2");
    assert_eq!(a2.key_prefix(), a.key_prefix());
    assert_eq!(
        a2.consume(ticket.expose_secret())
            .await
            .expect("consume")
            .identity,
        AppAUser("alice".into())
    );
    // A type any application could use still connects, under a default
    // that also names the executable (so this test binary's own), which
    // no type-derived prefix equals.
    let common = RedisStore::<String>::connect(server.url())
        .await
        .expect("a String store connects");
    assert!(common.key_prefix().starts_with("wst:"));
    assert_ne!(common.key_prefix(), a.key_prefix());
    assert_ne!(common.key_prefix(), b.key_prefix());
    let ticket = common.mint("alice".to_owned()).await.expect("mint");
    assert_eq!(
        common
            .consume(ticket.expose_secret())
            .await
            .expect("consume")
            .identity,
        "alice"
    );
    tower_ws_ticket::Revocations::<u64>::builder()
        .connect(server.url())
        .await
        .expect("a u64 registry connects");
}

#[tokio::test]
async fn redis_holds_no_usable_secret() {
    let server = RedisServer::start();
    let mut raw = raw(&server).await;
    let store = RedisStore::<User>::builder()
        .key_prefix("app:wst:")
        .connect(server.url())
        .await
        .expect("connect");
    let ticket = store.mint(user(9)).await.expect("mint");
    let secret = secret_half(&ticket);

    let keys = ticket_keys(&mut raw, "app:wst:").await;
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    let value: Vec<u8> = raw.get(key).await.expect("GET");
    let text = ticket.expose_secret();
    // The key is the prefix and 16 hex digits of the lookup half.
    let lookup = key.strip_prefix("app:wst:").expect("prefixed");
    assert_eq!(lookup.len(), 16);
    assert!(lookup.bytes().all(|b| b.is_ascii_hexdigit()));
    // Neither the key nor the value carries the secret half, in any form.
    for haystack in [key.as_bytes(), &value] {
        assert!(!contains(haystack, &text.as_bytes()[text.len() - 16..]));
        for window in secret.windows(4) {
            assert!(
                !contains(haystack, window),
                "a piece of the secret is at rest"
            );
        }
    }
    // The identity is there in JSON, as documented.
    assert!(contains(&value, br#""name":"user-9""#));
    assert_eq!(
        store.consume(text).await.expect("consume").identity,
        user(9)
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn cap_is_hard_across_replicas() {
    let server = RedisServer::start();
    let builder = || RedisStore::<User>::builder().max_outstanding(3);
    let a = builder().connect(server.url()).await.expect("connect a");
    let b = builder().connect(server.url()).await.expect("connect b");

    let first = a.mint(user(1)).await.expect("mint 1");
    a.mint(user(2)).await.expect("mint 2");
    b.mint(user(3)).await.expect("mint 3");
    assert_eq!(a.mint(user(4)).await.unwrap_err(), MintError::Full);
    assert_eq!(b.mint(user(4)).await.unwrap_err(), MintError::Full);
    assert_eq!(b.outstanding().await, Ok(Some(3)));

    // A consumed ticket frees its place, whichever replica consumed it.
    b.consume(first.expose_secret()).await.expect("consume");
    assert_eq!(a.outstanding().await, Ok(Some(2)));
    a.mint(user(5)).await.expect("a place is free again");
    assert_eq!(b.mint(user(6)).await.unwrap_err(), MintError::Full);
}

#[tokio::test]
async fn each_call_is_one_command() {
    let server = RedisServer::start();
    let mut raw = raw(&server).await;
    let capped = connect(&server).await;
    let uncapped = RedisStore::<User>::builder()
        .key_prefix("bare:")
        .connect(server.url())
        .await
        .expect("connect");
    assert_eq!(uncapped.max_outstanding(), None);
    assert_eq!(uncapped.outstanding().await, Ok(None));

    // One EVALSHA each; `commandstats` also counts what the script runs
    // inside Redis, which costs no round trip.
    let script = |commands: &[&str]| -> HashMap<String, u64> {
        commands.iter().map(|c| ((*c).to_owned(), 1)).collect()
    };
    let bare = |command: &str| HashMap::from([(command.to_owned(), 1)]);

    let (ticket, minting) = calls_during(&mut raw, capped.mint(user(1))).await;
    let ticket = ticket.expect("mint");
    let (consumed, consuming) =
        calls_during(&mut raw, capped.consume(ticket.expose_secret())).await;
    consumed.expect("consume");
    assert_eq!(minting, script(SCRIPTED_MINT));
    assert_eq!(consuming, script(SCRIPTED_CONSUME));

    let (ticket, minting) = calls_during(&mut raw, uncapped.mint(user(2))).await;
    let ticket = ticket.expect("mint");
    let (redeemed, consuming) =
        calls_during(&mut raw, uncapped.consume(ticket.expose_secret())).await;
    assert_eq!(redeemed.expect("consume").identity, user(2));
    assert_eq!(minting, bare("set"));
    assert_eq!(consuming, bare("getdel"));
    assert!(uncapped.consume(ticket.expose_secret()).await.is_err());

    // An audience travels in the value: still a bare SET and GETDEL.
    let admin = Audience::new("redis-tests-admin");
    let (ticket, minting) =
        calls_during(&mut raw, uncapped.mint_with_audience(user(3), &admin)).await;
    let ticket = ticket.expect("mint");
    let (consumed, consuming) = calls_during(
        &mut raw,
        uncapped.consume_with_audience(ticket.expose_secret(), &admin),
    )
    .await;
    consumed.expect("consume");
    assert_eq!(minting, bare("set"));
    assert_eq!(consuming, bare("getdel"));

    // A cap per identity: one script each way, as the store's cap.
    let per_identity = RedisStore::<User>::builder()
        .key_prefix("per:")
        .max_per_identity(5)
        .connect(server.url())
        .await
        .expect("connect");
    let (ticket, minting) = calls_during(&mut raw, per_identity.mint(user(4))).await;
    let ticket = ticket.expect("mint");
    let (consumed, consuming) =
        calls_during(&mut raw, per_identity.consume(ticket.expose_secret())).await;
    consumed.expect("consume");
    assert_eq!(minting, script(SCRIPTED_MINT));
    assert_eq!(consuming, script(SCRIPTED_CONSUME));

    // Both caps and an audience: still one script each way.
    let both = RedisStore::<User>::builder()
        .key_prefix("both:")
        .max_outstanding(100)
        .max_per_identity(5)
        .connect(server.url())
        .await
        .expect("connect");
    let (ticket, minting) = calls_during(&mut raw, both.mint_with_audience(user(5), &admin)).await;
    let ticket = ticket.expect("mint");
    let (consumed, consuming) = calls_during(
        &mut raw,
        both.consume_with_audience(ticket.expose_secret(), &admin),
    )
    .await;
    consumed.expect("consume");
    assert_eq!(minting.get("evalsha"), Some(&1));
    assert_eq!(minting.get("set"), Some(&1));
    assert_eq!(consuming.get("evalsha"), Some(&1));
    assert_eq!(consuming.get("zrem"), Some(&2));
}

#[tokio::test]
async fn cap_per_identity_is_hard_across_replicas() {
    let server = RedisServer::start();
    let builder = || RedisStore::<User>::builder().max_per_identity(2);
    let a = builder().connect(server.url()).await.expect("connect a");
    let b = builder().connect(server.url()).await.expect("connect b");
    assert_eq!(a.max_per_identity(), Some(2));

    let first = a.mint(user(1)).await.expect("mint 1 on a");
    b.mint(user(1)).await.expect("mint 2 on b");
    for node in [&a, &b] {
        match node.mint(user(1)).await {
            Err(MintError::IdentityFull { retry_after }) => {
                assert!(retry_after <= Duration::from_secs(30), "{retry_after:?}");
                assert!(retry_after > Duration::from_secs(25), "{retry_after:?}");
            }
            other => panic!("expected IdentityFull, got {other:?}"),
        }
    }
    // Others are not held back, on either replica.
    a.mint(user(2)).await.expect("another identity");
    b.mint(user(2)).await.expect("another identity");

    // A consumed ticket frees its place, whichever replica consumed it.
    b.consume(first.expose_secret())
        .await
        .expect("consume on b");
    a.mint(user(1)).await.expect("a place is free again");
    assert!(matches!(
        b.mint(user(1)).await,
        Err(MintError::IdentityFull { .. })
    ));
}

#[tokio::test]
async fn cap_per_identity_by_key_across_replicas() {
    let server = RedisServer::start();
    // Every `User` with the same id counts as one, whatever its name.
    let builder = || RedisStore::<User>::builder().max_per_identity_by(1, |user: &User| user.id);
    let a = builder().connect(server.url()).await.expect("connect a");
    let b = builder().connect(server.url()).await.expect("connect b");
    let held = a.mint(user(1)).await.expect("mint on a");
    let renamed = User {
        id: 1,
        name: "someone else".to_owned(),
    };
    assert!(matches!(
        b.mint(renamed.clone()).await,
        Err(MintError::IdentityFull { .. })
    ));
    b.mint(user(2)).await.expect("another key");
    a.consume(held.expose_secret()).await.expect("consume");
    b.mint(renamed).await.expect("the key's place is free");
}

#[tokio::test]
async fn identity_sets_are_digests_under_the_prefix_and_go_with_their_tickets() {
    let server = RedisServer::start();
    let mut raw = raw(&server).await;
    let store = RedisStore::<User>::builder()
        .key_prefix("app:wst:")
        .max_per_identity(3)
        .connect(server.url())
        .await
        .expect("connect");
    let admin = Audience::new("redis-tests-admin");
    let plain = store.mint(user(7)).await.expect("mint");
    let for_admin = store
        .mint_with_audience(user(7), &admin)
        .await
        .expect("mint");

    let keys: Vec<String> = raw.keys("*").await.expect("KEYS");
    assert!(keys.iter().all(|k| k.starts_with("app:wst:")), "{keys:?}");
    let sets: Vec<&String> = keys.iter().filter(|k| k.contains(":id:")).collect();
    assert_eq!(sets.len(), 1, "{keys:?}");
    let hex = sets[0].strip_prefix("app:wst:id:").expect("prefixed");
    assert_eq!(hex.len(), 32);
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    let members: Vec<String> = raw.zrange(sets[0], 0, -1).await.expect("ZRANGE");
    assert_eq!(members.len(), 2);
    // Neither the set's key nor the values name the identity or audience
    // beyond the identity's JSON, as documented.
    assert!(!sets[0].contains("user-7"));
    for key in ticket_keys(&mut raw, "app:wst:").await {
        if key.contains(":id:") {
            continue;
        }
        let value: Vec<u8> = raw.get(&key).await.expect("GET");
        assert_eq!(value[0], 2, "format 2: it carries the identity's key");
        assert!(!contains(&value, b"redis-tests-admin"));
    }

    // Consumed (once refused for the wrong audience), the tickets leave the
    // set, and the empty set goes.
    assert!(matches!(
        store.consume(for_admin.expose_secret()).await,
        Err(TicketError::WrongAudience(_))
    ));
    store.consume(plain.expose_secret()).await.expect("consume");
    let keys: Vec<String> = raw.keys("*").await.expect("KEYS");
    assert!(keys.is_empty(), "left behind: {keys:?}");
}

#[tokio::test]
async fn audiences_hold_across_replicas_and_old_values_still_decode() {
    let server = RedisServer::start();
    let mut raw = raw(&server).await;
    let a = connect(&server).await;
    let b = connect(&server).await;
    let (page, admin) = (
        Audience::new("redis-tests-page"),
        Audience::new("redis-tests-admin"),
    );
    let ticket = a.mint_with_audience(user(1), &admin).await.expect("mint");
    assert_eq!(
        b.consume_with_audience(ticket.expose_secret(), &admin)
            .await
            .expect("consume on b")
            .identity,
        user(1)
    );
    let ticket = a.mint_with_audience(user(2), &page).await.expect("mint");
    assert!(matches!(
        b.consume_with_audience(ticket.expose_secret(), &admin)
            .await,
        Err(TicketError::WrongAudience(_))
    ));
    assert!(matches!(
        a.consume_with_audience(ticket.expose_secret(), &page).await,
        Err(TicketError::Unknown(_))
    ));

    // Every ticket is written in format 2; one rewritten as release 0.1.0
    // wrote it (format 1: no flags, the mint time in milliseconds) reads
    // as a ticket without an audience.
    let old = a.mint(user(3)).await.expect("mint");
    let key = ticket_keys(&mut raw, a.key_prefix()).await.remove(0);
    let value: Vec<u8> = raw.get(&key).await.expect("GET");
    assert_eq!((value[0], value[41]), (2, 0));
    let nanos = u64::from_be_bytes(value[33..41].try_into().expect("8 bytes"));
    let mut format_1 = vec![1];
    format_1.extend_from_slice(&value[1..33]);
    format_1.extend_from_slice(&(nanos / 1_000_000).to_be_bytes());
    format_1.extend_from_slice(&value[42..]);
    let () = raw.set(&key, format_1).await.expect("SET");
    assert!(matches!(
        b.consume_with_audience(old.expose_secret(), &admin).await,
        Err(TicketError::WrongAudience(_))
    ));
    let old = a.mint(user(3)).await.expect("mint");
    let key = ticket_keys(&mut raw, a.key_prefix()).await.remove(0);
    let value: Vec<u8> = raw.get(&key).await.expect("GET");
    let mut format_1 = vec![1];
    format_1.extend_from_slice(&value[1..33]);
    format_1.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
    format_1.extend_from_slice(&value[42..]);
    let () = raw.set(&key, format_1).await.expect("SET");
    let redeemed = b.consume(old.expose_secret()).await.expect("consume");
    assert_eq!(redeemed.identity, user(3));
    assert_eq!(
        redeemed.minted_at,
        std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)
    );
    let old = a.mint(user(4)).await.expect("mint");
    assert_eq!(
        b.consume(old.expose_secret())
            .await
            .expect("consume")
            .identity,
        user(4)
    );
}

#[tokio::test]
async fn two_nodes_share_tickets() {
    let server = RedisServer::start();
    let a = connect(&server).await;
    let b = connect(&server).await;

    let ticket = a.mint(user(1)).await.expect("mint on a");
    let redeemed = b
        .consume(ticket.expose_secret())
        .await
        .expect("consume on b");
    assert_eq!(redeemed.identity, user(1));
    let err = a.consume(ticket.expose_secret()).await.unwrap_err();
    assert!(
        matches!(err, TicketError::Unknown(_)),
        "replay on a: {err:?}"
    );

    let ticket = b.mint(user(2)).await.expect("mint on b");
    assert_eq!(
        a.consume(ticket.expose_secret())
            .await
            .expect("consume on a")
            .identity,
        user(2)
    );
    assert!(
        b.consume(ticket.expose_secret()).await.is_err(),
        "replay on b"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_consumers_on_two_nodes_redeem_each_ticket_once() {
    const TICKETS: usize = 5_000;
    const TASKS_PER_NODE: usize = 4;
    let server = RedisServer::start();
    let nodes = [connect(&server).await, connect(&server).await];

    let mut tickets = Vec::with_capacity(TICKETS);
    for i in 0..TICKETS {
        let node = &nodes[i % 2];
        tickets.push(node.mint(user(i as u64)).await.expect("mint"));
    }
    let tickets: Arc<Vec<String>> = Arc::new(
        tickets
            .iter()
            .map(|t| t.expose_secret().to_owned())
            .collect(),
    );
    let wins: Arc<Vec<AtomicU32>> = Arc::new((0..TICKETS).map(|_| AtomicU32::new(0)).collect());

    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for t in 0..TASKS_PER_NODE {
            let (node, tickets, wins) = (node.clone(), tickets.clone(), wins.clone());
            // Each task walks every ticket from its own starting point, so
            // the tasks meet on every ticket in a different order.
            let start = (n * TASKS_PER_NODE + t) * TICKETS / (2 * TASKS_PER_NODE);
            tasks.push(tokio::spawn(async move {
                for k in 0..TICKETS {
                    let i = (start + k) % TICKETS;
                    match node.consume(&tickets[i]).await {
                        Ok(redeemed) => {
                            assert_eq!(redeemed.identity, user(i as u64));
                            wins[i].fetch_add(1, Ordering::Relaxed);
                        }
                        Err(TicketError::Unknown(_)) => {}
                        Err(err) => panic!("ticket {i}: {err}"),
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.expect("consumer task");
    }
    for (i, won) in wins.iter().enumerate() {
        assert_eq!(won.load(Ordering::Relaxed), 1, "ticket {i}");
    }
    assert_eq!(nodes[0].outstanding().await, Ok(Some(0)));
}

#[tokio::test]
async fn bad_data_in_redis_is_an_error_not_a_panic() {
    let server = RedisServer::start();
    let mut raw = raw(&server).await;
    let store = connect(&server).await;

    // A value that is not ours at all.
    let ticket = store.mint(user(1)).await.expect("mint");
    let key = ticket_keys(&mut raw, store.key_prefix()).await.remove(0);
    let _: () = raw.set(&key, "garbage").await.expect("SET");
    let err = store.consume(ticket.expose_secret()).await.unwrap_err();
    assert!(matches!(err, TicketError::Unknown(_)), "{err:?}");

    // Ours, but the identity no longer decodes (say, a changed type).
    let ticket = store.mint(user(2)).await.expect("mint");
    let key = ticket_keys(&mut raw, store.key_prefix()).await.remove(0);
    let mut value: Vec<u8> = raw.get(&key).await.expect("GET");
    let json_at = value.len() - br#"{"id":2,"name":"user-2"}"#.len();
    value.truncate(json_at);
    value.extend_from_slice(br#"{"id":"two"}"#);
    let _: () = raw.set(&key, value).await.expect("SET");
    let err = store.consume(ticket.expose_secret()).await.unwrap_err();
    assert!(matches!(err, TicketError::Unknown(_)), "{err:?}");

    // Not even a string: Redis refuses GETDEL, the store reports it.
    let ticket = store.mint(user(3)).await.expect("mint");
    let key = ticket_keys(&mut raw, store.key_prefix()).await.remove(0);
    let _: () = raw.del(&key).await.expect("DEL");
    let _: () = raw.lpush(&key, "x").await.expect("LPUSH");
    let err = store.consume(ticket.expose_secret()).await.unwrap_err();
    assert!(matches!(err, TicketError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains(&ticket.expose_secret()[8..]));
}

#[tokio::test]
async fn connect_fails_clearly_when_redis_is_not_there() {
    let port = testkit::redis_server::free_port();
    let started = Instant::now();
    let result = RedisStore::<User>::connect(format!("redis://127.0.0.1:{port}/")).await;
    let err = result.expect_err("nothing listens there");
    assert!(err.is_io_error() || err.is_connection_refusal(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn redis_down_is_unavailable_and_back_works_without_restart() {
    let mut server = RedisServer::start();
    let store = RedisStore::<User>::builder()
        .timeout(Duration::from_millis(500))
        .connect(server.url())
        .await
        .expect("connect");
    let held = store.mint(user(1)).await.expect("mint while up");

    server.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.consume(held.expose_secret()).await.unwrap_err();
        assert!(matches!(err, TicketError::Unavailable(_)), "{err:?}");
        assert!(!err.to_string().contains(&held.expose_secret()[8..]));
        let err = store.mint(user(2)).await.unwrap_err();
        assert!(matches!(err, MintError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "bounded by the timeout"
        );
    }

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let ticket = loop {
        match store.mint(user(3)).await {
            Ok(ticket) => break ticket,
            Err(MintError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("no recovery after the restart: {err}"),
        }
    };
    assert_eq!(
        store
            .consume(ticket.expose_secret())
            .await
            .expect("consume")
            .identity,
        user(3)
    );
    // The restarted Redis has no persistence: tickets minted before are gone.
    assert!(matches!(
        store.consume(held.expose_secret()).await,
        Err(TicketError::Unknown(_))
    ));
}

#[tokio::test]
async fn slow_redis_times_out_as_unavailable() {
    let server = RedisServer::start();
    let mut raw = raw(&server).await;
    let store = RedisStore::<User>::builder()
        .timeout(Duration::from_millis(200))
        .connect(server.url())
        .await
        .expect("connect");
    let ticket = store.mint(user(1)).await.expect("mint");

    // Redis holds every client's commands for 1.5 s.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1_500)
        .query_async(&mut raw)
        .await
        .expect("CLIENT PAUSE");
    let started = Instant::now();
    let err = store.mint(user(2)).await.unwrap_err();
    assert!(matches!(err, MintError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("did not answer within"), "{err}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(1_000),
        "{elapsed:?}"
    );

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let redeemed = store
        .consume(ticket.expose_secret())
        .await
        .expect("works once Redis answers");
    assert_eq!(redeemed.identity, user(1));
}

// ---------------------------------------------------------------------------
// End to end: axum replicas sharing one Redis, real HTTP and WebSocket
// clients over loopback TCP.
// ---------------------------------------------------------------------------

mod e2e {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::extract::ws::{Message as ServerMessage, WebSocket, WebSocketUpgrade};
    use axum::extract::{Extension, Request};
    use axum::middleware::{self, Next};
    use axum::response::Response;
    use axum::routing::get;
    use futures_util::StreamExt as _;
    use http::StatusCode;
    use http_body_util::BodyExt as _;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::{Error as WsError, Message};
    use tower_ws_ticket::{MintService, Principal, RedisStore, WsTicketLayer};

    use super::{User, user};
    use tower_ws_ticket_demo::testkit::RedisServer;

    /// How long one network step may take before the test fails.
    const STEP: Duration = Duration::from_secs(10);

    /// One replica: a stand-in auth gate that trusts `x-user: <id>`, the
    /// mint route behind it, and a socket route that greets by name.
    async fn replica(store: RedisStore<User>) -> SocketAddr {
        async fn gate(mut req: Request, next: Next) -> Response {
            let id = req
                .headers()
                .get("x-user")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            if let Some(id) = id {
                req.extensions_mut().insert(user(id));
            }
            next.run(req).await
        }

        async fn socket(
            ws: WebSocketUpgrade,
            Extension(who): Extension<Principal<User>>,
        ) -> Response {
            let name = match who {
                Principal::Ticket(redeemed) => redeemed.identity.name,
                _ => "someone else".to_owned(),
            };
            ws.on_upgrade(move |socket| greet(socket, name))
        }

        async fn greet(mut socket: WebSocket, name: String) {
            let _ = socket
                .send(ServerMessage::text(format!("hello {name}")))
                .await;
        }

        let app = Router::new()
            .route("/api/ws", get(socket))
            .route_layer(WsTicketLayer::new(store.clone()))
            .route_service("/api/auth/ws-ticket", MintService::new(store))
            .layer(middleware::from_fn(gate));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        addr
    }

    async fn store(server: &RedisServer) -> RedisStore<User> {
        RedisStore::builder()
            .timeout(Duration::from_millis(500))
            .connect(server.url())
            .await
            .expect("connect")
    }

    /// `POST /api/auth/ws-ticket`; the status, and the ticket on a 200.
    async fn mint(addr: SocketAddr, id: Option<u64>) -> (StatusCode, Option<String>) {
        let client = Client::builder(TokioExecutor::new()).build_http::<String>();
        let mut request = http::Request::post(format!("http://{addr}/api/auth/ws-ticket"));
        if let Some(id) = id {
            request = request.header("x-user", id.to_string());
        }
        let request = request.body(String::new()).expect("request");
        let response = tokio::time::timeout(STEP, client.request(request))
            .await
            .expect("mint timed out")
            .expect("mint request");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        if status != StatusCode::OK {
            return (status, None);
        }
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON answer");
        assert_eq!(json["ttl_seconds"], 30);
        let ticket = json["ticket"].as_str().expect("ticket field").to_owned();
        (status, Some(ticket))
    }

    async fn minted(addr: SocketAddr, id: u64) -> String {
        match mint(addr, Some(id)).await {
            (StatusCode::OK, Some(ticket)) => ticket,
            (status, _) => panic!("mint on {addr} answered {status}"),
        }
    }

    /// Opens the socket with `ticket`: the greeting on success, the HTTP
    /// status of the refusal otherwise.
    async fn open(addr: SocketAddr, ticket: &str) -> Result<String, StatusCode> {
        let url = format!("ws://{addr}/api/ws?ticket={ticket}");
        let connected = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(url))
            .await
            .expect("WebSocket handshake timed out");
        let mut socket = match connected {
            Ok((socket, _)) => socket,
            Err(WsError::Http(response)) => return Err(response.status()),
            Err(err) => panic!("WebSocket handshake failed: {err}"),
        };
        let message = tokio::time::timeout(STEP, socket.next())
            .await
            .expect("greeting timed out")
            .expect("a greeting")
            .expect("a message");
        match message {
            Message::Text(text) => Ok(text.to_string()),
            other => panic!("unexpected message {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_axum_replicas_share_tickets_through_one_redis() {
        let server = RedisServer::start();
        let a = replica(store(&server).await).await;
        let b = replica(store(&server).await).await;

        // Minted on A, opened on B; the replay is refused on both.
        let ticket = minted(a, 1).await;
        assert_eq!(open(b, &ticket).await, Ok("hello user-1".to_owned()));
        assert_eq!(open(a, &ticket).await, Err(StatusCode::UNAUTHORIZED));
        assert_eq!(open(b, &ticket).await, Err(StatusCode::UNAUTHORIZED));

        // And the other way round.
        let ticket = minted(b, 2).await;
        assert_eq!(open(a, &ticket).await, Ok("hello user-2".to_owned()));
        assert_eq!(open(b, &ticket).await, Err(StatusCode::UNAUTHORIZED));

        // One ticket presented to both replicas at once opens one socket.
        for id in 10..20 {
            let ticket = minted(if id % 2 == 0 { a } else { b }, id).await;
            let (on_a, on_b) = tokio::join!(open(a, &ticket), open(b, &ticket));
            let opened = [&on_a, &on_b].iter().filter(|r| r.is_ok()).count();
            assert_eq!(opened, 1, "{on_a:?} {on_b:?}");
            for refused in [on_a, on_b].into_iter().filter_map(Result::err) {
                assert_eq!(refused, StatusCode::UNAUTHORIZED);
            }
        }

        // No identity, no ticket; a forged ticket opens nothing.
        assert_eq!(mint(a, None).await, (StatusCode::UNAUTHORIZED, None));
        let forged = format!("wst_{}", "A".repeat(43));
        assert_eq!(open(b, &forged).await, Err(StatusCode::UNAUTHORIZED));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_killed_gives_503_and_restarted_works_again() {
        let mut server = RedisServer::start();
        let a = replica(store(&server).await).await;
        let b = replica(store(&server).await).await;
        let held = minted(a, 1).await;

        server.kill();
        // Retry, don't re-authenticate: 503 at both routes, on both replicas.
        for addr in [a, b] {
            assert_eq!(
                open(addr, &held).await,
                Err(StatusCode::SERVICE_UNAVAILABLE)
            );
            assert_eq!(
                mint(addr, Some(2)).await,
                (StatusCode::SERVICE_UNAVAILABLE, None)
            );
        }
        // A malformed ticket needs no store: still a 401.
        assert_eq!(open(a, "wst_nope").await, Err(StatusCode::UNAUTHORIZED));

        server.restart();
        for (minter, opener) in [(a, b), (b, a)] {
            let deadline = Instant::now() + Duration::from_secs(10);
            let ticket = loop {
                match mint(minter, Some(3)).await {
                    (StatusCode::OK, Some(ticket)) => break ticket,
                    (StatusCode::SERVICE_UNAVAILABLE, _) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    (status, _) => panic!("no recovery after the restart: {status}"),
                }
            };
            assert_eq!(open(opener, &ticket).await, Ok("hello user-3".to_owned()));
        }
        // The restarted Redis kept nothing: the ticket held across the
        // outage is unknown now.
        assert_eq!(open(b, &held).await, Err(StatusCode::UNAUTHORIZED));
    }
}

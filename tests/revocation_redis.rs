//! Revocations across replicas through a real `redis-server` (feature
//! `redis`): each replica is the revocation tests' app on its own port, with
//! a `RedisStore` and a registry bridged to the same Redis.
//!
//! Each test starts its own server on a free loopback port and kills it at
//! the end (see `RedisServer` in the demo crate's `testkit`).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http::StatusCode;
use tower_ws_ticket::{RedisStore, Revocations};
use tower_ws_ticket_demo::testkit::redis_server::SilentProxy;
use tower_ws_ticket_demo::testkit::{self as support, LogCapture, RedisServer};

use support::revocation::{SIGNED_OUT, User, app, close_code, open, socket_url, ticket};

/// How long a revocation may take to reach another replica.
const ACROSS: Duration = Duration::from_secs(1);

/// One replica: its address, its store and its registry.
struct Replica {
    addr: SocketAddr,
    store: RedisStore<User>,
    revocations: Revocations<String>,
}

async fn replica(server: &RedisServer) -> Replica {
    replica_under(server, "wst:").await
}

/// A replica whose registry uses the key prefix `prefix`.
async fn replica_under(server: &RedisServer, prefix: &str) -> Replica {
    let store = RedisStore::<User>::connect(server.url())
        .await
        .expect("store connects");
    let revocations = Revocations::builder()
        .key_prefix(prefix)
        .connect(server.url())
        .await
        .expect("registry connects");
    let addr = support::serve_axum(app(store.clone(), revocations.clone())).await;
    Replica {
        addr,
        store,
        revocations,
    }
}

fn alice() -> String {
    "alice".to_owned()
}

/// Waits until every replica's registry is subscribed again and its store
/// answers.
async fn until_back(replicas: &[&Replica]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    for replica in replicas {
        while !replica.revocations.is_available()
            || replica.store.mint(User("probe".to_owned())).await.is_err()
        {
            assert!(Instant::now() < deadline, "no recovery after the restart");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_replica_closes_the_socket_on_another() {
    captured();
    let server = RedisServer::start();
    let a = replica(&server).await;
    let b = replica(&server).await;

    // Minted on A, opened on B (the load balancer's doing).
    let mut alice_on_b = open(a.addr, b.addr, "alice").await;
    let mut bob_on_b = open(a.addr, b.addr, "bob").await;
    let minted_before = [ticket(a.addr, "alice").await, ticket(a.addr, "alice").await];

    let started = Instant::now();
    // No socket of alice's on A itself.
    assert_eq!(a.revocations.revoke(&alice()), 0);
    assert_eq!(close_code(&mut alice_on_b, ACROSS).await, SIGNED_OUT);
    let took = started.elapsed();
    assert!(took < ACROSS, "took {took:?}");
    assert_eq!(support::round_trip(&mut bob_on_b, "hi").await, "echo: hi");

    // B refuses alice's older ticket though the revocation was made on A...
    assert_eq!(
        support::refused_status(&socket_url(b.addr, &minted_before[0])).await,
        StatusCode::UNAUTHORIZED
    );
    // ...and so does a replica started after it, from the journal.
    let c = replica(&server).await;
    assert_eq!(
        support::refused_status(&socket_url(c.addr, &minted_before[1])).await,
        StatusCode::UNAUTHORIZED
    );
    // A newer ticket of alice's opens a socket anywhere.
    let mut again = open(a.addr, c.addr, "alice").await;
    assert_eq!(support::round_trip(&mut again, "back").await, "echo: back");
}

/// Everything the bridges log, from every test of this file: one global
/// subscriber, installed by whichever test starts first (a thread-local
/// one would miss events whose callsites another test's thread registered
/// first). Tests tell their own lines apart by their channel.
fn captured() -> &'static LogCapture {
    static CAPTURED: OnceLock<LogCapture> = OnceLock::new();
    CAPTURED.get_or_init(|| LogCapture::install("tower_ws_ticket::revoke=debug"))
}

#[tokio::test]
async fn after_redis_restarts_revocations_work_again_without_restarting_replicas() {
    let captured = captured();
    const CHANNEL: &str = "outage:revocations";
    let mut server = RedisServer::start();
    let a = replica_under(&server, "outage:").await;
    let b = replica_under(&server, "outage:").await;
    let mut alice_on_b = open(a.addr, b.addr, "alice").await;
    let mut carol_on_b = open(a.addr, b.addr, "carol").await;

    server.kill();
    let deadline = Instant::now() + Duration::from_secs(15);
    while a.revocations.is_available() || b.revocations.is_available() {
        assert!(Instant::now() < deadline, "the outage was not noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // While Redis is down, revocations still work where they are made...
    assert_eq!(b.revocations.revoke(&alice()), 1);
    assert_eq!(close_code(&mut alice_on_b, support::STEP).await, SIGNED_OUT);
    // ...and those made elsewhere wait for Redis: carol's socket is on B.
    assert_eq!(a.revocations.revoke(&"carol".to_owned()), 0);
    for i in 0..5 {
        a.revocations.revoke(&format!("user-{i}"));
        b.revocations.revoke(&format!("user-{i}"));
    }
    // The outage is logged once per replica, not per revocation.
    assert_eq!(captured.count_lines(&["lost Redis", CHANNEL]), 2);

    server.restart();
    until_back(&[&a, &b]).await;
    // What A revoked during the outage reached B once Redis was back.
    assert_eq!(close_code(&mut carol_on_b, ACROSS).await, SIGNED_OUT);
    assert_eq!(captured.count_lines(&["lost Redis", CHANNEL]), 2);
    assert_eq!(
        captured.count_lines(&["reach the other replicas again", CHANNEL]),
        2
    );

    // And a revocation made now crosses again, within a second.
    let mut bob_on_b = open(a.addr, b.addr, "bob").await;
    let started = Instant::now();
    assert_eq!(a.revocations.revoke(&"bob".to_owned()), 0);
    assert_eq!(close_code(&mut bob_on_b, ACROSS).await, SIGNED_OUT);
    assert!(started.elapsed() < ACROSS);
    // The key never shows in the logs.
    assert_eq!(captured.count_lines(&["carol"]), 0);
}

// Past the bridge's 5 s heartbeat: the `PING` on an idle subscription is
// answered, and the bridge stays up.
#[tokio::test]
async fn an_idle_bridge_stays_connected() {
    let captured = captured();
    let server = RedisServer::start();
    let a = replica_under(&server, "idle:").await;
    let b = replica_under(&server, "idle:").await;
    let mut alice_on_b = open(a.addr, b.addr, "alice").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(a.revocations.is_available() && b.revocations.is_available());
    assert_eq!(captured.count_lines(&["lost Redis", "idle:revocations"]), 0);
    a.revocations.revoke(&alice());
    assert_eq!(close_code(&mut alice_on_b, ACROSS).await, SIGNED_OUT);
}

#[tokio::test]
async fn connect_fails_clearly_when_redis_is_not_there() {
    captured();
    let port = support::redis_server::free_port();
    let result = Revocations::<String>::builder()
        .key_prefix("absent:")
        .timeout(Duration::from_millis(300))
        .connect(format!("redis://127.0.0.1:{port}/"))
        .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn a_signing_key_too_short_to_be_secret_is_refused_before_connecting() {
    captured();
    // Nothing listens here: a key that got past the check would fail with
    // a connection error instead.
    let url = format!("redis://127.0.0.1:{}/", support::redis_server::free_port());
    for key in ["", "k", "fifteen-bytes!!"] {
        let builder = || {
            Revocations::<String>::builder()
                .key_prefix("short:")
                .signing_key(key)
        };
        let refusals = [
            builder().connect(url.as_str()).await.err(),
            builder()
                .connect_sentinel([url.as_str()], "mymaster")
                .await
                .err(),
            builder().connect_cluster([url.as_str()]).await.err(),
        ];
        for err in refusals {
            let err = err.expect("a short key is refused");
            assert_eq!(err.kind(), redis::ErrorKind::InvalidClientConfig, "{err}");
            assert!(
                err.to_string().contains("signing key is too short"),
                "{err}"
            );
            assert!(
                err.to_string().contains(&format!("{} bytes", key.len())),
                "{err}"
            );
        }
    }
    // Sixteen bytes pass the check and reach the (absent) server.
    let Err(err) = Revocations::<String>::builder()
        .key_prefix("short:")
        .timeout(Duration::from_millis(300))
        .signing_key("sixteen-bytes!!!")
        .connect(url.as_str())
        .await
    else {
        panic!("connected where nothing listens");
    };
    assert_ne!(err.kind(), redis::ErrorKind::InvalidClientConfig, "{err}");
}

#[tokio::test]
async fn the_bridge_stops_with_the_last_clone_of_the_registry() {
    captured();
    let server = RedisServer::start();
    let revocations = Revocations::<String>::builder()
        .key_prefix("stop:")
        .connect(server.url())
        .await
        .expect("connects");
    let clients = || async {
        let mut raw = redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut raw)
            .await
            .unwrap();
        list.lines().filter(|line| line.contains("sub=1")).count()
    };
    assert_eq!(clients().await, 1, "one subscription");
    drop(revocations);
    let deadline = Instant::now() + Duration::from_secs(5);
    while clients().await != 0 {
        assert!(
            Instant::now() < deadline,
            "the subscription outlived the registry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A ticket minted right after `revoke` returned is the user's new session
/// (a password change: revoke the old sessions, hand out a fresh ticket),
/// and one minted before the call is an old one. The store used to keep
/// the mint time in whole milliseconds, floored, so the fresh ticket read
/// as minted no later than the revocation and was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_minted_after_a_revocation_returned_are_admitted_and_older_ones_refused() {
    use std::convert::Infallible;

    use http::{Request, Response};
    use tower::{ServiceBuilder, ServiceExt as _};
    use tower_ws_ticket::WsTicketLayer;

    let server = RedisServer::start();
    let store = RedisStore::<User>::connect(server.url())
        .await
        .expect("store connects");
    let revocations = Revocations::<String>::new();
    let service = ServiceBuilder::new()
        .layer(
            WsTicketLayer::new(store.clone())
                .revocations(revocations.clone(), |user: &User| user.0.clone()),
        )
        .service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        });
    let status = |ticket: String| {
        let service = service.clone();
        async move {
            let upgrade = Request::get(format!("/api/ws?ticket={ticket}"))
                .header("upgrade", "websocket")
                .header("connection", "upgrade")
                .body(String::new())
                .expect("a request");
            service.oneshot(upgrade).await.expect("infallible").status()
        }
    };
    let mint = || async {
        let ticket = store.mint(User(alice())).await.expect("mints");
        ticket.expose_secret().to_owned()
    };
    let (mut admitted, mut refused) = (0, 0);
    for _ in 0..100 {
        let before = mint().await;
        revocations.revoke(&alice());
        let after = mint().await;
        if status(before).await == StatusCode::UNAUTHORIZED {
            refused += 1;
        }
        if status(after).await == StatusCode::OK {
            admitted += 1;
        }
    }
    assert_eq!((admitted, refused), (100, 100));
}

/// How long a replica whose link to Redis went silent may go on admitting
/// tickets: the bridge's heartbeat (250 ms) and its call timeout (1 s).
const SILENT_BOUND: Duration = Duration::from_millis(1_250);

/// A replica whose link to Redis stops delivering without a reset cannot
/// hear the others' revocations. It used to go on admitting tickets until
/// its 5 s heartbeat timed out (a ticket revoked on another replica was
/// admitted 300 ms after the revocation, the outage noticed after 5.7 s).
/// Now it refuses ticket upgrades (503) once it has not heard Redis for
/// the bound, and never admits one past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_link_goes_silent_refuses_tickets_within_the_bound() {
    let captured = captured();
    let server = RedisServer::start();
    let proxy = SilentProxy::start(server.port()).await;
    let a = replica_under(&server, "silent:").await;
    // B's store talks to Redis directly: only its bridge is cut off.
    let store = RedisStore::<User>::connect(server.url())
        .await
        .expect("store connects");
    let b_revocations = Revocations::builder()
        .key_prefix("silent:")
        .connect(proxy.url())
        .await
        .expect("registry connects through the proxy");
    let b = support::serve_axum(app(store, b_revocations.clone())).await;
    let mut tickets = Vec::new();
    for _ in 0..50 {
        tickets.push(ticket(a.addr, "alice").await);
    }
    // Through the proxy, B hears A.
    let mut bob_on_b = open(a.addr, b, "bob").await;
    a.revocations.revoke(&"bob".to_owned());
    assert_eq!(close_code(&mut bob_on_b, ACROSS).await, SIGNED_OUT);

    proxy.silence();
    let silenced = Instant::now();
    a.revocations.revoke(&alice());
    let mut refused_from = None;
    for ticket in tickets {
        let url = socket_url(b, &ticket);
        let at = silenced.elapsed();
        match support::connect(&url).await {
            Ok(_) => assert!(
                at < SILENT_BOUND,
                "a revoked ticket was admitted {at:?} after the link went silent"
            ),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
                refused_from.get_or_insert(at);
            }
            Err(other) => panic!("expected an HTTP answer, got {other}"),
        }
        if at > SILENT_BOUND + Duration::from_secs(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused_from = refused_from.expect("never refused");
    // The first attempt past the bound is refused; attempts take a while
    // on a loaded machine, hence the margin.
    assert!(
        refused_from <= SILENT_BOUND + Duration::from_millis(500),
        "refused only after {refused_from:?}"
    );
    assert!(!b_revocations.is_available());
    // The bridge notices and says so, in time.
    let deadline = Instant::now() + Duration::from_secs(3);
    while captured.count_lines(&["lost Redis", "silent:revocations"]) == 0 {
        assert!(
            Instant::now() < deadline,
            "the silent link was never logged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes `payload` on `channel` as any Redis user could, and adds it to
/// the journal as well.
async fn forge(server: &RedisServer, channel: &str, payload: &[u8]) {
    let mut raw = redis::Client::open(server.url())
        .expect("a URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connects");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let () = redis::pipe()
        .zadd(channel, payload, u64::try_from(now_ms).expect("ms"))
        .ignore()
        .publish(channel, payload)
        .ignore()
        .query_async(&mut raw)
        .await
        .expect("PUBLISH");
}

fn wall_nanos_in(ahead: Duration) -> u128 {
    (std::time::SystemTime::now() + ahead)
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos()
}

/// Until a dropped message is logged `count` times on `channel`.
async fn until_dropped(captured: &LogCapture, channel: &str, count: usize) {
    let deadline = Instant::now() + ACROSS;
    while captured.count_lines(&["dropped a message", channel]) < count {
        assert!(Instant::now() < deadline, "no drop logged on {channel}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A message past the size bound (a revocation of alice behind 5,000
/// bytes of JSON whitespace), and a revocation of everything dated a
/// minute ahead: both used to be applied, the second closing every socket
/// and refusing every ticket minted in the next minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_future_dated_revocations_are_dropped() {
    let captured = captured();
    const CHANNEL: &str = "bounded:revocations";
    let server = RedisServer::start();
    let a = replica_under(&server, "bounded:").await;
    let b = replica_under(&server, "bounded:").await;
    let mut alice_on_b = open(a.addr, b.addr, "alice").await;
    let mut dave_on_b = open(a.addr, b.addr, "dave").await;

    let oversized = format!(
        r#"{{"v":1,"origin":1,"at":{},"of":{{"key":"alice"}}}}{}"#,
        wall_nanos_in(Duration::ZERO),
        " ".repeat(5_000)
    );
    forge(&server, CHANNEL, oversized.as_bytes()).await;
    let ahead = format!(
        r#"{{"v":1,"origin":1,"at":{},"of":"all"}}"#,
        wall_nanos_in(Duration::from_secs(60))
    );
    forge(&server, CHANNEL, ahead.as_bytes()).await;
    // One channel delivers in order: once A's revocation of dave has
    // reached B, so have the forged messages before it.
    a.revocations.revoke(&"dave".to_owned());
    assert_eq!(close_code(&mut dave_on_b, ACROSS).await, SIGNED_OUT);
    assert_eq!(
        support::round_trip(&mut alice_on_b, "still").await,
        "echo: still"
    );
    // Each replica logs its first drop at once, and counts the next for
    // a line of its own later (a flood is not logged message by message).
    until_dropped(captured, CHANNEL, 2).await;
    // Tickets minted now still open sockets, on both replicas.
    let mut bob = open(b.addr, a.addr, "bob").await;
    assert_eq!(support::round_trip(&mut bob, "hi").await, "echo: hi");
    // A replica started now reads both from the journal, and drops them.
    let c = replica_under(&server, "bounded:").await;
    let mut carol_on_c = open(a.addr, c.addr, "carol").await;
    assert_eq!(support::round_trip(&mut carol_on_c, "hi").await, "echo: hi");
    until_dropped(captured, CHANNEL, 3).await;
    // Six drops, one line per replica: the second forged message came
    // within the quiet time of each replica's first (per message, this
    // was 6).
    assert_eq!(captured.count_lines(&["dropped a message", CHANNEL]), 3);
    // A revocation dated within the clock allowance still applies.
    let soon = format!(
        r#"{{"v":1,"origin":1,"at":{},"of":{{"key":"alice"}}}}"#,
        wall_nanos_in(Duration::from_secs(1))
    );
    forge(&server, CHANNEL, soon.as_bytes()).await;
    assert_eq!(close_code(&mut alice_on_b, ACROSS).await, SIGNED_OUT);
    // Nothing logged names a key.
    assert_eq!(captured.count_lines(&["alice", CHANNEL]), 0);
}

/// With a signing key, a Redis user without it cannot revoke: unsigned
/// and badly signed messages (on the channel or in the journal) are
/// dropped and logged; the replicas' own revocations still cross.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_signing_key_a_redis_user_without_it_cannot_revoke() {
    let captured = captured();
    const CHANNEL: &str = "signed:revocations";
    const KEY: &str = "s3cret-revocation-key-0123456789abcdef";
    let server = RedisServer::start();
    let signed = |server: &RedisServer| {
        let url = server.url();
        async move {
            let store = RedisStore::<User>::connect(url.as_str())
                .await
                .expect("store connects");
            let revocations = Revocations::builder()
                .key_prefix("signed:")
                .signing_key(KEY)
                .connect(url.as_str())
                .await
                .expect("registry connects");
            let addr = support::serve_axum(app(store.clone(), revocations.clone())).await;
            Replica {
                addr,
                store,
                revocations,
            }
        }
    };
    let a = signed(&server).await;
    let b = signed(&server).await;
    let mut alice_on_b = open(a.addr, b.addr, "alice").await;
    let mut dave_on_b = open(a.addr, b.addr, "dave").await;
    let before = ticket(a.addr, "alice").await;

    let now = wall_nanos_in(Duration::ZERO);
    let unsigned = format!(r#"{{"v":1,"origin":1,"at":{now},"of":{{"key":"alice"}}}}"#);
    forge(&server, CHANNEL, unsigned.as_bytes()).await;
    let all = format!(r#"{{"v":1,"origin":1,"at":{now},"of":"all"}}"#);
    forge(&server, CHANNEL, all.as_bytes()).await;
    // Signed with another key: 64 hex digits, a space, the JSON.
    let badly_signed = format!("{} {unsigned}", "ab".repeat(32));
    forge(&server, CHANNEL, badly_signed.as_bytes()).await;
    // One channel delivers in order: once A's revocation of dave has
    // reached B, so have the forged messages before it. Each replica logs
    // its first drop at once and counts the others for a later line.
    a.revocations.revoke(&"dave".to_owned());
    assert_eq!(close_code(&mut dave_on_b, ACROSS).await, SIGNED_OUT);
    until_dropped(captured, CHANNEL, 2).await;
    assert_eq!(
        support::round_trip(&mut alice_on_b, "still").await,
        "echo: still"
    );
    // A replica started now ignores them in the journal too: alice's
    // older ticket opens a socket there.
    let c = signed(&server).await;
    let mut alice_on_c = support::connect(&socket_url(c.addr, &before))
        .await
        .expect("the forged revocations in the journal were applied");
    assert_eq!(support::next_text(&mut alice_on_c).await, "hello alice");

    // The replicas' own, signed revocations cross.
    a.revocations.revoke(&alice());
    assert_eq!(close_code(&mut alice_on_b, ACROSS).await, SIGNED_OUT);
    assert_eq!(close_code(&mut alice_on_c, ACROSS).await, SIGNED_OUT);
    // The key is in no log line and no Debug output.
    assert_eq!(captured.count_lines(&[KEY]), 0);
    let builder = Revocations::<String>::builder().signing_key(KEY);
    assert!(!format!("{builder:?}").contains(KEY));
}

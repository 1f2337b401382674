//! Live revocation end to end over real TCP: an axum app whose socket
//! handler selects on `Revocation::revoked()` and closes with 4401, real
//! WebSocket clients, and a sign-out in the middle.

use tower_ws_ticket_demo::testkit as support;

use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;
use tower_ws_ticket::{MemoryStore, Revocations, WsTicketLayer};

use support::revocation::{
    SIGNED_OUT, User, app, app_behind, close_code, close_frame, open, socket_url, ticket,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_closes_that_users_sockets_and_no_others() {
    let store = MemoryStore::<User>::new();
    let revocations = Revocations::<String>::new();
    let addr = support::serve_axum(app(store, revocations.clone())).await;

    let mut alice_1 = open(addr, addr, "alice").await;
    let mut alice_2 = open(addr, addr, "alice").await;
    let mut bob = open(addr, addr, "bob").await;
    assert_eq!(revocations.live(), 3);
    // Minted a moment before the sign-out, used after it.
    let minted_before = ticket(addr, "alice").await;

    assert_eq!(revocations.revoke(&"alice".to_owned()), 2);
    for socket in [&mut alice_1, &mut alice_2] {
        assert_eq!(close_code(socket, support::STEP).await, SIGNED_OUT);
    }
    assert_eq!(
        support::round_trip(&mut bob, "still here?").await,
        "echo: still here?"
    );

    // The older ticket dies with the session...
    assert_eq!(
        support::refused_status(&socket_url(addr, &minted_before)).await,
        StatusCode::UNAUTHORIZED
    );
    // ...while alice, signed in again, gets a socket that stays.
    let mut again = open(addr, addr, "alice").await;
    assert_eq!(support::round_trip(&mut again, "back").await, "echo: back");

    // Closed sockets leave the registry: only bob's and the new one remain.
    drop((alice_1, alice_2));
    let deadline = tokio::time::Instant::now() + support::STEP;
    while revocations.live() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "live handles: {}",
            revocations.live()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop((bob, again));
    while revocations.live() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "live handles: {}",
            revocations.live()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_all_closes_every_socket() {
    let store = MemoryStore::<User>::new();
    let revocations = Revocations::<String>::new();
    let addr = support::serve_axum(app(store, revocations.clone())).await;
    let mut alice = open(addr, addr, "alice").await;
    let mut bob = open(addr, addr, "bob").await;
    let minted_before = ticket(addr, "carol").await;

    assert_eq!(revocations.revoke_all(), 2);
    for socket in [&mut alice, &mut bob] {
        assert_eq!(close_code(socket, support::STEP).await, SIGNED_OUT);
    }
    assert_eq!(
        support::refused_status(&socket_url(addr, &minted_before)).await,
        StatusCode::UNAUTHORIZED
    );
    let mut carol = open(addr, addr, "carol").await;
    assert_eq!(support::round_trip(&mut carol, "hi").await, "echo: hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_ends_when_its_sign_in_does_and_no_other() {
    let store = MemoryStore::<User>::new();
    let ends = SystemTime::now() + Duration::from_millis(1500);
    let guard = WsTicketLayer::new(store.clone())
        .expires_at(move |user: &User| (user.0 == "alice").then_some(ends));
    let addr = support::serve_axum(app_behind(store, guard)).await;

    let mut alice = open(addr, addr, "alice").await;
    let mut bob = open(addr, addr, "bob").await;
    assert_eq!(support::round_trip(&mut alice, "hi").await, "echo: hi");

    let (code, reason) = close_frame(&mut alice, support::STEP).await;
    let now = SystemTime::now();
    assert_eq!((code, reason.as_str()), (SIGNED_OUT, "expired"));
    assert!(now >= ends, "closed {:?} early", ends.duration_since(now));
    assert!(
        now.duration_since(ends).unwrap_or_default() < Duration::from_secs(1),
        "closed more than a second late"
    );
    // No expiry for bob: his socket stays.
    assert_eq!(
        support::round_trip(&mut bob, "still?").await,
        "echo: still?"
    );

    // alice's sign-in has run out: a fresh ticket no longer opens a socket.
    assert_eq!(
        support::refused_status(&socket_url(addr, &ticket(addr, "alice").await)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_socket_age_ends_every_socket() {
    let store = MemoryStore::<User>::new();
    let age = Duration::from_millis(800);
    let guard = WsTicketLayer::new(store.clone()).max_socket_age(age);
    let addr = support::serve_axum(app_behind(store, guard)).await;

    let opened = Instant::now();
    let mut sockets = [
        open(addr, addr, "alice").await,
        open(addr, addr, "bob").await,
    ];
    for socket in &mut sockets {
        let (code, reason) = close_frame(socket, support::STEP).await;
        assert_eq!((code, reason.as_str()), (SIGNED_OUT, "expired"));
    }
    let elapsed = opened.elapsed();
    assert!(elapsed >= age, "closed after {elapsed:?}");
    assert!(
        elapsed < age + Duration::from_secs(1),
        "closed after {elapsed:?}"
    );
}

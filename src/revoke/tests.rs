//! The layer with revocations, through tower's `oneshot`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tower::{ServiceBuilder, ServiceExt};

use super::registry::Bridge;
use super::{Revocation, Revocations};
use crate::audit::{AuditEvent, RejectReason};
use crate::layer::{Principal, Rejection, WsTicketLayer};
use crate::{InternalCredential, MemoryStore};

type Store = MemoryStore<String>;

/// What the inner service saw: the handle, kept alive in the response as
/// a socket's task would keep it.
#[derive(Clone)]
struct Seen(Option<Revocation>);

async fn inner(req: Request<String>) -> Result<Response<String>, Infallible> {
    let mut response = Response::new(String::new());
    response
        .extensions_mut()
        .insert(Seen(req.extensions().get::<Revocation>().cloned()));
    Ok(response)
}

fn upgrade(query: &str) -> Request<String> {
    Request::get(format!("/api/ws?{query}"))
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(String::new())
        .unwrap()
}

async fn send(layer: &WsTicketLayer<Store>, req: Request<String>) -> Response<String> {
    ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(inner)
        .oneshot(req)
        .await
        .unwrap()
}

fn handle(response: &Response<String>) -> Option<Revocation> {
    response
        .extensions()
        .get::<Seen>()
        .and_then(|seen| seen.0.clone())
}

fn ticket(store: &Store, who: &str) -> String {
    format!(
        "ticket={}",
        store.mint(who.to_owned()).unwrap().expose_secret()
    )
}

fn layer(store: &Store, revocations: &Revocations<String>) -> WsTicketLayer<Store> {
    WsTicketLayer::new(store.clone()).revocations(revocations.clone(), |user: &String| user.clone())
}

#[tokio::test]
async fn an_admitted_ticket_carries_a_revocation() {
    let store = Store::new();
    let revocations = Revocations::new();
    let layer = layer(&store, &revocations);
    let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let socket = handle(&response).expect("a Revocation in the extensions");
    assert_eq!(revocations.live(), 1);
    assert!(!socket.is_revoked());

    assert_eq!(revocations.revoke(&"bob".to_owned()), 0);
    assert_eq!(revocations.revoke(&"alice".to_owned()), 1);
    tokio::time::timeout(Duration::from_secs(5), socket.revoked())
        .await
        .expect("signalled");

    // The socket's task ends and drops its handle: nothing is left.
    drop((response, socket));
    assert_eq!(revocations.live(), 0);
}

#[tokio::test]
async fn a_ticket_minted_before_a_revoke_is_refused_and_audited() {
    let store = Store::new();
    let revocations = Revocations::new();
    let audited = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&audited);
    let layer = layer(&store, &revocations).on_audit(move |event| {
        if let AuditEvent::Rejected { reason, .. } = event {
            sink.lock().unwrap().push(reason.as_str());
        }
    });
    let older = ticket(&store, "alice");
    let other = ticket(&store, "bob");
    revocations.revoke(&"alice".to_owned());
    let newer = ticket(&store, "alice");

    let refused = send(&layer, upgrade(&older)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused
            .extensions()
            .get::<Rejection>()
            .map(Rejection::reason),
        Some(RejectReason::Revoked)
    );
    assert!(refused.extensions().get::<Seen>().is_none(), "inner called");
    assert_eq!(*audited.lock().unwrap(), ["revoked"]);
    assert_eq!(RejectReason::Revoked.as_str(), "revoked");

    // Another key's older ticket, and the key's newer one (signed in
    // again), are admitted.
    for query in [other, newer] {
        let response = send(&layer, upgrade(&query)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(handle(&response).is_some());
    }
    assert_eq!(store.len(), 0, "every ticket was used up");
}

#[tokio::test]
async fn internal_sockets_get_a_handle_that_only_revoke_all_signals() {
    let store = Store::new();
    let revocations = Revocations::new();
    let internal = InternalCredential::generate();
    let layer = layer(&store, &revocations).internal_credential(internal.clone());
    let child = send(
        &layer,
        upgrade(&format!("internal={}", internal.expose_secret())),
    )
    .await;
    let child = handle(&child).expect("a handle for the child too");
    let alice = send(&layer, upgrade(&ticket(&store, "alice"))).await;
    let alice = handle(&alice).unwrap();

    assert_eq!(revocations.revoke(&"alice".to_owned()), 1);
    assert!(alice.is_revoked());
    assert!(!child.is_revoked());

    let older = ticket(&store, "bob");
    assert_eq!(revocations.revoke_all(), 1);
    assert!(child.is_revoked());
    // Every ticket minted before is refused...
    let refused = send(&layer, upgrade(&older)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // ...newer ones are not, and the internal credential stays valid: the
    // child reconnects.
    let fresh = send(&layer, upgrade(&ticket(&store, "bob"))).await;
    assert_eq!(fresh.status(), StatusCode::OK);
    let again = send(
        &layer,
        upgrade(&format!("internal={}", internal.expose_secret())),
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_revocations_no_handle_is_attached() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone());
    let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(handle(&response).is_none());
}

#[tokio::test]
async fn the_principal_is_still_there() {
    let store = Store::new();
    let revocations = Revocations::new();
    let layer = layer(&store, &revocations);
    let service =
        ServiceBuilder::new()
            .layer(layer)
            .service_fn(|req: Request<String>| async move {
                let who = match req.extensions().get::<Principal<String>>() {
                    Some(Principal::Ticket(redeemed)) => redeemed.identity.clone(),
                    _ => String::new(),
                };
                Ok::<_, Infallible>(Response::new(who))
            });
    let response = service
        .oneshot(upgrade(&ticket(&store, "alice")))
        .await
        .unwrap();
    assert_eq!(response.into_body(), "alice");
}

#[test]
fn the_window_covers_the_store_ttl() {
    let store = Store::builder().ttl(Duration::from_secs(120)).build();
    let revocations = Revocations::<String>::new();
    assert_eq!(revocations.window(), Duration::from_secs(31));
    let _layer = layer(&store, &revocations);
    assert_eq!(revocations.window(), Duration::from_secs(121));
}

#[tokio::test]
async fn a_registry_deaf_to_other_replicas_refuses_tickets_with_503() {
    struct Down;
    impl Bridge<String> for Down {
        fn publish(&self, _: Option<&String>, _: u64) {}
        fn is_connected(&self) -> bool {
            false
        }
    }
    let store = Store::new();
    let revocations = Revocations::builder().build_with(Some(Box::new(Down)));
    let internal = InternalCredential::generate();
    let layer = layer(&store, &revocations).internal_credential(internal.clone());
    let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response
            .extensions()
            .get::<Rejection>()
            .map(Rejection::reason),
        Some(RejectReason::StoreUnavailable)
    );
    // The internal credential does not depend on the other replicas.
    let child = send(
        &layer,
        upgrade(&format!("internal={}", internal.expose_secret())),
    )
    .await;
    assert_eq!(child.status(), StatusCode::OK);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn revocation_is_an_axum_extractor() {
    use axum::extract::FromRequestParts;
    use axum::response::IntoResponse;

    let revocations = Revocations::<u64>::new();
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.extensions.insert(revocations.watch(7));
    let handle = Revocation::from_request_parts(&mut parts, &())
        .await
        .expect("extracted");
    revocations.revoke(&7);
    assert!(handle.is_revoked());

    let (mut bare, ()) = Request::new(()).into_parts();
    let missing = Revocation::from_request_parts(&mut bare, &())
        .await
        .expect_err("no layer, no handle");
    assert_eq!(missing.extractor(), "Revocation");
    assert_eq!(
        missing.to_string(),
        "no Revocation: is this route behind WsTicketLayer::revocations?"
    );
    assert_eq!(
        missing.into_response().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let optional = <Revocation as axum::extract::OptionalFromRequestParts<()>>::from_request_parts(
        &mut bare,
        &(),
    )
    .await
    .unwrap();
    assert!(optional.is_none());
}

/// A monotonic clock on which every reading comes a millisecond after the
/// last, as if the thread were descheduled between any two clock reads.
#[derive(Debug, Default)]
struct SlowReads(std::sync::atomic::AtomicU64);

impl crate::Clock for SlowReads {
    fn now(&self) -> std::time::Instant {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let start = *START.get_or_init(std::time::Instant::now);
        let reads = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        start + Duration::from_millis(reads)
    }
}

#[tokio::test]
async fn a_ticket_minted_after_a_revoke_returned_is_admitted() {
    // Rotate on password change: revoke the old sessions, hand out a fresh
    // ticket at once. The store used to date a ticket at consume time from
    // the wall clock less its monotonic age, so a descheduling between the
    // clock reads dated it before the revocation and refused it.
    let store = Store::builder().clock(SlowReads::default()).build();
    let revocations = Revocations::new();
    let layer = layer(&store, &revocations);
    for round in 0..100 {
        revocations.revoke(&"alice".to_owned());
        let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
        assert_eq!(response.status(), StatusCode::OK, "round {round}");
    }
}

#[tokio::test]
async fn tickets_minted_before_a_revoke_was_called_are_all_refused() {
    let store = Store::new();
    let revocations = Revocations::new();
    let layer = layer(&store, &revocations);
    let tickets: Vec<String> = (0..100).map(|_| ticket(&store, "alice")).collect();
    revocations.revoke(&"alice".to_owned());
    for query in tickets {
        let response = send(&layer, upgrade(&query)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let rejection = response.extensions().get::<Rejection>().copied();
        assert_eq!(rejection.map(|r| r.reason()), Some(RejectReason::Revoked));
    }
}

#[tokio::test]
async fn a_revocation_refuses_tickets_minted_on_a_manual_clock() {
    // A user's test with a manual clock: the ticket's mint date used to be
    // "now, less its age on the manual clock", and the manual clock had not
    // moved, so the ticket always looked minted after the revocation.
    let clock = crate::ManualClock::new();
    let store = Store::builder().clock(clock.clone()).build();
    let revocations = Revocations::new();
    let layer = layer(&store, &revocations);
    let query = ticket(&store, "alice");
    revocations.revoke(&"alice".to_owned());
    let response = send(&layer, upgrade(&query)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Moved past the revocation (a minute on, though no real time passed),
    // the clock mints tickets the revocation leaves alone.
    clock.advance(Duration::from_secs(60));
    let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
    assert_eq!(response.status(), StatusCode::OK);
}

mod deadlines {
    use std::time::{Instant, SystemTime};

    use super::*;
    use crate::RevokeReason;

    /// How late after its deadline a socket may be signalled.
    const LATE: Duration = Duration::from_secs(1);

    async fn signalled_within(socket: &Revocation, within: Duration) {
        tokio::time::timeout(within, socket.revoked())
            .await
            .expect("signalled in time");
    }

    #[tokio::test]
    async fn a_socket_ends_at_its_identitys_expiry_not_before() {
        let store = Store::new();
        let ends = SystemTime::now() + Duration::from_millis(600);
        let layer = WsTicketLayer::new(store.clone())
            .expires_at(move |user: &String| (user == "alice").then_some(ends));
        let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
        assert_eq!(response.status(), StatusCode::OK);
        let socket = handle(&response).expect("a handle without a registry");
        assert_eq!(socket.expires_at(), Some(ends));
        assert_eq!(socket.reason(), None);

        signalled_within(&socket, Duration::from_millis(600) + LATE).await;
        assert!(SystemTime::now() >= ends, "signalled before the expiry");
        assert_eq!(socket.reason(), Some(RevokeReason::Expired));
        assert!(socket.is_revoked());
    }

    #[tokio::test]
    async fn an_identity_already_expired_is_refused_before_the_upgrade() {
        let store = Store::new();
        let layer = WsTicketLayer::new(store.clone())
            .expires_at(|_: &String| Some(SystemTime::now() - Duration::from_secs(1)));
        let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let rejection = response.extensions().get::<Rejection>().copied();
        assert_eq!(rejection.map(|r| r.reason()), Some(RejectReason::Expired));
        assert!(handle(&response).is_none());
    }

    #[tokio::test]
    async fn an_identity_without_expiry_keeps_its_socket() {
        let store = Store::new();
        let layer = WsTicketLayer::new(store.clone()).expires_at(|_: &String| None);
        let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
        let socket = handle(&response).expect("a handle whenever expires_at is set");
        assert_eq!(socket.expires_at(), None);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), socket.revoked())
                .await
                .is_err(),
            "a socket without a deadline was signalled"
        );
        assert_eq!(socket.reason(), None);
    }

    #[tokio::test]
    async fn max_socket_age_ends_every_socket_internal_ones_included() {
        let store = Store::new();
        let internal = InternalCredential::generate();
        let age = Duration::from_millis(500);
        let layer = WsTicketLayer::new(store.clone())
            .internal_credential(internal.clone())
            .max_socket_age(age);
        let admitted = Instant::now();
        let by_ticket = send(&layer, upgrade(&ticket(&store, "alice"))).await;
        let by_internal = send(
            &layer,
            upgrade(&format!("internal={}", internal.expose_secret())),
        )
        .await;
        for response in [by_ticket, by_internal] {
            assert_eq!(response.status(), StatusCode::OK);
            let socket = handle(&response).expect("a handle");
            assert!(socket.expires_at().is_some());
            signalled_within(&socket, age + LATE).await;
            assert!(admitted.elapsed() >= age, "signalled before its age");
            assert_eq!(socket.reason(), Some(RevokeReason::Expired));
        }
    }

    #[tokio::test]
    async fn the_earlier_deadline_counts_and_a_revocation_still_says_revoked() {
        let store = Store::new();
        let revocations = Revocations::new();
        let far = SystemTime::now() + Duration::from_secs(3600);
        let layer = layer(&store, &revocations)
            .expires_at(move |_: &String| Some(far))
            .max_socket_age(Duration::from_secs(60));
        let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
        let socket = handle(&response).expect("a handle");
        let ends = socket.expires_at().expect("a deadline");
        assert!(ends < far && ends <= SystemTime::now() + Duration::from_secs(60));

        assert_eq!(revocations.revoke(&"alice".to_owned()), 1);
        signalled_within(&socket, LATE).await;
        assert_eq!(socket.reason(), Some(RevokeReason::Revoked));
    }

    #[tokio::test]
    async fn the_first_cause_is_the_reason_for_good() {
        let store = Store::new();
        let revocations = Revocations::new();
        let layer = layer(&store, &revocations).max_socket_age(Duration::from_millis(100));
        let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
        let socket = handle(&response).expect("a handle");
        signalled_within(&socket, Duration::from_millis(100) + LATE).await;
        assert_eq!(socket.reason(), Some(RevokeReason::Expired));
        revocations.revoke(&"alice".to_owned());
        assert_eq!(socket.reason(), Some(RevokeReason::Expired));
    }

    #[tokio::test]
    async fn a_dropped_socket_leaves_the_deadline_queue() {
        let store = Store::new();
        let layer = WsTicketLayer::new(store.clone()).max_socket_age(Duration::from_secs(3600));
        let response = send(&layer, upgrade(&ticket(&store, "alice"))).await;
        let socket = handle(&response).expect("a handle");
        let deadline = socket.deadline_for_tests();
        assert!(crate::revoke::signal::is_queued(&deadline));
        drop((socket, response));
        assert!(!crate::revoke::signal::is_queued(&deadline));
    }
}

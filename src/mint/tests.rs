use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;

use super::*;
use crate::audit::{AuditEvent, MintRejectReason};
use crate::error::{MintError, StoreUnavailable, TicketError};
use crate::store::{Redeemed, TicketStore};
use crate::{Audience, MemoryStore, Ticket};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct UserId(u64);

type Store = MemoryStore<UserId>;

fn post_as(user: Option<u64>) -> Request<String> {
    let mut req = Request::post("/api/auth/ws-ticket")
        .body(String::new())
        .unwrap();
    if let Some(user) = user {
        req.extensions_mut().insert(UserId(user));
    }
    req
}

async fn body_text(response: Response<Full<Bytes>>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn post_with_identity_answers_a_redeemable_ticket() {
    let store = Store::new();
    let response = MintService::new(store.clone())
        .oneshot(post_as(Some(7)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let body = body_text(response).await;
    let ticket = body
        .strip_prefix(r#"{"ticket":""#)
        .and_then(|rest| rest.strip_suffix(r#"","ttl_seconds":30}"#))
        .unwrap_or_else(|| panic!("unexpected body {body}"));
    assert!(ticket.starts_with("wst_") && ticket.len() == 47, "{ticket}");
    assert_eq!(store.consume(ticket).unwrap().identity, UserId(7));
}

#[tokio::test]
async fn ttl_seconds_follows_the_store() {
    let store = Store::builder().ttl(Duration::from_secs(90)).build();
    let response = MintService::new(store)
        .oneshot(post_as(Some(1)))
        .await
        .unwrap();
    assert!(body_text(response).await.ends_with(r#""ttl_seconds":90}"#));
}

#[tokio::test]
async fn other_methods_are_405_with_allow_post() {
    let store = Store::new();
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let mut req = post_as(Some(1));
        *req.method_mut() = method.clone();
        let response = MintService::new(store.clone()).oneshot(req).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()[ALLOW], "POST");
    }
    assert!(store.is_empty());
}

#[tokio::test]
async fn no_identity_is_401_and_audited() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let mint = MintService::new(Store::new())
        .on_audit(move |event: &AuditEvent<'_>| sink.lock().unwrap().push(format!("{event:?}")));
    let response = mint.oneshot(post_as(None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(
        events.lock().unwrap().as_slice(),
        ["MintRejected { reason: Unauthenticated, path: \"/api/auth/ws-ticket\", peer: None }"]
    );
}

#[tokio::test]
async fn full_store_is_503_with_retry_after() {
    let store = Store::builder().max_outstanding(1).build();
    let mint = MintService::new(store);
    assert_eq!(
        mint.clone()
            .oneshot(post_as(Some(1)))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let response = mint.oneshot(post_as(Some(1))).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
}

#[derive(Clone)]
struct DownStore;

impl TicketStore for DownStore {
    type Identity = UserId;
    type MintFuture = Ready<Result<Ticket, MintError>>;
    type ConsumeFuture = Ready<Result<Redeemed<UserId>, TicketError>>;

    fn mint_ticket(&self, _: UserId, _: Option<&Audience>) -> Self::MintFuture {
        ready(Err(MintError::Unavailable(StoreUnavailable::new(
            "connection refused",
        ))))
    }

    fn consume_ticket(&self, _: &str, _: Option<&Audience>) -> Self::ConsumeFuture {
        ready(Err(TicketError::Unavailable(StoreUnavailable::new(
            "connection refused",
        ))))
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(30)
    }
}

#[tokio::test]
async fn unreachable_store_is_503() {
    let response = MintService::new(DownStore)
        .oneshot(post_as(Some(1)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    assert!(body_text(response).await.is_empty());
}

#[tokio::test]
async fn identity_can_come_from_a_custom_extractor() {
    let store = Store::new();
    let mint = MintService::new(store.clone()).identity_from(|parts: &Parts| {
        let user = parts.headers.get("x-user")?.to_str().ok()?.parse().ok()?;
        Some(UserId(user))
    });
    let mut req = post_as(None);
    req.headers_mut().insert("x-user", "42".parse().unwrap());
    assert_eq!(
        mint.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        mint.oneshot(post_as(Some(1))).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn minted_event_carries_the_label_and_peer_but_not_the_ticket() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let mint = MintService::new(Store::new())
        .audit_label(|user: &UserId| format!("user-{}", user.0))
        .on_audit(move |event: &AuditEvent<'_>| sink.lock().unwrap().push(format!("{event:?}")));
    let mut req = post_as(Some(9));
    req.extensions_mut()
        .insert("127.0.0.1:7000".parse::<SocketAddr>().unwrap());
    let body = body_text(mint.oneshot(req).await.unwrap()).await;
    let events = events.lock().unwrap();
    assert_eq!(
        events.as_slice(),
        [
            "Minted { identity: Some(\"user-9\"), path: \"/api/auth/ws-ticket\", peer: Some(127.0.0.1:7000) }"
        ]
    );
    assert!(body.contains("wst_"));
}

#[tokio::test]
async fn foreign_origin_is_403_and_mints_nothing() {
    let store = Store::new();
    let mint = MintService::new(store.clone()).allowed_origins(["https://app.example.com"]);
    let mut hostile = post_as(Some(1));
    hostile
        .headers_mut()
        .insert("origin", "https://evil.example.com".parse().unwrap());
    let response = mint.clone().oneshot(hostile).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(store.is_empty());
    let mut friendly = post_as(Some(1));
    friendly
        .headers_mut()
        .insert("origin", "https://app.example.com".parse().unwrap());
    assert_eq!(
        mint.clone().oneshot(friendly).await.unwrap().status(),
        StatusCode::OK
    );
    // Non-browser clients send no Origin.
    assert_eq!(
        mint.oneshot(post_as(Some(1))).await.unwrap().status(),
        StatusCode::OK
    );
}

fn post_from(origin: Option<&str>, host: Option<&str>) -> Request<String> {
    let mut req = post_as(Some(1));
    if let Some(origin) = origin {
        req.headers_mut().insert("origin", origin.parse().unwrap());
    }
    if let Some(host) = host {
        req.headers_mut().insert("host", host.parse().unwrap());
    }
    req
}

#[tokio::test]
async fn a_cross_site_post_is_refused_by_default() {
    // Another site's page making a signed-in visitor's browser POST here:
    // refused without any configuration, and audited.
    let store = Store::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let mint = MintService::new(store.clone())
        .on_audit(move |event: &AuditEvent<'_>| sink.lock().unwrap().push(format!("{event:?}")));
    for (origin, host) in [
        ("https://evil.example", Some("app.example.com")),
        (
            "https://app.example.com.evil.example",
            Some("app.example.com"),
        ),
        ("http://localhost:3001", Some("localhost:3000")),
        ("null", Some("app.example.com")),
        // No Host to compare with: only an allowlist could admit it.
        ("https://app.example.com", None),
    ] {
        let response = mint
            .clone()
            .oneshot(post_from(Some(origin), host))
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{origin} {host:?}"
        );
    }
    assert!(store.is_empty());
    assert!(events.lock().unwrap().iter().all(|e| e.contains("Origin")));
    // The page's own origin, and requests without Origin (not a browser).
    for (origin, host) in [
        (Some("https://app.example.com"), Some("app.example.com")),
        (Some("http://localhost:3000"), Some("localhost:3000")),
        (None, Some("app.example.com")),
        (None, None),
    ] {
        let response = mint.clone().oneshot(post_from(origin, host)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{origin:?} {host:?}");
    }
}

#[tokio::test]
async fn an_origin_that_is_not_serialized_is_not_the_requests_own() {
    // Issue 18, finding 4: no browser sends these; `:0443` passed as the
    // request's own origin.
    let store = Store::new();
    let mint = MintService::new(store.clone()).allowed_origins(["https://admin.example.com"]);
    for origin in [
        "https://app.example.com:0443",
        "https://app.example.com:443",
        "https://app.example.com/",
        "https://admin.example.com:0443",
        "https://admin.example.com/",
    ] {
        let response = mint
            .clone()
            .oneshot(post_from(Some(origin), Some("app.example.com")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{origin}");
    }
    assert!(store.is_empty());
}

#[tokio::test]
async fn the_allowlist_admits_other_origins_beside_the_requests_own() {
    let mint = MintService::new(Store::new()).allowed_origins(["https://admin.example.com"]);
    for origin in ["https://admin.example.com", "https://app.example.com"] {
        let response = mint
            .clone()
            .oneshot(post_from(Some(origin), Some("app.example.com")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{origin}");
    }
    let response = mint
        .oneshot(post_from(
            Some("https://evil.example"),
            Some("app.example.com"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn http2_requests_compare_with_their_authority() {
    // HTTP/2 has no Host header: the :authority is the request URI's.
    let mut req = Request::post("https://app.example.com/api/auth/ws-ticket")
        .header("origin", "https://app.example.com")
        .body(String::new())
        .unwrap();
    req.extensions_mut().insert(UserId(1));
    let response = MintService::new(Store::new()).oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn debug_shows_no_ticket() {
    let store = Store::new();
    let shown = format!("{:?}", MintService::new(store));
    assert!(shown.starts_with("MintService"), "{shown}");
    assert!(!shown.contains("wst_"));
}

/// The ticket text out of a 200's body.
async fn ticket_text(response: Response<Full<Bytes>>) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_text(response).await;
    body.strip_prefix(r#"{"ticket":""#)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("unexpected body {body}"))
        .to_owned()
}

#[tokio::test]
async fn an_audience_binds_the_tickets_it_mints() {
    let store = Store::new();
    let admin = Audience::new("mint-admin");
    let mint = MintService::new(store.clone()).audience("mint-admin");
    let ticket = ticket_text(mint.clone().oneshot(post_as(Some(3))).await.unwrap()).await;
    assert_eq!(
        store
            .consume_with_audience(&ticket, &admin)
            .unwrap()
            .identity,
        UserId(3)
    );
    // Not for another audience, nor for none.
    let ticket = ticket_text(mint.clone().oneshot(post_as(Some(3))).await.unwrap()).await;
    assert!(matches!(
        store.consume_with_audience(&ticket, &Audience::new("mint-page")),
        Err(TicketError::WrongAudience(_))
    ));
    let ticket = ticket_text(mint.oneshot(post_as(Some(3))).await.unwrap()).await;
    assert!(matches!(
        store.consume(&ticket),
        Err(TicketError::WrongAudience(_))
    ));
    // Without the setting: no audience.
    let plain = MintService::new(store.clone());
    let ticket = ticket_text(plain.oneshot(post_as(Some(4))).await.unwrap()).await;
    assert_eq!(store.consume(&ticket).unwrap().identity, UserId(4));
}

#[tokio::test]
async fn an_identity_at_its_cap_is_429_with_retry_after_and_audited() {
    let clock = crate::ManualClock::new();
    let store = Store::builder()
        .max_per_identity(2)
        .clock(clock.clone())
        .build();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let mint = MintService::new(store.clone())
        .on_audit(move |event: &AuditEvent<'_>| sink.lock().unwrap().push(format!("{event:?}")));
    let first = ticket_text(mint.clone().oneshot(post_as(Some(1))).await.unwrap()).await;
    clock.advance(Duration::from_millis(10_400));
    ticket_text(mint.clone().oneshot(post_as(Some(1))).await.unwrap()).await;

    let response = mint.clone().oneshot(post_as(Some(1))).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // 30 s less 10.4 s is 19.6 s: whole seconds, rounded up.
    assert_eq!(response.headers()[RETRY_AFTER], "20");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert!(body_text(response).await.is_empty());
    assert_eq!(
        events.lock().unwrap().last().map(String::as_str),
        Some("MintRejected { reason: IdentityFull, path: \"/api/auth/ws-ticket\", peer: None }")
    );
    assert_eq!(MintRejectReason::IdentityFull.as_str(), "identity-full");

    // Someone else still mints; the first ticket consumed frees a place.
    ticket_text(mint.clone().oneshot(post_as(Some(2))).await.unwrap()).await;
    store.consume(&first).unwrap();
    ticket_text(mint.clone().oneshot(post_as(Some(1))).await.unwrap()).await;

    // Both live tickets were minted at 10.4 s; half a second before they
    // expire, the answer is still a whole second.
    clock.advance(Duration::from_millis(29_500));
    let response = mint.oneshot(post_as(Some(1))).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
}

#[tokio::test]
async fn a_zero_cap_per_identity_answers_retry_after_the_ttl() {
    let store = Store::builder().max_per_identity(0).build();
    let response = MintService::new(store)
        .oneshot(post_as(Some(1)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[RETRY_AFTER], "30");
}

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{CACHE_CONTROL, RETRY_AFTER, SEC_WEBSOCKET_PROTOCOL};
use http::{Request, Response, StatusCode};
use std::task::Poll;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

use tower_test::mock;

use super::*;
use crate::audit::{AuditEvent, RejectReason};
use crate::error::{MintError, StoreUnavailable, TicketError};
use crate::store::Redeemed;
use crate::ticket::Ticket;
use crate::{Audience, ManualClock, MemoryStore};

type Store = MemoryStore<String>;

/// What the inner service saw, returned in the response.
#[derive(Clone, Debug)]
struct Seen {
    uri: String,
    principal: Option<Principal<String>>,
    /// The `Sec-WebSocket-Protocol` headers, as the inner service got them.
    protocols: Vec<String>,
}

async fn echo(req: Request<String>) -> Result<Response<String>, Infallible> {
    let seen = Seen {
        uri: req.uri().to_string(),
        principal: req.extensions().get::<Principal<String>>().cloned(),
        protocols: req
            .headers()
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect(),
    };
    let mut response = Response::new(String::from("inner"));
    response.extensions_mut().insert(seen);
    Ok(response)
}

fn upgrade(uri: &str) -> Request<String> {
    Request::get(uri)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(String::new())
        .unwrap()
}

fn with_header(mut req: Request<String>, name: &'static str, value: &str) -> Request<String> {
    req.headers_mut().append(name, value.parse().unwrap());
    req
}

fn with_peer(mut req: Request<String>, peer: &str) -> Request<String> {
    req.extensions_mut()
        .insert(peer.parse::<SocketAddr>().unwrap());
    req
}

async fn send<T, R>(layer: &WsTicketLayer<T, R>, req: Request<String>) -> Response<String>
where
    T: TicketStore,
    R: RejectionResponse<String> + Clone,
{
    ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(echo)
        .oneshot(req)
        .await
        .unwrap()
}

fn seen(response: &Response<String>) -> Option<&Seen> {
    response.extensions().get::<Seen>()
}

fn reason(response: &Response<String>) -> Option<RejectReason> {
    response
        .extensions()
        .get::<Rejection>()
        .map(Rejection::reason)
}

/// Asserts a refusal: status, reason, no-store, nothing reached the inner
/// service, and no credential echoed back.
fn assert_refused(response: &Response<String>, status: StatusCode, why: RejectReason) {
    assert_eq!(response.status(), status);
    assert_eq!(reason(response), Some(why));
    assert!(seen(response).is_none(), "inner service was called");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert!(response.body().is_empty());
}

fn ticket_uri(store: &Store, who: &str) -> (Ticket, String) {
    let ticket = store.mint(who.to_owned()).unwrap();
    let uri = format!("/api/ws?ticket={}", ticket.expose_secret());
    (ticket, uri)
}

#[tokio::test]
async fn non_upgrade_passes_untouched_and_consumes_nothing() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone());
    let (_ticket, uri) = ticket_uri(&store, "alice");
    let plain = Request::get(&uri).body(String::new()).unwrap();
    let response = send(&layer, plain).await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = seen(&response).unwrap();
    assert_eq!(seen.uri, uri);
    assert!(seen.principal.is_none());
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn valid_ticket_reaches_the_inner_service_with_its_principal() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone());
    let ticket = store.mint("alice".to_owned()).unwrap();
    let uri = format!(
        "/api/ws?room=7&ticket={}&x=%20y&flag",
        ticket.expose_secret()
    );
    let response = send(&layer, upgrade(&uri)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = seen(&response).unwrap();
    assert_eq!(seen.uri, "/api/ws?room=7&x=%20y&flag");
    match &seen.principal {
        Some(Principal::Ticket(redeemed)) => assert_eq!(redeemed.identity, "alice"),
        other => panic!("unexpected principal {other:?}"),
    }
    assert!(store.is_empty());
}

#[tokio::test]
async fn ticket_alone_leaves_no_query_behind() {
    let store = Store::new();
    let (_ticket, uri) = ticket_uri(&store, "alice");
    let response = send(&WsTicketLayer::new(store), upgrade(&uri)).await;
    assert_eq!(seen(&response).unwrap().uri, "/api/ws");
}

#[tokio::test]
async fn forbidden_origin_is_403_and_the_ticket_survives() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone()).allowed_origins(["https://app.example.com"]);
    let (ticket, uri) = ticket_uri(&store, "alice");
    let hostile = with_header(upgrade(&uri), "origin", "https://evil.example.com");
    assert_refused(
        &send(&layer, hostile).await,
        StatusCode::FORBIDDEN,
        RejectReason::Origin,
    );
    assert_eq!(store.len(), 1, "a hostile page must not burn tickets");
    let friendly = with_header(upgrade(&uri), "origin", "https://APP.example.com");
    assert_eq!(send(&layer, friendly).await.status(), StatusCode::OK);
    drop(ticket);
}

#[tokio::test]
async fn an_origin_that_is_not_serialized_is_403() {
    // Issue 18, finding 4: no browser sends these; `:0443` passed.
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone()).allowed_origins(["https://app.example.com"]);
    let (_ticket, uri) = ticket_uri(&store, "alice");
    for origin in [
        "https://app.example.com:0443",
        "https://app.example.com:443",
        "https://app.example.com/",
        "https://app.example.com.",
        "https://u@app.example.com",
    ] {
        assert_refused(
            &send(&layer, with_header(upgrade(&uri), "origin", origin)).await,
            StatusCode::FORBIDDEN,
            RejectReason::Origin,
        );
    }
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn a_second_origin_header_is_checked_too() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone()).allowed_origins(["https://app.example.com"]);
    let (_ticket, uri) = ticket_uri(&store, "alice");
    let req = with_header(upgrade(&uri), "origin", "https://app.example.com");
    let req = with_header(req, "origin", "https://evil.example.com");
    assert_refused(
        &send(&layer, req).await,
        StatusCode::FORBIDDEN,
        RejectReason::Origin,
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn no_origin_header_passes_the_origin_check() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone()).allowed_origins(["https://app.example.com"]);
    let (_ticket, uri) = ticket_uri(&store, "alice");
    assert_eq!(send(&layer, upgrade(&uri)).await.status(), StatusCode::OK);
}

#[test]
fn invalid_allowed_origin_is_a_config_error() {
    let result =
        WsTicketLayer::new(Store::new()).try_allowed_origins(["https://app.example.com/path"]);
    assert!(matches!(result, Err(ConfigError::InvalidOrigin(_))));
}

#[tokio::test]
async fn upgrade_without_credential_is_401() {
    let layer = WsTicketLayer::new(Store::new());
    for uri in ["/api/ws", "/api/ws?room=1", "/api/ws?Ticket=x"] {
        assert_refused(
            &send(&layer, upgrade(uri)).await,
            StatusCode::UNAUTHORIZED,
            RejectReason::Missing,
        );
    }
}

#[tokio::test]
async fn duplicate_or_mixed_credentials_are_401_and_consume_nothing() {
    let store = Store::new();
    let internal = InternalCredential::generate();
    let layer = WsTicketLayer::new(store.clone()).internal_credential(internal.clone());
    let a = store.mint("a".to_owned()).unwrap();
    let b = store.mint("b".to_owned()).unwrap();
    let (a, b) = (a.expose_secret(), b.expose_secret());
    let i = internal.expose_secret();
    for uri in [
        format!("/ws?ticket={a}&ticket={b}"),
        format!("/ws?ticket={a}&ticket={a}"),
        format!("/ws?ticket={a}&internal={i}"),
        format!("/ws?internal={i}&token=x"),
        format!("/ws?%74icket={a}&ticket={b}"),
    ] {
        assert_refused(
            &send(&layer, upgrade(&uri)).await,
            StatusCode::UNAUTHORIZED,
            RejectReason::Ambiguous,
        );
    }
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn an_unreadable_protocol_line_is_401_and_consumes_nothing() {
    // Issue 18, finding 1: a `Sec-WebSocket-Protocol` line of obs-text
    // (Latin-1 `café`) was skipped unread, so the query ticket was consumed
    // and the handler got the line with a second credential inside.
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone());
    let (query, uri) = ticket_uri(&store, "alice");
    let hidden = store.mint("mallory".to_owned()).unwrap();
    let line = format!("ws-ticket, ws-ticket.{}, caf\u{e9}", hidden.expose_secret());
    let line: Vec<u8> = line.chars().map(|c| c as u8).collect();
    let mut req = upgrade(&uri);
    req.headers_mut().append(
        SEC_WEBSOCKET_PROTOCOL,
        http::HeaderValue::from_bytes(&line).unwrap(),
    );
    assert_refused(
        &send(&layer, req).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::Malformed,
    );
    assert!(store.consume(query.expose_secret()).is_ok());
    assert!(store.consume(hidden.expose_secret()).is_ok());
}

#[tokio::test]
async fn replayed_ticket_is_401() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone());
    let (_ticket, uri) = ticket_uri(&store, "alice");
    assert_eq!(send(&layer, upgrade(&uri)).await.status(), StatusCode::OK);
    assert_refused(
        &send(&layer, upgrade(&uri)).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::Unknown,
    );
}

#[tokio::test]
async fn unknown_expired_and_malformed_tickets_are_401() {
    let clock = ManualClock::new();
    let store = Store::builder().clock(clock.clone()).build();
    let layer = WsTicketLayer::new(store.clone());
    let foreign = Store::new().mint("mallory".to_owned()).unwrap();
    let unknown = format!("/ws?ticket={}", foreign.expose_secret());
    assert_refused(
        &send(&layer, upgrade(&unknown)).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::Unknown,
    );

    let (_ticket, expired) = ticket_uri(&store, "alice");
    clock.advance(Duration::from_secs(31));
    assert_refused(
        &send(&layer, upgrade(&expired)).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::Expired,
    );

    for malformed in [
        "/ws?ticket=",
        "/ws?ticket",
        "/ws?ticket=wst_short",
        "/ws?ticket=%ff%fe",
    ] {
        assert_refused(
            &send(&layer, upgrade(malformed)).await,
            StatusCode::UNAUTHORIZED,
            RejectReason::Malformed,
        );
    }
}

#[tokio::test]
async fn hostile_query_strings_get_a_clean_401() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone());
    let (_ticket, _) = ticket_uri(&store, "alice");
    let huge = format!(
        "/ws?pad={}&ticket=wst_{}A",
        "a".repeat(60 * 1024),
        "b".repeat(42)
    );
    let cases = [
        (huge.as_str(), RejectReason::Unknown),
        ("/ws?ticket=%zz%", RejectReason::Malformed),
        ("/ws?ticket=%C3%28", RejectReason::Malformed),
        ("/ws?ticket", RejectReason::Malformed),
        ("/ws?=&&=&", RejectReason::Missing),
    ];
    for (uri, why) in cases {
        assert_refused(
            &send(&layer, upgrade(uri)).await,
            StatusCode::UNAUTHORIZED,
            why,
        );
    }
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn internal_credential_admits_any_number_of_times() {
    let internal = InternalCredential::generate();
    let layer = WsTicketLayer::new(Store::new()).internal_credential(internal.clone());
    let uri = format!("/api/pub?internal={}&child=term", internal.expose_secret());
    for _ in 0..3 {
        let response = send(&layer, upgrade(&uri)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let seen = seen(&response).unwrap();
        assert_eq!(seen.principal, Some(Principal::Internal));
        assert_eq!(seen.uri, "/api/pub?child=term");
    }
}

#[tokio::test]
async fn a_route_without_tickets_refuses_them_and_consumes_nothing() {
    let store = Store::new();
    let internal = InternalCredential::generate();
    let layer = WsTicketLayer::new(store.clone())
        .internal_credential(internal.clone())
        .without_tickets();
    let (_ticket, uri) = ticket_uri(&store, "alice");
    assert_refused(
        &send(&layer, upgrade(&uri)).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::TicketNotAccepted,
    );
    assert_eq!(store.len(), 1);
    let internal_uri = format!("/api/pub?internal={}", internal.expose_secret());
    assert_eq!(
        send(&layer, upgrade(&internal_uri)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_or_unconfigured_internal_credential_is_401() {
    let internal = InternalCredential::generate();
    let uri = format!("/ws?internal={}", internal.expose_secret());
    let unconfigured = WsTicketLayer::new(Store::new());
    assert_refused(
        &send(&unconfigured, upgrade(&uri)).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::BadInternal,
    );
    let other =
        WsTicketLayer::new(Store::new()).internal_credential(InternalCredential::generate());
    assert_refused(
        &send(&other, upgrade(&uri)).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::BadInternal,
    );
    assert_refused(
        &send(&other, upgrade("/ws?internal=")).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::BadInternal,
    );
}

#[tokio::test]
async fn tickets_and_the_internal_credential_do_not_stand_in_for_each_other() {
    let store = Store::new();
    let internal = InternalCredential::generate();
    let layer = WsTicketLayer::new(store.clone()).internal_credential(internal.clone());
    let ticket = store.mint("alice".to_owned()).unwrap();
    let as_internal = format!("/ws?internal={}", ticket.expose_secret());
    assert_refused(
        &send(&layer, upgrade(&as_internal)).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::BadInternal,
    );
    let as_ticket = format!("/ws?ticket={}", internal.expose_secret());
    assert_refused(
        &send(&layer, upgrade(&as_ticket)).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::Malformed,
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn token_in_gated_mode_is_401_whatever_its_value() {
    let layer =
        WsTicketLayer::new(Store::new()).internal_credential(InternalCredential::generate());
    for uri in [
        "/ws?token=the-real-session-token",
        "/ws?token=",
        "/ws?token",
    ] {
        assert_refused(
            &send(&layer, with_peer(upgrade(uri), "127.0.0.1:5000")).await,
            StatusCode::UNAUTHORIZED,
            RejectReason::TokenInGatedMode,
        );
    }
}

#[tokio::test]
async fn loopback_mode_accepts_the_right_token_from_a_loopback_peer() {
    let layer = WsTicketLayer::new(Store::new()).loopback_token("s3cret-session");
    for peer in ["127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
        let response = send(
            &layer,
            with_peer(upgrade("/ws?token=s3cret-session&a=1"), peer),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{peer}");
        let seen = seen(&response).unwrap();
        assert_eq!(seen.principal, Some(Principal::SessionToken));
        assert_eq!(seen.uri, "/ws?a=1");
    }
    assert_refused(
        &send(
            &layer,
            with_peer(upgrade("/ws?token=s3cret-sessioN"), "127.0.0.1:5000"),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        RejectReason::BadToken,
    );
}

#[tokio::test]
async fn loopback_mode_refuses_the_token_when_the_peer_is_unknown() {
    // The check cannot decide without the peer, so it refuses: a stack that
    // does not tell the address (axum without the feature or a peer_addr,
    // say) no longer lets a leaked token in from anywhere.
    let layer = WsTicketLayer::new(Store::new()).loopback_token("s3cret-session");
    assert_refused(
        &send(&layer, upgrade("/ws?token=s3cret-session")).await,
        StatusCode::FORBIDDEN,
        RejectReason::UnknownPeer,
    );
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn with_the_axum_feature_connect_info_is_the_default_peer() {
    let layer = WsTicketLayer::new(Store::new()).loopback_token("s3cret-session");
    let from = |peer: &str| {
        let mut req = upgrade("/ws?token=s3cret-session");
        req.extensions_mut().insert(axum::extract::ConnectInfo(
            peer.parse::<SocketAddr>().unwrap(),
        ));
        req
    };
    assert_refused(
        &send(&layer, from("192.0.2.1:9")).await,
        StatusCode::FORBIDDEN,
        RejectReason::NonLoopbackPeer,
    );
    let response = send(&layer, from("127.0.0.1:9")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        seen(&response).unwrap().principal,
        Some(Principal::SessionToken)
    );
}

#[tokio::test]
async fn loopback_mode_refuses_the_token_from_the_network() {
    let layer = WsTicketLayer::new(Store::new()).loopback_token("s3cret-session");
    for peer in [
        "10.0.0.7:5000",
        "[2001:db8::1]:5000",
        "[::ffff:10.0.0.7]:5000",
    ] {
        assert_refused(
            &send(&layer, with_peer(upgrade("/ws?token=s3cret-session"), peer)).await,
            StatusCode::FORBIDDEN,
            RejectReason::NonLoopbackPeer,
        );
    }
}

#[derive(Clone, Copy)]
struct ConnectInfo(SocketAddr);

#[tokio::test]
async fn peer_address_comes_from_the_configured_extractor() {
    let layer = WsTicketLayer::new(Store::new())
        .loopback_token("s3cret-session")
        .peer_addr(|ext| ext.get::<ConnectInfo>().map(|c| c.0));
    let mut req = upgrade("/ws?token=s3cret-session");
    req.extensions_mut()
        .insert(ConnectInfo("192.0.2.1:9".parse().unwrap()));
    assert_refused(
        &send(&layer, req).await,
        StatusCode::FORBIDDEN,
        RejectReason::NonLoopbackPeer,
    );
}

#[tokio::test]
async fn loopback_mode_keeps_accepting_tickets_and_the_internal_credential() {
    let store = Store::new();
    let internal = InternalCredential::generate();
    let layer = WsTicketLayer::new(store.clone())
        .loopback_token("s3cret-session")
        .internal_credential(internal.clone());
    let (_ticket, uri) = ticket_uri(&store, "alice");
    let from_network = |uri: &str| with_peer(upgrade(uri), "10.0.0.7:5000");
    assert_eq!(
        send(&layer, from_network(&uri)).await.status(),
        StatusCode::OK
    );
    let internal_uri = format!("/ws?internal={}", internal.expose_secret());
    assert_eq!(
        send(&layer, from_network(&internal_uri)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn http2_extended_connect_is_guarded() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone());
    let connect = |uri: &str| {
        let mut req = Request::connect(uri).body(String::new()).unwrap();
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        req
    };
    assert_refused(
        &send(&layer, connect("/ws")).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::Missing,
    );
    let (_ticket, uri) = ticket_uri(&store, "alice");
    let response = send(&layer, connect(&uri)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        seen(&response).unwrap().principal,
        Some(Principal::Ticket(_))
    ));
}

#[tokio::test]
async fn guard_path_scopes_the_layer() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone())
        .guard_path("/api/ws")
        .guard_prefix("/live");
    // Outside the scope: untouched, even an upgrade.
    let response = send(&layer, upgrade("/other/ws")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(seen(&response).unwrap().principal.is_none());
    for guarded in ["/api/ws", "/api/%77s", "/live/room/1"] {
        assert_refused(
            &send(&layer, upgrade(guarded)).await,
            StatusCode::UNAUTHORIZED,
            RejectReason::Missing,
        );
    }
}

#[tokio::test]
async fn dot_segments_under_a_guarded_prefix_are_refused_without_consuming() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone()).guard_prefix("/api/ws");
    for attack in [
        "/api/ws/..",
        "/api/ws/%2e%2e",
        "/api/ws/.%2e",
        "/api/ws/x%2F..%2F..",
    ] {
        // With no credential: refused, where it used to pass as `/api`.
        assert_refused(
            &send(&layer, upgrade(attack)).await,
            StatusCode::FORBIDDEN,
            RejectReason::AmbiguousPath,
        );
        // With a valid ticket: refused too, and the ticket is kept.
        let (ticket, _) = ticket_uri(&store, "alice");
        let uri = format!("{attack}?ticket={}", ticket.expose_secret());
        assert_refused(
            &send(&layer, upgrade(&uri)).await,
            StatusCode::FORBIDDEN,
            RejectReason::AmbiguousPath,
        );
        assert!(store.consume(ticket.expose_secret()).is_ok(), "{attack}");
    }
    // A plain request on such a path is not an upgrade: untouched.
    let plain = Request::get("/api/ws/..").body(String::new()).unwrap();
    assert_eq!(send(&layer, plain).await.status(), StatusCode::OK);
}

/// A store that can be switched off, standing in for Redis going down.
#[derive(Clone)]
struct SwitchableStore {
    inner: Store,
    down: Arc<AtomicBool>,
}

impl TicketStore for SwitchableStore {
    type Identity = String;
    type MintFuture = Ready<Result<Ticket, MintError>>;
    type ConsumeFuture = Ready<Result<Redeemed<String>, TicketError>>;

    fn mint_ticket(&self, identity: String, audience: Option<&Audience>) -> Self::MintFuture {
        if self.down.load(Ordering::SeqCst) {
            return ready(Err(MintError::Unavailable(StoreUnavailable::new(
                "switched off",
            ))));
        }
        self.inner.mint_ticket(identity, audience)
    }

    fn consume_ticket(&self, presented: &str, audience: Option<&Audience>) -> Self::ConsumeFuture {
        if self.down.load(Ordering::SeqCst) {
            return ready(Err(TicketError::Unavailable(StoreUnavailable::new(
                "switched off",
            ))));
        }
        self.inner.consume_ticket(presented, audience)
    }

    fn ttl(&self) -> Duration {
        self.inner.ttl()
    }
}

#[tokio::test]
async fn unreachable_store_is_503_and_the_ticket_still_works_after() {
    let inner = Store::new();
    let store = SwitchableStore {
        inner: inner.clone(),
        down: Arc::new(AtomicBool::new(true)),
    };
    let layer = WsTicketLayer::new(store.clone());
    let (_ticket, uri) = ticket_uri(&inner, "alice");
    let response = send(&layer, upgrade(&uri)).await;
    assert_refused(
        &response,
        StatusCode::SERVICE_UNAVAILABLE,
        RejectReason::StoreUnavailable,
    );
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    store.down.store(false, Ordering::SeqCst);
    assert_eq!(send(&layer, upgrade(&uri)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn custom_rejection_response_is_used_and_still_uncacheable() {
    let layer = WsTicketLayer::new(Store::new()).with_rejection_response(|rejection: Rejection| {
        let mut response =
            Response::new(format!("{{\"error\":\"{}\"}}", rejection.reason().as_str()));
        *response.status_mut() = rejection.status();
        response
    });
    let response = send(&layer, upgrade("/ws?ticket=wst_nope")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.body(), "{\"error\":\"malformed\"}");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(reason(&response), Some(RejectReason::Malformed));
}

#[tokio::test]
async fn audit_events_name_reasons_and_never_secrets() {
    let store = Store::new();
    let internal = InternalCredential::generate();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let layer = WsTicketLayer::new(store.clone())
        .internal_credential(internal.clone())
        .audit_label(|who: &String| format!("user:{who}"))
        .on_audit(move |event: &AuditEvent<'_>| sink.lock().unwrap().push(format!("{event:?}")));
    let (ticket, uri) = ticket_uri(&store, "alice");
    send(&layer, with_peer(upgrade(&uri), "127.0.0.1:4000")).await;
    send(&layer, upgrade(&uri)).await;
    let internal_uri = format!("/api/pub?internal={}", internal.expose_secret());
    send(&layer, upgrade(&internal_uri)).await;
    send(&layer, upgrade("/api/ws?internal=wsi_wrong-guess")).await;

    let events = events.lock().unwrap();
    assert_eq!(events.len(), 4, "{events:#?}");
    assert!(events[0].starts_with("Consumed { credential: Ticket, identity: Some(\"user:alice\"), path: \"/api/ws\", peer: Some(127.0.0.1:4000)"), "{}", events[0]);
    assert!(
        events[1].starts_with("Rejected { reason: Unknown, path: \"/api/ws\""),
        "{}",
        events[1]
    );
    assert!(
        events[1].contains(&format!(
            "ticket: Some(\"{}…\")",
            &ticket.expose_secret()[..8]
        )),
        "{}",
        events[1]
    );
    assert!(
        events[2]
            .starts_with("Consumed { credential: Internal, identity: None, path: \"/api/pub\""),
        "{}",
        events[2]
    );
    assert!(
        events[3].starts_with("Rejected { reason: BadInternal")
            && events[3].contains("ticket: None"),
        "{}",
        events[3]
    );
    for event in events.iter() {
        assert!(!event.contains(&ticket.expose_secret()[..9]), "{event}");
        assert!(!event.contains(&internal.expose_secret()[..9]), "{event}");
        assert!(!event.contains("wrong-guess"), "{event}");
    }
}

#[tokio::test]
async fn other_secrets_sent_as_a_ticket_stay_out_of_the_audit_log() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let internal = InternalCredential::generate();
    let layer = WsTicketLayer::new(Store::new())
        .on_audit(move |event: &AuditEvent<'_>| sink.lock().unwrap().push(format!("{event:?}")));
    let as_ticket = format!("/ws?ticket={}", internal.expose_secret());
    send(&layer, upgrade(&as_ticket)).await;
    send(&layer, upgrade("/ws?ticket=short")).await;
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2);
    for event in events.iter() {
        assert!(
            event.contains("reason: Malformed") && event.contains("ticket: None"),
            "{event}"
        );
        assert!(
            !event.contains("wsi_") && !event.contains("short"),
            "{event}"
        );
    }
}

#[test]
fn layer_debug_shows_no_secret() {
    let internal = InternalCredential::generate();
    let layer = WsTicketLayer::new(Store::new())
        .internal_credential(internal.clone())
        .loopback_token("s3cret-session");
    let shown = format!("{layer:?}");
    assert!(!shown.contains(internal.expose_secret()), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("loopback"), "{shown}");
}

#[test]
fn child_credential_follows_the_mode() {
    let internal = InternalCredential::generate();
    let gated = WsTicketLayer::new(Store::new()).internal_credential(internal.clone());
    let url = gated
        .child_credential()
        .unwrap()
        .attach_url("ws://127.0.0.1:1/api/pub")
        .unwrap();
    assert_eq!(
        url,
        format!(
            "ws://127.0.0.1:1/api/pub?internal={}",
            internal.expose_secret()
        )
    );
    let loopback = gated.clone().loopback_token("tok");
    let url = loopback
        .child_credential()
        .unwrap()
        .attach_url("ws://127.0.0.1:1/api/pub")
        .unwrap();
    assert_eq!(url, "ws://127.0.0.1:1/api/pub?token=tok");
    assert!(
        WsTicketLayer::new(Store::new())
            .child_credential()
            .is_none()
    );
}

#[tokio::test]
async fn poll_ready_is_the_inner_services() {
    let (mut service, mut handle) =
        mock::spawn_layer::<Request<String>, Response<String>, _>(WsTicketLayer::new(Store::new()));
    handle.allow(0);
    assert!(service.poll_ready().is_pending());
    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
}

#[tokio::test]
async fn the_inner_service_gets_the_stripped_request_once_the_ticket_is_redeemed() {
    let store = Store::new();
    let (mut service, mut handle) = mock::spawn_layer::<Request<String>, Response<String>, _>(
        WsTicketLayer::new(store.clone()),
    );
    let ticket = store.mint("alice".to_owned()).unwrap();
    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
    let call = tokio::spawn(service.call(upgrade(&format!(
        "/ws?ticket={}&a=1",
        ticket.expose_secret()
    ))));
    let (request, respond) = handle.next_request().await.expect("inner service called");
    assert_eq!(request.uri(), "/ws?a=1");
    assert!(matches!(
        request.extensions().get::<Principal<String>>(),
        Some(Principal::Ticket(Redeemed { identity, .. })) if identity == "alice"
    ));
    respond.send_response(Response::new("upgraded".to_owned()));
    assert_eq!(call.await.unwrap().unwrap().into_body(), "upgraded");
}

#[tokio::test]
async fn refused_upgrades_never_reach_the_inner_service() {
    let (mut service, mut handle) =
        mock::spawn_layer::<Request<String>, Response<String>, _>(WsTicketLayer::new(Store::new()));
    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
    let response = service
        .call(upgrade("/ws?ticket=wst_forged"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The one allowed call is still unused.
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
    drop(service);
    assert!(handle.next_request().await.is_none());
}

#[tokio::test]
async fn works_with_a_plain_service_fn() {
    let store = Store::new();
    let service = WsTicket::new(service_fn(echo), store.clone());
    let (_ticket, uri) = ticket_uri(&store, "bob");
    let response = service.oneshot(upgrade(&uri)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

// --- The credential in Sec-WebSocket-Protocol (`ws-ticket.<ticket>`, off the URL) ---

fn offering(uri: &str, protocols: &str) -> Request<String> {
    with_header(upgrade(uri), "sec-websocket-protocol", protocols)
}

/// An inner service that accepts the upgrade (101), selecting `selected`.
fn accepting(
    selected: Option<&'static str>,
) -> impl Service<
    Request<String>,
    Response = Response<String>,
    Error = Infallible,
    Future = Ready<Result<Response<String>, Infallible>>,
> + Clone {
    service_fn(move |req: Request<String>| {
        let mut response = Response::new(String::new());
        *response.status_mut() = if req.method() == http::Method::CONNECT {
            StatusCode::OK
        } else {
            StatusCode::SWITCHING_PROTOCOLS
        };
        if let Some(selected) = selected {
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, selected.parse().unwrap());
        }
        ready(Ok(response))
    })
}

fn selected(response: &Response<String>) -> Option<&str> {
    response
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_ticket_in_the_subprotocol_header_is_consumed_and_removed() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone());
    let ticket = store.mint("alice".to_owned()).unwrap();
    let offered = format!("ws-ticket, ws-ticket.{}, chat.v1", ticket.expose_secret());
    let response = send(&layer, offering("/api/ws?room=1", &offered)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = seen(&response).unwrap();
    assert!(matches!(&seen.principal, Some(Principal::Ticket(r)) if r.identity == "alice"));
    // The entry is gone, the others kept in order; the URI is untouched.
    assert_eq!(seen.protocols, ["ws-ticket, chat.v1"]);
    assert_eq!(seen.uri, "/api/ws?room=1");
    // Single use, whichever channel it comes back in.
    let replay = send(&layer, offering("/api/ws", &offered)).await;
    assert_refused(&replay, StatusCode::UNAUTHORIZED, RejectReason::Unknown);
    let uri = format!("/api/ws?ticket={}", ticket.expose_secret());
    assert_refused(
        &send(&layer, upgrade(&uri)).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::Unknown,
    );
}

#[tokio::test]
async fn the_internal_credential_travels_in_the_header_too() {
    let internal = InternalCredential::generate();
    let layer = WsTicketLayer::new(Store::new()).internal_credential(internal.clone());
    let offered = format!("ws-ticket.{}", internal.expose_secret());
    for _ in 0..2 {
        let response = send(&layer, offering("/pub", &offered)).await;
        let seen = seen(&response).unwrap();
        assert_eq!(seen.principal, Some(Principal::Internal));
        // It was the only entry: no header left at all.
        assert!(seen.protocols.is_empty());
    }
}

#[tokio::test]
async fn the_marker_is_selected_when_the_handler_selects_nothing() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone());
    let entry = |store: &Store| {
        format!(
            "ws-ticket, ws-ticket.{}",
            store.mint("alice".to_owned()).unwrap().expose_secret()
        )
    };
    let response = layer
        .clone()
        .layer(accepting(None))
        .oneshot(offering("/ws", &entry(&store)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(selected(&response), Some("ws-ticket"));
    // The handler's own choice stands.
    let offered = format!("{}, chat.v1", entry(&store));
    let response = layer
        .clone()
        .layer(accepting(Some("chat.v1")))
        .oneshot(offering("/ws", &offered))
        .await
        .unwrap();
    assert_eq!(selected(&response), Some("chat.v1"));
    // A ticket in the query, with the marker offered: the marker is
    // selected all the same (the browser offered protocols).
    let uri = format!(
        "/ws?ticket={}",
        store.mint("bob".to_owned()).unwrap().expose_secret()
    );
    let response = layer
        .clone()
        .layer(accepting(None))
        .oneshot(offering(&uri, "ws-ticket"))
        .await
        .unwrap();
    assert_eq!(selected(&response), Some("ws-ticket"));
    // No marker offered: nothing is selected for the client.
    let uri = format!(
        "/ws?ticket={}",
        store.mint("carol".to_owned()).unwrap().expose_secret()
    );
    let response = layer
        .layer(accepting(None))
        .oneshot(upgrade(&uri))
        .await
        .unwrap();
    assert_eq!(selected(&response), None);
}

#[tokio::test]
async fn the_marker_is_selected_on_an_http2_connect_too() {
    let store = Store::new();
    let ticket = store.mint("alice".to_owned()).unwrap();
    let mut req = Request::connect("/ws")
        .header(
            "sec-websocket-protocol",
            format!("ws-ticket, ws-ticket.{}", ticket.expose_secret()),
        )
        .body(String::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let response = WsTicketLayer::new(store)
        .layer(accepting(None))
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(selected(&response), Some("ws-ticket"));
}

#[tokio::test]
async fn header_credentials_that_are_not_exactly_one_consume_nothing() {
    let store = Store::new();
    let internal = InternalCredential::generate();
    let layer = WsTicketLayer::new(store.clone()).internal_credential(internal.clone());
    let ticket = store.mint("alice".to_owned()).unwrap();
    let text = ticket.expose_secret();
    for (uri, protocols, why) in [
        // In the query and in the header.
        (
            format!("/ws?ticket={text}"),
            format!("ws-ticket, ws-ticket.{text}"),
            RejectReason::Ambiguous,
        ),
        // Two credential entries.
        (
            "/ws".to_owned(),
            format!("ws-ticket.{text}, ws-ticket.{}", internal.expose_secret()),
            RejectReason::Ambiguous,
        ),
        (
            "/ws".to_owned(),
            format!("ws-ticket.{text}, ws-ticket.{text}"),
            RejectReason::Ambiguous,
        ),
        // An entry with an unknown prefix (the session token is query-only).
        (
            format!("/ws?x={text}"),
            "ws-ticket, ws-ticket.s3cret-session".to_owned(),
            RejectReason::Malformed,
        ),
        // The marker alone.
        (
            "/ws".to_owned(),
            "ws-ticket, chat.v1".to_owned(),
            RejectReason::Missing,
        ),
    ] {
        assert_refused(
            &send(&layer, offering(&uri, &protocols)).await,
            StatusCode::UNAUTHORIZED,
            why,
        );
    }
    assert!(store.consume(text).is_ok(), "the ticket survived");
}

#[tokio::test]
async fn guard_path_scoping_covers_the_header_channel() {
    let store = Store::new();
    let layer = WsTicketLayer::new(store.clone()).guard_path("/api/ws");
    let ticket = store.mint("alice".to_owned()).unwrap();
    let offered = format!("ws-ticket, ws-ticket.{}", ticket.expose_secret());
    // Outside the scope the header is not touched (nor the ticket used).
    let outside = send(&layer, offering("/other", &offered)).await;
    assert_eq!(seen(&outside).unwrap().protocols, [offered.as_str()]);
    let inside = send(&layer, offering("/api/ws", &offered)).await;
    assert!(matches!(
        seen(&inside).unwrap().principal,
        Some(Principal::Ticket(_))
    ));
}

#[tokio::test]
async fn audit_events_never_hold_a_header_credential() {
    let store = Store::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let layer = WsTicketLayer::new(store.clone())
        .on_audit(move |event| sink.lock().unwrap().push(format!("{event:?}")));
    let ticket = store.mint("alice".to_owned()).unwrap();
    let offered = format!("ws-ticket, ws-ticket.{}", ticket.expose_secret());
    send(&layer, offering("/ws", &offered)).await;
    send(&layer, offering("/ws", &offered)).await; // refused: used
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2);
    let secret_part = &ticket.expose_secret()[8..];
    assert!(
        events.iter().all(|event| !event.contains(secret_part)),
        "{events:?}"
    );
}

// --- The memory store is settled inside `call` ---

#[test]
fn a_ready_store_hands_the_request_on_inside_call() {
    let store = Store::new();
    let (_ticket, uri) = ticket_uri(&store, "alice");
    let mut service = WsTicketLayer::new(store).layer(service_fn(echo));
    let future = service.call(upgrade(&uri));
    // Already with the inner service: nothing was boxed to wait.
    assert_eq!(
        format!("{future:?}"),
        r#"ResponseFuture { state: "inner" }"#
    );
}

/// A memory store whose consume answers one poll late, as a networked
/// store does.
#[derive(Clone)]
struct LateStore(Store);

struct Late<T>(Option<T>, bool);

impl<T: Unpin> std::future::Future for Late<T> {
    type Output = T;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<T> {
        if !self.1 {
            self.1 = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.0.take().expect("polled after completion"))
    }
}

impl TicketStore for LateStore {
    type Identity = String;
    type MintFuture = Ready<Result<Ticket, MintError>>;
    type ConsumeFuture = Late<Result<Redeemed<String>, TicketError>>;

    fn mint_ticket(&self, identity: String, audience: Option<&Audience>) -> Self::MintFuture {
        self.0.mint_ticket(identity, audience)
    }

    fn consume_ticket(&self, presented: &str, audience: Option<&Audience>) -> Self::ConsumeFuture {
        Late(
            Some(self.0.consume_ticket(presented, audience).into_inner()),
            false,
        )
    }

    fn ttl(&self) -> Duration {
        self.0.ttl()
    }
}

#[tokio::test]
async fn a_store_that_answers_later_is_waited_for() {
    let store = Store::new();
    let (_ticket, uri) = ticket_uri(&store, "alice");
    let mut service = WsTicketLayer::new(LateStore(store.clone())).layer(service_fn(echo));
    let future = service.call(upgrade(&uri));
    assert_eq!(
        format!("{future:?}"),
        r#"ResponseFuture { state: "consuming" }"#
    );
    let response = future.await.unwrap();
    let seen = seen(&response).unwrap();
    assert_eq!(seen.uri, "/api/ws");
    assert!(matches!(&seen.principal, Some(Principal::Ticket(r)) if r.identity == "alice"));
    // And a refusal the same way.
    let refused = service.call(upgrade(&uri)).await.unwrap();
    assert_refused(&refused, StatusCode::UNAUTHORIZED, RejectReason::Unknown);
}
// Audiences: the layer asks the store for its own, and a mismatch is a 401
// that burns the ticket.

/// Sends `ticket` to a layer with `audience` and returns the response and
/// the audit events.
async fn present_to(
    store: &Store,
    audience: Option<&str>,
    ticket: &Ticket,
) -> (Response<String>, Vec<String>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let mut layer = WsTicketLayer::new(store.clone())
        .on_audit(move |event: &AuditEvent<'_>| sink.lock().unwrap().push(format!("{event:?}")));
    if let Some(audience) = audience {
        layer = layer.audience(audience);
    }
    let uri = format!("/api/admin/ws?ticket={}", ticket.expose_secret());
    let response = send(&layer, upgrade(&uri)).await;
    let events = events.lock().unwrap().clone();
    (response, events)
}

#[tokio::test]
async fn a_ticket_for_the_layers_audience_is_admitted() {
    let store = Store::new();
    let ticket = store
        .mint_with_audience("alice".to_owned(), &Audience::new("layer-admin"))
        .unwrap();
    let (response, _) = present_to(&store, Some("layer-admin"), &ticket).await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = seen(&response).unwrap();
    assert_eq!(seen.uri, "/api/admin/ws");
    match &seen.principal {
        Some(Principal::Ticket(redeemed)) => assert_eq!(redeemed.identity, "alice"),
        other => panic!("unexpected principal {other:?}"),
    }
    assert!(store.is_empty());
}

#[tokio::test]
async fn a_ticket_for_another_audience_none_or_an_extra_one_is_refused_and_burned() {
    let page = Audience::new("layer-page");
    let admin = Audience::new("layer-admin");
    // (minted for, the layer's audience)
    let cases = [
        (Some(&page), Some("layer-admin")),
        (None, Some("layer-admin")),
        (Some(&admin), None),
    ];
    for (minted, layer_audience) in cases {
        let store = Store::new();
        let ticket = match minted {
            Some(audience) => store.mint_with_audience("alice".to_owned(), audience),
            None => store.mint("alice".to_owned()),
        }
        .unwrap();
        let (response, events) = present_to(&store, layer_audience, &ticket).await;
        assert_refused(
            &response,
            StatusCode::UNAUTHORIZED,
            RejectReason::WrongAudience,
        );
        // Burned: gone from the store, and refused at its own route too.
        assert!(store.is_empty(), "{minted:?} at {layer_audience:?}");
        let own = minted.map(Audience::name);
        let (again, _) = present_to(&store, own, &ticket).await;
        assert_refused(&again, StatusCode::UNAUTHORIZED, RejectReason::Unknown);
        // Audited with its reason and the ticket's first 8 characters; no
        // audience is named.
        assert_eq!(events.len(), 1, "{events:?}");
        let event = &events[0];
        assert!(event.contains("reason: WrongAudience"), "{event}");
        assert!(event.contains(&ticket.expose_secret()[..8]), "{event}");
        assert!(!event.contains(&ticket.expose_secret()[..9]), "{event}");
        assert!(!event.contains("layer-"), "{event}");
        assert_eq!(RejectReason::WrongAudience.as_str(), "wrong-audience");
    }
}

#[tokio::test]
async fn any_store_gets_the_layers_audience_through_the_trait() {
    let inner = Store::new();
    let store = SwitchableStore {
        inner: inner.clone(),
        down: Arc::new(AtomicBool::new(false)),
    };
    let admin = Audience::new("layer-admin");
    let layer = WsTicketLayer::new(store).audience(admin.clone());
    let ticket = inner.mint("alice".to_owned()).unwrap();
    let uri = format!("/ws?ticket={}", ticket.expose_secret());
    assert_refused(
        &send(&layer, upgrade(&uri)).await,
        StatusCode::UNAUTHORIZED,
        RejectReason::WrongAudience,
    );
    let ticket = inner
        .mint_with_audience("alice".to_owned(), &admin)
        .unwrap();
    let uri = format!("/ws?ticket={}", ticket.expose_secret());
    assert_eq!(send(&layer, upgrade(&uri)).await.status(), StatusCode::OK);
}

#[test]
fn layer_debug_names_its_audience() {
    let layer = WsTicketLayer::new(Store::new()).audience("layer-admin");
    let shown = format!("{layer:?}");
    assert!(
        shown.contains("audience: Some(Audience(\"layer-admin\"))"),
        "{shown}"
    );
}

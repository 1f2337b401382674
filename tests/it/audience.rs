//! End to end over real TCP: one store behind two guarded sockets with
//! different audiences (the page's `/api/ws` and an admin console's
//! `/api/admin/ws`), each with its own mint route, and a cap per identity.
//! Driven by a real HTTP client and a real WebSocket client.

use tower_ws_ticket_demo::testkit::{self as support, User};

use axum::Router;
use axum::extract::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::middleware;
use axum::response::Response;
use axum::routing::any;
use bytes::Bytes;
use http::StatusCode;
use http::header::RETRY_AFTER;
use http_body_util::Full;
use std::net::SocketAddr;
use tower_ws_ticket::{MemoryStore, MintService, Principal, WsTicketLayer};

const PAGE_MINT: &str = "/api/auth/ws-ticket";
const ADMIN_MINT: &str = "/api/admin/ws-ticket";
const PER_IDENTITY: usize = 3;

/// A stand-in auth gate that trusts `x-user`; each socket greets with its
/// own name and the caller's.
fn app(store: MemoryStore<User>) -> Router {
    async fn page_socket(ws: WebSocketUpgrade, who: Extension<Principal<User>>) -> Response {
        greeter(ws, who, "page")
    }

    async fn admin_socket(ws: WebSocketUpgrade, who: Extension<Principal<User>>) -> Response {
        greeter(ws, who, "admin")
    }

    fn greeter(
        ws: WebSocketUpgrade,
        Extension(who): Extension<Principal<User>>,
        route: &'static str,
    ) -> Response {
        let name = match who {
            Principal::Ticket(redeemed) => redeemed.identity.0,
            _ => "someone else".to_owned(),
        };
        ws.on_upgrade(move |socket| greet(socket, format!("{route} hello {name}")))
    }

    async fn greet(mut socket: WebSocket, greeting: String) {
        let _ = socket.send(Message::text(greeting)).await;
    }

    let page = Router::new()
        .route("/api/ws", any(page_socket))
        .route_layer(WsTicketLayer::new(store.clone()).audience("page"))
        .route_service(PAGE_MINT, MintService::new(store.clone()).audience("page"));
    let admin = Router::new()
        .route("/api/admin/ws", any(admin_socket))
        .route_layer(WsTicketLayer::new(store.clone()).audience("admin"))
        .route_service(ADMIN_MINT, MintService::new(store).audience("admin"));
    page.merge(admin).layer(middleware::from_fn(support::gate))
}

async fn start() -> SocketAddr {
    let store = MemoryStore::builder()
        .max_per_identity(PER_IDENTITY)
        .build();
    support::serve_axum(app(store)).await
}

/// `POST`s to a mint route as `user`: the status, `Retry-After`, and the
/// ticket on a 200.
async fn mint(
    addr: SocketAddr,
    route: &str,
    user: &str,
) -> (StatusCode, Option<String>, Option<String>) {
    let request = http::Request::post(format!("http://{addr}{route}"))
        .header(support::USER_HEADER, user)
        .body(Full::<Bytes>::default())
        .expect("request");
    let (status, headers, body) = support::send(request).await;
    let retry_after = headers
        .get(RETRY_AFTER)
        .map(|v| v.to_str().expect("ASCII").to_owned());
    let ticket = (status == StatusCode::OK).then(|| support::ticket_from_json(&body));
    (status, retry_after, ticket)
}

async fn minted(addr: SocketAddr, route: &str, user: &str) -> String {
    match mint(addr, route, user).await {
        (StatusCode::OK, _, Some(ticket)) => ticket,
        (status, ..) => panic!("mint at {route} answered {status}"),
    }
}

/// Opens the socket at `path` with `ticket`: its greeting, or the HTTP
/// status of the refusal.
async fn open(addr: SocketAddr, path: &str, ticket: &str) -> Result<String, StatusCode> {
    let url = format!("ws://{addr}{path}?ticket={ticket}");
    match support::connect(&url).await {
        Ok(mut socket) => Ok(support::next_text(&mut socket).await),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status()),
        Err(err) => panic!("handshake failed: {err}"),
    }
}

#[tokio::test]
async fn each_socket_opens_with_a_ticket_of_its_own_audience() {
    let addr = start().await;
    let page = minted(addr, PAGE_MINT, "alice").await;
    assert_eq!(
        open(addr, "/api/ws", &page).await,
        Ok("page hello alice".to_owned())
    );
    let admin = minted(addr, ADMIN_MINT, "root").await;
    assert_eq!(
        open(addr, "/api/admin/ws", &admin).await,
        Ok("admin hello root".to_owned())
    );
}

#[tokio::test]
async fn a_ticket_for_one_socket_cannot_open_the_other_and_is_burned() {
    let addr = start().await;
    // The page's ticket at the admin socket: refused, and gone.
    let page = minted(addr, PAGE_MINT, "alice").await;
    assert_eq!(
        open(addr, "/api/admin/ws", &page).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        open(addr, "/api/ws", &page).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    // And the other way round.
    let admin = minted(addr, ADMIN_MINT, "root").await;
    assert_eq!(
        open(addr, "/api/ws", &admin).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        open(addr, "/api/admin/ws", &admin).await,
        Err(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn an_identity_past_its_cap_gets_429_with_retry_after() {
    let addr = start().await;
    // The cap is the store's: tickets for both audiences count.
    let first = minted(addr, PAGE_MINT, "alice").await;
    minted(addr, PAGE_MINT, "alice").await;
    minted(addr, ADMIN_MINT, "alice").await;
    for route in [PAGE_MINT, ADMIN_MINT] {
        let (status, retry_after, ticket) = mint(addr, route, "alice").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{route}");
        assert!(ticket.is_none());
        let secs: u64 = retry_after
            .expect("Retry-After")
            .parse()
            .expect("whole seconds");
        assert!((1..=30).contains(&secs), "{secs}");
    }
    // Someone else is not held back.
    minted(addr, PAGE_MINT, "bob").await;
    // A socket opened uses a ticket up: its place is free at once.
    assert_eq!(
        open(addr, "/api/ws", &first).await,
        Ok("page hello alice".to_owned())
    );
    minted(addr, PAGE_MINT, "alice").await;
    assert_eq!(
        mint(addr, PAGE_MINT, "alice").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

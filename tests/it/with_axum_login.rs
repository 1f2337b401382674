//! The `with_axum_login` example's app (`tower_ws_ticket_demo::with_axum_login`)
//! over real TCP: sign in with axum-login, mint a ticket for the
//! `AuthSession`'s user, open the socket with it, sign out.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::Full;
use tower_ws_ticket::MemoryStore;
use tower_ws_ticket_demo::testkit::{self, connect, next_text, refused_status, round_trip};
use tower_ws_ticket_demo::with_axum_login;

async fn start() -> SocketAddr {
    testkit::serve_axum(with_axum_login::app(MemoryStore::new())).await
}

/// `POST /login` with `name`, and extra `headers`.
async fn login(addr: SocketAddr, name: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut request = Request::post(format!("http://{addr}/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (header, value) in headers {
        request = request.header(*header, *value);
    }
    let body = Full::new(Bytes::from(format!("name={name}")));
    let (status, headers, _) = testkit::send(request.body(body).expect("request")).await;
    let cookie = headers
        .get(SET_COOKIE)
        .map(|value| value.to_str().expect("ASCII cookie"))
        .and_then(|cookie| cookie.split(';').next())
        .unwrap_or_default()
        .to_owned();
    (status, cookie)
}

async fn post(addr: SocketAddr, path: &str, cookie: &str) -> StatusCode {
    let request = Request::post(format!("http://{addr}{path}"))
        .header(COOKIE, cookie)
        .body(Full::default())
        .expect("request");
    testkit::send(request).await.0
}

#[tokio::test]
async fn the_auth_session_user_is_the_ticket_identity() {
    let addr = start().await;
    let mint_url = format!("http://{addr}/api/auth/ws-ticket");

    // Not signed in: no AuthSession user, no ticket.
    assert_eq!(
        post(addr, "/api/auth/ws-ticket", "").await,
        StatusCode::UNAUTHORIZED
    );

    let (status, cookie) = login(addr, "ada", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(!cookie.is_empty(), "no session cookie");

    let ticket = testkit::mint(&mint_url, &[("cookie", cookie.as_str())]).await;
    let url = format!("ws://{addr}/api/ws?ticket={ticket}");
    let mut socket = connect(&url)
        .await
        .expect("a fresh ticket opens the socket");
    assert_eq!(next_text(&mut socket).await, "hello ada");
    assert_eq!(round_trip(&mut socket, "ping").await, "ping");
    assert_eq!(refused_status(&url).await, StatusCode::UNAUTHORIZED);

    // axum-login's logout ends the session: the cookie mints nothing.
    assert_eq!(post(addr, "/logout", &cookie).await, StatusCode::SEE_OTHER);
    assert_eq!(
        post(addr, "/api/auth/ws-ticket", &cookie).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bad_names_and_cross_site_logins_get_no_session() {
    let addr = start().await;
    let (status, cookie) = login(addr, "not%20ok", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(cookie.is_empty());

    let (status, cookie) =
        login(addr, "mallory", &[(ORIGIN.as_str(), "http://evil.example")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(cookie.is_empty());
}

/// The README's axum-login lines are this example's, word for word, so
/// they cannot drift from code that compiles and passes the test above.
#[test]
fn the_readme_shows_this_example() {
    let readme = include_str!("../../README.md");
    let source = include_str!("../../demo/src/with_axum_login.rs");
    let start = readme
        .find("```rust,ignore\n// axum-login")
        .expect("the README's axum-login block");
    let block = &readme[start..];
    let block = &block[block.find('\n').expect("a line") + 1..];
    let block = &block[..block.find("```").expect("the end of the block")];
    let mut rest = source;
    for line in block.lines().map(str::trim).filter(|line| !line.is_empty()) {
        if line.starts_with("//") || line == "..." {
            continue;
        }
        let at = rest
            .find(line)
            .unwrap_or_else(|| panic!("README line not in the example, in order: {line}"));
        rest = &rest[at + line.len()..];
    }
}

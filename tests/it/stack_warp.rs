//! The `stack_warp` example's app (`tower_ws_ticket_demo::stack_warp`) over
//! real TCP: warp's `ws()` filter as a tower service behind the layer,
//! scoped to `/api/ws`.

use std::net::SocketAddr;
use tower_ws_ticket_demo::{stack_warp, testkit};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tower_ws_ticket_demo::common::{MINT_PATH, Store};
use tower_ws_ticket_demo::testkit::{
    connect, mint_for, next_text, refused_status, round_trip, send,
};

async fn start() -> SocketAddr {
    testkit::serve_on_loopback(|listener| stack_warp::serve(listener, Store::new())).await
}

#[tokio::test]
async fn ticket_opens_the_guarded_route_once() {
    let addr = start().await;
    let ticket = mint_for(addr, "erin").await;
    let url = format!("ws://{addr}/api/ws?ticket={ticket}");

    let mut socket = connect(&url).await.expect("a fresh ticket opens /api/ws");
    // The greeting comes from the Principal the warp handler read with
    // warp::ext::get.
    assert_eq!(next_text(&mut socket).await, "hello erin");
    assert_eq!(round_trip(&mut socket, "warp echo").await, "warp echo");

    assert_eq!(refused_status(&url).await, StatusCode::UNAUTHORIZED);
}

/// The page's way (README, "The page"): the ticket as a `Sec-WebSocket-Protocol`
/// entry. warp's `ws()` filter negotiates no protocol, so the layer
/// answers with the `ws-ticket` marker selected; without it a browser (and
/// tokio-tungstenite) fails the handshake.
#[tokio::test]
async fn ticket_in_the_subprotocol_opens_the_guarded_route_once() {
    let addr = start().await;
    let ticket = mint_for(addr, "erin").await;
    let url = format!("ws://{addr}/api/ws");
    testkit::assert_subprotocol_ticket_opens_once(&url, &ticket, "erin").await;
}

#[tokio::test]
async fn guarded_route_refuses_upgrades_without_a_valid_ticket() {
    let addr = start().await;
    for query in ["", "?ticket=wst_forged", "?token=anything"] {
        let status = refused_status(&format!("ws://{addr}/api/ws{query}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{query:?}");
    }
}

#[tokio::test]
async fn mint_route_needs_the_signed_in_user() {
    let addr = start().await;
    let anonymous = Request::post(format!("http://{addr}{MINT_PATH}"))
        .body(Full::<Bytes>::default())
        .unwrap();
    assert_eq!(send(anonymous).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn upgrades_outside_the_scope_pass_untouched() {
    let addr = start().await;
    let ticket = mint_for(addr, "frank").await;

    // Outside guard_path: opens without a credential, and a ticket on it
    // is neither checked nor consumed.
    let mut public = connect(&format!("ws://{addr}/public/ws?ticket={ticket}"))
        .await
        .expect("/public/ws is outside the layer's scope");
    assert_eq!(next_text(&mut public).await, "hello anonymous");
    assert_eq!(round_trip(&mut public, "hi").await, "hi");

    let mut guarded = connect(&format!("ws://{addr}/api/ws?ticket={ticket}"))
        .await
        .expect("the ticket was not consumed on /public/ws");
    assert_eq!(next_text(&mut guarded).await, "hello frank");
}

#[tokio::test]
async fn plain_requests_pass_untouched() {
    let addr = start().await;
    let hello = Request::get(format!("http://{addr}/api/hello"))
        .body(Full::<Bytes>::default())
        .unwrap();
    let (status, _, body) = send(hello).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "hello from warp");
}

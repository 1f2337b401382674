//! The `stack_tonic` example's app (`tower_ws_ticket_demo::stack_tonic`)
//! over real TCP: a real gRPC client (tonic's `HealthClient`) and a real
//! WebSocket client on one port.

use std::net::SocketAddr;
use tower_ws_ticket_demo::{stack_tonic, testkit};

use futures_util::StreamExt;
use http::StatusCode;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower_ws_ticket_demo::common::Store;
use tower_ws_ticket_demo::testkit::{
    connect, mint_for, next_text, refused_status, round_trip, serve_on_loopback,
};

/// Which server runs the app.
#[derive(Clone, Copy)]
enum Server {
    /// hyper-util with upgrades (`stack_tonic::serve`).
    Upgrades,
    /// tonic's own, the layer in `Server::builder().layer(...)`.
    Tonic,
}

async fn start(server: Server) -> SocketAddr {
    let store = Store::new();
    match server {
        Server::Upgrades => serve_on_loopback(|listener| stack_tonic::serve(listener, store)).await,
        Server::Tonic => {
            serve_on_loopback(|listener| stack_tonic::serve_tonic(listener, store)).await
        }
    }
}

async fn health_check(addr: SocketAddr) -> ServingStatus {
    let call = async {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint URL")
            .connect()
            .await
            .expect("gRPC connect");
        let mut client = HealthClient::new(channel);
        client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("gRPC Check")
            .into_inner()
            .status()
    };
    tokio::time::timeout(testkit::STEP, call)
        .await
        .expect("gRPC call timed out")
}

#[tokio::test]
async fn grpc_passes_through_the_layer() {
    for server in [Server::Upgrades, Server::Tonic] {
        let addr = start(server).await;
        assert_eq!(health_check(addr).await, ServingStatus::Serving);
    }
}

#[tokio::test]
async fn socket_on_the_grpc_port_opens_with_a_ticket_once() {
    let addr = start(Server::Upgrades).await;
    // gRPC and the socket share the port.
    assert_eq!(health_check(addr).await, ServingStatus::Serving);

    let ticket = mint_for(addr, "carol").await;
    let url = format!("ws://{addr}/api/ws?ticket={ticket}");
    let mut socket = connect(&url).await.expect("a fresh ticket opens /api/ws");
    assert_eq!(next_text(&mut socket).await, "hello carol");
    assert_eq!(round_trip(&mut socket, "over h1").await, "over h1");

    assert_eq!(refused_status(&url).await, StatusCode::UNAUTHORIZED);
    // The gRPC service is still there after the socket traffic.
    assert_eq!(health_check(addr).await, ServingStatus::Serving);
}

/// The page's way (README, "The page"): the ticket as a `Sec-WebSocket-Protocol`
/// entry, on the port gRPC shares. The axum handler selects no protocol,
/// so the layer answers with the `ws-ticket` marker selected.
#[tokio::test]
async fn ticket_in_the_subprotocol_opens_the_socket_on_the_grpc_port_once() {
    let addr = start(Server::Upgrades).await;
    let ticket = mint_for(addr, "carol").await;
    let url = format!("ws://{addr}/api/ws");
    testkit::assert_subprotocol_ticket_opens_once(&url, &ticket, "carol").await;
    assert_eq!(health_check(addr).await, ServingStatus::Serving);
}

#[tokio::test]
async fn socket_without_a_credential_is_refused_on_both_servers() {
    for server in [Server::Upgrades, Server::Tonic] {
        let addr = start(server).await;
        let status = refused_status(&format!("ws://{addr}/api/ws")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let status = refused_status(&format!("ws://{addr}/api/ws?ticket=wst_forged")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

/// tonic's own server is the place for `Server::builder().layer(...)`, and
/// the layer does admit a valid ticket there (the handler answers 101), but
/// tonic serves HTTP/1.1 without upgrades, so the connection ends right
/// after the handshake. This is why the example serves sockets with
/// hyper-util; if tonic learns upgrades, this test fails and the docs of
/// `tower_ws_ticket_demo::stack_tonic` need updating.
#[tokio::test]
async fn tonic_server_admits_a_ticket_but_cannot_upgrade() {
    let addr = start(Server::Tonic).await;
    let ticket = mint_for(addr, "dave").await;
    let url = format!("ws://{addr}/api/ws?ticket={ticket}");

    let mut socket = connect(&url).await.expect("the layer admits the ticket");
    let first = tokio::time::timeout(testkit::STEP, socket.next())
        .await
        .expect("the connection ends in time");
    assert!(
        !matches!(first, Some(Ok(_))),
        "a message arrived over tonic's server: {first:?}"
    );
    // Admitted means consumed.
    assert_eq!(refused_status(&url).await, StatusCode::UNAUTHORIZED);
}

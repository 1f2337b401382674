//! The HTTPS server over loopback, with a rustls client: both HTTP
//! versions by ALPN, extended CONNECT over HTTP/2, and the child's pinned
//! trust.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{Empty, Full};
use hyper::ext::Protocol;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{ServerTls, serve};
use crate::testkit::STEP;

/// Serves, over `tls` on a loopback port, a service that answers each
/// request with its method, version and `:protocol` in the header
/// `x-seen` (a CONNECT's answer has no body: its stream is the tunnel).
async fn start(tls: &ServerTls) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let service = tower::service_fn(|req: Request<hyper::body::Incoming>| async move {
        let protocol = req
            .extensions()
            .get::<Protocol>()
            .map_or("none", Protocol::as_str);
        let text = format!("{} {:?} {protocol}", req.method(), req.version());
        let response = Response::builder()
            .header(SEEN, text)
            .body(Full::<Bytes>::default())
            .expect("response");
        Ok::<_, std::convert::Infallible>(response)
    });
    tokio::spawn(serve(listener, tls.acceptor(), service, |peer| peer));
    addr
}

/// A TLS connection to `addr` with `config`, offering `alpn`.
async fn dial(
    addr: SocketAddr,
    config: &ClientConfig,
    alpn: &[u8],
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut config = config.clone();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").expect("a server name");
    tokio::time::timeout(
        STEP,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake in time")
}

const SEEN: &str = "x-seen";

fn seen(response: &Response<hyper::body::Incoming>) -> &str {
    response.headers()[SEEN].to_str().expect("ASCII")
}

#[tokio::test]
async fn h2_by_alpn_takes_an_extended_connect() {
    let tls = ServerTls::self_signed("127.0.0.1:0".parse().expect("addr")).expect("certificate");
    let addr = start(&tls).await;

    let stream = dial(addr, &tls.pinned_client(), b"h2")
        .await
        .expect("the pinned certificate");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut client, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);

    let get = Request::get(format!("https://{addr}/"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = client.send_request(get).await.expect("GET over h2");
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(seen(&response), "GET HTTP/2.0 none");

    // Sent after a full round trip, so the server's SETTINGS have arrived:
    // a client sends `:protocol` only when they enable it.
    let connect = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("https://{addr}/api/ws"))
        .header("sec-websocket-version", "13")
        .extension(Protocol::from_static("websocket"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = tokio::time::timeout(STEP, client.send_request(connect))
        .await
        .expect("CONNECT answered in time")
        .expect("the server enables extended CONNECT");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(seen(&response), "CONNECT HTTP/2.0 websocket");
}

#[tokio::test]
async fn http11_by_alpn() {
    let tls = ServerTls::self_signed("127.0.0.1:0".parse().expect("addr")).expect("certificate");
    let addr = start(&tls).await;

    let stream = dial(addr, &tls.pinned_client(), b"http/1.1")
        .await
        .expect("the pinned certificate");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut client, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let get = Request::get("/")
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = client.send_request(get).await.expect("GET over h1");
    assert_eq!(seen(&response), "GET HTTP/1.1 none");
}

#[tokio::test]
async fn the_pinned_client_trusts_its_own_server_only() {
    let ours = ServerTls::self_signed("127.0.0.1:0".parse().expect("addr")).expect("certificate");
    let theirs = ServerTls::self_signed("127.0.0.1:0".parse().expect("addr")).expect("certificate");
    // Same names, same issuer name, another key: an impostor on the port.
    let impostor = start(&theirs).await;
    let err = dial(impostor, &ours.pinned_client(), b"http/1.1")
        .await
        .expect_err("another certificate is refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
}

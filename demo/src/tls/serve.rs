//! The HTTPS accept loop: a TLS handshake per connection, then
//! hyper-util's server for whichever HTTP version the client speaks, with
//! WebSockets over both.

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::{Service, ServiceExt as _};

/// How long a client may take over the TLS handshake before its
/// connection is dropped: a client that connects and says nothing must
/// not hold a task forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the loop waits after a failed `accept` (out of file
/// descriptors, most often) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `service` over TLS on `listener`, with `tls`, until the task is
/// dropped. Each request carries the extension `peer_info` makes of its
/// connection's peer address, where the layer (and the app) find it.
///
/// Both HTTP versions are served, whichever the client speaks after ALPN:
/// HTTP/1.1 with upgrades, and HTTP/2 announcing
/// `SETTINGS_ENABLE_CONNECT_PROTOCOL`, without which browsers never send
/// a WebSocket over HTTP/2 (they open another connection, HTTP/1.1, for
/// it).
pub async fn serve<S, B, E>(
    listener: TcpListener,
    tls: TlsAcceptor,
    service: S,
    peer_info: impl Fn(SocketAddr) -> E,
) where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
    E: Clone + Send + Sync + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().enable_connect_protocol();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(target: "dashboard::tls", error = %err, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let info = peer_info(peer);
        let service = service
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
                req
            });
        let (tls, builder) = (tls.clone(), builder.clone());
        // The handshake runs in the connection's task, so that a slow
        // client holds up no one else's.
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                // A browser that does not trust the certificate hangs up
                // here: worth a line when looking into it, not a warning.
                Ok(Err(err)) => {
                    tracing::debug!(target: "dashboard::tls", %peer, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(target: "dashboard::tls", %peer, "TLS handshake timed out");
                    return;
                }
            };
            let io = TokioIo::new(stream);
            let service = TowerToHyperService::new(service);
            // A client that hangs up mid-request is not the server's error.
            let _ = builder.serve_connection_with_upgrades(io, service).await;
        });
    }
}

//! The hyper-util accept loop of `stack_tonic`, `stack_warp` and
//! `stack_hyper`: stacks that hand hyper a tower service rather than
//! serving themselves.

use std::error::Error;
use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

/// Serves `service` on `listener` with hyper-util's `builder`, HTTP/1.1
/// upgrades enabled (WebSockets need them). Every request carries the
/// extension `peer_info` makes of its connection's peer address, which is
/// where the layer (and the app) find it.
///
/// # Errors
///
/// When accepting a connection fails.
pub async fn serve_with_upgrades<S, B, E>(
    listener: TcpListener,
    builder: auto::Builder<TokioExecutor>,
    service: S,
    peer_info: impl Fn(SocketAddr) -> E,
) -> std::io::Result<()>
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
    E: Clone + Send + Sync + 'static,
{
    loop {
        let (stream, peer) = listener.accept().await?;
        let info = peer_info(peer);
        let service = service
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
                req
            });
        let builder = builder.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let service = TowerToHyperService::new(service);
            // A client that hangs up mid-request is not the server's error.
            let _ = builder.serve_connection_with_upgrades(io, service).await;
        });
    }
}

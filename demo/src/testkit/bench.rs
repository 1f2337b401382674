//! What the benchmarks share: a ready inner service and an upgrade request
//! for timing the layer in process, and a server on a runtime of its own
//! for timing connects over loopback.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response as AxumResponse;
use http::{Request, Response};
use tokio::runtime::Runtime;
use tower::{Service, service_fn};

/// Polls `future` once with a no-op waker: the layer over the memory store
/// and [`ready_inner`] answer at once, so no runtime sits in a measurement.
///
/// # Panics
///
/// When the future is not ready at once.
pub fn poll_once<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("benchmarked futures are ready at once"),
    }
}

/// An inner service that answers at once, the request looked at (so it is
/// not optimised away) and dropped with everything it carries.
pub fn ready_inner() -> impl Service<
    Request<()>,
    Response = Response<()>,
    Error = Infallible,
    Future = Ready<Result<Response<()>, Infallible>>,
> + Clone {
    service_fn(|req: Request<()>| {
        black_box(&req);
        ready(Ok::<_, Infallible>(Response::new(())))
    })
}

/// An ordinary `GET` (not an upgrade), as an API call from a page sends it.
pub fn plain_request() -> Request<()> {
    Request::get("/api/items?page=2")
        .header("accept", "application/json")
        .header("user-agent", "bench")
        .body(())
        .expect("request")
}

/// A WebSocket upgrade to `/api/ws` with `ticket` in the query, beside an
/// application parameter.
///
/// # Panics
///
/// When `ticket` is not valid in a URI.
pub fn upgrade_request(ticket: &str) -> Request<()> {
    upgrade_to(format!("/api/ws?ticket={ticket}&room=7"))
        .body(())
        .expect("request")
}

/// A WebSocket upgrade to `uri`, so far.
fn upgrade_to(uri: String) -> http::request::Builder {
    Request::get(uri)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
}

/// The same upgrade with `ticket` in `Sec-WebSocket-Protocol` instead,
/// beside the marker and an application protocol, as a browser offers it.
///
/// # Panics
///
/// When `ticket` is not valid in a header.
pub fn header_upgrade_request(ticket: &str) -> Request<()> {
    upgrade_to("/api/ws?room=7".to_owned())
        .header(
            "sec-websocket-protocol",
            super::offered_protocols(ticket, &["chat.v1"]),
        )
        .body(())
        .expect("request")
}

/// Calls `service` with an upgrade it must admit: the answer, checked to
/// be 200 and returned so that its drop is not in the measurement.
///
/// # Panics
///
/// When the service fails, is not ready at once, or refuses.
pub fn admit<S, B>(service: &mut S, req: Request<()>) -> Response<B>
where
    S: Service<Request<()>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
{
    let response = poll_once(service.call(req)).expect("infallible");
    assert_eq!(response.status(), 200);
    response
}

/// A socket handler that upgrades and closes at once: the handshake is
/// what a connect benchmark measures.
pub async fn upgrade_and_close(ws: WebSocketUpgrade) -> AxumResponse {
    ws.on_upgrade(|socket| async move { drop(socket) })
}

/// Serves `router` on a free loopback port, on a one-worker runtime of its
/// own, so that a client on another thread and the server each have a core
/// of a two-core machine. Keep the runtime: dropping it stops the server.
///
/// # Panics
///
/// When the runtime or the port cannot be had.
pub fn serve_on_own_runtime(router: Router) -> (Runtime, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let addr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
        addr
    });
    (runtime, addr)
}

//! [`App`]: the dashboard's routes put together, and served.

use std::io;
use std::net::SocketAddr;

use axum::ServiceExt;
use axum::extract::{ConnectInfo, Request};
use axum::http::Extensions;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::{Router, serve};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceBuilder;
use tower_ws_ticket::{InternalCredential, MintService, TicketStore, WsTicketLayer};

use super::child::{self, AttachUrl};
use super::child_hub::ChildHub;
use super::child_socket::{child_socket, drop_child};
use super::page::page;
use super::page_socket::page_socket;
use super::sign_in::{me, sign_in, sign_out};
use super::user::User;
use super::{access_log, origins, session};

/// The demo, built for a server listening on a known address (the Origin
/// allowlist and the child's attach URL need it).
#[derive(Debug)]
pub struct App {
    router: Router,
    child_url: AttachUrl,
}

impl App {
    /// Builds the routes over the ticket store `store`, for a server bound
    /// to `addr`.
    ///
    /// Generic over the store so that the example's `main.rs` can pick the
    /// memory store or, with `--features redis` and `REDIS_URL`, the Redis
    /// one.
    pub fn new<T>(store: T, addr: SocketAddr) -> Self
    where
        T: TicketStore<Identity = User>,
    {
        let origins = origins::page_origins(addr);
        if origins.is_empty() {
            tracing::warn!(
                %addr,
                "listening on an unspecified address: the Origin allowlist is off, since \
                 the host name browsers will use is unknown; tickets still stop cross-site \
                 sockets (the session cookie is SameSite=Strict, so no other site can mint)"
            );
        }
        let allow = |layer: WsTicketLayer<T>| {
            let layer = layer.peer_addr(peer_addr);
            if origins.is_empty() {
                layer
            } else {
                layer.allowed_origins(origins.iter().cloned())
            }
        };

        // The page's socket: tickets only.
        let page_layer =
            allow(WsTicketLayer::new(store.clone())).audit_label(|user: &User| user.name.clone());
        // The child's socket: the internal credential only. A ticket sent
        // here is refused (401) without being consumed.
        let pub_layer = allow(WsTicketLayer::new(store.clone()))
            .internal_credential(InternalCredential::generate())
            .without_tickets();

        // Read once, as a spawned child would read it from its environment.
        // Neither can fail: the layer has an internal credential and the
        // base URL carries no query.
        let child_url = pub_layer
            .child_credential()
            .expect("the /api/pub layer has an internal credential")
            .attach_url(&format!("ws://{}/api/pub", child::dial_addr(addr)))
            .expect("the base URL carries no credential parameter");

        let mut mint = MintService::new(store)
            .peer_addr(peer_addr)
            .audit_label(|user: &User| user.name.clone());
        if !origins.is_empty() {
            // Other sites cannot make a visitor's browser mint (403).
            mint = mint.allowed_origins(origins.iter().cloned());
        }

        // Routes that need to know who is signed in: `identify` turns the
        // session's user into the `User` that MintService reads from the
        // extensions. It leaves anonymous requests alone; MintService
        // answers them 401.
        let signed_in = Router::new()
            .route_service("/api/auth/ws-ticket", mint)
            .route("/api/me", get(me))
            .route_layer(middleware::from_fn(session::identify));

        // The page's state-changing POSTs: the forms and the drop button.
        // The CSRF layer refuses them cross-site before any handler runs.
        let posts = Router::new()
            .route("/login", post(sign_in))
            .route("/logout", post(sign_out))
            .route("/api/child/drop", post(drop_child))
            .route_layer(origins::csrf());

        // One router per socket, each with its own layer. `any`, not `get`:
        // over HTTP/2 a WebSocket arrives as CONNECT.
        let page_ws = Router::new()
            .route("/api/ws", any(page_socket))
            .route_layer(page_layer);
        let child_ws = Router::new()
            .route("/api/pub", any(child_socket))
            .route_layer(pub_layer);

        let router = Router::new()
            .route("/", get(page))
            .merge(signed_in)
            .merge(posts)
            .merge(page_ws)
            .merge(child_ws)
            .with_state(ChildHub::default())
            .layer(session::layer());

        Self {
            router,
            child_url: AttachUrl::new(child_url),
        }
    }

    /// The child's attach URL. It carries the internal credential: for the
    /// child and for tests that check the credential stays out of sight.
    pub fn child_attach_url(&self) -> &AttachUrl {
        &self.child_url
    }

    /// Starts the in-process child: it attaches to `/api/pub` with the
    /// internal credential and reconnects whenever its socket drops.
    pub fn spawn_child(&self) -> JoinHandle<()> {
        tokio::spawn(child::run(self.child_url.clone()))
    }

    /// Starts the child and serves on `listener` until the server fails;
    /// the child stops with it.
    ///
    /// The access log wraps the whole router, so it logs every request,
    /// refusals and 404s included.
    ///
    /// # Errors
    ///
    /// When the server fails.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let child = AbortOnDrop(self.spawn_child());
        let service = ServiceBuilder::new()
            // TraceLayer wraps the body; axum serves its own body type.
            .map_response(IntoResponse::into_response)
            .layer(access_log::layer())
            .service(self.router);
        // ConnectInfo gives the layers and the mint route the peer address.
        let make_service =
            ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(service);
        let served = serve(listener, make_service).await;
        drop(child);
        served
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The peer address as axum's `ConnectInfo` provides it, for audit events.
fn peer_addr(extensions: &Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

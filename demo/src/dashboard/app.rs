//! [`App`]: the dashboard's routes put together, and served.

use std::io;
use std::net::SocketAddr;

use axum::ServiceExt;
use axum::extract::{ConnectInfo, FromRef, Request};
use axum::http::header::X_CONTENT_TYPE_OPTIONS;
use axum::http::{Extensions, HeaderValue};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Router, serve};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceBuilder;
use tower_ws_ticket::{
    ChildCredential, InternalCredential, MintService, Revocations, TicketStore, WsTicketLayer,
};

use super::child::{self, ChildAttach};
use super::child_hub::ChildHub;
use super::child_socket::{child_socket, drop_child};
use super::endpoint::Endpoint;
use super::metrics::{self, metrics};
use super::page::{CLIENT_MODULE_PATH, client_module, page, protocols_page};
use super::page_socket::{drop_page_sockets, page_socket};
use super::session::Lifetime;
use super::sign_in::{me, renew, sign_in, sign_out};
use super::user::{SessionKey, User};
use super::{access_log, origins, session};
use crate::tls;

/// The demo, built for a server listening on a known address, over HTTP
/// or HTTPS (the Origin allowlist and the child's attach URL need both).
#[derive(Debug)]
pub struct App {
    router: Router,
    child: ChildAttach,
    revocations: Revocations<SessionKey>,
    endpoint: Endpoint,
    session_lifetime: Lifetime,
}

impl App {
    /// Builds the routes over the ticket store `store`, for a server bound
    /// to `at` (a `SocketAddr` for plain HTTP, or an [`Endpoint`] with a
    /// certificate for HTTPS), which pages may use from the origins
    /// [`page_origins`](origins::page_origins) lists for it.
    ///
    /// Generic over the store so that the example's `main.rs` can pick the
    /// memory store or, with `--features redis` and `REDIS_URL`, the Redis
    /// one.
    pub fn new<T>(store: T, at: impl Into<Endpoint>) -> Self
    where
        T: TicketStore<Identity = User>,
    {
        let at = at.into();
        let origins = origins::page_origins(&at);
        Self::assemble(store, at, origins, Revocations::new())
    }

    /// [`new`](Self::new), with the page sockets' revocations kept in
    /// `revocations`: a registry bridged to Redis
    /// (`Revocations::builder().connect(url)`) when several replicas share
    /// the ticket store, so that signing out on one closes the session's
    /// sockets on all.
    pub fn with_revocations<T>(
        store: T,
        at: impl Into<Endpoint>,
        revocations: Revocations<SessionKey>,
    ) -> Self
    where
        T: TicketStore<Identity = User>,
    {
        let at = at.into();
        let origins = origins::page_origins(&at);
        Self::assemble(store, at, origins, revocations)
    }

    /// [`new`](Self::new), with the origins pages may open the sockets
    /// from given explicitly (`http://host:port`, or `https://…` for pages
    /// served over HTTPS, as a browser sends `Origin`): for a server that
    /// browsers reach under another name than its bound address, a
    /// reverse proxy's say. The mint route admits
    /// them too, besides a page on the request's own host (it refuses
    /// cross-site requests only). Empty turns the sockets' allowlist off.
    pub fn with_origins<T>(store: T, at: impl Into<Endpoint>, origins: Vec<String>) -> Self
    where
        T: TicketStore<Identity = User>,
    {
        Self::assemble(store, at.into(), origins, Revocations::new())
    }

    fn assemble<T>(
        store: T,
        endpoint: Endpoint,
        origins: Vec<String>,
        revocations: Revocations<SessionKey>,
    ) -> Self
    where
        T: TicketStore<Identity = User>,
    {
        // Before any traffic: what is recorded before it is lost.
        metrics::install();
        if origins.is_empty() {
            tracing::warn!(
                addr = %endpoint.addr(),
                "no Origin allowlist (none given, or listening on an unspecified address, \
                 whose host name browsers will use is unknown); tickets still stop cross-site \
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

        // The page's socket: tickets only. Browsers cannot read the HTTP
        // status of a refused handshake (every refusal is close code 1006
        // to a page), so refusals are accepted and closed at once with a
        // code the page's client acts on: 4401 mint again, 4403 stop, 1013
        // back off.
        // Each socket carries a revocation handle keyed by its sign-in:
        // signing out closes it (4401), and refuses the session's tickets
        // minted before.
        let page_layer = allow(WsTicketLayer::new(store.clone()))
            .accept_then_close()
            .audit_label(|user: &User| user.name.clone())
            .revocations(revocations.clone(), |user: &User| user.session)
            // The socket ends when the session does: 4401 "expired".
            .expires_at(|user: &User| user.expires);
        // The child's socket: the internal credential only. A ticket sent
        // here is refused (401) without being consumed. HTTP statuses, the
        // default: the child is no browser, and reads them.
        let pub_layer = allow(WsTicketLayer::new(store.clone()))
            .internal_credential(InternalCredential::generate())
            .without_tickets();

        // Read once, as a spawned child would read it from its environment.
        // The layer's own choice for its mode: gated, with an internal
        // credential, so always `Internal` (the loopback mode's session
        // token travels in the query only, and this layer has none).
        let Some(ChildCredential::Internal(credential)) = pub_layer.child_credential() else {
            unreachable!("the /api/pub layer is gated, with an internal credential")
        };
        let mut child = ChildAttach::new(endpoint.dial_url("/api/pub"), credential);
        if let Some(tls) = endpoint.tls() {
            child = child.with_tls(tls.pinned_client());
        }

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
        let session_lifetime = Lifetime::default();
        let signed_in = Router::new()
            .route_service("/api/auth/ws-ticket", mint)
            .route("/api/me", get(me))
            .route_layer(middleware::from_fn(session::identify));

        // The page's state-changing POSTs: the forms and the drop buttons.
        // The CSRF layer refuses them cross-site before any handler runs.
        let posts = Router::new()
            .route("/login", post(sign_in))
            .route("/logout", post(sign_out))
            .route("/api/session/renew", post(renew))
            .route("/api/ws/drop", post(drop_page_sockets))
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
            .route("/protocols", get(protocols_page))
            .route(CLIENT_MODULE_PATH, get(client_module))
            .route("/metrics", get(metrics))
            .merge(signed_in)
            .merge(posts)
            .merge(page_ws)
            .merge(child_ws)
            .with_state(Shared {
                child: ChildHub::default(),
                revocations: revocations.clone(),
                session_lifetime: session_lifetime.clone(),
            })
            .layer(session::layer(endpoint.tls().is_some()));

        Self {
            router,
            child,
            revocations,
            endpoint,
            session_lifetime,
        }
    }

    /// How long a sign-in lasts (8 hours unless set): change it with
    /// [`Lifetime::set`], for sign-ins and renewals from then on.
    pub fn session_lifetime(&self) -> &Lifetime {
        &self.session_lifetime
    }

    /// Where and how the app is served.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The page sockets' revocations: how many are live, for tests.
    pub fn revocations(&self) -> &Revocations<SessionKey> {
        &self.revocations
    }

    /// How the child attaches: the URL, and the internal credential it
    /// offers as a subprotocol. For the child, and for tests that check
    /// the credential stays out of sight.
    pub fn child_attach(&self) -> &ChildAttach {
        &self.child
    }

    /// Starts the in-process child: it attaches to `/api/pub` with the
    /// internal credential and reconnects whenever its socket drops.
    pub fn spawn_child(&self) -> JoinHandle<()> {
        tokio::spawn(child::run(self.child.clone()))
    }

    /// Starts the child and serves on `listener` until the server fails;
    /// the child stops with it. Over HTTPS, HTTP/2 and HTTP/1.1 by ALPN,
    /// with WebSockets over both ([`tls::serve`]); over plain HTTP,
    /// `axum::serve`.
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
            // No response may be read as a type other than its own: the
            // pages' CSP lets same-origin scripts run (the client module),
            // and this keeps a JSON answer from passing for one.
            .map_response(|mut response: Response| {
                response
                    .headers_mut()
                    .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
                response
            })
            // TraceLayer wraps the body; axum serves its own body type.
            .map_response(IntoResponse::into_response)
            .layer(access_log::layer())
            .service(self.router);
        // ConnectInfo gives the layers and the mint route the peer address.
        let served = match self.endpoint.tls() {
            Some(server_tls) => {
                tls::serve(listener, server_tls.acceptor(), service, ConnectInfo).await;
                Ok(())
            }
            None => {
                let make_service = ServiceExt::<Request>::into_make_service_with_connect_info::<
                    SocketAddr,
                >(service);
                serve(listener, make_service).await
            }
        };
        drop(child);
        served
    }
}

/// What the routes share (the router's state); each handler takes the part
/// it needs (`State<ChildHub>`, `State<Revocations<SessionKey>>`). Cheap to
/// clone: clones share it.
#[derive(Debug, Clone)]
pub struct Shared {
    /// What the child tells the pages.
    pub child: ChildHub,
    /// The page sockets, by sign-in: the drop button and sign-out close
    /// them through it.
    pub revocations: Revocations<SessionKey>,
    /// How long a sign-in lasts.
    pub session_lifetime: Lifetime,
}

impl FromRef<Shared> for Lifetime {
    fn from_ref(shared: &Shared) -> Self {
        shared.session_lifetime.clone()
    }
}

impl FromRef<Shared> for ChildHub {
    fn from_ref(shared: &Shared) -> Self {
        shared.child.clone()
    }
}

impl FromRef<Shared> for Revocations<SessionKey> {
    fn from_ref(shared: &Shared) -> Self {
        shared.revocations.clone()
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

//! The WebSocket guard: [`WsTicketLayer`] and the [`WsTicket`] service it
//! builds.
//!
//! Requests that are not WebSocket upgrades pass to the inner service
//! untouched. An upgrade must present exactly one credential: a ticket
//! (single use, consumed before the inner service is called) or the
//! process's [`InternalCredential`] (when configured), either as a
//! `Sec-WebSocket-Protocol` entry `ws-ticket.<credential>` or in the query
//! (`?ticket=`, `?internal=`); or, in loopback mode only, `?token=`. On
//! success the inner service receives the request with a [`Principal`] in
//! its extensions and the credential removed (from the URI or the header),
//! so nothing downstream sees it. Every refusal is a response (401, 403 or
//! 503), never an error.
//!
//! | request | outcome |
//! |---|---|
//! | not an upgrade (no `Upgrade: websocket` header, not a `CONNECT`), or outside the [`guard_path`](WsTicketLayer::guard_path) scope | passed on untouched; nothing consumed |
//! | `Origin` present and not allowed (when an allowlist is set) | 403, nothing consumed |
//! | no credential | 401 |
//! | the same credential twice, two kinds at once, or one in the query and one in the header | 401, nothing consumed |
//! | a `ws-ticket.` entry that is neither a ticket nor the internal credential | 401, nothing consumed |
//! | a `Sec-WebSocket-Protocol` line that is not text (obs-text such as Latin-1), whatever else the request carries | 401, nothing consumed |
//! | `?ticket=` valid | inner service, with [`Principal::Ticket`] |
//! | `?ticket=` unknown / used / expired / malformed | 401 |
//! | `?ticket=` on a route set [`without_tickets`](WsTicketLayer::without_tickets) | 401, nothing consumed |
//! | `?ticket=` minted for another [`audience`](WsTicketLayer::audience), for one where the layer has none, or for none where it has one | 401; the ticket is burned |
//! | `?internal=` right (when configured) | inner service, with [`Principal::Internal`] |
//! | `?token=` in gated mode | 401, whatever its value |
//! | `?token=` right in loopback mode, from a known loopback peer | inner service, with [`Principal::SessionToken`] |
//! | `?token=` in loopback mode from a non-loopback peer, or a peer the stack does not tell | 403 |
//! | a path under a guarded path spelled with dot-segments or encoded separators (see [`guard_path`](WsTicketLayer::guard_path)) | 403, nothing consumed |
//! | the store cannot be reached | 503: back off and retry (don't re-authenticate) with a new ticket, since a timed-out consume may have used this one |
//!
//! What counts as an upgrade is deliberately broader than RFC 6455 and
//! RFC 8441: any request whose `Upgrade` header mentions `websocket` (any
//! method, whatever `Connection` says) and any `CONNECT`, because hyper and
//! axum will turn such requests into sockets when a handler lets them.
//! Guarding a request that could not have become a socket costs nothing.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_ws_ticket::{MemoryStore, Principal, WsTicketLayer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Infallible> {
//! let store = MemoryStore::<String>::new();
//! let service = ServiceBuilder::new()
//!     .layer(WsTicketLayer::new(store.clone()))
//!     .service_fn(|req: Request<String>| async move {
//!         let who = match req.extensions().get::<Principal<String>>() {
//!             Some(Principal::Ticket(redeemed)) => redeemed.identity.clone(),
//!             _ => "nobody".to_owned(),
//!         };
//!         // The ticket is gone from the URI the handler sees.
//!         assert_eq!(req.uri(), "/api/ws?room=1");
//!         Ok::<_, Infallible>(Response::new(who))
//!     });
//!
//! let upgrade = |uri: &str| {
//!     Request::get(uri)
//!         .header("upgrade", "websocket")
//!         .header("connection", "upgrade")
//!         .body(String::new())
//!         .unwrap()
//! };
//! let ticket = store.mint("alice".to_owned()).unwrap();
//! let uri = format!("/api/ws?ticket={}&room=1", ticket.expose_secret());
//!
//! let response = service.clone().oneshot(upgrade(&uri)).await?;
//! assert_eq!(response.into_body(), "alice");
//! // Single use: the replay is refused before the handler runs.
//! let replay = service.oneshot(upgrade(&uri)).await?;
//! assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
//! # Ok(()) }
//! ```
//!
//! # The credential off the URL: `Sec-WebSocket-Protocol`
//!
//! A URL is written to access logs by every proxy, and by any middleware
//! that runs before this one (axum's `OriginalUri`, tower-http's
//! `TraceLayer`). A browser can put one thing in an upgrade's headers, the
//! offered subprotocols, so that is where the credential travels best:
//!
//! ```js
//! new WebSocket(url, ["ws-ticket", `ws-ticket.${ticket}`, /* the app's own */ "chat.v1"])
//! ```
//!
//! The layer takes the entry `ws-ticket.<credential>` out of the header
//! before the inner service sees it (the other entries kept, in order), so
//! a handler's protocol negotiation never sees or echoes it. When the
//! handler accepts the upgrade without selecting a protocol and the client
//! offered the marker `ws-ticket`, the layer selects `ws-ticket` on the
//! response: a browser that offered protocols fails a handshake that
//! selects none. A handler that speaks `chat.v1` selects it as usual.
//!
//! # Refusals a browser can read
//!
//! A browser's `WebSocket` cannot see the status of a refused handshake:
//! every refusal looks like close code 1006. With the `tokio` feature,
//! [`accept_then_close`](WsTicketLayer::accept_then_close) accepts a
//! refused handshake and closes the socket at once with 4401 (fetch a new
//! ticket, reconnect), 4403 (do not retry) or 1013 (back off), constants in
//! [`wire`](crate::wire). Use it for sockets browsers open; keep the
//! default HTTP statuses for other clients, which read them directly.
//!
//! # Different settings per route (axum)
//!
//! `route_layer` wraps the routes already on its router, and only those, so
//! give each setting its own router and merge them:
//!
//! ```
//! use axum::extract::ws::WebSocketUpgrade;
//! use axum::{Extension, Router, response::Response, routing::any};
//! use tower_ws_ticket::{InternalCredential, MemoryStore, Principal, WsTicketLayer};
//!
//! #[derive(Clone)]
//! struct User(String);
//!
//! async fn socket(ws: WebSocketUpgrade, Extension(who): Extension<Principal<User>>) -> Response {
//!     ws.on_upgrade(move |_socket| async move { let _ = who; })
//! }
//!
//! let store = MemoryStore::<User>::new();
//! let internal = InternalCredential::generate();
//! // The page's socket: tickets, and the internal credential.
//! let page = Router::new()
//!     .route("/api/ws", any(socket))
//!     .route_layer(WsTicketLayer::new(store.clone()).internal_credential(internal.clone()));
//! // The children's socket: the internal credential only.
//! let children = Router::new()
//!     .route("/api/pub", any(socket))
//!     .route_layer(WsTicketLayer::new(store).internal_credential(internal).without_tickets());
//! let app: Router = page.merge(children);
//! # let _ = app;
//! ```
//!
//! # Scoped by path (warp, plain hyper)
//!
//! Stacks without per-route layers wrap the whole service and name the
//! guarded paths; everything else passes untouched:
//!
//! ```
//! use tower::Layer;
//! use tower_ws_ticket::{MemoryStore, Principal, WsTicketLayer};
//! use warp::Filter;
//! use warp::ws::Ws;
//!
//! #[derive(Clone)]
//! struct User(String);
//!
//! let guarded = warp::path!("api" / "ws")
//!     .and(warp::ws())
//!     // The layer left the Principal in the request extensions.
//!     .and(warp::ext::get::<Principal<User>>())
//!     .map(|ws: Ws, who: Principal<User>| ws.on_upgrade(move |_socket| async move { let _ = who; }));
//! let service = WsTicketLayer::new(MemoryStore::<User>::new())
//!     .guard_path("/api/ws")
//!     .guard_prefix("/live")
//!     .layer(warp::service(guarded));
//! # let _ = service;
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::Extensions;

use tower_layer::Layer;

use crate::audience::Audience;
use crate::audit::{AuditEvent, Auditor};
use crate::credential::{ChildCredential, InternalCredential, SessionToken};
use crate::origin::{AllowedOrigins, ConfigError};
use crate::peer::{DefaultPeer, PeerExtractor};
use crate::revoke::{Revocations, SocketEnds};
use crate::store::TicketStore;

mod admission;
#[cfg(feature = "tokio")]
pub(crate) mod close;
mod future;
mod principal;
mod rejection;
pub(crate) mod scope;
mod service;
mod subprotocol;
pub(crate) mod upgrade;

pub use future::ResponseFuture;
pub use principal::Principal;
pub use rejection::{DefaultRejection, Rejection, RejectionResponse};
pub use service::WsTicket;

use admission::{Config, Settings};
use scope::Scope;

/// Layer that applies [`WsTicket`], which admits WebSocket upgrades only
/// with a valid credential; see the [module docs](self).
///
/// Gated mode by default: tickets only, plus the internal credential once
/// [`internal_credential`](Self::internal_credential) is set.
/// [`loopback_token`](Self::loopback_token) switches to loopback mode.
#[must_use]
pub struct WsTicketLayer<T: TicketStore, R = DefaultRejection> {
    // Behind an `Arc` so that layering (which axum may repeat for every
    // connection) shares the configuration instead of copying it.
    config: Arc<Config<T, R>>,
}

impl<T: TicketStore> WsTicketLayer<T> {
    /// Guards upgrades with tickets from `store`, in gated mode.
    pub fn new(store: T) -> Self {
        Self {
            config: Arc::new(Config {
                settings: Settings {
                    store,
                    tickets: true,
                    audience: None,
                    internal: None,
                    loopback_token: None,
                    origins: None,
                    scope: Scope::default(),
                    peer: Arc::new(DefaultPeer),
                    audit: Auditor::default(),
                    socket_ends: SocketEnds::default(),
                    #[cfg(feature = "tokio")]
                    close: None,
                },
                rejection: DefaultRejection,
            }),
        }
    }
}

impl<T: TicketStore, R: Clone> WsTicketLayer<T, R> {
    /// The settings, copied first if a clone of this layer shares them.
    fn settings_mut(&mut self) -> &mut Settings<T> {
        &mut Arc::make_mut(&mut self.config).settings
    }

    /// Also accepts `?internal=` carrying this credential, any number of
    /// times. Give the same credential to the children you spawn, through
    /// [`child_credential`](Self::child_credential).
    pub fn internal_credential(mut self, credential: InternalCredential) -> Self {
        self.settings_mut().internal = Some(credential);
        self
    }

    /// Refuses `?ticket=` (401) on this route, for sockets meant only for
    /// the server's own children: pair it with
    /// [`internal_credential`](Self::internal_credential).
    ///
    /// ```
    /// use tower_ws_ticket::{InternalCredential, MemoryStore, WsTicketLayer};
    ///
    /// let store = MemoryStore::<u64>::new();
    /// let internal = InternalCredential::generate();
    /// // /api/ws: tickets and the internal credential.
    /// let sockets = WsTicketLayer::new(store.clone()).internal_credential(internal.clone());
    /// // /api/pub: the internal credential only.
    /// let publish = WsTicketLayer::new(store).internal_credential(internal).without_tickets();
    /// # let _ = (sockets, publish);
    /// ```
    pub fn without_tickets(mut self) -> Self {
        self.settings_mut().tickets = false;
        self
    }

    /// Accepts only tickets minted for `audience` (by a
    /// [`MintService::audience`](crate::MintService::audience) with the
    /// same name). A ticket minted for another audience or for none is
    /// refused (401, [`RejectReason::WrongAudience`](crate::RejectReason::WrongAudience))
    /// and burned. Without this setting the layer takes only tickets minted
    /// without an audience, so a ticket for a route with one never opens a
    /// route without. Give each guarded route its own audience, and a
    /// ticket for one can never open another.
    ///
    /// ```
    /// use tower_ws_ticket::{MemoryStore, MintService, WsTicketLayer};
    ///
    /// let store = MemoryStore::<u64>::new();
    /// // /api/ws and its mint route.
    /// let page = WsTicketLayer::new(store.clone()).audience("page");
    /// let page_mint = MintService::new(store.clone()).audience("page");
    /// // /api/admin/ws and its own mint route.
    /// let admin = WsTicketLayer::new(store.clone()).audience("admin");
    /// let admin_mint = MintService::new(store).audience("admin");
    /// # let _ = (page, page_mint, admin, admin_mint);
    /// ```
    pub fn audience(mut self, audience: impl Into<Audience>) -> Self {
        self.settings_mut().audience = Some(audience.into());
        self
    }

    /// Switches to loopback mode: also accepts `?token=` carrying this
    /// session token (compared in constant time), and only from a peer
    /// known to be on a loopback address: a non-loopback peer is refused
    /// (403), and so is a peer the stack does not tell (403, audit reason
    /// `unknown-peer`), since the check cannot decide. Tell it with
    /// [`peer_addr`](Self::peer_addr) where [`DefaultPeer`] finds nothing.
    /// Tickets and the internal credential keep working.
    ///
    /// # Panics
    ///
    /// When `token` is empty: it could never match, and children would be
    /// handed an attach URL that is always refused.
    pub fn loopback_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        assert!(
            !token.is_empty(),
            "the loopback session token must not be empty"
        );
        self.settings_mut().loopback_token = Some(SessionToken::new(token));
        self
    }

    /// Refuses (403, before any ticket is consumed) upgrades whose `Origin`
    /// header is not one of these. Upgrades without an `Origin` header pass
    /// this check: browsers always send one, and other clients cannot be
    /// driven by a hostile page.
    ///
    /// Origins compare as serialized origins (RFC 6454, section 6.2), what a
    /// browser puts in its `Origin` header: `scheme://host[:port]`, no path, no
    /// userinfo, no trailing slash, the scheme's default port (80 for http/ws,
    /// 443 for https/wss) left out and any other port in plain decimal. An
    /// `Origin` header must be one exactly (ASCII case aside); anything else,
    /// such as `https://app.example.com:0443` or `https://app.example.com:443`,
    /// is refused. A host with a trailing dot (`https://app.example.com.`) is
    /// an origin of its own, as it is to a browser: it matches only an entry
    /// spelled so. The configuration is read more kindly:
    /// `https://App.example.com:443/` in an allowlist is kept as
    /// `https://app.example.com`.
    ///
    /// # Panics
    ///
    /// When an entry is not a serialized origin (`scheme://host[:port]`,
    /// no path); [`try_allowed_origins`](Self::try_allowed_origins) returns
    /// the error instead.
    pub fn allowed_origins<O: Into<String>>(self, origins: impl IntoIterator<Item = O>) -> Self {
        match self.try_allowed_origins(origins) {
            Ok(layer) => layer,
            Err(err) => panic!("{err}"),
        }
    }

    /// [`allowed_origins`](Self::allowed_origins), with invalid entries
    /// reported instead of panicking.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidOrigin`] for the first entry that is not
    /// `scheme://host[:port]`.
    pub fn try_allowed_origins<O: Into<String>>(
        mut self,
        origins: impl IntoIterator<Item = O>,
    ) -> Result<Self, ConfigError> {
        self.settings_mut().origins = Some(AllowedOrigins::new(origins)?);
        Ok(self)
    }

    /// Guards only requests to exactly this path (may be called several
    /// times, and combined with [`guard_prefix`](Self::guard_prefix));
    /// everything else passes untouched. For stacks without per-route
    /// layers (warp, plain hyper).
    ///
    /// The scope fails closed: a request is guarded when *any* router
    /// could send it under a guarded path. Its path is read the ways
    /// routers read paths (raw, percent-decoded before or after splitting,
    /// with `..` taken as a segment or applied, empty segments dropped,
    /// ASCII case ignored), so `/api/ws/`, `//api/ws`, `/API/WS` and
    /// `/api/%77s` are all `/api/ws`. A path that is under a guarded path in
    /// any of those readings and holds a dot-segment or an encoded `/` or
    /// `\` (`/api/ws/..`, `/api/ws/%2e%2e`, `/api%2Fws`) is refused with
    /// 403 ([`RejectReason::AmbiguousPath`](crate::RejectReason::AmbiguousPath)) whatever it carries: axum's
    /// `/api/ws/{room}` would take `..` as a room, while a normalising
    /// router would send it elsewhere. Handlers should still require the
    /// [`Principal`] (warp: `warp::ext::get::<Principal<I>>()`), so that a
    /// route outside the scope by mistake fails closed.
    ///
    /// # Panics
    ///
    /// When `path` does not start with `/`: it would match nothing.
    pub fn guard_path(mut self, path: impl AsRef<str>) -> Self {
        self.settings_mut().scope.add_exact(path.as_ref());
        self
    }

    /// Guards only requests under this path prefix, matched on whole
    /// segments: `/api` covers `/api` and `/api/ws`, not `/apix`. Compared
    /// the same fail-closed way as [`guard_path`](Self::guard_path): under
    /// `guard_prefix("/api/ws")`, `/api/ws/..` and `/api/ws/x%2F..%2F..`
    /// are refused, not read as `/api` and let through.
    ///
    /// # Panics
    ///
    /// When `prefix` does not start with `/`.
    pub fn guard_prefix(mut self, prefix: impl AsRef<str>) -> Self {
        self.settings_mut().scope.add_prefix(prefix.as_ref());
        self
    }

    /// Where the peer address comes from, for the loopback check and audit
    /// events (default [`DefaultPeer`]: a plain `SocketAddr` extension, and
    /// with the `axum` feature axum's `ConnectInfo<SocketAddr>`). See the
    /// [`peer`](crate::peer) module for each stack's one line.
    pub fn peer_addr(
        self,
        peer: impl Fn(&Extensions) -> Option<SocketAddr> + Send + Sync + 'static,
    ) -> Self {
        self.peer_extractor(peer)
    }

    /// Where the peer address comes from, as a [`PeerExtractor`] type
    /// (a closure fits [`peer_addr`](Self::peer_addr) more easily).
    pub fn peer_extractor(mut self, peer: impl PeerExtractor) -> Self {
        self.settings_mut().peer = Arc::new(peer);
        self
    }

    /// Refuses a valid WebSocket handshake by accepting it and closing the
    /// socket at once with a close code a browser can read: 4401 for every
    /// 401 case (fetch a new ticket, reconnect), 4403 for every 403 case
    /// (do not retry), 1013 when the store cannot be reached (back off).
    /// The close reason is one text per code (`"unauthorized"`,
    /// `"forbidden"`, `"try again later"`), or `"expired"` for an expired
    /// ticket; see [`detailed_close_reasons`](Self::detailed_close_reasons).
    /// Other requests keep the HTTP status, as do all refusals past
    /// [`max_closes_in_flight`](Self::max_closes_in_flight). See the
    /// [layer docs](crate::layer#refusals-a-browser-can-read).
    ///
    /// Needs a Tokio runtime and a hyper server with upgrades (axum's
    /// `serve`, hyper-util's `serve_connection_with_upgrades`).
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn accept_then_close(mut self) -> Self {
        let settings = self.settings_mut();
        settings.close.get_or_insert_with(Default::default);
        self
    }

    /// At most `max` accept-then-close refusals at once (default 1,024);
    /// past it, a refusal is the HTTP status. Turns
    /// [`accept_then_close`](Self::accept_then_close) on.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn max_closes_in_flight(mut self, max: usize) -> Self {
        let settings = self.settings_mut();
        settings
            .close
            .get_or_insert_with(Default::default)
            .set_max_in_flight(max);
        self
    }

    /// How long one accept-then-close refusal may take, from the handshake
    /// to the end of the socket (default 5 s), however slowly the client
    /// reads. Turns [`accept_then_close`](Self::accept_then_close) on.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn close_timeout(mut self, timeout: std::time::Duration) -> Self {
        let settings = self.settings_mut();
        settings
            .close
            .get_or_insert_with(Default::default)
            .set_timeout(timeout);
        self
    }

    /// Closes accept-then-close rejections with the reason's short name
    /// (`"bad-token"`, `"revoked"`, …) instead of one text per close code
    /// (`"unauthorized"`, `"forbidden"`, `"try again later"`, and
    /// `"expired"`). For development: the short names tell anyone who
    /// connects whether loopback mode is on, or that a stolen ticket's
    /// owner signed out. The audit trail always has them. Turns
    /// [`accept_then_close`](Self::accept_then_close) on.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn detailed_close_reasons(mut self) -> Self {
        let settings = self.settings_mut();
        settings
            .close
            .get_or_insert_with(Default::default)
            .set_detailed();
        self
    }

    /// Hands every [`AuditEvent`] to `hook` as well as to `tracing`.
    pub fn on_audit(mut self, hook: impl Fn(&AuditEvent<'_>) + Send + Sync + 'static) -> Self {
        self.settings_mut().audit.set_hook(hook);
        self
    }

    /// How audit events name a ticket's identity. Without it, identities
    /// stay out of audit events.
    pub fn audit_label(
        mut self,
        label: impl Fn(&T::Identity) -> String + Send + Sync + 'static,
    ) -> Self {
        self.settings_mut().audit.set_label(label);
        self
    }

    /// Attaches a [`Revocation`](crate::Revocation) handle to every socket
    /// the layer admits, registered in `registry` under `key(identity)` for
    /// a ticket, so that [`Revocations::revoke`] closes it; sockets of the
    /// internal credential or the session token get one that only
    /// [`Revocations::revoke_all`] signals. A ticket of a key revoked after
    /// it was minted is refused (401, audit reason
    /// [`revoked`](crate::RejectReason::Revoked)). The registry's window is
    /// raised to this store's TTL. See the [`revoke`](crate::revoke) module.
    ///
    /// ```
    /// use tower_ws_ticket::{MemoryStore, Revocations, WsTicketLayer};
    ///
    /// #[derive(Clone)]
    /// struct Session { id: u64, user: String }
    ///
    /// let revocations = Revocations::<u64>::new();
    /// let layer = WsTicketLayer::new(MemoryStore::<Session>::new())
    ///     .revocations(revocations.clone(), |session: &Session| session.id);
    /// // On sign-out:
    /// revocations.revoke(&42);
    /// # let _ = layer;
    /// ```
    pub fn revocations<K>(
        mut self,
        registry: Revocations<K>,
        key: impl Fn(&T::Identity) -> K + Send + Sync + 'static,
    ) -> Self
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    {
        registry.cover_ttl(self.store().ttl());
        self.settings_mut().socket_ends.set_registry(registry, key);
        self
    }

    /// Ends each ticket's socket when its identity expires: the handler's
    /// [`Revocation`](crate::Revocation) handle is signalled at
    /// `expires_at(identity)` ([`reason`](crate::Revocation::reason)
    /// [`Expired`](crate::RevokeReason::Expired)), for a sign-in that runs
    /// out while its socket is open. An identity already expired at the
    /// upgrade is refused (401, audit reason
    /// [`expired`](crate::RejectReason::Expired)); `None` means no expiry.
    ///
    /// Every admitted socket then carries a handle, with or without
    /// [`revocations`](Self::revocations). The instant is read off the wall
    /// clock once, at the upgrade, and kept on the monotonic clock: a wall
    /// clock stepped later moves no socket's end (see
    /// [`Revocation::expires_at`](crate::Revocation::expires_at)). One
    /// thread serves every deadline of the process; no socket gets a task
    /// or a timer of its own.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tower_ws_ticket::{MemoryStore, WsTicketLayer};
    ///
    /// #[derive(Clone)]
    /// struct Session { user: String, expires: SystemTime }
    ///
    /// let layer = WsTicketLayer::new(MemoryStore::<Session>::new())
    ///     .expires_at(|session: &Session| Some(session.expires))
    ///     .max_socket_age(Duration::from_secs(8 * 3600));
    /// # let _ = layer;
    /// ```
    pub fn expires_at(
        mut self,
        expires_at: impl Fn(&T::Identity) -> Option<std::time::SystemTime> + Send + Sync + 'static,
    ) -> Self {
        self.settings_mut().socket_ends.set_expires_at(expires_at);
        self
    }

    /// Ends every socket the layer admits (tickets, the internal
    /// credential, the session token) `age` after its admission: its
    /// [`Revocation`](crate::Revocation) handle is signalled then, with
    /// reason [`Expired`](crate::RevokeReason::Expired). Together with
    /// [`expires_at`](Self::expires_at), the earlier of the two counts.
    pub fn max_socket_age(mut self, age: std::time::Duration) -> Self {
        self.settings_mut().socket_ends.set_max_age(age);
        self
    }

    /// Builds rejection responses with `rejection` instead of
    /// [`DefaultRejection`].
    pub fn with_rejection_response<R2>(self, rejection: R2) -> WsTicketLayer<T, R2> {
        let Config { settings, .. } = Arc::unwrap_or_clone(self.config);
        WsTicketLayer {
            config: Arc::new(Config {
                settings,
                rejection,
            }),
        }
    }
}

impl<T: TicketStore, R> WsTicketLayer<T, R> {
    /// The credential a child this server spawns should attach with, for
    /// the layer's mode: the session token in loopback mode, else the
    /// internal credential; `None` when gated without one.
    ///
    /// ```
    /// use tower_ws_ticket::{InternalCredential, MemoryStore, WsTicketLayer};
    ///
    /// let layer = WsTicketLayer::new(MemoryStore::<u64>::new())
    ///     .internal_credential(InternalCredential::generate());
    /// let url = layer
    ///     .child_credential()
    ///     .expect("an internal credential is configured")
    ///     .attach_url("ws://127.0.0.1:3000/api/pub")
    ///     .unwrap();
    /// assert!(url.contains("?internal=wsi_"));
    /// ```
    pub fn child_credential(&self) -> Option<ChildCredential> {
        match (
            &self.config.settings.loopback_token,
            &self.config.settings.internal,
        ) {
            (Some(token), _) => Some(ChildCredential::SessionToken(token.clone())),
            (None, Some(internal)) => Some(ChildCredential::Internal(internal.clone())),
            (None, None) => None,
        }
    }

    /// The store tickets are consumed from.
    pub fn store(&self) -> &T {
        &self.config.settings.store
    }
}

impl<S, T: TicketStore, R> Layer<S> for WsTicketLayer<T, R> {
    type Service = WsTicket<S, T, R>;

    fn layer(&self, inner: S) -> Self::Service {
        WsTicket::from_config(inner, Arc::clone(&self.config))
    }
}

impl<T: TicketStore, R> Clone for WsTicketLayer<T, R> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
        }
    }
}

impl<T: TicketStore, R: fmt::Debug> fmt::Debug for WsTicketLayer<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsTicketLayer")
            .field("config", &self.config)
            .finish()
    }
}

#[cfg(test)]
mod tests;

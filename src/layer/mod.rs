//! The WebSocket guard: [`WsTicketLayer`] and the [`WsTicket`] service it
//! builds.
//!
//! Requests that are not WebSocket upgrades pass to the inner service
//! untouched. An upgrade must present exactly one credential in its query:
//! `?ticket=` (a single-use ticket, consumed before the inner service is
//! called), `?internal=` (the process's [`InternalCredential`], when
//! configured) or, in loopback mode only, `?token=`. On success the inner
//! service receives the request with a [`Principal`] in its extensions and
//! the credential parameter removed from the URI. Every refusal is a
//! response (401, 403 or 503), never an error.
//!
//! | request | outcome |
//! |---|---|
//! | not an upgrade (no `Upgrade: websocket` header, not a `CONNECT`), or outside the [`guard_path`](WsTicketLayer::guard_path) scope | passed on untouched; nothing consumed |
//! | `Origin` present and not allowed (when an allowlist is set) | 403, nothing consumed |
//! | no credential | 401 |
//! | the same credential twice, or two kinds at once | 401, nothing consumed |
//! | `?ticket=` valid | inner service, with [`Principal::Ticket`] |
//! | `?ticket=` unknown / used / expired / malformed | 401 |
//! | `?ticket=` on a route set [`without_tickets`](WsTicketLayer::without_tickets) | 401, nothing consumed |
//! | `?internal=` right (when configured) | inner service, with [`Principal::Internal`] |
//! | `?token=` in gated mode | 401, whatever its value |
//! | `?token=` right in loopback mode, from a loopback peer | inner service, with [`Principal::SessionToken`] |
//! | `?token=` in loopback mode from a non-loopback peer | 403 |
//! | the store cannot be reached | 503: retry, don't re-authenticate |
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
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::header::ORIGIN;
use http::{Extensions, Request, Response, Uri};
use tower_layer::Layer;

use crate::audit::{AuditEvent, Auditor, CredentialKind, RejectReason};
use crate::credential::{ChildCredential, InternalCredential, SessionToken};
use crate::store::{Redeemed, TicketStore};
use crate::ticket::Redacted;

mod future;
pub(crate) mod origin;
pub(crate) mod query;
mod rejection;
mod scope;
mod service;
mod upgrade;

pub use future::ResponseFuture;
pub use origin::ConfigError;
pub use rejection::{DefaultRejection, Rejection, RejectionResponse};
pub use service::WsTicket;

use origin::AllowedOrigins;
use query::Presented;
use scope::Scope;

/// Query parameter carrying a ticket.
pub const TICKET_PARAM: &str = "ticket";
/// Query parameter carrying the internal credential.
pub const INTERNAL_PARAM: &str = "internal";
/// Query parameter carrying the loopback session token.
pub const TOKEN_PARAM: &str = "token";
pub(crate) const CREDENTIAL_PARAMS: [&str; 3] = [TICKET_PARAM, INTERNAL_PARAM, TOKEN_PARAM];

/// Who an admitted upgrade is, as the layer leaves it in the request
/// extensions for the handler.
///
/// With axum, extract it as `Extension<Principal<I>>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal<I> {
    /// A ticket was consumed: the identity it was minted for, and when.
    Ticket(Redeemed<I>),
    /// The process's internal credential: a client this server spawned.
    Internal,
    /// The loopback session token (loopback mode only).
    SessionToken,
}

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

/// Everything the service needs, shared by all its clones behind one `Arc`:
/// the checks, and the rejection builder (apart, because changing its type
/// must keep the checks as they are).
#[derive(Clone)]
pub(crate) struct Config<T: TicketStore, R> {
    pub(crate) settings: Settings<T>,
    rejection: R,
}

/// What an upgrade is checked against.
#[derive(Clone)]
pub(crate) struct Settings<T: TicketStore> {
    pub(crate) store: T,
    tickets: bool,
    internal: Option<InternalCredential>,
    loopback_token: Option<SessionToken>,
    origins: Option<AllowedOrigins>,
    pub(crate) scope: Scope,
    pub(crate) audit: Auditor<T::Identity>,
}

impl<T: TicketStore> WsTicketLayer<T> {
    /// Guards upgrades with tickets from `store`, in gated mode.
    pub fn new(store: T) -> Self {
        Self {
            config: Arc::new(Config {
                settings: Settings {
                    store,
                    tickets: true,
                    internal: None,
                    loopback_token: None,
                    origins: None,
                    scope: Scope::default(),
                    audit: Auditor::default(),
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

    /// Switches to loopback mode: also accepts `?token=` carrying this
    /// session token (compared in constant time), but only from a loopback
    /// peer when the stack tells the peer address (see
    /// [`peer_addr`](Self::peer_addr)). Tickets and the internal credential
    /// keep working.
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
    /// 403 ([`RejectReason::AmbiguousPath`]) whatever it carries: axum's
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
    /// events. The default reads a plain `SocketAddr` extension; with axum's
    /// `into_make_service_with_connect_info::<SocketAddr>()`, use
    /// `|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)`.
    pub fn peer_addr(
        mut self,
        peer: impl Fn(&Extensions) -> Option<SocketAddr> + Send + Sync + 'static,
    ) -> Self {
        self.settings_mut().audit.set_peer_addr(peer);
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

impl<T: TicketStore, R: fmt::Debug> fmt::Debug for Config<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("settings", &self.settings)
            .field("rejection", &self.rejection)
            .finish()
    }
}

impl<T: TicketStore> fmt::Debug for Settings<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials print as <redacted> through their own Debug.
        f.debug_struct("Settings")
            .field(
                "mode",
                &if self.loopback_token.is_some() {
                    "loopback"
                } else {
                    "gated"
                },
            )
            .field("tickets", &self.tickets)
            .field("internal", &self.internal)
            .field("loopback_token", &self.loopback_token)
            .field("origins", &self.origins)
            .field("scope", &self.scope)
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

/// What the synchronous checks decided about an upgrade.
pub(crate) enum Admission<'r, I> {
    /// Refused before anything was consumed.
    Reject(RejectReason),
    /// A ticket to redeem.
    Ticket(Presented<'r>),
    /// Admitted by the internal credential or the session token.
    Accept {
        principal: Principal<I>,
        credential: CredentialKind,
        uri: Uri,
    },
}

impl<T: TicketStore> Settings<T> {
    /// The checks that need no store, in the order the module docs give.
    pub(crate) fn admit<'r, B>(&self, req: &'r Request<B>) -> Admission<'r, T::Identity> {
        if let Some(origins) = &self.origins {
            let forbidden = req
                .headers()
                .get_all(ORIGIN)
                .iter()
                .any(|origin| !origins.allows(origin.as_bytes()));
            if forbidden {
                return Admission::Reject(RejectReason::Origin);
            }
        }
        let presented = match query::take_credential(req.uri()) {
            Ok(presented) => presented,
            Err(reason) => return Admission::Reject(reason),
        };
        let (principal, credential) = match presented.kind {
            CredentialKind::Ticket if self.tickets => {
                return Admission::Ticket(presented);
            }
            CredentialKind::Ticket => return Admission::Reject(RejectReason::TicketNotAccepted),
            CredentialKind::Internal => match &self.internal {
                Some(internal) if internal.verify(&presented.value) => {
                    (Principal::Internal, CredentialKind::Internal)
                }
                _ => return Admission::Reject(RejectReason::BadInternal),
            },
            CredentialKind::SessionToken => {
                let Some(token) = &self.loopback_token else {
                    return Admission::Reject(RejectReason::TokenInGatedMode);
                };
                let peer = self.audit.peer(req.extensions());
                if peer.is_some_and(|peer| !is_loopback(peer.ip())) {
                    return Admission::Reject(RejectReason::NonLoopbackPeer);
                }
                if !token.verify(&presented.value) {
                    return Admission::Reject(RejectReason::BadToken);
                }
                (Principal::SessionToken, CredentialKind::SessionToken)
            }
        };
        Admission::Accept {
            principal,
            credential,
            uri: presented.stripped,
        }
    }

    /// Hands the request on: the credential gone from its URI, the
    /// principal in its extensions.
    pub(crate) fn accept<B>(
        &self,
        req: &mut Request<B>,
        uri: Uri,
        principal: Principal<T::Identity>,
        credential: CredentialKind,
    ) {
        *req.uri_mut() = uri;
        let label = match &principal {
            Principal::Ticket(redeemed) => self.audit.label(&redeemed.identity),
            _ => None,
        };
        self.audit.emit(&AuditEvent::Consumed {
            credential,
            identity: label.as_deref(),
            path: req.uri().path(),
            peer: self.audit.peer(req.extensions()),
        });
        req.extensions_mut().insert(principal);
    }
}

impl<T: TicketStore, R> Config<T, R> {
    /// The response for a refused upgrade, audited.
    pub(crate) fn reject<B, ResBody>(
        &self,
        req: &Request<B>,
        reason: RejectReason,
        ticket: Option<&Redacted>,
    ) -> Response<ResBody>
    where
        R: RejectionResponse<ResBody>,
    {
        self.settings.audit.emit(&AuditEvent::Rejected {
            reason,
            path: req.uri().path(),
            peer: self.settings.audit.peer(req.extensions()),
            ticket,
        });
        rejection::respond(&self.rejection, reason)
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        // An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

#[cfg(test)]
mod tests;

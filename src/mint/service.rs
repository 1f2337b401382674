//! The [`MintService`] and its settings.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HOST, ORIGIN};
use http::request::Parts;
use http::{Extensions, Method, Request, Response};
use http_body_util::Full;
use tower_service::Service;

use super::future::ResponseFuture;
use super::response::{Minting, rejection};
use crate::audience::Audience;
use crate::audit::{AuditEvent, Auditor, MintRejectReason};
use crate::metric::{Op, Timed};
use crate::origin::{AllowedOrigins, ConfigError, is_same_origin};
use crate::peer::{DefaultPeer, PeerExtractor};
use crate::store::TicketStore;

type Identify<I> = Arc<dyn Fn(&Parts) -> Option<I> + Send + Sync>;

/// Service that mints tickets for authenticated callers; see the
/// [module docs](super).
pub struct MintService<T: TicketStore> {
    store: T,
    audience: Option<Audience>,
    identify: Identify<T::Identity>,
    origins: Option<Arc<AllowedOrigins>>,
    peer: Arc<dyn PeerExtractor>,
    audit: Auditor<T::Identity>,
}

impl<T: TicketStore> MintService<T> {
    /// Mints from `store` for the identity of type `T::Identity` found in
    /// the request extensions.
    pub fn new(store: T) -> Self {
        Self {
            store,
            audience: None,
            identify: Arc::new(|parts: &Parts| parts.extensions.get::<T::Identity>().cloned()),
            origins: None,
            peer: Arc::new(DefaultPeer),
            audit: Auditor::default(),
        }
    }

    /// Mints tickets for `audience`, which only a
    /// [`WsTicketLayer`](crate::WsTicketLayer) with the same
    /// [`audience`](crate::WsTicketLayer::audience) accepts: give each
    /// guarded route its own mint route and audience, and a ticket for one
    /// never opens another.
    ///
    /// ```
    /// use axum::Router;
    /// use tower_ws_ticket::{MemoryStore, MintService};
    ///
    /// let store = MemoryStore::<u64>::new();
    /// let app: Router = Router::new()
    ///     .route_service("/api/auth/ws-ticket", MintService::new(store.clone()).audience("page"))
    ///     .route_service("/api/admin/ws-ticket", MintService::new(store).audience("admin"));
    /// # let _ = app;
    /// ```
    #[must_use]
    pub fn audience(mut self, audience: impl Into<Audience>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Reads the identity with `identify` instead of from the extensions;
    /// `None` means the caller is not authenticated (401).
    #[must_use]
    pub fn identity_from(
        mut self,
        identify: impl Fn(&Parts) -> Option<T::Identity> + Send + Sync + 'static,
    ) -> Self {
        self.identify = Arc::new(identify);
        self
    }

    /// Also admits `POST`s from these origins besides the request's own.
    /// Without it, a mint whose `Origin` header names another host than the
    /// request's `Host` is refused (403): the page of another site cannot
    /// make a signed-in visitor's browser mint. Browsers send `Origin` on
    /// every `POST`; requests without one pass this check.
    ///
    /// # Panics
    ///
    /// When an entry is not a serialized origin (`scheme://host[:port]`);
    /// [`try_allowed_origins`](Self::try_allowed_origins) returns the error
    /// instead.
    #[must_use]
    pub fn allowed_origins<O: Into<String>>(self, origins: impl IntoIterator<Item = O>) -> Self {
        match self.try_allowed_origins(origins) {
            Ok(service) => service,
            Err(err) => panic!("{err}"),
        }
    }

    /// [`allowed_origins`](Self::allowed_origins), with invalid entries
    /// reported instead of panicking.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidOrigin`] for
    /// the first entry that is not `scheme://host[:port]`.
    pub fn try_allowed_origins<O: Into<String>>(
        mut self,
        origins: impl IntoIterator<Item = O>,
    ) -> Result<Self, ConfigError> {
        self.origins = Some(Arc::new(AllowedOrigins::new(origins)?));
        Ok(self)
    }

    /// Where the peer address comes from, for audit events (default
    /// [`DefaultPeer`]); see the [`peer`](crate::peer) module.
    #[must_use]
    pub fn peer_addr(
        self,
        peer: impl Fn(&Extensions) -> Option<SocketAddr> + Send + Sync + 'static,
    ) -> Self {
        self.peer_extractor(peer)
    }

    /// Where the peer address comes from, as a [`PeerExtractor`] type
    /// (a closure fits [`peer_addr`](Self::peer_addr) more easily).
    #[must_use]
    pub fn peer_extractor(mut self, peer: impl PeerExtractor) -> Self {
        self.peer = Arc::new(peer);
        self
    }

    /// Hands every [`AuditEvent`] to `hook` as well as to `tracing`.
    #[must_use]
    pub fn on_audit(mut self, hook: impl Fn(&AuditEvent<'_>) + Send + Sync + 'static) -> Self {
        self.audit.set_hook(hook);
        self
    }

    /// How audit events name the identity a ticket was minted for.
    #[must_use]
    pub fn audit_label(
        mut self,
        label: impl Fn(&T::Identity) -> String + Send + Sync + 'static,
    ) -> Self {
        self.audit.set_label(label);
        self
    }

    /// The store tickets are minted in.
    pub fn store(&self) -> &T {
        &self.store
    }
}

impl<T: TicketStore, B> Service<Request<B>> for MintService<T> {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ResponseFuture<T>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The body is never read: the identity comes from the request head.
        let (parts, _body) = req.into_parts();
        let peer = self.peer.peer_addr(&parts.extensions);
        let path = parts.uri.path();
        if parts.method != Method::POST {
            let refused = rejection(&self.audit, MintRejectReason::MethodNotAllowed, path, peer);
            return ResponseFuture::done(refused);
        }
        if !self.origin_admitted(&parts) {
            return ResponseFuture::done(rejection(
                &self.audit,
                MintRejectReason::Origin,
                path,
                peer,
            ));
        }
        let Some(identity) = (self.identify)(&parts) else {
            let refused = rejection(&self.audit, MintRejectReason::Unauthenticated, path, peer);
            return ResponseFuture::done(refused);
        };
        let minting = Minting {
            label: self.audit.label(&identity),
            audit: self.audit.clone(),
            uri: parts.uri,
            peer,
        };
        let minted = self.store.mint_ticket(identity, self.audience.as_ref());
        ResponseFuture::minting(Timed::new(minted, Op::Mint), minting)
    }
}

impl<T: TicketStore> MintService<T> {
    /// Whether every `Origin` header of the request names the request's
    /// own host or an allowed origin. Without a `Host` (or HTTP/2
    /// authority) to compare with, only the allowlist can admit.
    fn origin_admitted(&self, parts: &Parts) -> bool {
        let host = parts
            .headers
            .get(HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        parts.headers.get_all(ORIGIN).iter().all(|origin| {
            host.is_some_and(|host| is_same_origin(origin.as_bytes(), host))
                || self
                    .origins
                    .as_ref()
                    .is_some_and(|list| list.allows(origin.as_bytes()))
        })
    }
}

impl<T: TicketStore> Clone for MintService<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            audience: self.audience.clone(),
            identify: Arc::clone(&self.identify),
            origins: self.origins.clone(),
            peer: Arc::clone(&self.peer),
            audit: self.audit.clone(),
        }
    }
}

impl<T: TicketStore + fmt::Debug> fmt::Debug for MintService<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintService")
            .field("store", &self.store)
            .field("audience", &self.audience)
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

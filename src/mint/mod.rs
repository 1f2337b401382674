//! The mint route: [`MintService`] answers an authenticated
//! `POST /api/auth/ws-ticket` with a fresh ticket.
//!
//! `ttl_seconds` is the store's TTL in whole seconds, rounded down.
//!
//! It reads the caller's identity from the request extensions, where the
//! application's own authentication put it (or through
//! [`identity_from`](MintService::identity_from)), mints a ticket bound to
//! it and answers `200` with `{"ticket":"wst_…","ttl_seconds":30}`,
//! `Content-Type: application/json` and `Cache-Control: no-store`.
//!
//! | request | response |
//! |---|---|
//! | `POST` with an identity | 200 and the ticket |
//! | any other method | 405, `Allow: POST` |
//! | `Origin` outside [`allowed_origins`](MintService::allowed_origins), when set | 403 |
//! | no identity | 401 |
//! | store full | 503, `Retry-After: 1` |
//! | store unreachable | 503, `Retry-After: 1` |
//!
//! It is a tower `Service` for any request body with `Error = Infallible`,
//! so axum takes it with `Router::route_service`.
//!
//! Each live ticket takes a place under the store's cap until it is used
//! or expires, so one signed-in client minting in a loop can fill the
//! store for everyone for a TTL. Put a rate limit per identity in front of
//! this route (tower's `RateLimit`, or your gateway's), and with cookie
//! sessions set [`allowed_origins`](MintService::allowed_origins) so that
//! other sites cannot make your visitors' browsers mint.
//!
//! ```
//! use http::{Request, StatusCode};
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//! use tower_ws_ticket::{MemoryStore, MintService};
//!
//! #[derive(Clone)]
//! struct UserId(u64);
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = MemoryStore::<UserId>::new();
//! let mint = MintService::new(store.clone());
//!
//! // Your auth middleware puts the identity in the extensions.
//! let mut req = Request::post("/api/auth/ws-ticket").body(()).unwrap();
//! req.extensions_mut().insert(UserId(7));
//! let response = mint.clone().oneshot(req).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! let body = std::str::from_utf8(&body).unwrap();
//! assert!(body.starts_with(r#"{"ticket":"wst_"#));
//! assert!(body.ends_with(r#","ttl_seconds":30}"#));
//!
//! // Without an identity: 401.
//! let anonymous = Request::post("/api/auth/ws-ticket").body(()).unwrap();
//! assert_eq!(mint.oneshot(anonymous).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, ORIGIN, RETRY_AFTER};
use http::request::Parts;
use http::{Extensions, Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use tower_service::Service;

use crate::audit::{AuditEvent, Auditor, MintRefusal};
use crate::error::MintError;
use crate::layer::ConfigError;
use crate::layer::origin::AllowedOrigins;
use crate::store::TicketStore;
use crate::ticket::Ticket;

mod future;

pub use future::ResponseFuture;

type Identify<I> = Arc<dyn Fn(&Parts) -> Option<I> + Send + Sync>;

/// Service that mints tickets for authenticated callers; see the
/// [module docs](self).
pub struct MintService<T: TicketStore> {
    store: T,
    identify: Identify<T::Identity>,
    origins: Option<Arc<AllowedOrigins>>,
    audit: Auditor<T::Identity>,
}

impl<T: TicketStore> MintService<T> {
    /// Mints from `store` for the identity of type `T::Identity` found in
    /// the request extensions.
    pub fn new(store: T) -> Self {
        Self {
            store,
            identify: Arc::new(|parts: &Parts| parts.extensions.get::<T::Identity>().cloned()),
            origins: None,
            audit: Auditor::default(),
        }
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

    /// Refuses (403) a mint whose `Origin` header is not one of these, as
    /// [`WsTicketLayer::allowed_origins`](crate::WsTicketLayer::allowed_origins)
    /// does for sockets. Browsers send `Origin` on every `POST`; requests
    /// without one pass this check.
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

    /// Where the peer address comes from, for audit events; see
    /// [`WsTicketLayer::peer_addr`](crate::WsTicketLayer::peer_addr).
    #[must_use]
    pub fn peer_addr(
        mut self,
        peer: impl Fn(&Extensions) -> Option<SocketAddr> + Send + Sync + 'static,
    ) -> Self {
        self.audit.set_peer_addr(peer);
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
        let peer = self.audit.peer(&parts.extensions);
        if parts.method != Method::POST {
            let response = refusal(
                &self.audit,
                MintRefusal::MethodNotAllowed,
                parts.uri.path(),
                peer,
            );
            return ResponseFuture::done(response);
        }
        if let Some(origins) = &self.origins {
            let forbidden = parts
                .headers
                .get_all(ORIGIN)
                .iter()
                .any(|origin| !origins.allows(origin.as_bytes()));
            if forbidden {
                let response = refusal(&self.audit, MintRefusal::Origin, parts.uri.path(), peer);
                return ResponseFuture::done(response);
            }
        }
        let Some(identity) = (self.identify)(&parts) else {
            let response = refusal(
                &self.audit,
                MintRefusal::Unauthenticated,
                parts.uri.path(),
                peer,
            );
            return ResponseFuture::done(response);
        };
        let issued = Issued {
            label: self.audit.label(&identity),
            audit: self.audit.clone(),
            uri: parts.uri,
            peer,
        };
        ResponseFuture::issuing(self.store.issue(identity), issued)
    }
}

/// What the response to a mint needs once the store has answered.
pub(crate) struct Issued<I> {
    label: Option<String>,
    audit: Auditor<I>,
    uri: Uri,
    peer: Option<SocketAddr>,
}

impl<I> Issued<I> {
    pub(crate) fn respond(self, outcome: Result<Ticket, MintError>) -> Response<Full<Bytes>> {
        let path = self.uri.path();
        match outcome {
            Ok(ticket) => {
                self.audit.emit(&AuditEvent::Minted {
                    identity: self.label.as_deref(),
                    path,
                    peer: self.peer,
                });
                ticket_response(&ticket)
            }
            Err(MintError::Full) => refusal(&self.audit, MintRefusal::Full, path, self.peer),
            Err(MintError::Unavailable(_)) => {
                refusal(&self.audit, MintRefusal::StoreUnavailable, path, self.peer)
            }
        }
    }
}

fn ticket_response(ticket: &Ticket) -> Response<Full<Bytes>> {
    // Ticket text is `wst_` plus base64url: nothing in it needs JSON
    // escaping, so the body is written directly.
    let body = format!(
        r#"{{"ticket":"{}","ttl_seconds":{}}}"#,
        ticket.expose_secret(),
        ticket.ttl().as_secs()
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refusal<I>(
    audit: &Auditor<I>,
    reason: MintRefusal,
    path: &str,
    peer: Option<SocketAddr>,
) -> Response<Full<Bytes>> {
    audit.emit(&AuditEvent::MintRefused { reason, path, peer });
    let mut response = Response::new(Full::default());
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let status = match reason {
        MintRefusal::MethodNotAllowed => {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
            StatusCode::METHOD_NOT_ALLOWED
        }
        MintRefusal::Unauthenticated => StatusCode::UNAUTHORIZED,
        MintRefusal::Origin => StatusCode::FORBIDDEN,
        MintRefusal::Full | MintRefusal::StoreUnavailable => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    *response.status_mut() = status;
    response
}

impl<T: TicketStore> Clone for MintService<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            identify: Arc::clone(&self.identify),
            origins: self.origins.clone(),
            audit: self.audit.clone(),
        }
    }
}

impl<T: TicketStore + fmt::Debug> fmt::Debug for MintService<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintService")
            .field("store", &self.store)
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

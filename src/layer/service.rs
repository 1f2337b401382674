//! The [`WsTicket`] service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use tower_layer::Layer as _;
use tower_service::Service;

use super::admission::{Admission, Config};
use super::future::ResponseFuture;
use super::upgrade::is_websocket_upgrade;
use super::{DefaultRejection, RejectionResponse, WsTicketLayer};
use crate::store::TicketStore;

/// Middleware that admits WebSocket upgrades only with a valid credential;
/// built by [`WsTicketLayer`], see the [module docs](super).
pub struct WsTicket<S, T: TicketStore, R = DefaultRejection> {
    inner: S,
    config: Arc<Config<T, R>>,
}

impl<S, T: TicketStore> WsTicket<S, T> {
    /// Wraps `inner`, guarding its upgrades with tickets from `store` in
    /// gated mode; [`WsTicketLayer`] has the other settings.
    pub fn new(inner: S, store: T) -> Self {
        WsTicketLayer::new(store).layer(inner)
    }

    /// A [`WsTicketLayer`] guarding upgrades with tickets from `store`.
    pub fn layer(store: T) -> WsTicketLayer<T> {
        WsTicketLayer::new(store)
    }
}

impl<S, T: TicketStore, R> WsTicket<S, T, R> {
    pub(crate) fn from_config(inner: S, config: Arc<Config<T, R>>) -> Self {
        Self { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, T, R, ReqBody, ResBody> Service<Request<ReqBody>> for WsTicket<S, T, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    T: TicketStore,
    R: RejectionResponse<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, T, R, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // Ordinary traffic first, and as cheaply as can be: one header
        // lookup, and the inner service's future as it is. The upgrade path
        // lives apart so that this one stays small.
        if is_websocket_upgrade(&req) {
            self.call_upgrade(req)
        } else {
            ResponseFuture::passthrough(self.inner.call(req))
        }
    }
}

impl<S, T: TicketStore, R> WsTicket<S, T, R> {
    /// The upgrade path of `call`: admission, and the ticket's consume.
    #[inline(never)]
    fn call_upgrade<ReqBody, ResBody>(
        &mut self,
        mut req: Request<ReqBody>,
    ) -> ResponseFuture<S, T, R, ReqBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
        R: RejectionResponse<ResBody>,
    {
        let config = &self.config;
        let (mut consume, handoff) = match config.settings.admit(&req) {
            Admission::Pass => return ResponseFuture::passthrough(self.inner.call(req)),
            Admission::Reject(reason) => {
                return ResponseFuture::rejected(config.reject(&mut req, reason, None));
            }
            Admission::Accept {
                principal,
                credential,
                handoff,
            } => {
                let selection = config
                    .settings
                    .accept(&mut req, handoff, principal, credential);
                return ResponseFuture::inner(self.inner.call(req), selection);
            }
            Admission::Ticket { value, handoff } => (config.settings.consume(&value), handoff),
        };
        // A store that answers at once (the memory store always does) is
        // settled here: the request goes straight on, nothing boxed. The
        // future will be polled again with a real waker if it is pending.
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(outcome) = Pin::new(&mut consume).poll(&mut cx) {
            return match config.settle(&mut req, handoff, outcome) {
                Ok(selection) => ResponseFuture::inner(self.inner.call(req), selection),
                Err(response) => ResponseFuture::rejected(response),
            };
        }
        // The inner service is called only once the store answers, possibly
        // much later (Redis): move the service that poll_ready prepared into
        // the future and keep a fresh clone here, as tower's docs advise.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::consuming(consume, req, handoff, inner, Arc::clone(config))
    }
}

impl<S: Clone, T: TicketStore, R> Clone for WsTicket<S, T, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug, T: TicketStore, R: fmt::Debug> fmt::Debug for WsTicket<S, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsTicket")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

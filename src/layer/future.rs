//! The [`ResponseFuture`] of [`WsTicket`](super::WsTicket): a state
//! machine that waits for the store when it does not answer at once, then
//! calls the inner service or answers the refusal.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::RejectionResponse;
use super::admission::{Config, Handoff};
use super::subprotocol::Selection;
use crate::metric::Timed;
use crate::store::TicketStore;

pin_project! {
    /// Response future of [`WsTicket`](super::WsTicket).
    pub struct ResponseFuture<S, T, R, ReqBody>
    where
        S: Service<Request<ReqBody>>,
        T: TicketStore,
    {
        #[pin]
        kind: Kind<S, T, R, ReqBody>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, T, R, ReqBody>
    where
        S: Service<Request<ReqBody>>,
        T: TicketStore,
    {
        // Consuming a ticket in a store that did not answer at once; the
        // request waits beside it, boxed so that the future stays small (and
        // cheap to move) on every other path.
        Consuming {
            consume: Timed<T::ConsumeFuture>,
            waiting: Option<Box<Waiting<S, T, R, ReqBody>>>,
        },
        // Not an upgrade: the inner service's answer, as it is.
        Passthrough {
            #[pin]
            future: S::Future,
        },
        // The inner service has an admitted upgrade.
        Inner {
            #[pin]
            future: S::Future,
            selection: Selection,
        },
        // Refused without calling the inner service.
        Rejected {
            response: Option<S::Response>,
        },
    }
}

/// What a request waiting on the store needs once it has answered.
struct Waiting<S, T: TicketStore, R, ReqBody> {
    request: Request<ReqBody>,
    handoff: Handoff,
    inner: S,
    config: Arc<Config<T, R>>,
}

impl<S, T, R, ReqBody> ResponseFuture<S, T, R, ReqBody>
where
    S: Service<Request<ReqBody>>,
    T: TicketStore,
{
    pub(crate) fn passthrough(future: S::Future) -> Self {
        Self {
            kind: Kind::Passthrough { future },
        }
    }

    pub(crate) fn inner(future: S::Future, selection: Selection) -> Self {
        Self {
            kind: Kind::Inner { future, selection },
        }
    }

    pub(crate) fn rejected(response: S::Response) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn consuming(
        consume: Timed<T::ConsumeFuture>,
        request: Request<ReqBody>,
        handoff: Handoff,
        inner: S,
        config: Arc<Config<T, R>>,
    ) -> Self {
        Self {
            kind: Kind::Consuming {
                consume,
                waiting: Some(Box::new(Waiting {
                    request,
                    handoff,
                    inner,
                    config,
                })),
            },
        }
    }
}

impl<S, T, R, ReqBody, ResBody> Future for ResponseFuture<S, T, R, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    T: TicketStore,
    R: RejectionResponse<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.kind.as_mut().project() {
                KindProj::Consuming { consume, waiting } => {
                    let outcome = ready!(Pin::new(consume).poll(cx));
                    let Waiting {
                        mut request,
                        handoff,
                        mut inner,
                        config,
                    } = *waiting
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let next = match config.settle(&mut request, handoff, outcome) {
                        Ok(selection) => Kind::Inner {
                            future: inner.call(request),
                            selection,
                        },
                        Err(response) => Kind::Rejected {
                            response: Some(response),
                        },
                    };
                    this.kind.set(next);
                }
                KindProj::Passthrough { future } => return future.poll(cx),
                KindProj::Inner { future, selection } => {
                    let mut response = ready!(future.poll(cx))?;
                    selection.apply(&mut response);
                    return Poll::Ready(Ok(response));
                }
                KindProj::Rejected { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

impl<S, T, R, ReqBody> fmt::Debug for ResponseFuture<S, T, R, ReqBody>
where
    S: Service<Request<ReqBody>>,
    T: TicketStore,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Consuming { .. } => "consuming",
            Kind::Passthrough { .. } => "passthrough",
            Kind::Inner { .. } => "inner",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

//! The [`ResponseFuture`] of [`WsTicket`](super::WsTicket).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response, Uri};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{Config, Principal, RejectionResponse};
use crate::audit::{CredentialKind, RejectReason};
use crate::error::TicketError;
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
        // Redeeming a ticket; the request waits beside it, boxed so that
        // the future stays small (and cheap to move) on every other path.
        Check {
            #[pin]
            check: T::RedeemFuture,
            pending: Option<Box<Pending<S, T, R, ReqBody>>>,
        },
        // The inner service has the request.
        Inner {
            #[pin]
            future: S::Future,
        },
        // Refused without calling the inner service.
        Rejected {
            response: Option<S::Response>,
        },
    }
}

/// What a ticket check needs once the store has answered.
struct Pending<S, T: TicketStore, R, ReqBody> {
    request: Request<ReqBody>,
    uri: Uri,
    inner: S,
    config: Arc<Config<T, R>>,
}

impl<S, T, R, ReqBody> ResponseFuture<S, T, R, ReqBody>
where
    S: Service<Request<ReqBody>>,
    T: TicketStore,
{
    pub(crate) fn inner(future: S::Future) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn rejected(response: S::Response) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn check(
        check: T::RedeemFuture,
        request: Request<ReqBody>,
        uri: Uri,
        inner: S,
        config: Arc<Config<T, R>>,
    ) -> Self {
        Self {
            kind: Kind::Check {
                check,
                pending: Some(Box::new(Pending {
                    request,
                    uri,
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
                KindProj::Check { check, pending } => {
                    let outcome = ready!(check.poll(cx));
                    let Pending {
                        mut request,
                        uri,
                        mut inner,
                        config,
                    } = *pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    match outcome {
                        Ok(redeemed) => {
                            let principal = Principal::Ticket(redeemed);
                            config.settings.accept(
                                &mut request,
                                uri,
                                principal,
                                CredentialKind::Ticket,
                            );
                            let future = inner.call(request);
                            this.kind.set(Kind::Inner { future });
                        }
                        Err(err) => {
                            let (reason, ticket) = match &err {
                                // Something else sent as a ticket (a session
                                // token, the internal credential) must not
                                // reach the audit log, not even 8 characters.
                                TicketError::Malformed(t) => (
                                    RejectReason::Malformed,
                                    t.as_str().starts_with(crate::ticket::PREFIX).then_some(t),
                                ),
                                TicketError::Unknown(t) => (RejectReason::Unknown, Some(t)),
                                TicketError::Expired(t) => (RejectReason::Expired, Some(t)),
                                TicketError::Unavailable(_) => {
                                    (RejectReason::StoreUnavailable, None)
                                }
                            };
                            let response = config.reject(&request, reason, ticket);
                            this.kind.set(Kind::Rejected {
                                response: Some(response),
                            });
                        }
                    }
                }
                KindProj::Inner { future } => return future.poll(cx),
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
            Kind::Check { .. } => "check",
            Kind::Inner { .. } => "inner",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

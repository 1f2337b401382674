//! The [`ResponseFuture`] of [`MintService`](super::MintService).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use pin_project_lite::pin_project;

use super::response::Minting;
use crate::metric::Timed;
use crate::store::TicketStore;

pin_project! {
    /// Response future of [`MintService`](super::MintService).
    pub struct ResponseFuture<T>
    where
        T: TicketStore,
    {
        #[pin]
        kind: Kind<T>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<T>
    where
        T: TicketStore,
    {
        // The store is minting.
        Minting {
            #[pin]
            future: Timed<T::MintFuture>,
            minting: Option<Minting<T::Identity>>,
        },
        // Answered without the store.
        Done {
            response: Option<Response<Full<Bytes>>>,
        },
    }
}

impl<T: TicketStore> ResponseFuture<T> {
    pub(crate) fn minting(future: Timed<T::MintFuture>, minting: Minting<T::Identity>) -> Self {
        Self {
            kind: Kind::Minting {
                future,
                minting: Some(minting),
            },
        }
    }

    pub(crate) fn done(response: Response<Full<Bytes>>) -> Self {
        Self {
            kind: Kind::Done {
                response: Some(response),
            },
        }
    }
}

impl<T: TicketStore> Future for ResponseFuture<T> {
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = match self.project().kind.project() {
            KindProj::Minting { future, minting } => {
                let outcome = ready!(future.poll(cx));
                minting
                    .take()
                    .expect("ResponseFuture polled after completion")
                    .respond(outcome)
            }
            KindProj::Done { response } => response
                .take()
                .expect("ResponseFuture polled after completion"),
        };
        Poll::Ready(Ok(response))
    }
}

impl<T: TicketStore> fmt::Debug for ResponseFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Minting { .. } => "minting",
            Kind::Done { .. } => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

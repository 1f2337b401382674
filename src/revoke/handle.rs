//! [`Revocation`]: what one socket holds, the [`RevokedFuture`] a
//! handler selects on, and the [`RevokeReason`] it ended for.
//!
//! A handle is one allocation shared by its clones: the registry's entry
//! for the socket, with its [`Signal`] (a flag and an
//! [`event_listener::Event`]) in it.
//! Revoking sets the flag and notifies every listener; a future that is
//! dropped unpolled or half-way leaves nothing behind (its listener
//! unregisters itself), so it is cancel-safe and `tokio::select!` may
//! drop and rebuild it on every turn of a loop.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use event_listener::EventListener;

use super::signal::{self, Deadline, Registered, RevokeReason, Signal};

/// A socket's revocation handle: [`revoked`](Self::revoked) completes once
/// its key is revoked by [`Revocations::revoke`](crate::Revocations::revoke)
/// (or everything is, by [`revoke_all`](crate::Revocations::revoke_all)),
/// or once its deadline passes
/// ([`WsTicketLayer::expires_at`](crate::WsTicketLayer::expires_at),
/// [`max_socket_age`](crate::WsTicketLayer::max_socket_age));
/// [`reason`](Self::reason) says which.
///
/// [`WsTicketLayer::revocations`](crate::WsTicketLayer::revocations) puts
/// one in the request extensions of every upgrade it admits. With the
/// `axum` feature a handler takes it as an argument (`revocation:
/// Revocation`); otherwise as `Extension<Revocation>`. Move it into the
/// socket's task and select on it beside the socket:
///
/// ```
/// # async fn demo(revocation: tower_ws_ticket::Revocation,
/// #     mut messages: tokio::sync::mpsc::Receiver<String>) {
/// loop {
///     tokio::select! {
///         // Close the socket with 4401 and the reason's name as its text
///         // ("revoked", "expired"): the page mints a new ticket.
///         () = revocation.revoked() => break,
///         message = messages.recv() => match message {
///             Some(_text) => { /* handle it */ }
///             None => break,
///         },
///     }
/// }
/// # }
/// ```
///
/// Clones share one registration: the socket leaves the registry when the
/// last clone (and the last [`RevokedFuture`] made from one) is dropped.
#[derive(Clone)]
pub struct Revocation {
    registration: Arc<dyn Registered>,
}

impl Revocation {
    /// The handle of `registration`, its deadline (if any) queued.
    pub(crate) fn new(registration: Arc<dyn Registered>) -> Self {
        if let Some(deadline) = registration.signal().deadline() {
            signal::schedule(Arc::downgrade(&registration), deadline);
        }
        Self { registration }
    }

    /// A future that completes once this socket's key is revoked, at once
    /// when it already is.
    ///
    /// Any number of futures, from any number of clones, may wait at once;
    /// all complete. Each is cancel-safe and works on any executor. Polling
    /// one that is not ready reads one atomic flag before it registers its
    /// waker; a loop that rebuilds the future on every turn (as
    /// `tokio::select!` in a `loop` does) pays a small allocation per turn,
    /// which pinning one future outside the loop avoids.
    pub fn revoked(&self) -> RevokedFuture {
        RevokedFuture {
            registration: Arc::clone(&self.registration),
            listener: None,
        }
    }

    /// Whether this socket has been signalled (its key revoked, or its
    /// deadline passed).
    pub fn is_revoked(&self) -> bool {
        self.registration.signal().is_fired()
    }

    /// Why the socket was signalled: `None` before it was, then the first
    /// cause ([`RevokeReason::Revoked`] or [`RevokeReason::Expired`]), for
    /// good.
    pub fn reason(&self) -> Option<RevokeReason> {
        self.registration.signal().reason()
    }

    /// When the socket ends by itself: the earliest of its identity's
    /// expiry and its maximum age, as the layer worked them out at the
    /// upgrade. `None` for a socket with no deadline.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.registration.signal().deadline().map(Deadline::instant)
    }

    #[cfg(test)]
    pub(crate) fn deadline_for_tests(&self) -> signal::Due {
        let deadline = self.registration.signal().deadline();
        deadline.expect("a socket with a deadline").due()
    }
}

/// A socket's registration outside any registry: a layer with a deadline
/// ([`expires_at`] or [`max_socket_age`]) and no [`revocations`].
///
/// [`expires_at`]: crate::WsTicketLayer::expires_at
/// [`max_socket_age`]: crate::WsTicketLayer::max_socket_age
/// [`revocations`]: crate::WsTicketLayer::revocations
struct Unregistered {
    signal: Signal,
}

impl Registered for Unregistered {
    fn signal(&self) -> &Signal {
        &self.signal
    }
}

impl Revocation {
    /// A handle for a socket in no registry, signalled at `deadline` if
    /// there is one.
    pub(crate) fn unregistered(deadline: Option<SystemTime>) -> Self {
        Self::new(Arc::new(Unregistered {
            signal: Signal::new(deadline.map(Deadline::at)),
        }))
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("reason", &self.reason())
            .field("expires_at", &self.expires_at())
            .finish_non_exhaustive()
    }
}

/// Future of [`Revocation::revoked`]: completes once the socket's key is
/// revoked. `Send`, `Unpin` and `'static`, so it can be selected on in
/// place or moved into a task of its own.
#[must_use = "futures do nothing unless polled"]
pub struct RevokedFuture {
    registration: Arc<dyn Registered>,
    listener: Option<EventListener>,
}

impl Future for RevokedFuture {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            if this.registration.signal().is_fired() {
                this.listener = None;
                return Poll::Ready(());
            }
            match &mut this.listener {
                // Listen first, then read the flag again (the loop): a
                // revocation between the two is seen either way.
                None => this.listener = Some(this.registration.signal().listen()),
                Some(listener) => {
                    if Pin::new(listener).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.listener = None;
                }
            }
        }
    }
}

impl fmt::Debug for RevokedFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevokedFuture")
            .field("revoked", &self.registration.signal().is_fired())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "axum")]
mod axum_extract {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use http::request::Parts;

    use super::Revocation;
    use crate::extract::{NotBehindLayer, from_extensions, optional_from_extensions};

    impl<S: Send + Sync> FromRequestParts<S> for Revocation {
        type Rejection = NotBehindLayer;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            from_extensions(parts, "Revocation", "WsTicketLayer::revocations")
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for Revocation {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(optional_from_extensions(parts))
        }
    }
}

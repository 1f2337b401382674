//! [`Revocation`]: what one socket holds, and the [`Revoked`] future a
//! handler selects on.
//!
//! A handle is one allocation shared by its clones: the registry's entry
//! for the socket, with a flag and an [`event_listener::Event`] in it.
//! Revoking sets the flag and notifies every listener; a future that is
//! dropped unpolled or half-way leaves nothing behind (its listener
//! unregisters itself), so it is cancel-safe and `tokio::select!` may
//! drop and rebuild it on every turn of a loop.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use event_listener::{Event, EventListener};

/// The part of a registration a handle needs: its signal. The registry's
/// own type (generic over the key) stays behind this trait, so that
/// [`Revocation`] has no type parameter.
pub(crate) trait Registered: Send + Sync + 'static {
    fn signal(&self) -> &Signal;
}

/// Fired once, when the socket's key is revoked; never reset.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    revoked: AtomicBool,
    event: Event,
}

impl Signal {
    pub(crate) fn fire(&self) {
        // SeqCst pairs with the load in `Revoked::poll`, made after its
        // listener is registered: either the poll sees the flag, or the
        // notification sees the listener.
        self.revoked.store(true, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.revoked.load(Ordering::SeqCst)
    }
}

/// A socket's revocation handle: [`revoked`](Self::revoked) completes once
/// its key is revoked by [`Revocations::revoke`](crate::Revocations::revoke)
/// (or everything is, by [`revoke_all`](crate::Revocations::revoke_all)).
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
///         () = revocation.revoked() => break, // close the socket with 4401
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
/// last clone (and the last [`Revoked`] future made from one) is dropped.
#[derive(Clone)]
pub struct Revocation {
    registration: Arc<dyn Registered>,
}

impl Revocation {
    pub(crate) fn new(registration: Arc<dyn Registered>) -> Self {
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
    pub fn revoked(&self) -> Revoked {
        Revoked {
            registration: Arc::clone(&self.registration),
            listener: None,
        }
    }

    /// Whether this socket's key has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.registration.signal().is_fired()
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("revoked", &self.is_revoked())
            .finish_non_exhaustive()
    }
}

/// Future of [`Revocation::revoked`]: completes once the socket's key is
/// revoked. `Send`, `Unpin` and `'static`, so it can be selected on in
/// place or moved into a task of its own.
#[must_use = "futures do nothing unless polled"]
pub struct Revoked {
    registration: Arc<dyn Registered>,
    listener: Option<EventListener>,
}

impl Future for Revoked {
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
                None => this.listener = Some(this.registration.signal().event.listen()),
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

impl fmt::Debug for Revoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revoked")
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

//! [`Principal`]: who the layer admitted, as a handler receives it.
//!
//! The layer leaves it in the request extensions of every upgrade it
//! admits. With the `axum` feature it is an extractor; without it, take it
//! as `Extension<Principal<I>>` (axum) or `warp::ext::get::<Principal<I>>()`.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use axum::extract::ws::WebSocketUpgrade;
//! use axum::response::Response;
//! use tower_ws_ticket::Principal;
//!
//! #[derive(Clone)]
//! struct User(String);
//!
//! // A route without the layer in front of it refuses here (500), before
//! // any socket opens.
//! async fn socket(ws: WebSocketUpgrade, who: Principal<User>) -> Response {
//!     ws.on_upgrade(move |_socket| async move { let _ = who; })
//! }
//! # let _ = axum::Router::<()>::new().route("/api/ws", axum::routing::any(socket));
//! # }
//! ```

use crate::store::Redeemed;

/// Who an admitted upgrade is, as the layer leaves it in the request
/// extensions for the handler.
///
/// With the `axum` feature, a handler takes it as an argument
/// (`who: Principal<User>`); a route the layer does not cover then refuses
/// with a 500 ([`NotBehindLayer`](crate::extract::NotBehindLayer)) instead of opening a socket. Use
/// `Option<Principal<User>>` where a route serves both.
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

#[cfg(feature = "axum")]
mod axum_extract {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use http::request::Parts;

    use super::Principal;
    use crate::extract::{NotBehindLayer, from_extensions, optional_from_extensions};

    impl<I, S> FromRequestParts<S> for Principal<I>
    where
        I: Clone + Send + Sync + 'static,
        S: Send + Sync,
    {
        type Rejection = NotBehindLayer;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            from_extensions(parts, "Principal", "WsTicketLayer")
        }
    }

    impl<I, S> OptionalFromRequestParts<S> for Principal<I>
    where
        I: Clone + Send + Sync + 'static,
        S: Send + Sync,
    {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(optional_from_extensions(parts))
        }
    }
}

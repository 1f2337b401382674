//! What the crate's axum extractors share (feature `axum`): they read a
//! value the layer left in the request's extensions, and refuse with
//! [`NotBehindLayer`] when it is not there.
//!
//! [`Principal`](crate::Principal) and [`Revocation`](crate::Revocation)
//! are the extractors.

use std::fmt;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

/// The rejection of the crate's extractors: the layer did not put what the
/// handler asks for in this request's extensions, so the route is not
/// behind [`WsTicketLayer`](crate::WsTicketLayer) (for
/// [`Principal`](crate::Principal)), or not behind one with
/// [`revocations`](crate::WsTicketLayer::revocations) (for
/// [`Revocation`](crate::Revocation)): a server misconfiguration.
///
/// Each extractor also works as `Option<_>`, for a route that serves
/// requests with and without it; then there is no rejection.
///
/// Answers `500 Internal Server Error`, as axum's own `Extension` does when
/// an extension is missing, and never opens a socket.
///
/// ```
/// use axum::response::IntoResponse;
/// use http::request::Request;
/// use tower_ws_ticket::NotBehindLayer;
/// use tower_ws_ticket::Principal;
/// use axum::extract::FromRequestParts;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (mut parts, ()) = Request::new(()).into_parts();
/// let refused = Principal::<String>::from_request_parts(&mut parts, &())
///     .await
///     .unwrap_err();
/// assert_eq!(refused.extractor(), "Principal");
/// assert_eq!(refused.into_response().status(), 500);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotBehindLayer {
    extractor: &'static str,
    layer: &'static str,
}

impl NotBehindLayer {
    /// The extractor that found nothing: `"Principal"` or `"Revocation"`.
    pub fn extractor(&self) -> &'static str {
        self.extractor
    }
}

impl fmt::Display for NotBehindLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no {}: is this route behind {}?",
            self.extractor, self.layer
        )
    }
}

impl std::error::Error for NotBehindLayer {}

impl IntoResponse for NotBehindLayer {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

/// The `T` the layer left in `parts`, or the rejection naming `extractor`
/// and the `layer` that would have left it.
pub(crate) fn from_extensions<T>(
    parts: &Parts,
    extractor: &'static str,
    layer: &'static str,
) -> Result<T, NotBehindLayer>
where
    T: Clone + Send + Sync + 'static,
{
    optional_from_extensions(parts).ok_or(NotBehindLayer { extractor, layer })
}

/// The `T` the layer left in `parts`, if any: the `Option<_>` extractors.
pub(crate) fn optional_from_extensions<T>(parts: &Parts) -> Option<T>
where
    T: Clone + Send + Sync + 'static,
{
    parts.extensions.get::<T>().cloned()
}

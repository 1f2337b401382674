//! The response a rejected upgrade gets back, built from the table in
//! [`RejectReason`].

use http::header::{CACHE_CONTROL, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::audit::RejectReason;

/// An upgrade the layer rejected: why, and with which status.
///
/// The layer puts it in the extensions of every rejection response, so an
/// outer layer (metrics, logging) can tell the reasons apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    reason: RejectReason,
}

impl Rejection {
    pub(crate) fn new(reason: RejectReason) -> Self {
        Self { reason }
    }

    /// Why the upgrade was rejected.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// The status the reason calls for: 401, 403 or 503, as the table in
    /// [`RejectReason`] gives it.
    pub fn status(&self) -> StatusCode {
        self.reason.status()
    }
}

/// Builds the response for a rejected upgrade.
///
/// [`DefaultRejection`] answers the status with an empty body. Any
/// `Fn(Rejection) -> Response<B> + Clone + Send + Sync + 'static` is one too,
/// for a JSON body or a custom status. Whatever it returns, the layer sets
/// `Cache-Control: no-store` and adds the [`Rejection`] extension.
pub trait RejectionResponse<B>: Clone + Send + Sync + 'static {
    /// The response for `rejection`.
    fn response(&self, rejection: Rejection) -> Response<B>;
}

/// The default rejection: the status alone, an empty body, and for a 503
/// `Retry-After: 1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRejection;

impl<B: Default> RejectionResponse<B> for DefaultRejection {
    fn response(&self, rejection: Rejection) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = rejection.status();
        if rejection.status() == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl<B, F> RejectionResponse<B> for F
where
    F: Fn(Rejection) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn response(&self, rejection: Rejection) -> Response<B> {
        self(rejection)
    }
}

/// Builds the response through `builder` and adds what every rejection
/// must carry.
pub(crate) fn respond<B>(builder: &impl RejectionResponse<B>, reason: RejectReason) -> Response<B> {
    let rejection = Rejection::new(reason);
    let mut response = builder.response(rejection);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.extensions_mut().insert(rejection);
    response
}

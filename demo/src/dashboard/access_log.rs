//! The access log: tower-http's [`TraceLayer`], wrapped around the whole
//! router, with each request's span named by its URI with every
//! credential redacted ([`redact_uri`]).
//!
//! It runs before the ticket layer, so it sees `?ticket=` and `?internal=`
//! as the client sent them: printing `req.uri()` itself would write live
//! credentials to the log. Printing headers would too (the `Cookie`
//! header is the session), so the span has none.
//!
//! Each request logs `finished processing request` with its status and
//! latency (INFO) inside a span like
//! `request{method=GET uri=/api/ws?ticket=REDACTED}`.

use axum::http::Request;
use tower_http::LatencyUnit;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnResponse, MakeSpan, TraceLayer};
use tower_ws_ticket::redact_uri;
use tracing::{Level, Span};

/// The access log layer; see the module docs.
pub type AccessLog = TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RedactedSpan>;

/// The access log layer: one span per request, one event per response.
pub fn layer() -> AccessLog {
    TraceLayer::new_for_http()
        .make_span_with(RedactedSpan)
        .on_response(
            DefaultOnResponse::new()
                .level(Level::INFO)
                .latency_unit(LatencyUnit::Micros),
        )
}

/// Makes each request's span from its method and its [`redact_uri`]d URI,
/// and nothing else.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactedSpan;

impl<B> MakeSpan<B> for RedactedSpan {
    fn make_span(&mut self, req: &Request<B>) -> Span {
        tracing::info_span!(
            target: "dashboard::http",
            "request",
            method = %req.method(),
            uri = %redact_uri(req.uri()),
        )
    }
}

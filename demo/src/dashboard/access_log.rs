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
//! `request{method=GET version=HTTP/1.1 uri=/api/ws?ticket=REDACTED}`.
//! The HTTP version tells how a socket arrived: a GET with `Upgrade` over
//! HTTP/1.1 (answered 101), or an extended CONNECT over HTTP/2
//! (`method=CONNECT version=HTTP/2.0`, answered 200).

use axum::http::{Request, Uri};
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

/// Makes each request's span from its method, its HTTP version and its
/// [`redact_uri`]d URI, and nothing else.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactedSpan;

impl<B> MakeSpan<B> for RedactedSpan {
    fn make_span(&mut self, req: &Request<B>) -> Span {
        tracing::info_span!(
            target: "dashboard::http",
            "request",
            method = %req.method(),
            version = ?req.version(),
            uri = %redact_uri(&origin_form(req.uri())),
        )
    }
}

/// The path and query of `uri`. An HTTP/2 request's URI also holds the
/// scheme and authority (its `:scheme` and `:authority`), an HTTP/1.1
/// one's most often not: the log names the path and query only, so that
/// a line reads the same whichever version carried the request. (A URI
/// without a path, a plain CONNECT's `host:port`, is kept whole.)
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(path_and_query) if uri.authority().is_some() => Uri::from(path_and_query.clone()),
        _ => uri.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http2_uris_are_logged_as_path_and_query() {
        for (uri, logged) in [
            ("https://127.0.0.1:3443/api/ws", "/api/ws"),
            ("https://localhost/api/ws?room=7", "/api/ws?room=7"),
            ("/api/ws?x=1", "/api/ws?x=1"),
            ("127.0.0.1:3443", "127.0.0.1:3443"),
        ] {
            let uri: Uri = uri.parse().expect("a URI");
            assert_eq!(origin_form(&uri).to_string(), logged);
        }
    }
}

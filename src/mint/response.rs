//! What the mint route answers: the ticket, or a rejection.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, Uri};
use http_body_util::Full;

use crate::audit::{AuditEvent, Auditor, MintRejectReason};
use crate::error::MintError;
use crate::ticket::Ticket;

/// What the response to a mint needs once the store has answered.
pub(crate) struct Minting<I> {
    pub(crate) label: Option<String>,
    pub(crate) audit: Auditor<I>,
    pub(crate) uri: Uri,
    pub(crate) peer: Option<SocketAddr>,
}

impl<I> Minting<I> {
    pub(crate) fn respond(self, outcome: Result<Ticket, MintError>) -> Response<Full<Bytes>> {
        let path = self.uri.path();
        match outcome {
            Ok(ticket) => {
                self.audit.emit(&AuditEvent::Minted {
                    identity: self.label.as_deref(),
                    path,
                    peer: self.peer,
                });
                ticket_response(&ticket)
            }
            Err(MintError::Full) => rejection(&self.audit, MintRejectReason::Full, path, self.peer),
            Err(MintError::IdentityFull { retry_after }) => {
                let mut refused =
                    rejection(&self.audit, MintRejectReason::IdentityFull, path, self.peer);
                refused.headers_mut().insert(
                    RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(retry_after)),
                );
                refused
            }
            Err(MintError::Unavailable(_)) => rejection(
                &self.audit,
                MintRejectReason::StoreUnavailable,
                path,
                self.peer,
            ),
        }
    }
}

/// `Retry-After` in whole seconds: rounded up, and at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

fn ticket_response(ticket: &Ticket) -> Response<Full<Bytes>> {
    // Ticket text is `wst_` plus base64url: nothing in it needs JSON
    // escaping, so the body is written directly.
    let body = format!(
        r#"{{"ticket":"{}","ttl_seconds":{}}}"#,
        ticket.expose_secret(),
        ticket.ttl().as_secs()
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The response for a rejected mint, audited. Its status is the table's
/// (see [`MintRejectReason`]); the headers that go with it are set here.
pub(crate) fn rejection<I>(
    audit: &Auditor<I>,
    reason: MintRejectReason,
    path: &str,
    peer: Option<SocketAddr>,
) -> Response<Full<Bytes>> {
    audit.emit(&AuditEvent::MintRejected { reason, path, peer });
    let mut response = Response::new(Full::default());
    *response.status_mut() = reason.status();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match reason {
        MintRejectReason::MethodNotAllowed => {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        MintRejectReason::Full | MintRejectReason::StoreUnavailable => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // The mint sets `Retry-After` from the store's answer.
        MintRejectReason::IdentityFull
        | MintRejectReason::Unauthenticated
        | MintRejectReason::Origin => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        for (wait, secs) in [
            (Duration::ZERO, 1),
            (Duration::from_nanos(1), 1),
            (Duration::from_millis(999), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1_001), 2),
            (Duration::from_secs(30), 30),
            (Duration::from_secs(29) + Duration::from_nanos(1), 30),
        ] {
            assert_eq!(retry_after_secs(wait), secs, "{wait:?}");
        }
    }
}

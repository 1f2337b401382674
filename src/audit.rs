//! Audit events: every ticket minted, every credential accepted, every
//! upgrade rejected, and every mint rejected.
//!
//! Each event is emitted as a `tracing` event (target
//! `tower_ws_ticket::audit`) and handed to an optional hook set with
//! `on_audit` on [`WsTicketLayer`](crate::WsTicketLayer) or
//! [`MintService`](crate::MintService). Events carry the request path (never
//! the query), the peer address when the stack provides one, the identity
//! only through a label function you choose, and for a refused ticket its
//! first 8 characters at most. No secret is in any of them.
//!
//! With the `metrics` feature every event also moves its counter
//! (`ws_ticket_minted_total`, `ws_ticket_admitted_total`, …, labelled with
//! the same short names; see the README's "Metrics"), as it is emitted, so
//! the log and the metrics cannot disagree.
//!
//! [`redact_uri`] does the same for access logs placed outside the layer,
//! such as tower-http's `TraceLayer`, which see the URI before the layer
//! strips the credential from it.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tower_ws_ticket::{AuditEvent, RejectReason};
//! use tower_ws_ticket::{MemoryStore, WsTicketLayer};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = Arc::clone(&seen);
//! let layer = WsTicketLayer::new(MemoryStore::<u64>::new())
//!     .on_audit(move |event: &AuditEvent<'_>| {
//!         if let AuditEvent::Rejected { reason, .. } = event {
//!             sink.lock().unwrap().push(*reason);
//!         }
//!     });
//! # let _ = layer;
//! # let _: &Arc<Mutex<Vec<RejectReason>>> = &seen;
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderValue, Uri};

use crate::error::Redacted;
use crate::metric;
pub use crate::reject::{MintRejectReason, RejectReason};
use crate::wire::{self, CredentialKind};

/// How a refusal reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// As the HTTP status (401, 403 or 503).
    Status,
    /// As an accepted handshake whose socket was closed at once with this
    /// close code ([`accept_then_close`](crate::WsTicketLayer::accept_then_close)).
    CloseFrame(u16),
}

/// Something worth an audit trail. Borrowed from the request, so emitting
/// one costs no allocation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuditEvent<'a> {
    /// The mint route minted a ticket.
    Minted {
        /// The identity's label, when a label function is set.
        identity: Option<&'a str>,
        /// The mint route's path.
        path: &'a str,
        /// The caller's address, when the stack provides it.
        peer: Option<SocketAddr>,
    },
    /// The layer admitted an upgrade.
    Consumed {
        /// The credential that admitted it.
        credential: CredentialKind,
        /// The ticket identity's label, when a label function is set.
        identity: Option<&'a str>,
        /// The socket route's path.
        path: &'a str,
        /// The caller's address, when the stack provides it.
        peer: Option<SocketAddr>,
    },
    /// The layer rejected an upgrade.
    Rejected {
        /// Why.
        reason: RejectReason,
        /// The socket route's path.
        path: &'a str,
        /// The caller's address, when the stack provides it.
        peer: Option<SocketAddr>,
        /// The first 8 characters of a refused ticket (never of the other
        /// credentials, whose prefixes are not meant to be seen).
        ticket: Option<&'a Redacted>,
        /// How the refusal reached the client.
        delivery: Delivery,
    },
    /// The mint route rejected a mint.
    MintRejected {
        /// Why.
        reason: MintRejectReason,
        /// The mint route's path.
        path: &'a str,
        /// The caller's address, when the stack provides it.
        peer: Option<SocketAddr>,
    },
}

type Hook = Arc<dyn Fn(&AuditEvent<'_>) + Send + Sync>;
type Label<I> = Arc<dyn Fn(&I) -> String + Send + Sync>;

/// Audit configuration shared by the layer and the mint route: where events
/// go, and how an identity is labelled.
pub(crate) struct Auditor<I> {
    hook: Option<Hook>,
    label: Option<Label<I>>,
}

impl<I> Auditor<I> {
    pub(crate) fn set_hook(&mut self, hook: impl Fn(&AuditEvent<'_>) + Send + Sync + 'static) {
        self.hook = Some(Arc::new(hook));
    }

    pub(crate) fn set_label(&mut self, label: impl Fn(&I) -> String + Send + Sync + 'static) {
        self.label = Some(Arc::new(label));
    }

    /// The identity's label, when a label function is set.
    pub(crate) fn label(&self, identity: &I) -> Option<String> {
        self.label.as_ref().map(|label| label(identity))
    }

    pub(crate) fn emit(&self, event: &AuditEvent<'_>) {
        trace(event);
        measure(event);
        if let Some(hook) = &self.hook {
            hook(event);
        }
    }
}

impl<I> Default for Auditor<I> {
    fn default() -> Self {
        Self {
            hook: None,
            label: None,
        }
    }
}

impl<I> Clone for Auditor<I> {
    fn clone(&self) -> Self {
        Self {
            hook: self.hook.clone(),
            label: self.label.clone(),
        }
    }
}

impl<I> fmt::Debug for Auditor<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("hook", &self.hook.is_some())
            .field("label", &self.label.is_some())
            .finish()
    }
}

const TARGET: &str = "tower_ws_ticket::audit";

/// Moves the event's counter: the metrics follow the audit trail, one
/// event, one count, labelled with the short names the log shows.
fn measure(event: &AuditEvent<'_>) {
    match *event {
        AuditEvent::Minted { .. } => metric::minted(),
        AuditEvent::Consumed { credential, .. } => metric::admitted(credential),
        AuditEvent::Rejected { reason, .. } => metric::refused(reason),
        AuditEvent::MintRejected { reason, .. } => metric::mint_refused(reason),
    }
}

/// A `tracing` event at a level the table gives: tracing's macros take
/// the level as a constant, so each level the table uses is one arm.
macro_rules! at_level {
    ($level:expr, $($fields:tt)+) => {
        match $level {
            tracing::Level::ERROR => tracing::error!(target: TARGET, $($fields)+),
            tracing::Level::WARN => tracing::warn!(target: TARGET, $($fields)+),
            _ => tracing::info!(target: TARGET, $($fields)+),
        }
    };
}

fn trace(event: &AuditEvent<'_>) {
    match *event {
        AuditEvent::Minted {
            identity,
            path,
            peer,
        } => {
            tracing::info!(target: TARGET, event = "minted", identity, path, peer = peer.map(tracing::field::display))
        }
        AuditEvent::Consumed {
            credential,
            identity,
            path,
            peer,
        } => tracing::info!(
            target: TARGET,
            event = "consumed",
            credential = credential.as_str(),
            identity,
            path,
            peer = peer.map(tracing::field::display)
        ),
        AuditEvent::Rejected {
            reason,
            path,
            peer,
            ticket,
            delivery,
        } => at_level!(
            reason.level(),
            event = "rejected",
            reason = reason.as_str(),
            path,
            peer = peer.map(tracing::field::display),
            ticket = ticket.map(tracing::field::display),
            close_code = match delivery {
                Delivery::CloseFrame(code) => Some(code),
                Delivery::Status => None,
            }
        ),
        AuditEvent::MintRejected { reason, path, peer } => at_level!(
            reason.level(),
            event = "mint-rejected",
            reason = reason.as_str(),
            path,
            peer = peer.map(tracing::field::display)
        ),
    }
}

/// The URI as text with the value of every credential parameter
/// (`ticket`, `internal`, `token`) replaced by `REDACTED`, for access logs
/// that sit outside the layer.
///
/// It errs on the side of hiding: names compare in any case, with stray
/// spaces or control characters, and behind a `;` (`?a=1;ticket=…`); and
/// any piece that holds something reading like a ticket (`wst_…`) or an
/// internal credential (`wsi_…`), in its name or its value, percent-encoded
/// or not, is hidden whatever its name. So is the `user:password@` of an
/// absolute URI. Everything else is kept as it was, in order.
///
/// ```
/// use http::{HeaderValue, Uri};
/// use tower_ws_ticket::redact_uri;
///
/// let uri: Uri = "/api/ws?room=7&ticket=wst_secret&x=1".parse().unwrap();
/// assert_eq!(redact_uri(&uri), "/api/ws?room=7&ticket=REDACTED&x=1");
/// ```
///
/// With tower-http's `TraceLayer`, build the span from it in
/// `make_span_with`:
///
/// ```
/// use http::Request;
/// use tower_ws_ticket::redact_uri;
///
/// let make_span = |req: &Request<()>| {
///     tracing::info_span!("request", method = %req.method(), uri = %redact_uri(req.uri()))
/// };
/// # let _ = make_span(&Request::get("/api/ws?ticket=wst_x").body(()).unwrap());
/// ```
pub fn redact_uri(uri: &Uri) -> String {
    let mut text = String::with_capacity(uri.path().len() + uri.query().map_or(0, str::len) + 32);
    if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
        text.push_str(scheme);
        text.push_str("://");
        // An absolute URI (HTTP/2's, or an absolute-form request line) may
        // carry `user:password@` before the host: a credential too.
        match authority.as_str().rsplit_once('@') {
            Some((_, host)) => {
                text.push_str("REDACTED@");
                text.push_str(host);
            }
            None => text.push_str(authority.as_str()),
        }
    }
    text.push_str(uri.path());
    if let Some(query) = uri.query() {
        text.push('?');
        let mut first = true;
        for param in wire::params(query) {
            if !first {
                text.push('&');
            }
            first = false;
            match param.redacted() {
                Some(shown) => text.push_str(&shown),
                None => text.push_str(param.raw),
            }
        }
    }
    text
}

/// A `Sec-WebSocket-Protocol` value as text with every entry that may
/// carry a credential replaced by `REDACTED`, for logs of request headers
/// (the layer takes the credential entry out before the inner service sees
/// the request, but a header log outside the layer sees it).
///
/// Credential entries (`ws-ticket.…`, in any case) and any entry holding a
/// ticket or internal credential prefix are hidden; the others are kept,
/// in order. A value that is not text shows as `<opaque>`.
///
/// ```
/// use http::HeaderValue;
/// use tower_ws_ticket::redact_subprotocols;
///
/// let offered = HeaderValue::from_static("ws-ticket, ws-ticket.wst_secret, chat.v1");
/// assert_eq!(redact_subprotocols(&offered), "ws-ticket, ws-ticket.REDACTED, chat.v1");
/// ```
pub fn redact_subprotocols(value: &HeaderValue) -> String {
    let Ok(text) = value.to_str() else {
        return "<opaque>".to_owned();
    };
    text.split(',')
        .map(|entry| entry.trim_matches([' ', '\t']))
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            if !wire::entry_may_carry_credential(entry) {
                entry
            } else if wire::is_credential_entry(entry) {
                "ws-ticket.REDACTED"
            } else {
                "REDACTED"
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_subprotocols_hides_every_credential_entry() {
        let value =
            HeaderValue::from_static("chat.v1,WS-TICKET.wsi_internal , x-wst_leak,ws-ticket");
        let shown = redact_subprotocols(&value);
        assert_eq!(shown, "chat.v1, ws-ticket.REDACTED, REDACTED, ws-ticket");
        let opaque = HeaderValue::from_bytes(b"ws-ticket.wst_\xff").unwrap();
        assert_eq!(redact_subprotocols(&opaque), "<opaque>");
    }

    #[test]
    fn redact_uri_hides_userinfo_in_an_absolute_uri() {
        // HTTP/2 requests carry an absolute URI; so may an HTTP/1.1
        // absolute-form request line, password and all.
        let uri: Uri = "https://alice:s3cret@app.example.com:8443/api/ws?room=1"
            .parse()
            .unwrap();
        let shown = redact_uri(&uri);
        assert_eq!(shown, "https://REDACTED@app.example.com:8443/api/ws?room=1");
        assert!(!shown.contains("s3cret") && !shown.contains("alice"));
        let plain: Uri = "https://app.example.com/api/ws".parse().unwrap();
        assert_eq!(redact_uri(&plain), "https://app.example.com/api/ws");
    }

    #[test]
    fn redact_uri_hides_every_credential() {
        let uri: Uri = "http://h:1/p?internal=wsi_abc&a=%20b&token=t0k&ticket=wst_x"
            .parse()
            .unwrap();
        let shown = redact_uri(&uri);
        assert_eq!(
            shown,
            "http://h:1/p?internal=REDACTED&a=%20b&token=REDACTED&ticket=REDACTED"
        );
    }

    #[test]
    fn redact_uri_catches_encoded_names_and_bare_params() {
        let uri: Uri = "/p?%74icket=wst_secret&token".parse().unwrap();
        let shown = redact_uri(&uri);
        assert!(!shown.contains("wst_secret"), "{shown}");
        assert_eq!(shown, "/p?%74icket=REDACTED&token=REDACTED");
    }

    #[test]
    fn redact_uri_catches_misspelled_names_and_ticket_values() {
        for query in [
            "Ticket=wst_live",
            "ticket+=wst_live",
            "ticket%00=wst_live",
            "TOKEN=hunter2live",
            "t=wst_live",
            "x=wsi_live",
        ] {
            let uri: Uri = format!("/p?{query}").parse().unwrap();
            let shown = redact_uri(&uri);
            assert!(!shown.contains("live"), "{query} -> {shown}");
        }
    }

    #[test]
    fn redact_uri_hides_credentials_behind_semicolons_and_in_names() {
        for query in [
            "a=1;ticket=wst_live",
            "ticket;=wst_live",
            "a=1;Token=livetoken",
            "x=1;internal=liveinternal",
            "wst_live",
            "wst_live=1",
            "x%3Bticket=livevalue",
            "a=w%73t_live",
            "a=WST_live",
            "a=b+wsi_live",
        ] {
            let uri: Uri = format!("/p?{query}&keep=1").parse().unwrap();
            let shown = redact_uri(&uri);
            assert!(!shown.contains("live"), "{query} -> {shown}");
            assert!(shown.ends_with("&keep=1"), "{query} -> {shown}");
        }
    }

    #[test]
    fn redact_uri_leaves_other_uris_alone() {
        let uri: Uri = "/p?a=1&b".parse().unwrap();
        assert_eq!(redact_uri(&uri), "/p?a=1&b");
        assert_eq!(redact_uri(&Uri::from_static("/")), "/");
    }
}

//! What a rejected upgrade or mint gets: one table.
//!
//! Every rejection has a reason, and everything that follows from it (the
//! HTTP status, the close code of [`accept_then_close`], the close reason's
//! text, the level of its audit event, the short name in logs and metric
//! labels) is read from one match on that reason here. The layer's
//! response builder, its accept-then-close task, the audit trail and the
//! mint route all ask this table, so they cannot disagree.
//!
//! [`accept_then_close`]: crate::WsTicketLayer::accept_then_close

use http::StatusCode;
use tracing::Level;

use crate::wire::{CLOSE_FORBIDDEN, CLOSE_TRY_AGAIN_LATER, CLOSE_UNAUTHORIZED};

/// Why the layer rejected an upgrade.
///
/// What each reason gets, in one table:
///
/// | reason | short name | HTTP status | close code | close reason |
/// |---|---|---|---|---|
/// | [`Missing`](Self::Missing) | `missing` | 401 | 4401 | `unauthorized` |
/// | [`Ambiguous`](Self::Ambiguous) | `ambiguous` | 401 | 4401 | `unauthorized` |
/// | [`Malformed`](Self::Malformed) | `malformed` | 401 | 4401 | `unauthorized` |
/// | [`Unknown`](Self::Unknown) | `unknown` | 401 | 4401 | `unauthorized` |
/// | [`Expired`](Self::Expired) | `expired` | 401 | 4401 | `expired` |
/// | [`WrongAudience`](Self::WrongAudience) | `wrong-audience` | 401 | 4401 | `unauthorized` |
/// | [`TicketNotAccepted`](Self::TicketNotAccepted) | `ticket-not-accepted` | 401 | 4401 | `unauthorized` |
/// | [`BadInternal`](Self::BadInternal) | `bad-internal` | 401 | 4401 | `unauthorized` |
/// | [`TokenInGatedMode`](Self::TokenInGatedMode) | `token-in-gated-mode` | 401 | 4401 | `unauthorized` |
/// | [`BadToken`](Self::BadToken) | `bad-token` | 401 | 4401 | `unauthorized` |
/// | [`Revoked`](Self::Revoked) | `revoked` | 401 | 4401 | `unauthorized` |
/// | [`NonLoopbackPeer`](Self::NonLoopbackPeer) | `non-loopback-peer` | 403 | 4403 | `forbidden` |
/// | [`UnknownPeer`](Self::UnknownPeer) | `unknown-peer` | 403 | 4403 | `forbidden` |
/// | [`Origin`](Self::Origin) | `origin` | 403 | 4403 | `forbidden` |
/// | [`AmbiguousPath`](Self::AmbiguousPath) | `ambiguous-path` | 403 | 4403 | `forbidden` |
/// | [`StoreUnavailable`](Self::StoreUnavailable) | `store-unavailable` | 503 | 1013 | `try again later` |
///
/// A 401 means "fetch a new ticket, then reconnect" ([`CLOSE_UNAUTHORIZED`]),
/// a 403 "do not retry" ([`CLOSE_FORBIDDEN`]), a 503 "back off, then retry
/// with a new ticket" ([`CLOSE_TRY_AGAIN_LATER`]).
///
/// The short name is what the audit trail records (at `WARN`) and what
/// metrics are labelled with. The close reason of
/// [`accept_then_close`](crate::WsTicketLayer::accept_then_close) tells
/// an outsider no more than the HTTP status would: one text per close code,
/// and `expired`, which clients tell apart (a ticket that sat too long
/// before its connect says nothing of the credential behind it). Whether
/// loopback mode is on, a
/// stolen ticket was live for another route, or its owner signed out stays
/// in the audit trail;
/// [`detailed_close_reasons`](crate::WsTicketLayer::detailed_close_reasons)
/// sends the short name instead, for development.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// No credential parameter at all.
    Missing,
    /// The same credential parameter twice, or two kinds at once.
    Ambiguous,
    /// `?ticket=` that is not a ticket of ours.
    Malformed,
    /// `?ticket=` never minted, already used, or with a wrong secret.
    Unknown,
    /// `?ticket=` presented after its TTL.
    Expired,
    /// `?ticket=` minted for another [`Audience`](crate::Audience) than the
    /// layer's, for one where the layer has none, or for none where it
    /// has one. The ticket is burned.
    WrongAudience,
    /// `?ticket=` on a route that takes no tickets
    /// ([`without_tickets`](crate::WsTicketLayer::without_tickets)).
    TicketNotAccepted,
    /// `?internal=` wrong, or no internal credential configured.
    BadInternal,
    /// `?token=` while the layer is gated (not in loopback mode).
    TokenInGatedMode,
    /// `?token=` wrong in loopback mode.
    BadToken,
    /// `?token=` from a peer that is not on a loopback address.
    NonLoopbackPeer,
    /// `?token=` from a peer whose address the stack does not tell (see
    /// [`peer_addr`](crate::WsTicketLayer::peer_addr)): loopback mode
    /// cannot decide, so it rejects.
    UnknownPeer,
    /// An `Origin` header outside the allowlist.
    Origin,
    /// A path under a [guarded path](crate::WsTicketLayer::guard_path) in
    /// some router's reading, spelled with dot-segments (`..`, `%2e%2e`)
    /// or encoded separators (`%2F`, `%5C`), so that which handler it
    /// reaches depends on the router. Nothing consumed.
    AmbiguousPath,
    /// The ticket store could not be reached, or a registry of
    /// [`revocations`](crate::WsTicketLayer::revocations) bridged to Redis
    /// cannot hear the other replicas. The client should back off and
    /// retry, not re-authenticate, with a newly minted ticket: a consume
    /// that timed out may still have used this one up in Redis.
    StoreUnavailable,
    /// A valid ticket whose key was revoked after it was minted (the user
    /// signed out; see [`Revocations::revoke`](crate::Revocations::revoke)),
    /// or minted before a [`revoke_all`](crate::Revocations::revoke_all).
    Revoked,
}

/// The three answers a rejected upgrade can get, whatever its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// The credential: fetch a new ticket, reconnect.
    Unauthorized,
    /// Whatever the credential: do not retry.
    Forbidden,
    /// The store: back off, retry with a new ticket.
    Unavailable,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
struct Row {
    name: &'static str,
    class: Class,
    /// The close reason an outsider reads.
    close_reason: &'static str,
}

impl Class {
    /// What every reason of the class says in a close frame.
    const fn close_reason(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Unavailable => "try again later",
        }
    }
}

impl RejectReason {
    /// The table. Every reason is listed, so that a new one must be given
    /// its row here rather than fall into a default.
    const fn row(self) -> Row {
        use Class::{Forbidden, Unauthorized, Unavailable};
        let (name, class) = match self {
            Self::Missing => ("missing", Unauthorized),
            Self::Ambiguous => ("ambiguous", Unauthorized),
            Self::Malformed => ("malformed", Unauthorized),
            Self::Unknown => ("unknown", Unauthorized),
            Self::Expired => ("expired", Unauthorized),
            Self::WrongAudience => ("wrong-audience", Unauthorized),
            Self::TicketNotAccepted => ("ticket-not-accepted", Unauthorized),
            Self::BadInternal => ("bad-internal", Unauthorized),
            Self::TokenInGatedMode => ("token-in-gated-mode", Unauthorized),
            Self::BadToken => ("bad-token", Unauthorized),
            Self::Revoked => ("revoked", Unauthorized),
            Self::NonLoopbackPeer => ("non-loopback-peer", Forbidden),
            Self::UnknownPeer => ("unknown-peer", Forbidden),
            Self::Origin => ("origin", Forbidden),
            Self::AmbiguousPath => ("ambiguous-path", Forbidden),
            Self::StoreUnavailable => ("store-unavailable", Unavailable),
        };
        // Clients tell an expired ticket apart; nothing else is told.
        let close_reason = match self {
            Self::Expired => "expired",
            _ => class.close_reason(),
        };
        Row {
            name,
            class,
            close_reason,
        }
    }

    /// A short, stable name for logs and metrics (`"missing"`, `"origin"`, …).
    pub const fn as_str(self) -> &'static str {
        self.row().name
    }

    /// The HTTP status of the rejection: 401 for every credential problem,
    /// 403 for a forbidden origin, a peer that is not (or not known to be)
    /// on loopback, or an ambiguous path, 503 for an unreachable store.
    pub const fn status(self) -> StatusCode {
        match self.row().class {
            Class::Unauthorized => StatusCode::UNAUTHORIZED,
            Class::Forbidden => StatusCode::FORBIDDEN,
            Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The close code of the rejection with
    /// [`accept_then_close`](crate::WsTicketLayer::accept_then_close): the
    /// status's counterpart, 4401, 4403 or 1013.
    pub const fn close_code(self) -> u16 {
        match self.row().class {
            Class::Unauthorized => CLOSE_UNAUTHORIZED,
            Class::Forbidden => CLOSE_FORBIDDEN,
            Class::Unavailable => CLOSE_TRY_AGAIN_LATER,
        }
    }

    /// The text of the close frame with
    /// [`accept_then_close`](crate::WsTicketLayer::accept_then_close):
    /// `"unauthorized"`, `"expired"`, `"forbidden"` or `"try again
    /// later"` (the short name instead with
    /// [`detailed_close_reasons`](crate::WsTicketLayer::detailed_close_reasons)).
    pub const fn close_reason(self) -> &'static str {
        self.row().close_reason
    }

    /// The level of the rejection's audit event.
    pub(crate) const fn level(self) -> Level {
        Level::WARN
    }
}

/// Why the mint route rejected a mint.
///
/// | reason | short name | HTTP status |
/// |---|---|---|
/// | [`MethodNotAllowed`](Self::MethodNotAllowed) | `method-not-allowed` | 405, with `Allow: POST` |
/// | [`Unauthenticated`](Self::Unauthenticated) | `unauthenticated` | 401 |
/// | [`Origin`](Self::Origin) | `origin` | 403 |
/// | [`Full`](Self::Full) | `full` | 503, with `Retry-After: 1` |
/// | [`IdentityFull`](Self::IdentityFull) | `identity-full` | 429, with `Retry-After` |
/// | [`StoreUnavailable`](Self::StoreUnavailable) | `store-unavailable` | 503, with `Retry-After: 1` |
///
/// Every rejected mint is audited at `WARN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MintRejectReason {
    /// A method other than `POST`.
    MethodNotAllowed,
    /// No identity in the request: the caller is not signed in.
    Unauthenticated,
    /// An `Origin` header outside the mint route's allowlist.
    Origin,
    /// The store holds its maximum of live tickets.
    Full,
    /// The caller's identity holds its maximum of live tickets (the
    /// store's `max_per_identity`); `Retry-After` says when one frees.
    IdentityFull,
    /// The store could not be reached.
    StoreUnavailable,
}

impl MintRejectReason {
    /// The table, as for [`RejectReason`].
    const fn row(self) -> (&'static str, StatusCode) {
        match self {
            Self::MethodNotAllowed => ("method-not-allowed", StatusCode::METHOD_NOT_ALLOWED),
            Self::Unauthenticated => ("unauthenticated", StatusCode::UNAUTHORIZED),
            Self::Origin => ("origin", StatusCode::FORBIDDEN),
            Self::Full => ("full", StatusCode::SERVICE_UNAVAILABLE),
            Self::IdentityFull => ("identity-full", StatusCode::TOO_MANY_REQUESTS),
            Self::StoreUnavailable => ("store-unavailable", StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    /// A short, stable name for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        self.row().0
    }

    /// The HTTP status of the rejected mint.
    pub const fn status(self) -> StatusCode {
        self.row().1
    }

    /// The level of the rejected mint's audit event.
    pub(crate) const fn level(self) -> Level {
        Level::WARN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [RejectReason; 16] = [
        RejectReason::Missing,
        RejectReason::Ambiguous,
        RejectReason::Malformed,
        RejectReason::Unknown,
        RejectReason::Expired,
        RejectReason::WrongAudience,
        RejectReason::TicketNotAccepted,
        RejectReason::BadInternal,
        RejectReason::TokenInGatedMode,
        RejectReason::BadToken,
        RejectReason::NonLoopbackPeer,
        RejectReason::UnknownPeer,
        RejectReason::Origin,
        RejectReason::AmbiguousPath,
        RejectReason::StoreUnavailable,
        RejectReason::Revoked,
    ];

    #[test]
    fn close_codes_follow_the_status() {
        for reason in ALL {
            let expected = match reason.status() {
                StatusCode::UNAUTHORIZED => CLOSE_UNAUTHORIZED,
                StatusCode::FORBIDDEN => CLOSE_FORBIDDEN,
                StatusCode::SERVICE_UNAVAILABLE => CLOSE_TRY_AGAIN_LATER,
                other => panic!("{reason:?}: {other}"),
            };
            assert_eq!(reason.close_code(), expected, "{reason:?}");
        }
    }

    #[test]
    fn close_reasons_tell_no_more_than_the_close_code() {
        // Issue 18, finding 7: the close reason was the short name, so
        // `token-in-gated-mode` vs `bad-token` told an outsider whether
        // loopback mode was on, `revoked` that a ticket's owner signed out.
        for reason in ALL {
            let expected = match (reason, reason.close_code()) {
                (RejectReason::Expired, _) => "expired",
                (_, CLOSE_UNAUTHORIZED) => "unauthorized",
                (_, CLOSE_FORBIDDEN) => "forbidden",
                (_, CLOSE_TRY_AGAIN_LATER) => "try again later",
                (_, code) => panic!("{reason:?}: {code}"),
            };
            assert_eq!(reason.close_reason(), expected, "{reason:?}");
            // A close frame's reason fits in 123 bytes.
            assert!(reason.as_str().len() <= 123);
        }
    }

    #[test]
    fn short_names_are_distinct_metric_labels() {
        let mut names: Vec<_> = ALL.iter().map(|reason| reason.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        for name in names {
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{name}"
            );
        }
    }
}

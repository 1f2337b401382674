//! The errors a store returns: [`TicketError`] when a presented ticket is
//! refused, [`MintError`] when a ticket cannot be minted, and
//! [`StoreUnavailable`] inside either when the store itself cannot answer.
//!
//! Messages name a presented value by its first 8 characters at most
//! ([`Redacted`], which audit events use too), so an error can be logged
//! as it is.
//!
//! ```
//! use tower_ws_ticket::{MemoryStore, TicketError};
//!
//! let store = MemoryStore::<u32>::new();
//! let err = store.consume("wst_AbCdEfGhIjKl").unwrap_err();
//! assert!(matches!(err, TicketError::Malformed(_)));
//! assert_eq!(err.to_string(), "malformed ticket: wst_AbCd…");
//! ```

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// Why a presented ticket was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TicketError {
    /// Not a ticket of ours: empty, or the wrong prefix, length or alphabet.
    Malformed(Redacted),
    /// Well formed, but never minted here, already used, or burned by a
    /// wrong secret half.
    Unknown(Redacted),
    /// Minted here, but presented after its TTL ran out and before the
    /// store reclaimed it; after that, an expired ticket is `Unknown`.
    Expired(Redacted),
    /// Minted for another [`Audience`](crate::Audience) than the one it was
    /// presented for, or for one where none was expected, or for none
    /// where one was. Taken out of the store all the same: the ticket is
    /// burned. The message names no audience.
    WrongAudience(Redacted),
    /// The store could not be asked (for example Redis is down). The client
    /// should back off and retry, not re-authenticate; a timed-out consume
    /// may have used the ticket up all the same, so the retry mints a new
    /// one.
    Unavailable(StoreUnavailable),
}

impl fmt::Display for TicketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(shown) => write!(f, "malformed ticket: {shown}"),
            Self::Unknown(shown) => write!(f, "unknown ticket: {shown}"),
            Self::Expired(shown) => write!(f, "expired ticket: {shown}"),
            Self::WrongAudience(shown) => write!(f, "ticket for another audience: {shown}"),
            Self::Unavailable(cause) => write!(f, "ticket store unavailable: {cause}"),
        }
    }
}

impl Error for TicketError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Unavailable(cause) => Some(cause),
            _ => None,
        }
    }
}

/// Why a ticket could not be minted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MintError {
    /// The store holds `max_outstanding` live tickets already; try again
    /// once some are consumed or expire.
    Full,
    /// The identity holds its maximum of live tickets already (the store's
    /// `max_per_identity`); try again once one is consumed or expires.
    /// The [`MintService`](crate::MintService) answers `429 Too Many
    /// Requests` with `Retry-After`.
    IdentityFull {
        /// How long until the identity's oldest live ticket expires and
        /// frees its place (sooner if the identity consumes one); the TTL
        /// when the identity may hold none at all.
        retry_after: Duration,
    },
    /// The store could not be asked (for example Redis is down).
    Unavailable(StoreUnavailable),
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("ticket store is full"),
            Self::IdentityFull { retry_after } => write!(
                f,
                "identity holds its maximum of live tickets; a place frees within {retry_after:?}"
            ),
            Self::Unavailable(cause) => write!(f, "ticket store unavailable: {cause}"),
        }
    }
}

impl Error for MintError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Unavailable(cause) => Some(cause),
            Self::Full | Self::IdentityFull { .. } => None,
        }
    }
}

/// A store that could not be reached or did not answer in time.
///
/// It carries a description of the failure for logs. Stores build it from
/// their backend's error, which never includes a ticket's secret half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUnavailable {
    message: String,
}

impl StoreUnavailable {
    /// Describes why the store is unavailable.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for StoreUnavailable {}

/// A presented credential cut down to its first 8 characters, for error
/// messages and audit events.
///
/// It displays as those characters followed by `…` (`wst_AbCd…`; an empty
/// value is just `…`), with
/// control characters escaped so a hostile value cannot forge log lines.
/// The 8 characters of a ticket are its `wst_` prefix and 24 bits of the
/// lookup half: enough to tell tickets apart in a log, nothing of the secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Redacted {
    shown: String,
}

impl Redacted {
    /// The number of characters kept.
    pub const SHOWN_CHARS: usize = 8;

    /// Keeps the first [`SHOWN_CHARS`](Self::SHOWN_CHARS) characters of `presented`.
    pub fn new(presented: &str) -> Self {
        Self {
            shown: presented.chars().take(Self::SHOWN_CHARS).collect(),
        }
    }

    /// The characters kept, unescaped (at most eight).
    pub fn as_str(&self) -> &str {
        &self.shown
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.shown.chars() {
            write!(f, "{}", c.escape_debug())?;
        }
        f.write_str("…")
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_show_at_most_eight_characters() {
        let presented = "wst_AbCdEfGhIjKlMnOp";
        for err in [
            TicketError::Malformed(Redacted::new(presented)),
            TicketError::Unknown(Redacted::new(presented)),
            TicketError::Expired(Redacted::new(presented)),
            TicketError::WrongAudience(Redacted::new(presented)),
        ] {
            let text = err.to_string();
            assert!(text.ends_with("wst_AbCd…"), "{text}");
            assert!(!text.contains("wst_AbCdE"), "{text}");
            assert!(!format!("{err:?}").contains("wst_AbCdE"));
        }
        assert_eq!(
            TicketError::Unknown(Redacted::new(presented)).to_string(),
            "unknown ticket: wst_AbCd…"
        );
    }

    #[test]
    fn unavailable_keeps_its_cause() {
        let err = TicketError::Unavailable(StoreUnavailable::new("connection refused"));
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("connection refused")
        );
        assert_eq!(MintError::Full.to_string(), "ticket store is full");
    }

    #[test]
    fn identity_full_says_when_and_names_no_one() {
        let err = MintError::IdentityFull {
            retry_after: Duration::from_secs(12),
        };
        assert_eq!(
            err.to_string(),
            "identity holds its maximum of live tickets; a place frees within 12s"
        );
        assert!(err.source().is_none());
        assert_eq!(
            TicketError::WrongAudience(Redacted::new("wst_AbCdEfGh")).to_string(),
            "ticket for another audience: wst_AbCd…"
        );
    }

    #[test]
    fn redacted_keeps_eight_characters() {
        assert_eq!(Redacted::new("wst_AbCdEfGh").to_string(), "wst_AbCd…");
        assert_eq!(Redacted::new("abc").to_string(), "abc…");
        assert_eq!(Redacted::new("").to_string(), "…");
        assert_eq!(Redacted::new("ééééééééé").as_str().chars().count(), 8);
    }

    #[test]
    fn redacted_escapes_control_characters() {
        let shown = Redacted::new("a\nb\x1b[31m").to_string();
        assert!(!shown.contains('\n'));
        assert!(!shown.contains('\x1b'));
    }
}

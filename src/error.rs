//! The errors a store returns: [`TicketError`] when a presented ticket is
//! refused, [`MintError`] when a ticket cannot be minted, and
//! [`StoreUnavailable`] inside either when the store itself cannot answer.
//!
//! Messages name a presented value by its first 8 characters at most (see
//! [`Redacted`]), so an error can be logged as it is.
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

use crate::ticket::Redacted;

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
    /// The store could not be asked (for example Redis is down). The client
    /// should retry with the same ticket, not re-authenticate.
    Unavailable(StoreUnavailable),
}

impl TicketError {
    /// A short, stable name for the reason, for metrics and audit events
    /// (`"malformed"`, `"unknown"`, `"expired"`, `"unavailable"`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Unknown(_) => "unknown",
            Self::Expired(_) => "expired",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

impl fmt::Display for TicketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(shown) => write!(f, "malformed ticket: {shown}"),
            Self::Unknown(shown) => write!(f, "unknown ticket: {shown}"),
            Self::Expired(shown) => write!(f, "expired ticket: {shown}"),
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
    /// The store could not be asked (for example Redis is down).
    Unavailable(StoreUnavailable),
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("ticket store is full"),
            Self::Unavailable(cause) => write!(f, "ticket store unavailable: {cause}"),
        }
    }
}

impl Error for MintError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Unavailable(cause) => Some(cause),
            Self::Full => None,
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
        assert_eq!(err.reason(), "unavailable");
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("connection refused")
        );
        assert_eq!(MintError::Full.to_string(), "ticket store is full");
    }
}

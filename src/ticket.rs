//! Ticket text: how a ticket is generated, encoded, parsed and redacted.
//!
//! A ticket reads `wst_` followed by 43 base64url characters (no padding)
//! that carry 32 bytes from the thread-local CSPRNG: 256 bits in all. The
//! first 8 bytes are the *lookup half*, the key a store files the ticket
//! under; the other 24 are the *secret half*, which the store keeps beside
//! it and compares in constant time. Splitting the two keeps the map lookup
//! (whose timing can be observed) away from the bytes that must not leak.
//!
//! ```
//! use tower_ws_ticket::MemoryStore;
//!
//! let store = MemoryStore::<&'static str>::new();
//! let ticket = store.mint("alice").unwrap();
//! let text = ticket.expose_secret();
//! assert!(text.starts_with("wst_"));
//! assert_eq!(text.len(), 47);
//! assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
//! ```

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

use crate::error::{Redacted, TicketError};
use crate::wire::TICKET_PREFIX as PREFIX;
const LOOKUP_LEN: usize = 8;
/// Length of the secret half in bytes.
pub(crate) const SECRET_LEN: usize = 24;
const RAW_LEN: usize = LOOKUP_LEN + SECRET_LEN;
/// 32 bytes are 43 base64url characters without padding.
const ENCODED_LEN: usize = 43;

/// `prefix` followed by `N` bytes from the thread-local CSPRNG in base64url
/// without padding; the bytes are returned too.
pub(crate) fn random_text<const N: usize>(prefix: &str) -> ([u8; N], String) {
    let mut raw = [0u8; N];
    rand::rng().fill_bytes(&mut raw);
    let mut text = String::with_capacity(prefix.len() + (N * 4).div_ceil(3));
    text.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(raw, &mut text);
    (raw, text)
}

/// The two halves of a ticket, as a store needs them: for implementing
/// [`TicketStore`](crate::TicketStore) on another backend.
///
/// A store files a minted ticket under its [`lookup`](Self::lookup) half
/// (uniformly random: it needs no further hashing) and keeps its secret
/// half, or a digest of it, beside it. On consume it parses the presented
/// text, takes the entry for the lookup half out (atomically: that is what
/// makes a ticket single use) and only then checks the secret half in
/// constant time, so a wrong secret burns the ticket.
///
/// ```
/// use std::time::Duration;
/// use tower_ws_ticket::TicketParts;
///
/// let (parts, ticket) = TicketParts::generate(Duration::from_secs(30));
/// let stored_secret = *parts.expose_secret();
/// // Later, what the client presents:
/// let presented = TicketParts::parse(ticket.expose_secret()).unwrap();
/// assert_eq!(presented.lookup(), parts.lookup());
/// assert!(presented.secret_matches(&stored_secret));
/// assert!(TicketParts::parse("wst_nope").is_err());
/// ```
#[derive(Clone, Copy)]
pub struct TicketParts {
    /// Uniformly random, so it is its own hash.
    pub(crate) lookup: u64,
    pub(crate) secret: [u8; SECRET_LEN],
}

impl TicketParts {
    /// Length of the secret half in bytes.
    pub const SECRET_LEN: usize = SECRET_LEN;

    /// Draws a fresh ticket: its halves for the store, and the [`Ticket`]
    /// (text and `ttl`) for the client.
    pub fn generate(ttl: Duration) -> (Self, Ticket) {
        let (parts, text) = Self::draw();
        (parts, Ticket::new(text, ttl))
    }

    /// Draws a fresh ticket from the thread-local CSPRNG and encodes it.
    pub(crate) fn draw() -> (Self, String) {
        let (raw, text) = random_text::<RAW_LEN>(PREFIX);
        (Self::from_raw(&raw), text)
    }

    /// Parses presented ticket text.
    ///
    /// The checks reject by length before decoding, so hostile input costs
    /// no more than a well-formed ticket. The decoder refuses non-canonical
    /// trailing bits, so each ticket has exactly one spelling.
    ///
    /// # Errors
    ///
    /// [`TicketError::Malformed`] when `presented` is not a ticket of ours:
    /// empty, or the wrong prefix, length or alphabet.
    pub fn parse(presented: &str) -> Result<Self, TicketError> {
        Self::decode(presented).ok_or_else(|| TicketError::Malformed(Redacted::new(presented)))
    }

    fn decode(presented: &str) -> Option<Self> {
        let encoded = presented.strip_prefix(PREFIX)?;
        if encoded.len() != ENCODED_LEN {
            return None;
        }
        let mut raw = [0u8; RAW_LEN];
        match URL_SAFE_NO_PAD.decode_slice(encoded, &mut raw) {
            Ok(RAW_LEN) => Some(Self::from_raw(&raw)),
            _ => None,
        }
    }

    fn from_raw(raw: &[u8; RAW_LEN]) -> Self {
        let (lookup, secret) = raw.split_at(LOOKUP_LEN);
        let mut lookup_bytes = [0u8; LOOKUP_LEN];
        lookup_bytes.copy_from_slice(lookup);
        let mut secret_bytes = [0u8; SECRET_LEN];
        secret_bytes.copy_from_slice(secret);
        Self {
            lookup: u64::from_le_bytes(lookup_bytes),
            secret: secret_bytes,
        }
    }

    /// The lookup half: the key to file the ticket under. Not secret on
    /// its own, but part of the ticket: don't log it.
    pub fn lookup(&self) -> u64 {
        self.lookup
    }

    /// The secret half, for a store to keep (or to keep a digest of).
    pub fn expose_secret(&self) -> &[u8; SECRET_LEN] {
        &self.secret
    }

    /// Constant-time comparison of the secret half with a stored one.
    pub fn secret_matches(&self, stored: &[u8; SECRET_LEN]) -> bool {
        bool::from(words(&self.secret)[..].ct_eq(&words(stored)[..]))
    }
}

/// The secret half as 64-bit words. `subtle` puts an optimisation barrier
/// on every element it compares; over bytes, those 24 barriers cost more
/// than all the rest of a consume's secret check.
fn words(secret: &[u8; SECRET_LEN]) -> [u64; SECRET_LEN / 8] {
    const _: () = assert!(SECRET_LEN.is_multiple_of(8));
    let mut words = [0u64; SECRET_LEN / 8];
    for (word, bytes) in words.iter_mut().zip(secret.chunks_exact(8)) {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(bytes);
        *word = u64::from_ne_bytes(chunk);
    }
    words
}

impl fmt::Debug for TicketParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TicketParts(<redacted>)")
    }
}

/// A freshly minted ticket: the text to hand to the browser, and its TTL.
///
/// It has no `Display` and its `Debug` redacts, so it cannot slip into a log
/// line by accident; call [`expose_secret`](Ticket::expose_secret) where the
/// text is really meant to go out (the mint route's response body).
///
/// ```
/// use tower_ws_ticket::MemoryStore;
///
/// let ticket = MemoryStore::<u32>::new().mint(1).unwrap();
/// assert!(!format!("{ticket:?}").contains(ticket.expose_secret()));
/// assert_eq!(ticket.ttl().as_secs(), 30);
/// ```
#[derive(Clone)]
pub struct Ticket {
    text: String,
    ttl: Duration,
}

impl Ticket {
    pub(crate) fn new(text: String, ttl: Duration) -> Self {
        Self { text, ttl }
    }

    /// The ticket text (`wst_…`), to be sent to the client that asked for it.
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    /// How long the ticket stays valid after it was minted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("secret", &format_args!("<redacted>"))
            .field("ttl", &self.ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT_LEN: usize = PREFIX.len() + ENCODED_LEN;

    #[test]
    fn generated_text_parses_back_to_the_same_halves() {
        let (parts, text) = TicketParts::draw();
        assert_eq!(text.len(), TEXT_LEN);
        let parsed = TicketParts::parse(&text).expect("our own ticket parses");
        assert_eq!(parsed.lookup, parts.lookup);
        assert_eq!(parsed.secret, parts.secret);
        assert!(parsed.secret_matches(&parts.secret));
    }

    #[test]
    fn foreign_text_does_not_parse() {
        let (_, text) = TicketParts::draw();
        let body = &text[PREFIX.len()..];
        for bad in [
            String::new(),
            "wst_".to_owned(),
            body.to_owned(),                              // no prefix
            format!("WST_{body}"),                        // prefix is case-sensitive
            format!("wsi_{body}"),                        // another credential's prefix
            format!("{text}A"),                           // too long
            text[..TEXT_LEN - 1].to_owned(),              // too short
            format!("wst_{}+", &body[..ENCODED_LEN - 1]), // not base64url
            format!("wst_{}=", &body[..ENCODED_LEN - 1]), // padding
            format!("wst_{}é", &body[..ENCODED_LEN - 2]), // non-ASCII, same byte length
        ] {
            assert!(TicketParts::parse(&bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_rejected() {
        // The 43rd character carries 4 bits of data and 2 of padding; a
        // character with those 2 bits set spells no 32-byte value.
        let (_, text) = TicketParts::draw();
        let mut bad = text[..TEXT_LEN - 1].to_owned();
        bad.push('B'); // 0b000001: low padding bit set
        assert!(TicketParts::parse(&bad).is_err());
    }

    #[test]
    fn wrong_secret_does_not_match() {
        let (parts, _) = TicketParts::draw();
        // The comparison goes a word at a time: every byte of every word counts.
        for byte in 0..SECRET_LEN {
            let mut other = parts.secret;
            other[byte] ^= 0x80;
            assert!(!parts.secret_matches(&other), "byte {byte} ignored");
        }
    }

    #[test]
    fn ticket_debug_redacts() {
        let (_, text) = TicketParts::draw();
        let ticket = Ticket::new(text.clone(), Duration::from_secs(30));
        let debug = format!("{ticket:?}");
        assert!(!debug.contains(&text[PREFIX.len()..PREFIX.len() + 8]));
        assert!(debug.contains("redacted"));
    }
}

//! The names of the store's keys. Each is the key prefix, then:
//!
//! - a ticket: its lookup half's 8 bytes in 16 hex digits;
//! - the sorted set of live tickets (with `max_outstanding`): `live`;
//! - an identity's sorted set of live tickets (with a cap per identity):
//!   `id:` and 32 hex digits of a digest of its key.
//!
//! None of them can meet another, and none holds a secret or an identity.

use crate::redis::push_hex;

/// The sorted set of live tickets is this key, after the prefix. Ticket keys
/// are 16 hex digits after the prefix, so the two never meet.
pub(super) const LIVE_SET_SUFFIX: &str = "live";
/// An identity's sorted set of live tickets (with a cap per identity) is
/// this, then 32 hex digits of a digest of its key, after the prefix.
pub(super) const IDENTITY_SET_INFIX: &str = "id:";
/// Hex digits of an identity's digest in its set's key: 128 bits.
pub(super) const IDENTITY_HEX_LEN: usize = 32;

/// The key of a ticket: the prefix, then the lookup half's bytes in hex.
pub(super) fn ticket_key(prefix: &str, lookup: u64) -> String {
    let mut key = String::with_capacity(prefix.len() + 16);
    key.push_str(prefix);
    push_hex(&mut key, &lookup.to_le_bytes());
    key
}

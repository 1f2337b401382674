//! Who a ticket is for: the [`User`] a sign-in puts in the session, and
//! the identity the mint route binds to every ticket it mints.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Longest accepted user name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// The identity the demo binds tickets to. It lives in the session (serde,
/// as tower-sessions stores values) and in the ticket store (serde again,
/// for the Redis store with `--features redis`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The name given at sign-in, already checked by [`User::from_sign_in`].
    pub name: String,
    /// Which sign-in this is: sockets opened with its tickets belong to it.
    pub session: SessionKey,
    /// When the sign-in ends: the session's expiry, as the auth gate
    /// ([`session::identify`](super::session::identify)) read it when the
    /// ticket was minted. The socket layer ends the ticket's socket then.
    #[serde(default)]
    pub expires: Option<SystemTime>,
}

impl User {
    /// Accepts a sign-in name: trimmed, 1 to [`MAX_NAME_CHARS`] characters,
    /// each a letter, a digit, a space, `-`, `_` or `.`. Anything else is
    /// refused rather than cleaned up, so what the user sees greeting them
    /// is what they typed. (The page still inserts names as text only.)
    /// Each accepted sign-in gets a new [`SessionKey`].
    pub fn from_sign_in(raw: &str) -> Option<Self> {
        let name = raw.trim();
        let count = name.chars().count();
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.');
        ((1..=MAX_NAME_CHARS).contains(&count) && name.chars().all(allowed)).then(|| Self {
            name: name.to_owned(),
            session: SessionKey::new(),
            expires: None,
        })
    }
}

/// Names one sign-in, so that what belongs to it (its sockets, once live
/// revocation lands) can be found when it ends.
///
/// Why not the session id tower-sessions keeps? That id is the session
/// cookie's value: a credential. It must not travel into the ticket store
/// (Redis, with `--features redis`) or into a log line, where this key
/// goes freely. This key opens nothing.
///
/// 64 random bits: enough to tell sign-ins apart, and a plain JSON number
/// (tower-sessions stores values as `serde_json` values, which cannot hold
/// a `u128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionKey(u64);

impl SessionKey {
    /// A fresh random key.
    pub fn new() -> Self {
        Self(rand::random())
    }
}

impl Default for SessionKey {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_names_are_trimmed_and_checked() {
        let user = User::from_sign_in("  Zoë O-Neil_2.0 ").expect("a fine name");
        assert_eq!(user.name, "Zoë O-Neil_2.0");
        let too_long = "a".repeat(MAX_NAME_CHARS + 1);
        for bad in ["", "   ", too_long.as_str(), "<script>", "a\u{0}b", "x;y"] {
            assert_eq!(User::from_sign_in(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn each_sign_in_has_its_own_key() {
        let first = User::from_sign_in("Ada").expect("name");
        let second = User::from_sign_in("Ada").expect("name");
        assert_ne!(first.session, second.session);
    }
}

//! A revocation on the wire, and what a replica accepts from the channel.
//!
//! Anyone who can `PUBLISH` on the channel (or write its journal) speaks
//! for every replica, so a payload is checked before anything is applied:
//! its size, its date, and with a signing key its signature.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac as _};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::redis::push_hex;

/// The message format.
const FORMAT: u8 = 1;
/// The largest payload sent or accepted, signature included: a revocation
/// is a key and a few numbers, and a payload past this is either a key that
/// should be an id or someone filling every replica's memory for the
/// window.
pub(crate) const MAX_MESSAGE_BYTES: usize = 4096;
/// How far ahead of this replica's wall clock a revocation may be dated.
/// Replicas' clocks agree to a few milliseconds under NTP; a date further
/// ahead would refuse tickets minted after the message arrived, for the
/// whole window.
pub(crate) const MAX_CLOCK_AHEAD: Duration = Duration::from_secs(5);
/// Binds a signature to this crate and message format.
const SIGNATURE_DOMAIN: &[u8] = b"tower-ws-ticket revocation v1\0";
/// Hex digits of a signature, and the space that follows them.
const SIGNATURE_HEX: usize = 64;

/// A revocation on the wire: `{"v":1,"origin":…,"at":…,"of":{"key":…}}` or
/// `…,"of":"all"}`; signed, the same JSON after 64 hex digits of its
/// HMAC-SHA256 (keyed with the SHA-256 of the signing key) and a space.
#[derive(Serialize, Deserialize)]
struct Message<K> {
    v: u8,
    origin: u64,
    at: u64,
    of: Target<K>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Target<K> {
    Key(K),
    All,
}

/// The shared secret that signs revocations. Never shown: its `Debug` says
/// only that there is one.
#[derive(Clone)]
pub(crate) struct SigningKey(Hmac<Sha256>);

impl SigningKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        // HMAC pads a key shorter than its block with zeros and hashes a
        // longer one, so `k` and `k\0`, or a long key and its SHA-256,
        // would sign alike. Keyed with the key's SHA-256, every key is 32
        // bytes and distinct keys sign apart.
        let key = Sha256::digest(key);
        // HMAC takes a key of any length: this cannot fail.
        match Hmac::<Sha256>::new_from_slice(&key) {
            Ok(mac) => Self(mac),
            Err(_) => unreachable!("HMAC-SHA256 takes a key of any length"),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// A revocation another replica made, accepted.
pub(crate) struct Received<K> {
    /// The key, or `None` for everything.
    pub(crate) key: Option<K>,
    pub(crate) at: u64,
}

/// Why a payload was not applied.
#[derive(Debug)]
pub(crate) enum Dropped {
    /// Our own, applied when it was made; or another format: not an error.
    Ours,
    OtherFormat,
    TooLarge(usize),
    /// Dated this far ahead of this replica's clock.
    Ahead(Duration),
    /// This replica signs, and the payload carries no signature, or one
    /// that does not verify.
    Unsigned,
    BadSignature,
    /// This replica does not sign, and the payload is signed.
    Signed,
    /// Not JSON of a revocation: the category only, never the payload.
    Malformed(serde_json::error::Category),
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ours => f.write_str("sent by this replica"),
            Self::OtherFormat => f.write_str("another message format"),
            Self::TooLarge(len) => write!(f, "{len} bytes, over {MAX_MESSAGE_BYTES}"),
            Self::Ahead(by) => write!(
                f,
                "dated {by:?} ahead of this replica's clock, over {MAX_CLOCK_AHEAD:?}"
            ),
            Self::Unsigned => f.write_str("not signed, and this replica has a signing key"),
            Self::BadSignature => f.write_str("its signature does not verify"),
            Self::Signed => f.write_str("signed, and this replica has no signing key"),
            Self::Malformed(category) => write!(f, "does not decode ({category:?})"),
        }
    }
}

/// Why a revocation made here cannot be sent.
#[derive(Debug)]
pub(crate) enum Unsendable {
    TooLarge(usize),
    /// The key does not serialize: the category only.
    Key(serde_json::error::Category),
}

impl fmt::Display for Unsendable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge(len) => write!(
                f,
                "the revocation is {len} bytes, over {MAX_MESSAGE_BYTES}: use a shorter key"
            ),
            Self::Key(category) => write!(f, "the key does not serialize ({category:?})"),
        }
    }
}

/// Writes and reads a bridge's messages: its channel, its replica's id and
/// its signing key, if any.
#[derive(Debug)]
pub(crate) struct Codec {
    channel: String,
    origin: u64,
    signing_key: Option<SigningKey>,
}

impl Codec {
    pub(crate) fn new(channel: String, origin: u64, signing_key: Option<SigningKey>) -> Self {
        Self {
            channel,
            origin,
            signing_key,
        }
    }

    /// A revocation of `key` (everything when `None`) made here at `at`.
    pub(crate) fn encode<K: Serialize>(
        &self,
        key: Option<&K>,
        at: u64,
    ) -> Result<String, Unsendable> {
        let message = Message {
            v: FORMAT,
            origin: self.origin,
            at,
            of: key.map_or(Target::All, Target::Key),
        };
        let json =
            serde_json::to_string(&message).map_err(|err| Unsendable::Key(err.classify()))?;
        let payload = match &self.signing_key {
            None => json,
            Some(signing_key) => {
                let mut signed = String::with_capacity(SIGNATURE_HEX + 1 + json.len());
                let signature = self.mac(signing_key, json.as_bytes()).finalize();
                push_hex(&mut signed, &signature.into_bytes());
                signed.push(' ');
                signed.push_str(&json);
                signed
            }
        };
        if payload.len() > MAX_MESSAGE_BYTES {
            return Err(Unsendable::TooLarge(payload.len()));
        }
        Ok(payload)
    }

    /// Reads a payload from the channel or the journal, `now` being this
    /// replica's wall clock in nanoseconds since the Unix epoch.
    pub(crate) fn decode<K: DeserializeOwned>(
        &self,
        payload: &[u8],
        now: u64,
    ) -> Result<Received<K>, Dropped> {
        if payload.len() > MAX_MESSAGE_BYTES {
            return Err(Dropped::TooLarge(payload.len()));
        }
        let json = match (&self.signing_key, split_signature(payload)) {
            (Some(signing_key), Some((signature, json))) => {
                // Constant time: `verify_slice` compares as `subtle` does.
                self.mac(signing_key, json)
                    .verify_slice(&signature)
                    .map_err(|_| Dropped::BadSignature)?;
                json
            }
            (Some(_), None) => return Err(Dropped::Unsigned),
            (None, Some(_)) => return Err(Dropped::Signed),
            (None, None) => payload,
        };
        let message: Message<K> =
            serde_json::from_slice(json).map_err(|err| Dropped::Malformed(err.classify()))?;
        if message.v != FORMAT {
            return Err(Dropped::OtherFormat);
        }
        if message.origin == self.origin {
            return Err(Dropped::Ours);
        }
        let ahead = message.at.saturating_sub(now);
        if ahead > crate::clock::nanos(MAX_CLOCK_AHEAD) {
            return Err(Dropped::Ahead(Duration::from_nanos(ahead)));
        }
        Ok(Received {
            key: match message.of {
                Target::Key(key) => Some(key),
                Target::All => None,
            },
            at: message.at,
        })
    }

    /// The MAC of `json` sent on this channel: bound to the channel, so
    /// that a message signed for one application's channel is refused on
    /// another's that shares the key.
    fn mac(&self, signing_key: &SigningKey, json: &[u8]) -> Hmac<Sha256> {
        let mut mac = signing_key.0.clone();
        mac.update(SIGNATURE_DOMAIN);
        mac.update(self.channel.as_bytes());
        mac.update(b"\0");
        mac.update(json);
        mac
    }
}

/// A signed payload's signature and JSON; `None` when it does not start
/// with 64 hex digits and a space (a JSON message starts with `{`).
fn split_signature(payload: &[u8]) -> Option<([u8; 32], &[u8])> {
    let (hex, rest) = payload.split_at_checked(SIGNATURE_HEX)?;
    let json = rest.strip_prefix(b" ")?;
    let mut signature = [0; 32];
    for (byte, pair) in signature.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some((signature, json))
}

fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000_000_000;

    fn codec(origin: u64, key: Option<&[u8]>) -> Codec {
        Codec::new(
            "app:revocations".to_owned(),
            origin,
            key.map(SigningKey::new),
        )
    }

    #[test]
    fn messages_carry_the_key_serialized_and_round_trip() {
        let json = codec(7, None)
            .encode(Some(&("alice".to_owned(), 3u32)), NOW)
            .unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"origin":7,"at":1700000000000000000,"of":{"key":["alice",3]}}"#
        );
        let back = codec(8, None)
            .decode::<(String, u32)>(json.as_bytes(), NOW)
            .unwrap();
        assert!(matches!(back.key, Some((name, 3)) if name == "alice"));
        let all = codec(7, None).encode::<u8>(None, 1).unwrap();
        assert_eq!(all, r#"{"v":1,"origin":7,"at":1,"of":"all"}"#);
        assert!(
            codec(8, None)
                .decode::<u8>(all.as_bytes(), NOW)
                .unwrap()
                .key
                .is_none()
        );
        // Our own is not applied twice.
        assert!(matches!(
            codec(7, None).decode::<u8>(all.as_bytes(), NOW),
            Err(Dropped::Ours)
        ));
    }

    #[test]
    fn payloads_past_the_size_bound_are_neither_sent_nor_read() {
        let long = "k".repeat(MAX_MESSAGE_BYTES);
        assert!(matches!(
            codec(7, None).encode(Some(&long), NOW),
            Err(Unsendable::TooLarge(_))
        ));
        let forged = format!(r#"{{"v":1,"origin":7,"at":1,"of":{{"key":"{long}"}}}}"#);
        assert!(matches!(
            codec(8, None).decode::<String>(forged.as_bytes(), NOW),
            Err(Dropped::TooLarge(_))
        ));
    }

    #[test]
    fn revocations_dated_past_the_clock_allowance_are_dropped() {
        let sender = codec(7, None);
        let ahead = crate::clock::nanos(MAX_CLOCK_AHEAD);
        let within = sender.encode(Some(&1u8), NOW + ahead).unwrap();
        assert!(codec(8, None).decode::<u8>(within.as_bytes(), NOW).is_ok());
        let beyond = sender.encode(Some(&1u8), NOW + ahead + 1).unwrap();
        assert!(matches!(
            codec(8, None).decode::<u8>(beyond.as_bytes(), NOW),
            Err(Dropped::Ahead(_))
        ));
        let forever = sender.encode::<u8>(None, u64::MAX).unwrap();
        assert!(matches!(
            codec(8, None).decode::<u8>(forever.as_bytes(), NOW),
            Err(Dropped::Ahead(_))
        ));
    }

    #[test]
    fn with_a_signing_key_only_messages_signed_with_it_are_read() {
        let key: &[u8] = b"0123456789abcdef0123456789abcdef";
        let signed = codec(7, Some(key)).encode(Some(&"alice"), NOW).unwrap();
        let receiver = codec(8, Some(key));
        assert_eq!(
            receiver
                .decode::<String>(signed.as_bytes(), NOW)
                .unwrap()
                .key
                .as_deref(),
            Some("alice")
        );
        // Unsigned, signed with another key, tampered with, or signed for
        // another channel: dropped.
        let unsigned = codec(7, None).encode(Some(&"alice"), NOW).unwrap();
        assert!(matches!(
            receiver.decode::<String>(unsigned.as_bytes(), NOW),
            Err(Dropped::Unsigned)
        ));
        let other = codec(7, Some(b"another key"))
            .encode(Some(&"alice"), NOW)
            .unwrap();
        assert!(matches!(
            receiver.decode::<String>(other.as_bytes(), NOW),
            Err(Dropped::BadSignature)
        ));
        let tampered = signed.replace("alice", "carol");
        assert!(matches!(
            receiver.decode::<String>(tampered.as_bytes(), NOW),
            Err(Dropped::BadSignature)
        ));
        let elsewhere = Codec::new(
            "other:revocations".to_owned(),
            7,
            Some(SigningKey::new(key)),
        )
        .encode(Some(&"alice"), NOW)
        .unwrap();
        assert!(matches!(
            receiver.decode::<String>(elsewhere.as_bytes(), NOW),
            Err(Dropped::BadSignature)
        ));
        // A replica without the key does not read signed messages.
        assert!(matches!(
            codec(8, None).decode::<String>(signed.as_bytes(), NOW),
            Err(Dropped::Signed)
        ));
    }

    /// Found by the `revocation_message` fuzz target: HMAC pads a key
    /// shorter than its block with zeros and hashes a longer one, so an
    /// empty key and `\0`, `k` and `k\0`, or a long key and its SHA-256
    /// signed alike.
    #[test]
    fn keys_that_hmac_would_take_alike_do_not_sign_alike() {
        let long = [7u8; 100];
        let long_digest: [u8; 32] = Sha256::digest(long).into();
        for (ours, theirs) in [
            (&b""[..], &b"\0"[..]),
            (b"k", b"k\0"),
            (b"0123456789abcdef", b"0123456789abcdef\0\0\0"),
            (&long[..], &long_digest[..]),
            (&long_digest[..], &long[..]),
        ] {
            let forged = codec(7, Some(theirs)).encode(Some(&"alice"), NOW).unwrap();
            assert!(
                matches!(
                    codec(8, Some(ours)).decode::<String>(forged.as_bytes(), NOW),
                    Err(Dropped::BadSignature)
                ),
                "signed with {theirs:?}, read with {ours:?}"
            );
        }
    }

    #[test]
    fn the_signing_key_is_never_shown() {
        let codec = codec(7, Some(b"hunter2-hunter2"));
        let shown = format!("{codec:?}");
        assert!(shown.contains("SigningKey(..)"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// What a replica sends, a replica with the same key reads back as
        /// sent; bytes from the channel, signed or not, whole or cut or
        /// flipped, are some outcome, never a panic, and never accepted
        /// under a key they were not signed with.
        #[test]
        fn messages_round_trip_and_no_payload_panics(
            key in "\\PC{0,40}",
            signing in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48)),
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            cut in 0usize..300,
            flip in 0usize..300,
        ) {
            let sender = codec(7, signing.as_deref());
            let receiver = codec(8, signing.as_deref());
            let sent = sender.encode(Some(&key), NOW).unwrap();
            let back = receiver.decode::<String>(sent.as_bytes(), NOW).unwrap();
            proptest::prop_assert_eq!(back.key.as_deref(), Some(key.as_str()));
            proptest::prop_assert_eq!(back.at, NOW);
            let _ = receiver.decode::<String>(&garbage, NOW);
            let _ = receiver.decode::<String>(&sent.as_bytes()[..cut.min(sent.len())], NOW);
            let mut flipped = sent.clone().into_bytes();
            if let Some(byte) = flipped.get_mut(flip) {
                *byte ^= 0x20;
            }
            let decoded = receiver.decode::<String>(&flipped, NOW);
            if signing.is_some() && flip < SIGNATURE_HEX && flipped != sent.as_bytes() {
                // A changed signature digit never verifies.
                proptest::prop_assert!(decoded.is_err());
            }
        }
    }

    #[test]
    fn any_payload_is_some_outcome_never_a_panic() {
        let receiver = codec(8, Some(b"k"));
        for payload in [
            &b""[..],
            b" ",
            b"{",
            &[b'a'; 64],
            &[b'a'; 65],
            &[0xff; 70],
            b"zz000000000000000000000000000000000000000000000000000000000000000 {}",
        ] {
            assert!(receiver.decode::<String>(payload, NOW).is_err());
            assert!(codec(8, None).decode::<String>(payload, NOW).is_err());
        }
    }
}

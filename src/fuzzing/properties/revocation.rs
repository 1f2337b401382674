//! The revocation bridge's messages: what a replica accepts from the
//! Redis channel `<prefix>revocations` (feature `redis`).
//!
//! The model here writes the wire format on its own (the JSON, the
//! HMAC-SHA256 over a domain, the channel and the JSON, in lowercase hex),
//! and reads an accepted payload back with `serde_json::Value`, so that a
//! payload the codec accepts is checked against what the crate documents,
//! not against the codec.

use hmac::{Hmac, Mac as _};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{MIN_SECRET, credential_looking};
use crate::fuzzing::{Dropped, RevocationCodec};

/// The largest payload a replica reads, as the crate documents it.
pub const MAX_REVOCATION_BYTES: usize = 4096;
/// How far ahead of a replica's clock a revocation may be dated, in
/// nanoseconds (5 s, as the crate documents it).
pub const MAX_AHEAD_NANOS: u64 = 5_000_000_000;
/// What a signature is bound to before the channel's name.
const DOMAIN: &[u8] = b"tower-ws-ticket revocation v1\0";

/// Words of a revocation's JSON: its fields, values at their bounds, and
/// the characters of JSON.
pub const REVOCATION_WORDS: &[&str] = &[
    "{",
    "}",
    "\"v\":",
    "\"v\":1",
    "\"origin\":",
    "\"at\":",
    "\"of\":",
    "\"all\"",
    "\"ALL\"",
    "{\"key\":",
    "{\"key\":\"wst_AbCdEfGh\"}",
    "\"key\"",
    "\"wst_AbCdEfGh\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "null",
    "[",
    "]",
    ":",
    ",",
    ",",
    " ",
    "1",
    "0",
    "2",
    "256",
    "-1",
    "1.0",
    "1e3",
    "5000000000",
    "18446744073709551615",
    "18446744073709551616",
    "x",
];

/// One case: a receiving replica, a revocation another replica (or
/// someone on the channel) sends it, and payloads built around it.
#[derive(Debug, Clone)]
pub struct RevocationCase {
    /// The channel's name.
    pub channel: String,
    /// The receiving replica's id and signing key.
    pub receiver: u64,
    /// The receiver's signing key, if it signs.
    pub receiver_key: Option<Vec<u8>>,
    /// The sender's id.
    pub sender: u64,
    /// The sender signs with the receiver's key (or does not sign, as the
    /// receiver), rather than with `sender_key`.
    pub same_key: bool,
    /// The sender's signing key, when not the receiver's.
    pub sender_key: Option<Vec<u8>>,
    /// The sender's channel, when not the receiver's.
    pub sender_channel: Option<String>,
    /// The key revoked; `None` for everything.
    pub key: Option<String>,
    /// The revocation's date and the receiver's wall clock (nanoseconds
    /// since the Unix epoch).
    pub at: u64,
    /// The receiver's wall clock.
    pub now: u64,
    /// Spaces added to a well-formed message's JSON (which JSON ignores),
    /// to reach the size bound.
    pub padding: usize,
    /// Any text, sent as the JSON of a message, signed as the sender signs.
    pub json: String,
    /// A byte of that payload to change: its index (modulo the length)
    /// and what to XOR it with.
    pub tamper: Option<(usize, u8)>,
    /// Any bytes, read as a payload.
    pub garbage: Vec<u8>,
}

fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature of `json` on `channel` under `key`: HMAC-SHA256, keyed
/// with the key's SHA-256, of the domain, the channel, a NUL and the JSON,
/// in lowercase hex.
fn signature(key: &[u8], channel: &str, json: &[u8]) -> String {
    let key = Sha256::digest(key);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(DOMAIN);
    mac.update(channel.as_bytes());
    mac.update(b"\0");
    mac.update(json);
    lower_hex(&mac.finalize().into_bytes())
}

/// A payload as a sender with `key` (if any) on `channel` sends `json`.
fn payload(key: Option<&[u8]>, channel: &str, json: &str) -> String {
    match key {
        None => json.to_owned(),
        Some(key) => format!("{} {json}", signature(key, channel, json.as_bytes())),
    }
}

/// A revocation's JSON, as the crate documents it.
fn message_json(origin: u64, at: u64, key: Option<&str>) -> String {
    let of = match key {
        None => "\"all\"".to_owned(),
        Some(key) => format!(
            "{{\"key\":{}}}",
            serde_json::to_string(key).expect("a string serializes")
        ),
    };
    format!("{{\"v\":1,\"origin\":{origin},\"at\":{at},\"of\":{of}}}")
}

fn within_skew(at: u64, now: u64) -> bool {
    at.saturating_sub(now) <= MAX_AHEAD_NANOS
}

/// The revocation bridge's codec over any case:
///
/// - a sender writes exactly the documented payload (the JSON, signed:
///   64 lowercase hex digits of its signature and a space before it),
///   or nothing when that is over [`MAX_REVOCATION_BYTES`];
/// - what it writes is accepted by the receiver, with its key and date,
///   exactly when the receiver has no key and the sender does not sign,
///   or both sign with the same key on the same channel; the sender is
///   another replica; and the date is at most [`MAX_AHEAD_NANOS`] ahead
///   of the receiver's clock;
/// - a well-formed message padded past [`MAX_REVOCATION_BYTES`] is
///   dropped as too large, and accepted up to it;
/// - any payload (any JSON signed as the sender signs, changed in a byte
///   or not; any bytes): some outcome, never a panic. What is accepted
///   fits the size bound, is signed with the receiver's key for its
///   channel when it has one, is a revocation of format 1 from another
///   replica dated within the allowance, and is read as it says. A drop's
///   reason shows nothing of the payload that reads like a credential,
///   nor the signing key.
pub fn check_revocation_message(case: &RevocationCase) {
    let channel = case.channel.as_str();
    let receiver_key = case.receiver_key.as_deref();
    let receiver = RevocationCodec::new(channel, case.receiver, receiver_key);
    let sender_key = if case.same_key {
        receiver_key
    } else {
        case.sender_key.as_deref()
    };
    let sender_channel = case.sender_channel.as_deref().unwrap_or(channel);
    let sender = RevocationCodec::new(sender_channel, case.sender, sender_key);
    let genuine = match (receiver_key, sender_key) {
        (None, None) => true,
        (Some(ours), Some(theirs)) => ours == theirs && channel == sender_channel,
        _ => false,
    };

    // What a sender writes, and what the receiver makes of it.
    let json = message_json(case.sender, case.at, case.key.as_deref());
    let expected = payload(sender_key, sender_channel, &json);
    let written = sender.encode(case.key.as_deref(), case.at);
    if expected.len() > MAX_REVOCATION_BYTES {
        assert_eq!(written, None, "over the bound, sent: {case:?}");
    } else {
        assert_eq!(written.as_ref(), Some(&expected), "{case:?}");
        let read = receiver.decode::<String>(expected.as_bytes(), case.now);
        let accepted = genuine && case.sender != case.receiver && within_skew(case.at, case.now);
        match &read {
            Ok((key, at)) => {
                assert!(accepted, "accepted: {expected:?}, {case:?}");
                assert_eq!((key, *at), (&case.key, case.at), "{case:?}");
            }
            Err((why, _)) => {
                assert!(!accepted, "dropped ({why:?}): {expected:?}, {case:?}");
                let fits = match why {
                    Dropped::Ours => case.sender == case.receiver,
                    Dropped::Ahead => !within_skew(case.at, case.now),
                    Dropped::Unsigned | Dropped::BadSignature | Dropped::Signed => !genuine,
                    _ => false,
                };
                assert!(fits, "dropped as {why:?}: {expected:?}, {case:?}");
            }
        }
    }

    // The size bound, at any length around it: a genuine message padded
    // with spaces inside what is signed.
    let padded = format!("{json}{}", " ".repeat(case.padding));
    let padded = payload(receiver_key, channel, &padded);
    let read = receiver.decode::<String>(padded.as_bytes(), case.now);
    if padded.len() > MAX_REVOCATION_BYTES {
        assert!(
            matches!(read, Err((Dropped::TooLarge, _))),
            "{} bytes read as {read:?}",
            padded.len()
        );
    } else {
        let accepted = case.sender != case.receiver && within_skew(case.at, case.now);
        assert_eq!(read.is_ok(), accepted, "{padded:?} read as {read:?}");
    }

    // Any JSON, signed as the sender signs, maybe changed in a byte; and
    // any bytes.
    let mut crafted = payload(sender_key, sender_channel, &case.json).into_bytes();
    if let Some((at, xor)) = case.tamper
        && !crafted.is_empty()
    {
        let at = at % crafted.len();
        crafted[at] ^= xor;
    }
    for any in [&crafted[..], &case.garbage] {
        check_payload(case, &receiver, any);
        // No key at all, or a key where there was none.
        let other = RevocationCodec::new(
            channel,
            case.receiver,
            match receiver_key {
                Some(_) => None,
                None => Some(b"a key"),
            },
        );
        let _ = other.decode::<String>(any, case.now);
    }
}

/// What `receiver` makes of any `payload` is what the crate documents.
fn check_payload(case: &RevocationCase, receiver: &RevocationCodec, payload: &[u8]) {
    // Other key types: some outcome, never a panic.
    let _ = receiver.decode::<Value>(payload, case.now);
    let _ = receiver.decode::<(u64, String)>(payload, case.now);
    let read = receiver.decode::<String>(payload, case.now);
    let shown = || String::from_utf8_lossy(payload).into_owned();
    let (key, at) = match read {
        Ok(read) => read,
        Err((why, reason)) => {
            let text = shown();
            for looking in credential_looking(&text) {
                assert!(!reason.contains(looking), "{reason:?} shows {looking:?}");
            }
            if let Some(secret) = &case.receiver_key {
                // Short keys are not looked for: their hex digits show up
                // in a date or a length by chance.
                let hex = lower_hex(secret);
                assert!(
                    hex.len() < 4 * MIN_SECRET || !reason.contains(&hex),
                    "{reason:?} ({why:?}) shows the signing key"
                );
                if let Ok(secret) = std::str::from_utf8(secret) {
                    assert!(
                        secret.len() < MIN_SECRET || !reason.contains(secret),
                        "{reason:?} shows the signing key"
                    );
                }
            }
            return;
        }
    };
    assert!(
        payload.len() <= MAX_REVOCATION_BYTES,
        "{} bytes accepted",
        payload.len()
    );
    let json = match &case.receiver_key {
        None => payload,
        Some(secret) => {
            let (hex, json) = payload
                .split_at_checked(64)
                .unwrap_or_else(|| panic!("accepted unsigned: {:?}", shown()));
            let json = json
                .strip_prefix(b" ")
                .unwrap_or_else(|| panic!("accepted unsigned: {:?}", shown()));
            assert_eq!(
                hex,
                signature(secret, &case.channel, json).as_bytes(),
                "accepted without the receiver's signature: {:?}, {case:?}",
                shown()
            );
            json
        }
    };
    let message: Value = serde_json::from_slice(json)
        .unwrap_or_else(|err| panic!("accepted, not JSON ({err}): {:?}", shown()));
    let context = || format!("{:?} read as {key:?} at {at}", shown());
    assert_eq!(message["v"], Value::from(1), "{}", context());
    let origin = message["origin"].as_u64();
    assert!(origin.is_some(), "no origin: {}", context());
    assert_ne!(origin, Some(case.receiver), "its own: {}", context());
    assert_eq!(message["at"].as_u64(), Some(at), "{}", context());
    assert!(
        within_skew(at, case.now),
        "ahead of {}: {}",
        case.now,
        context()
    );
    match &message["of"] {
        Value::String(all) if all == "all" => assert_eq!(key, None, "{}", context()),
        Value::Object(of) => {
            assert_eq!(of.len(), 1, "{}", context());
            assert_eq!(of.get("key").and_then(Value::as_str), key.as_deref());
            assert!(key.is_some(), "{}", context());
        }
        other => panic!("read {other:?}: {}", context()),
    }
}

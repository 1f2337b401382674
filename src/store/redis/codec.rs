//! What a ticket's value in Redis holds, and reading it back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::keys::IDENTITY_HEX_LEN;
use crate::audience::Audience;
use crate::error::StoreUnavailable;
use crate::redis::push_hex;
use crate::store::Redeemed;
use crate::ticket::TicketParts;

/// The layout of a stored value. Format 1 (0.1.0's, still read): version,
/// digest, mint time in milliseconds, identity. Format 2, the one written:
/// version, digest, mint time in nanoseconds, a flags byte and, as the
/// flags announce, the identity's key for its cap (32 hex digits: the
/// consume script reads it at this fixed place) and the audience's digest,
/// then the identity.
///
/// The mint time is kept to the nanosecond because a revocation compares
/// it with its own instant, in nanoseconds: a ticket minted after
/// `Revocations::revoke` returned must read as minted after it, and one
/// minted before the call as minted before, which a time rounded to the
/// millisecond cannot tell apart within the same millisecond.
pub(super) const FORMAT_PLAIN: u8 = 1;
pub(super) const FORMAT_TAGGED: u8 = 2;
pub(super) const DIGEST_LEN: usize = 32;
pub(super) const DIGEST_AT: usize = 1;
pub(super) const MINTED_AT: usize = DIGEST_AT + DIGEST_LEN;
/// Where format 1's identity and format 2's flags are.
pub(super) const IDENTITY_AT: usize = MINTED_AT + 8;
pub(super) const FLAGS_AT: usize = IDENTITY_AT;
pub(super) const TAGS_AT: usize = FLAGS_AT + 1;
pub(super) const HAS_AUDIENCE: u8 = 1;
pub(super) const HAS_IDENTITY_KEY: u8 = 2;
/// Binds a digest to this crate and format, apart from any other SHA-256.
const DIGEST_DOMAIN: &[u8] = b"tower-ws-ticket redis v1\0";
/// The same for an audience's name, and for an identity's key.
const AUDIENCE_DOMAIN: &[u8] = b"tower-ws-ticket redis audience v1\0";
const IDENTITY_DOMAIN: &[u8] = b"tower-ws-ticket redis identity v1\0";

/// What a stored value turned out to hold.
pub(super) enum Decoded<I> {
    Valid(Redeemed<I>),
    /// The digest does not match: a wrong secret half, now burned.
    WrongSecret,
    /// The ticket is for another audience, or for one or none where the
    /// other was asked for; now burned.
    WrongAudience,
    /// Not a value this store wrote, or an identity that no longer decodes.
    Corrupt(String),
}

/// The SHA-256 of the ticket, bound to its lookup half and this format.
pub(super) fn digest(parts: &TicketParts) -> [u8; DIGEST_LEN] {
    Sha256::new()
        .chain_update(DIGEST_DOMAIN)
        .chain_update(parts.lookup.to_le_bytes())
        .chain_update(parts.secret)
        .finalize()
        .into()
}

/// What a value says of its identity's cap.
pub(super) enum CapKey {
    /// The store keeps no cap per identity.
    Uncapped,
    /// Counted by the identity itself: its JSON is the key.
    Identity,
    /// Counted by a key function: the key's JSON.
    Key(Vec<u8>),
}

/// A value with its digest left blank (the mint fills it in per draw), and
/// the hex digits of its identity's set when there is a cap per identity.
pub(super) fn encode_value<I: Serialize>(
    identity: &I,
    audience: Option<&[u8; DIGEST_LEN]>,
    cap: CapKey,
) -> Result<(Vec<u8>, Option<String>), StoreUnavailable> {
    // The wall clock as it reads now, before the round trip: the mint
    // starts after whatever the caller did before it (a revocation).
    let minted_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        });
    let capped = !matches!(cap, CapKey::Uncapped);
    let mut value = Vec::with_capacity(TAGS_AT + IDENTITY_HEX_LEN + DIGEST_LEN + 32);
    value.push(FORMAT_TAGGED);
    value.extend_from_slice(&[0; DIGEST_LEN]);
    value.extend_from_slice(&minted_ns.to_be_bytes());
    let flags = if capped { HAS_IDENTITY_KEY } else { 0 }
        | if audience.is_some() { HAS_AUDIENCE } else { 0 };
    value.push(flags);
    let mut key_at = None;
    if capped {
        // Filled in below, once the identity's JSON is there.
        key_at = Some(value.len());
        value.extend_from_slice(&[b'0'; IDENTITY_HEX_LEN]);
    }
    if let Some(audience) = audience {
        value.extend_from_slice(audience);
    }
    let json_at = value.len();
    serde_json::to_writer(&mut value, identity)
        .map_err(|err| StoreUnavailable::new(format!("identity does not serialize: {err}")))?;
    let hex = match cap {
        CapKey::Uncapped => None,
        CapKey::Identity => Some(identity_hex(&value[json_at..])),
        CapKey::Key(json) => Some(identity_hex(&json)),
    };
    if let (Some(at), Some(hex)) = (key_at, &hex) {
        value[at..at + IDENTITY_HEX_LEN].copy_from_slice(hex.as_bytes());
    }
    Ok((value, hex))
}

pub(super) fn decode_value<I: DeserializeOwned>(
    value: &[u8],
    parts: &TicketParts,
    audience: Option<&[u8; DIGEST_LEN]>,
) -> Decoded<I> {
    let version = value.first().copied();
    if value.len() < IDENTITY_AT || !matches!(version, Some(FORMAT_PLAIN | FORMAT_TAGGED)) {
        return Decoded::Corrupt(format!(
            "not a ticket value of a known format ({} bytes)",
            value.len()
        ));
    }
    if !bool::from(value[DIGEST_AT..MINTED_AT].ct_eq(&digest(parts))) {
        return Decoded::WrongSecret;
    }
    let (stored_audience, json_at) = if version == Some(FORMAT_TAGGED) {
        match tags(value) {
            Some(tags) => tags,
            None => return Decoded::Corrupt("unreadable tags".to_owned()),
        }
    } else {
        // Format 1 values were written before audiences: none.
        (None, IDENTITY_AT)
    };
    if !same_audience(stored_audience, audience) {
        return Decoded::WrongAudience;
    }
    let mut minted = [0; 8];
    minted.copy_from_slice(&value[MINTED_AT..IDENTITY_AT]);
    let minted = u64::from_be_bytes(minted);
    let since_epoch = if version == Some(FORMAT_TAGGED) {
        Duration::from_nanos(minted)
    } else {
        Duration::from_millis(minted)
    };
    let Some(minted_at) = UNIX_EPOCH.checked_add(since_epoch) else {
        return Decoded::Corrupt("mint time out of range".to_owned());
    };
    // Another replica's clock may run ahead of this one's: a mint time in
    // the future is read as now.
    let minted_at = minted_at.min(SystemTime::now());
    match serde_json::from_slice(&value[json_at..]) {
        Ok(identity) => Decoded::Valid(Redeemed {
            identity,
            minted_at,
        }),
        // The category and position only: serde_json's message can quote
        // the identity, which is the application's data.
        Err(err) => Decoded::Corrupt(format!(
            "identity does not decode ({:?} error at line {} column {})",
            err.classify(),
            err.line(),
            err.column()
        )),
    }
}

/// A format 2 value's audience digest, if any, and where its identity's
/// JSON starts; `None` when the tags do not read.
pub(super) fn tags(value: &[u8]) -> Option<(Option<&[u8; DIGEST_LEN]>, usize)> {
    let flags = *value.get(FLAGS_AT)?;
    if flags & !(HAS_AUDIENCE | HAS_IDENTITY_KEY) != 0 {
        return None;
    }
    let mut at = TAGS_AT;
    if flags & HAS_IDENTITY_KEY != 0 {
        at += IDENTITY_HEX_LEN;
    }
    let audience = if flags & HAS_AUDIENCE != 0 {
        let digest = value.get(at..at + DIGEST_LEN)?.try_into().ok()?;
        at += DIGEST_LEN;
        Some(digest)
    } else {
        None
    };
    (at <= value.len()).then_some((audience, at))
}

/// Whether a ticket's audience is the one asked for: both none, or equal
/// digests, compared in constant time.
pub(super) fn same_audience(
    stored: Option<&[u8; DIGEST_LEN]>,
    asked: Option<&[u8; DIGEST_LEN]>,
) -> bool {
    match (stored, asked) {
        (None, None) => true,
        (Some(stored), Some(asked)) => bool::from(stored.ct_eq(asked)),
        _ => false,
    }
}

/// The SHA-256 of an audience's name, bound to this crate and format.
pub(super) fn audience_digest(audience: &Audience) -> [u8; DIGEST_LEN] {
    Sha256::new()
        .chain_update(AUDIENCE_DOMAIN)
        .chain_update(audience.name().as_bytes())
        .finalize()
        .into()
}

/// The hex digits naming an identity's set: 128 bits of the SHA-256 of its
/// key's JSON, so that no key name holds the identity.
pub(super) fn identity_hex(key_json: &[u8]) -> String {
    let digest: [u8; DIGEST_LEN] = Sha256::new()
        .chain_update(IDENTITY_DOMAIN)
        .chain_update(key_json)
        .finalize()
        .into();
    let mut hex = String::with_capacity(IDENTITY_HEX_LEN);
    push_hex(&mut hex, &digest[..IDENTITY_HEX_LEN / 2]);
    hex
}

/// The hex digits of the identity's set that a value names, if any.
pub(super) fn identity_hex_in(value: &[u8]) -> Option<&str> {
    if value.first() != Some(&FORMAT_TAGGED) || value.get(FLAGS_AT)? & HAS_IDENTITY_KEY == 0 {
        return None;
    }
    let hex = std::str::from_utf8(value.get(TAGS_AT..TAGS_AT + IDENTITY_HEX_LEN)?).ok()?;
    hex.bytes().all(|b| b.is_ascii_hexdigit()).then_some(hex)
}

/// The value codec's properties, for the fuzz target and the property
/// tests (`crate::fuzzing`): it panics on a violation.
///
/// - What the store writes reads back as the identity it was written for,
///   under its own ticket and audience; under another audience it reads as
///   the wrong audience, under another ticket as the wrong secret.
/// - No piece of the secret half is in the value.
/// - Any bytes at all read as some outcome, never a panic.
#[cfg(any(test, fuzzing))]
pub(crate) fn codec_properties(
    identity: &str,
    audience: Option<&str>,
    key: Option<&str>,
    garbage: &[u8],
) {
    let parts = TicketParts::draw().0;
    let asked = audience.map(|name| audience_digest(&Audience::new(name)));
    let cap = match key {
        None => CapKey::Uncapped,
        Some("") => CapKey::Identity,
        Some(key) => CapKey::Key(key.as_bytes().to_vec()),
    };
    let capped = !matches!(cap, CapKey::Uncapped);
    let (mut value, hex) =
        encode_value(&identity, asked.as_ref(), cap).expect("a string serialises");
    value[DIGEST_AT..MINTED_AT].copy_from_slice(&digest(&parts));
    assert_eq!(hex.is_some(), capped);
    assert_eq!(value[0], FORMAT_TAGGED);
    assert!(
        !parts
            .secret
            .windows(8)
            .any(|secret| value.windows(8).any(|w| w == secret)),
        "a piece of the secret half is in the value"
    );
    match decode_value::<String>(&value, &parts, asked.as_ref()) {
        Decoded::Valid(redeemed) => assert_eq!(redeemed.identity, identity),
        _ => panic!("the value written does not read back"),
    }
    let other = audience_digest(&Audience::new(format!("{}~other", audience.unwrap_or(""))));
    let wrong = if asked.is_some() { None } else { Some(other) };
    assert!(matches!(
        decode_value::<String>(&value, &parts, wrong.as_ref()),
        Decoded::WrongAudience
    ));
    assert!(matches!(
        decode_value::<String>(&value, &TicketParts::draw().0, asked.as_ref()),
        Decoded::WrongSecret
    ));
    // Garbage, as it is and behind a valid digest: some outcome, no panic.
    let _ = decode_value::<String>(garbage, &parts, asked.as_ref());
    let mut forged = value[..MINTED_AT.min(value.len())].to_vec();
    forged.extend_from_slice(garbage);
    let _ = decode_value::<String>(&forged, &parts, asked.as_ref());
}

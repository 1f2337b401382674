//! The value codec, the key names and the script arguments, without a
//! Redis (the store against a real one is `tests/redis.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::codec::*;
use super::keys::*;
use super::scripts::cap_arg;
use crate::audience::Audience;
use crate::ticket::TicketParts;

fn parts() -> TicketParts {
    TicketParts::draw().0
}

fn sealed<I: Serialize>(parts: &TicketParts, identity: &I) -> Vec<u8> {
    sealed_with(parts, identity, None, CapKey::Uncapped)
}

fn sealed_with<I: Serialize>(
    parts: &TicketParts,
    identity: &I,
    audience: Option<&Audience>,
    cap: CapKey,
) -> Vec<u8> {
    let audience = audience.map(audience_digest);
    let (mut value, _) = encode_value(identity, audience.as_ref(), cap).expect("serializes");
    value[DIGEST_AT..MINTED_AT].copy_from_slice(&digest(parts));
    value
}

#[test]
fn value_round_trips() {
    let parts = parts();
    let value = sealed(&parts, &("alice".to_owned(), 7u32));
    let Decoded::Valid(redeemed) = decode_value::<(String, u32)>(&value, &parts, None) else {
        panic!("our own value decodes");
    };
    assert_eq!(redeemed.identity, ("alice".to_owned(), 7));
    let age = SystemTime::now()
        .duration_since(redeemed.minted_at)
        .expect("minted in the past");
    assert!(age < Duration::from_secs(5));
}

#[test]
fn value_holds_no_secret() {
    let parts = parts();
    let value = sealed(&parts, &1u8);
    assert!(
        !value
            .windows(8)
            .any(|w| parts.secret.windows(8).any(|s| s == w))
    );
}

#[test]
fn wrong_secret_is_refused() {
    let ticket = parts();
    let value = sealed(&ticket, &1u8);
    let mut other = ticket;
    other.secret[0] ^= 1;
    assert!(matches!(
        decode_value::<u8>(&value, &other, None),
        Decoded::WrongSecret
    ));
    let mut moved = ticket;
    moved.lookup ^= 1;
    assert!(matches!(
        decode_value::<u8>(&value, &moved, None),
        Decoded::WrongSecret
    ));
}

#[test]
fn bad_values_are_corrupt_not_a_panic() {
    let parts = parts();
    let good = sealed(&parts, &1u8);
    let mut wrong_version = good.clone();
    wrong_version[0] = 9;
    let mut wrong_identity = good[..IDENTITY_AT].to_vec();
    wrong_identity.extend_from_slice(b"\"not a number\"");
    for bad in [
        Vec::new(),
        b"garbage".to_vec(),
        good[..IDENTITY_AT - 1].to_vec(),
        wrong_version,
        wrong_identity,
        good[..IDENTITY_AT].to_vec(),
    ] {
        assert!(
            matches!(decode_value::<u8>(&bad, &parts, None), Decoded::Corrupt(_)),
            "{bad:?}"
        );
    }
}

#[test]
fn corrupt_identity_message_does_not_quote_it() {
    let parts = parts();
    let mut value = sealed(&parts, &1u8)[..IDENTITY_AT].to_vec();
    value.extend_from_slice(b"\"private-data\"");
    let Decoded::Corrupt(why) = decode_value::<u8>(&value, &parts, None) else {
        panic!("does not decode");
    };
    assert!(!why.contains("private"), "{why}");
}

/// A value as the previous release wrote it, byte for byte.
fn format_1_value(parts: &TicketParts, identity_json: &[u8]) -> Vec<u8> {
    let mut value = vec![1];
    value.extend_from_slice(&digest(parts));
    value.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
    value.extend_from_slice(identity_json);
    value
}

#[test]
fn every_ticket_is_written_in_format_2_with_its_mint_time_in_nanoseconds() {
    let parts = parts();
    let before = SystemTime::now();
    let value = sealed(&parts, &"alice");
    let after = SystemTime::now();
    assert_eq!(value[0], FORMAT_TAGGED);
    assert_eq!(value[FLAGS_AT], 0);
    assert_eq!(&value[TAGS_AT..], br#""alice""#);
    let Decoded::Valid(redeemed) = decode_value::<String>(&value, &parts, None) else {
        panic!("our own value decodes");
    };
    // Exactly the wall clock's reading, not rounded to a millisecond.
    assert!(before <= redeemed.minted_at && redeemed.minted_at <= after);
    let mut nanos = [0; 8];
    nanos.copy_from_slice(&value[MINTED_AT..IDENTITY_AT]);
    assert_eq!(
        UNIX_EPOCH + Duration::from_nanos(u64::from_be_bytes(nanos)),
        redeemed.minted_at
    );
}

#[test]
fn format_1_values_decode_as_tickets_without_an_audience() {
    let parts = parts();
    let value = format_1_value(&parts, br#""alice""#);
    let Decoded::Valid(redeemed) = decode_value::<String>(&value, &parts, None) else {
        panic!("a format 1 value decodes");
    };
    assert_eq!(redeemed.identity, "alice");
    // Format 1 kept milliseconds.
    assert_eq!(
        redeemed.minted_at,
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)
    );
    let admin = audience_digest(&Audience::new("admin"));
    assert!(matches!(
        decode_value::<String>(&value, &parts, Some(&admin)),
        Decoded::WrongAudience
    ));
}

#[test]
fn audiences_round_trip_and_must_match() {
    let parts = parts();
    let (page, admin) = (Audience::new("page"), Audience::new("admin"));
    for cap in [false, true] {
        let cap_key = || {
            if cap {
                CapKey::Identity
            } else {
                CapKey::Uncapped
            }
        };
        let value = sealed_with(&parts, &42u64, Some(&admin), cap_key());
        assert_eq!(value[0], FORMAT_TAGGED);
        // The name is not in the value: its digest is.
        assert!(!value.windows(5).any(|w| w == b"admin"));
        let want = |audience: Option<&Audience>| {
            let digest = audience.map(audience_digest);
            decode_value::<u64>(&value, &parts, digest.as_ref())
        };
        assert!(matches!(want(Some(&admin)), Decoded::Valid(r) if r.identity == 42));
        assert!(matches!(want(Some(&page)), Decoded::WrongAudience));
        assert!(matches!(want(None), Decoded::WrongAudience));

        let plain = sealed_with(&parts, &42u64, None, cap_key());
        let digest = audience_digest(&admin);
        assert!(matches!(
            decode_value::<u64>(&plain, &parts, Some(&digest)),
            Decoded::WrongAudience
        ));
        assert!(matches!(
            decode_value::<u64>(&plain, &parts, None),
            Decoded::Valid(_)
        ));
    }
}

#[test]
fn a_wrong_secret_is_told_before_a_wrong_audience() {
    let ticket = parts();
    let value = sealed_with(
        &ticket,
        &1u8,
        Some(&Audience::new("admin")),
        CapKey::Uncapped,
    );
    let mut forged = ticket;
    forged.secret[3] ^= 1;
    assert!(matches!(
        decode_value::<u8>(&value, &forged, None),
        Decoded::WrongSecret
    ));
}

#[test]
fn identity_key_sits_where_the_consume_script_reads_it() {
    let parts = parts();
    let (value, hex) = encode_value(&"alice", None, CapKey::Identity).expect("serializes");
    let hex = hex.expect("capped");
    assert_eq!(hex.len(), IDENTITY_HEX_LEN);
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    // Lua's string.byte(value, 1) and (value, 42), string.sub(43, 74).
    assert_eq!(value[0], 2);
    assert_eq!(value[41] % 4, HAS_IDENTITY_KEY);
    assert_eq!(&value[42..74], hex.as_bytes());
    // Keyed by the identity's JSON, or by a key function's.
    assert_eq!(hex, identity_hex(br#""alice""#));
    let (_, by_key) = encode_value(&"alice", None, CapKey::Key(b"7".to_vec())).expect("ok");
    assert_eq!(by_key.as_deref(), Some(identity_hex(b"7").as_str()));
    assert_ne!(by_key.as_deref(), Some(hex.as_str()));
    // Neither the key nor the value's tags hold the identity.
    assert!(!hex.contains("alice"));
    let mut sealed = value;
    sealed[DIGEST_AT..MINTED_AT].copy_from_slice(&digest(&parts));
    assert!(matches!(
        decode_value::<String>(&sealed, &parts, None),
        Decoded::Valid(r) if r.identity == "alice"
    ));
}

#[test]
fn unreadable_tags_are_corrupt() {
    let parts = parts();
    let good = sealed_with(
        &parts,
        &1u8,
        Some(&Audience::new("admin")),
        CapKey::Identity,
    );
    let mut unknown_flag = good.clone();
    unknown_flag[FLAGS_AT] |= 0x80;
    for bad in [
        unknown_flag,
        good[..TAGS_AT + 10].to_vec(),
        good[..IDENTITY_AT].to_vec(),
    ] {
        assert!(
            matches!(decode_value::<u8>(&bad, &parts, None), Decoded::Corrupt(_)),
            "{bad:?}"
        );
    }
}

#[test]
fn caps_reach_the_script_as_numbers() {
    assert_eq!(cap_arg(None), -1);
    assert_eq!(cap_arg(Some(0)), 0);
    assert_eq!(cap_arg(Some(5)), 5);
}

#[test]
fn keys_are_prefix_and_lookup_hex() {
    let ticket_key = |prefix: &str, lookup| Keys::new(prefix.to_owned(), false).ticket(lookup);
    assert_eq!(
        ticket_key("wst:", 0x0123_4567_89ab_cdef),
        "wst:efcdab8967452301"
    );
    assert_eq!(ticket_key("", 0), "0000000000000000");
    // The live set's key and identities' sets never look like a
    // ticket's.
    assert_ne!(LIVE_SET_SUFFIX.len(), 16);
    assert_ne!(IDENTITY_SET_INFIX.len() + IDENTITY_HEX_LEN, 16);
    assert!(!LIVE_SET_SUFFIX.starts_with(IDENTITY_SET_INFIX));
}

#[test]
fn cluster_slots_are_redis_crc16() {
    // Redis Cluster's own examples: CLUSTER KEYSLOT foo is 12182,
    // CRC-16/XMODEM of 123456789 is 0x31C3, under the slot count.
    assert_eq!(slot(b"foo"), 12_182);
    assert_eq!(slot(b"123456789"), 0x31c3);
}

#[test]
fn on_cluster_each_bucket_has_its_sixteenth_of_the_slots() {
    let keys = Keys::new("app:".to_owned(), true);
    for bucket in 0..BUCKETS {
        let live = keys.live(bucket);
        let tag = &live[live.find('{').unwrap() + 1..live.find('}').unwrap()];
        let slot = usize::from(slot(tag.as_bytes()));
        assert_eq!(slot * BUCKETS / 16_384, bucket, "{live}");
        // A ticket of the bucket and the bucket's sets share the tag.
        let lookup = 0x0123_4567_89ab_cde0 | bucket as u64;
        assert!(
            keys.ticket(lookup)
                .starts_with(&live[..live.find('}').unwrap() + 1])
        );
        assert!(
            keys.identity_set(bucket, "ab")
                .contains(&live[4..live.find('}').unwrap() + 1])
        );
    }
    // Off Cluster, the layout is the one release 0.1.0 wrote.
    let flat = Keys::new("wst:".to_owned(), false);
    assert_eq!(flat.ticket(0x0123_4567_89ab_cdef), "wst:efcdab8967452301");
    assert_eq!(flat.live(5), "wst:live");
}

#[test]
fn shares_add_up_to_the_cap() {
    for max in [0, 1, 3, 15, 16, 17, 100_000] {
        assert_eq!((0..BUCKETS).map(|b| share(max, b)).sum::<usize>(), max);
    }
}

//! The revocation bridge's message codec: see `check_revocation_message`.
//! What a sender writes is the documented payload and reads back; nothing
//! over the size bound, dated beyond the clock allowance, or (with a
//! signing key) not signed with the receiver's key for its channel is
//! accepted; any bytes are an outcome, never a panic.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tower_ws_ticket_fuzz::{
    MAX_AHEAD_NANOS, MAX_REVOCATION_BYTES, QUERY_WORDS, REVOCATION_WORDS, RevocationCase,
    check_revocation_message, text,
};

#[derive(Debug)]
struct Input(RevocationCase);

fn signing_key(u: &mut Unstructured<'_>) -> Result<Option<Vec<u8>>> {
    Ok(if u.arbitrary()? {
        Some(<Vec<u8>>::arbitrary(u)?)
    } else {
        None
    })
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let channel = (*u.choose(&["app:revocations", "other:revocations", ""])?).to_owned();
        let receiver = u.int_in_range(0..=2)?;
        let receiver_key = signing_key(u)?;
        let sender = u.int_in_range(0..=2)?;
        let same_key = u.arbitrary()?;
        let sender_key = signing_key(u)?;
        let sender_channel = if u.ratio(1u8, 4)? {
            Some(String::arbitrary(u)?)
        } else {
            None
        };
        let key = match u.int_in_range(0u8..=3)? {
            0 => None,
            1 | 2 => Some(text(u, QUERY_WORDS, 6)?),
            _ => Some(String::arbitrary(u)?),
        };
        let now: u64 = if u.arbitrary()? {
            1_700_000_000_000_000_000
        } else {
            u.arbitrary()?
        };
        let ahead = match u.int_in_range(0u8..=3)? {
            0 => MAX_AHEAD_NANOS,
            1 => MAX_AHEAD_NANOS + 1,
            2 => u.int_in_range(0..=2 * MAX_AHEAD_NANOS)?,
            _ => u.arbitrary()?,
        };
        let at = if u.ratio(1u8, 8)? {
            now.saturating_sub(ahead)
        } else {
            now.saturating_add(ahead)
        };
        let padding = if u.arbitrary()? {
            u.int_in_range(MAX_REVOCATION_BYTES - 120..=MAX_REVOCATION_BYTES)?
        } else {
            u.int_in_range(0..=MAX_REVOCATION_BYTES + 100)?
        };
        let json = text(u, REVOCATION_WORDS, 24)?;
        let tamper = if u.ratio(1u8, 4)? {
            Some((u.arbitrary()?, u.arbitrary()?))
        } else {
            None
        };
        let garbage = u.arbitrary()?;
        Ok(Self(RevocationCase {
            channel,
            receiver,
            receiver_key,
            sender,
            same_key,
            sender_key,
            sender_channel,
            key,
            at,
            now,
            padding,
            json,
            tamper,
            garbage,
        }))
    }
}

fuzz_target!(|input: Input| {
    check_revocation_message(&input.0);
});

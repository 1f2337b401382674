//! The names of the store's keys. On one Redis (or Sentinel's primary)
//! each is the key prefix, then:
//!
//! - a ticket: its lookup half's 8 bytes in 16 hex digits;
//! - the sorted set of live tickets (with `max_outstanding`): `live`;
//! - an identity's sorted set of live tickets (with a cap per identity):
//!   `id:` and 32 hex digits of a digest of its key.
//!
//! On Redis Cluster, where a script's keys must share a hash slot, the
//! store is cut into [`BUCKETS`] buckets, and every key above carries its
//! bucket's hash tag after the prefix: `<prefix>{<tag>}<16 hex digits>`,
//! `<prefix>{<tag>}live`, `<prefix>{<tag>}id:<32 hex digits>`. A ticket's
//! bucket is the low 4 bits of its lookup half, so a consume finds it from
//! the ticket alone; the tags are chosen so that bucket `b` hashes into
//! the `b`-th sixteenth of the slots, which spreads the buckets, and so
//! the tickets, over the primaries of any cluster whose primaries own
//! ranges of slots.
//!
//! None of them can meet another, and none holds a secret or an identity.

use std::sync::LazyLock;

use crate::redis::push_hex;

/// The sorted set of live tickets is this key, after the prefix. Ticket keys
/// are 16 hex digits after the prefix, so the two never meet.
pub(super) const LIVE_SET_SUFFIX: &str = "live";
/// An identity's sorted set of live tickets (with a cap per identity) is
/// this, then 32 hex digits of a digest of its key, after the prefix.
pub(super) const IDENTITY_SET_INFIX: &str = "id:";
/// Hex digits of an identity's digest in its set's key: 128 bits.
pub(super) const IDENTITY_HEX_LEN: usize = 32;
/// Buckets of a store on Redis Cluster.
pub(super) const BUCKETS: usize = 16;
/// Hash slots in a Redis Cluster.
const SLOTS: u16 = 16_384;

/// Where a store's keys are.
#[derive(Debug)]
pub(super) struct Keys {
    prefix: String,
    /// On Cluster, each bucket's `{tag}`.
    tags: Option<&'static [String; BUCKETS]>,
}

impl Keys {
    /// Keys under `prefix`, cut into buckets when `cluster`.
    pub(super) fn new(prefix: String, cluster: bool) -> Self {
        Self {
            prefix,
            tags: cluster.then(|| &*TAGS),
        }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the store is cut into buckets (Redis Cluster).
    pub(super) fn bucketed(&self) -> bool {
        self.tags.is_some()
    }

    /// The prefix, then the bucket's `{tag}` on Cluster.
    fn head(&self, bucket: usize) -> String {
        let mut head = String::with_capacity(self.prefix.len() + 16 + IDENTITY_HEX_LEN + 4);
        head.push_str(&self.prefix);
        if let Some(tags) = self.tags {
            head.push_str(&tags[bucket % BUCKETS]);
        }
        head
    }

    /// A ticket's key, from its lookup half.
    pub(super) fn ticket(&self, lookup: u64) -> String {
        let mut key = self.head(bucket(lookup));
        push_hex(&mut key, &lookup.to_le_bytes());
        key
    }

    /// The set of live tickets of `bucket` (the only one, off Cluster).
    pub(super) fn live(&self, bucket: usize) -> String {
        let mut key = self.head(bucket);
        key.push_str(LIVE_SET_SUFFIX);
        key
    }

    /// The set of an identity's live tickets, in `bucket` on Cluster.
    pub(super) fn identity_set(&self, bucket: usize, hex: &str) -> String {
        let mut key = self.head(bucket);
        key.push_str(IDENTITY_SET_INFIX);
        key.push_str(hex);
        key
    }

    /// What an identity's set is named after, off Cluster: the consume
    /// script adds the identity's digits.
    pub(super) fn identity_prefix(&self) -> String {
        format!("{}{IDENTITY_SET_INFIX}", self.prefix)
    }
}

/// The bucket a ticket's key is in: the low 4 bits of its lookup half.
pub(super) fn bucket(lookup: u64) -> usize {
    usize::from(u8::try_from(lookup & 0xf).unwrap_or(0))
}

/// The bucket whose set counts a ticket toward `max_outstanding` when a
/// cap per identity ties the ticket to its identity's bucket: the next 4
/// bits.
pub(super) fn quota_bucket(lookup: u64) -> usize {
    bucket(lookup >> 4)
}

/// The bucket an identity's tickets are in (the set that counts them must
/// share their slot): the first of its hex digits.
pub(super) fn identity_bucket(hex: &str) -> usize {
    hex.bytes()
        .next()
        .and_then(|digit| char::from(digit).to_digit(16))
        .map_or(0, |digit| digit as usize % BUCKETS)
}

/// `max` split over the buckets: each holds its share, the first few one
/// more, so that the shares add up to `max` exactly.
pub(super) fn share(max: usize, bucket: usize) -> usize {
    max / BUCKETS + usize::from(bucket < max % BUCKETS)
}

/// Each bucket's `{tag}`: the first `b<bucket>.<n>` that hashes into the
/// bucket's sixteenth of the slots.
static TAGS: LazyLock<[String; BUCKETS]> = LazyLock::new(|| {
    std::array::from_fn(|bucket| {
        let width = SLOTS / BUCKETS as u16;
        let wanted = (bucket as u16 * width)..((bucket as u16 + 1) * width);
        (0u32..)
            .map(|n| format!("b{bucket}.{n}"))
            .find(|tag| wanted.contains(&slot(tag.as_bytes())))
            .map(|tag| format!("{{{tag}}}"))
            .unwrap_or_default()
    })
});

/// The hash slot of a key's hash tag, as Redis Cluster computes it:
/// CRC-16/XMODEM, modulo the slot count.
pub(super) fn slot(tag: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in tag {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % SLOTS
}

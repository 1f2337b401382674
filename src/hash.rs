//! The hasher of the crate's maps keyed by a `u64` it draws itself: the
//! memory store's tickets (by their random lookup half) and the revocation
//! registry's handles (by a counter).
//!
//! No client chooses these keys (a client can only look a ticket up, never
//! pick which are inserted), so SipHash's protection against flooding would
//! buy nothing and cost a few nanoseconds on every call. One multiplication
//! by an odd constant is a bijection: random keys stay uniform, and
//! consecutive counter values spread over the table instead of sharing the
//! high bits the map uses to tell entries apart.

use std::hash::{BuildHasherDefault, Hasher};

/// Odd, so multiplying by it loses no bits (2^64 / golden ratio).
const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

/// See the module docs.
#[derive(Default, Clone, Copy)]
pub(crate) struct U64Hasher(u64);

/// What a map keyed by such a `u64` takes as its `S` parameter.
pub(crate) type BuildU64Hasher = BuildHasherDefault<U64Hasher>;

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else all the same.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(SPREAD);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(SPREAD);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn distinct_keys_hash_apart_and_counters_differ_in_the_high_bits() {
        let build = BuildU64Hasher::default();
        let tags: std::collections::HashSet<u64> =
            (0..128u64).map(|id| build.hash_one(id) >> 57).collect();
        // hashbrown tells entries of a group apart by the top 7 bits: a
        // counter must not give them all the same ones.
        assert!(tags.len() > 64, "only {} distinct tags", tags.len());
        assert_ne!(build.hash_one(1u64), build.hash_one(2u64));
    }
}

//! The Redis-backed ticket store (feature `redis`): [`RedisStore`], for
//! deployments with several replicas.
//!
//! One job per file: `store.rs` is the store and its two calls, `builder.rs`
//! its configuration, `codec.rs` what a ticket's value in Redis holds,
//! `keys.rs` the names of the keys, `scripts.rs` the Lua the caps need.
//! The connection itself is the crate's `redis` module, which the
//! revocation bridge shares.

mod builder;
mod codec;
mod keys;
mod scripts;
mod store;
#[cfg(test)]
mod tests;

pub use builder::RedisStoreBuilder;
#[cfg(any(test, fuzzing))]
pub(crate) use codec::codec_properties;
pub use store::RedisStore;

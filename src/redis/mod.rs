//! What the Redis store and the revocation bridge share (feature `redis`):
//! the connection to a deployment's Redis, the bound on every call, and the
//! default key prefix.
//!
//! Both wings reach Redis through one [`Connection`], which sends commands
//! wherever the deployment's Redis is; a caller never asks what stands
//! behind it: one node, with a connection manager that reconnects by
//! itself, the primary that Redis Sentinels name, followed across
//! failovers (`sentinel.rs`), or a Redis Cluster (`cluster.rs`). Each
//! topology is a variant of the same type, so that the store and the
//! bridge gain each in one place; the store asks only whether its keys
//! must be cut into hash-tagged buckets.

mod cluster;
mod connection;
mod node;
mod prefix;
mod sentinel;
mod timeout;

pub(crate) use connection::Connection;
pub(crate) use prefix::{deployment_prefix, push_hex};
pub(crate) use timeout::{DEFAULT_TIMEOUT, bounded};

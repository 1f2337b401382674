//! Revocations shared between replicas over Redis (feature `redis`):
//! [`RevocationsBuilder::connect`](super::RevocationsBuilder::connect).
//!
//! The design (what travels, what Redis keeps, what happens while it is
//! down) is told in the [module docs](super#several-replicas). One job per
//! file: `builder.rs` the settings and connecting, `message.rs` what
//! travels and what a replica accepts, `bridge.rs` the registry's side,
//! `task.rs` the task that talks to Redis.

use std::time::Duration;

mod bridge;
mod builder;
mod message;
mod task;

pub(crate) use builder::Settings;
// For the fuzz target and the property tests (`crate::fuzzing`).
#[cfg(any(test, fuzzing))]
pub(crate) use message::{Codec, Dropped, SigningKey};

/// The channel and the journal are this name, after the prefix. Ticket keys
/// are 16 hex digits after the prefix and the live set is `live`, so none
/// of them meet.
const SUFFIX: &str = "revocations";
/// How often the subscription is checked with `PING`. A link that goes
/// silent without a reset (a partition, a middlebox that drops the
/// connection's state) delivers nothing and says nothing: only an answer
/// tells that the others are still heard (see `bridge::Heard` for the
/// bound).
const HEARTBEAT: Duration = Duration::from_millis(250);
const TARGET: &str = "tower_ws_ticket::revoke";

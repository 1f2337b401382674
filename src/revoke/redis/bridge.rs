//! The registry's side of the bridge: what it hands over to send, and
//! whether the others are heard.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use super::TARGET;
use super::message::Codec;
use crate::revoke::registry::Bridge;

/// The registry's side of the bridge: revocations made here go to the
/// task, which sends them.
pub(super) struct Outbound {
    pub(super) outbound: UnboundedSender<Outgoing>,
    pub(super) codec: Arc<Codec>,
    pub(super) connected: Arc<AtomicBool>,
    pub(super) heard: Arc<Heard>,
}

/// When the subscription last proved that it delivers: an answer to the
/// heartbeat, a message, or a reconnection that read the journal.
///
/// Redis answers a connection's commands in order, after every message it
/// pushed to it before: an answer at `t` means that every revocation that
/// reached Redis before `t` has been applied here. So a replica that heard
/// its subscription within the last `bound` knows every revocation older
/// than `bound`, and one that has not refuses ticket upgrades (503) until
/// it hears again. `bound` is the heartbeat (250 ms) and the call timeout
/// (1 s by default): how long a silent link can leave a replica admitting
/// a ticket that another replica revoked.
pub(super) struct Heard {
    epoch: Instant,
    /// Nanoseconds from `epoch` to the last proof.
    last: AtomicU64,
    bound: u64,
}

impl Heard {
    pub(super) fn new(bound: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            bound: crate::clock::nanos(bound),
        }
    }

    fn since_epoch(&self) -> u64 {
        crate::clock::nanos(self.epoch.elapsed())
    }

    /// The subscription delivers, as of now.
    pub(super) fn now(&self) {
        self.last.fetch_max(self.since_epoch(), Ordering::AcqRel);
    }

    /// Whether it was heard within the bound.
    fn recently(&self) -> bool {
        self.since_epoch()
            .saturating_sub(self.last.load(Ordering::Acquire))
            <= self.bound
    }
}

/// A revocation made here, serialized, waiting to be sent.
pub(super) struct Outgoing {
    pub(super) at: u64,
    /// The message as it is published and kept in the journal.
    pub(super) payload: String,
}

impl<K> Bridge<K> for Outbound
where
    K: Serialize + Send + Sync + 'static,
{
    fn publish(&self, key: Option<&K>, at: u64) {
        match self.codec.encode(key, at) {
            Ok(payload) => {
                // Fails only once the task is gone (its runtime shut down),
                // and then `is_connected` says so.
                let _ = self.outbound.send(Outgoing { at, payload });
            }
            // Never the key itself: the reason says only what is wrong.
            Err(why) => tracing::error!(
                target: TARGET,
                reason = %why,
                "a revocation cannot be sent: other replicas are not told"
            ),
        }
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
            && !self.outbound.is_closed()
            && self.heard.recently()
    }
}

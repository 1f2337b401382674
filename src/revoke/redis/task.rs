//! The bridge's task: sends what this replica revokes, applies what the
//! others do, checks that it still hears them, and reconnects.

use std::collections::VecDeque;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ::redis::aio::{PubSubSink, PubSubStream};
use ::redis::{Msg, RedisError, Value};
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::UnboundedReceiver;

use super::bridge::{Heard, Outgoing};
use super::message::{Codec, Dropped};
use super::{HEARTBEAT, TARGET};
use crate::clock::wall_now;
use crate::redis::{Connection, bounded};
use crate::revoke::registry::Inner;

/// Revocations kept while Redis is down, before they are merged.
const MAX_OUTBOX: usize = 10_000;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A subscription to the channel: its own connection, as Redis pub/sub
/// (RESP2) requires.
pub(super) struct Subscription {
    sink: PubSubSink,
    stream: PubSubStream,
}

impl Subscription {
    pub(super) async fn open(
        connection: &Connection,
        channel: &str,
        timeout: Duration,
    ) -> Result<Self, RedisError> {
        let (sink, stream) = connection.subscribe(channel, timeout).await?.split();
        Ok(Self { sink, stream })
    }
}

/// What woke the task.
enum Wake {
    Outgoing(Option<Outgoing>),
    Message(Option<Msg>),
    Heartbeat,
    Retry,
}

/// The bridge's task: sends what this replica revokes, applies what the
/// others do, and reconnects.
pub(super) struct Task<K> {
    pub(super) registry: Weak<Inner<K>>,
    pub(super) connection: Connection,
    /// The channel's name, which is also the journal's key.
    pub(super) name: String,
    pub(super) timeout: Duration,
    pub(super) codec: Arc<Codec>,
    pub(super) connected: Arc<AtomicBool>,
    pub(super) heard: Arc<Heard>,
    pub(super) outgoing: UnboundedReceiver<Outgoing>,
    pub(super) outbox: VecDeque<Outgoing>,
    /// Whether the outbox overflowed during this outage (logged once).
    pub(super) merged: bool,
    pub(super) drops: DropLog,
}

/// How often, at most, dropped messages are logged.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// Keeps the log of dropped messages from flooding: whoever can publish on
/// the channel can send thousands a second. The first drop is logged at
/// once; later ones at most once per [`DROP_LOG_EVERY`], as one line with
/// how many were dropped since and the latest reason.
#[derive(Debug, Default)]
pub(super) struct DropLog {
    /// Before this instant, drops are only counted.
    quiet_until: Option<Instant>,
    unlogged: u64,
    latest: Option<Dropped>,
}

impl DropLog {
    /// Notes a drop at `now`: whether to log it at once.
    fn note(&mut self, why: Dropped, now: Instant) -> Option<Dropped> {
        if self.quiet_until.is_some_and(|until| now < until) {
            self.unlogged += 1;
            self.latest = Some(why);
            return None;
        }
        self.quiet_until = Some(now + DROP_LOG_EVERY);
        Some(why)
    }

    /// The drops counted while quiet, and the latest reason, once the
    /// quiet time is over at `now`. Asked on each heartbeat, so that the
    /// count of a burst that ended is not held back until the next drop.
    fn due(&mut self, now: Instant) -> Option<(u64, Dropped)> {
        if self.quiet_until.is_some_and(|until| now < until) {
            return None;
        }
        let latest = self.latest.take()?;
        let count = std::mem::take(&mut self.unlogged);
        self.quiet_until = Some(now + DROP_LOG_EVERY);
        Some((count, latest))
    }
}

impl<K> Task<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static + DeserializeOwned,
{
    pub(super) async fn run(mut self, subscription: Subscription) {
        let mut subscription = Some(subscription);
        let mut backoff = MIN_BACKOFF;
        let start = tokio::time::Instant::now() + HEARTBEAT;
        let mut heartbeat = tokio::time::interval_at(start, HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wake = match subscription.as_mut() {
                Some(live) => tokio::select! {
                    outgoing = self.outgoing.recv() => Wake::Outgoing(outgoing),
                    message = live.stream.next() => Wake::Message(message),
                    _ = heartbeat.tick() => Wake::Heartbeat,
                },
                None => tokio::select! {
                    outgoing = self.outgoing.recv() => Wake::Outgoing(outgoing),
                    () = tokio::time::sleep(backoff) => Wake::Retry,
                },
            };
            match wake {
                // Every clone of the registry is gone: so is the bridge.
                Wake::Outgoing(None) => return,
                Wake::Outgoing(Some(outgoing)) => {
                    self.queue(outgoing);
                    if subscription.is_some()
                        && let Err(err) = self.flush().await
                    {
                        subscription = None;
                        self.went_down(&err);
                    }
                }
                Wake::Message(Some(message)) => {
                    self.heard.now();
                    self.receive(message.get_payload_bytes());
                }
                Wake::Message(None) => {
                    subscription = None;
                    self.went_down(&"the subscription's connection closed");
                }
                Wake::Heartbeat => {
                    if let Some((count, latest)) = self.drops.due(Instant::now()) {
                        tracing::warn!(
                            target: TARGET,
                            channel = %self.name,
                            dropped = count,
                            latest_reason = %latest,
                            "dropped messages on the revocation channel since the last such line"
                        );
                    }
                    if let Some(live) = subscription.as_mut() {
                        match bounded(self.timeout, live.sink.ping::<Value>()).await {
                            Ok(_) => self.heard.now(),
                            Err(err) => {
                                subscription = None;
                                self.went_down(&err);
                            }
                        }
                    }
                }
                Wake::Retry => match self.reconnect().await {
                    Ok(live) => {
                        self.heard.now();
                        subscription = Some(live);
                        backoff = MIN_BACKOFF;
                        self.merged = false;
                        self.connected.store(true, Ordering::Release);
                        tracing::info!(
                            target: TARGET,
                            channel = %self.name,
                            "revocations reach the other replicas again"
                        );
                    }
                    Err(err) => {
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        tracing::debug!(target: TARGET, error = %err, "Redis still unreachable");
                    }
                },
            }
        }
    }

    /// Subscribes again, sends what waited, then reads the journal: in that
    /// order, so that nothing published meanwhile is missed.
    async fn reconnect(&mut self) -> Result<Subscription, RedisError> {
        let subscription = Subscription::open(&self.connection, &self.name, self.timeout).await?;
        self.flush().await?;
        self.catch_up().await?;
        Ok(subscription)
    }

    /// Logs the start of an outage, once.
    fn went_down(&self, why: &dyn std::fmt::Display) {
        if self.connected.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                target: TARGET,
                channel = %self.name,
                error = %why,
                "lost Redis: revocations stay on this replica until it is back, \
                 and ticket upgrades are refused (503) meanwhile"
            );
        }
    }

    fn queue(&mut self, outgoing: Outgoing) {
        if self.outbox.len() < MAX_OUTBOX {
            self.outbox.push_back(outgoing);
            return;
        }
        // Too many to keep: one revocation of everything, at the latest
        // one's time, covers them all (and more): fail closed.
        let at = self
            .outbox
            .iter()
            .map(|waiting| waiting.at)
            .fold(outgoing.at, u64::max);
        let Ok(payload) = self.codec.encode::<()>(None, at) else {
            return;
        };
        self.outbox.clear();
        self.outbox.push_back(Outgoing { at, payload });
        if !self.merged {
            self.merged = true;
            tracing::error!(
                target: TARGET,
                "more than {MAX_OUTBOX} revocations waiting for Redis: \
                 they will reach the other replicas as one revocation of everything"
            );
        }
    }

    /// Sends the outbox, oldest first: each revocation is published and
    /// added to the journal in one transaction.
    async fn flush(&mut self) -> Result<(), RedisError> {
        let window_ms = self.window_ms();
        while let Some(waiting) = self.outbox.front() {
            let oldest_kept = (wall_now() / 1_000_000).saturating_sub(window_ms);
            let mut pipe = ::redis::pipe();
            pipe.atomic()
                .zadd(&self.name, &waiting.payload, waiting.at / 1_000_000)
                .ignore()
                .zrembyscore(&self.name, "-inf", format!("({oldest_kept}"))
                .ignore()
                .pexpire(&self.name, i64::try_from(window_ms).unwrap_or(i64::MAX))
                .ignore()
                .publish(&self.name, &waiting.payload)
                .ignore();
            let mut conn = self.connection.clone();
            bounded(self.timeout, pipe.query_async::<()>(&mut conn)).await?;
            self.outbox.pop_front();
        }
        Ok(())
    }

    /// Applies the journal: every revocation of the last window.
    pub(super) async fn catch_up(&mut self) -> Result<(), RedisError> {
        let since = (wall_now() / 1_000_000).saturating_sub(self.window_ms());
        let mut conn = self.connection.clone();
        let entries: Vec<Vec<u8>> = bounded(
            self.timeout,
            ::redis::cmd("ZRANGEBYSCORE")
                .arg(&self.name)
                .arg(since)
                .arg("+inf")
                .query_async(&mut conn),
        )
        .await?;
        for entry in entries {
            self.receive(&entry);
        }
        Ok(())
    }

    /// Applies a revocation another replica made, once it passes the
    /// codec's checks; logs what it drops (see [`DropLog`]), never the
    /// payload (it holds a key).
    fn receive(&mut self, payload: &[u8]) {
        let received = match self.codec.decode::<K>(payload, wall_now()) {
            Ok(received) => received,
            Err(Dropped::Ours | Dropped::OtherFormat) => return,
            Err(why) => {
                if let Some(why) = self.drops.note(why, Instant::now()) {
                    tracing::warn!(
                        target: TARGET,
                        channel = %self.name,
                        reason = %why,
                        "dropped a message on the revocation channel"
                    );
                }
                return;
            }
        };
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        // Only the sockets whose tickets are at least as old as the
        // revocation: one opened here since, with a newer ticket, stays.
        match received.key {
            Some(key) => registry.revoke_key(key, received.at, Some(received.at)),
            None => registry.revoke_everything(received.at, Some(received.at)),
        };
    }

    fn window_ms(&self) -> u64 {
        self.registry
            .upgrade()
            .map_or(0, |registry| registry.window_nanos().div_ceil(1_000_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_dropped_messages_is_logged_once_then_counted() {
        let mut log = DropLog::default();
        let start = Instant::now();
        // The first drop is logged at once...
        assert!(log.note(Dropped::Unsigned, start).is_some());
        // ...the next thousand within the quiet time only counted...
        for i in 1..=1_000 {
            let now = start + Duration::from_millis(i);
            assert!(log.note(Dropped::BadSignature, now).is_none());
            assert!(log.due(now).is_none(), "a count logged while quiet");
        }
        // ...and told, with the latest reason, once it is over.
        let after = start + DROP_LOG_EVERY;
        let (count, latest) = log.due(after).expect("the count is due");
        assert_eq!(count, 1_000);
        assert!(matches!(latest, Dropped::BadSignature));
        // Nothing left to tell; the next drop waits out a new quiet time.
        assert!(log.due(after + DROP_LOG_EVERY).is_none());
        assert!(log.note(Dropped::Unsigned, after).is_none());
        let (count, _) = log.due(after + DROP_LOG_EVERY).expect("due");
        assert_eq!(count, 1);
        // After a quiet time with no drop, the next is logged at once.
        assert!(
            log.note(Dropped::Unsigned, after + 3 * DROP_LOG_EVERY)
                .is_some()
        );
    }
}

//! Revocations shared between replicas over Redis (feature `redis`):
//! [`RevocationsBuilder::connect`].
//!
//! The design (what travels, what Redis keeps, what happens while it is
//! down) is told in the [module docs](super#several-replicas).

use std::collections::VecDeque;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ::redis::aio::{PubSubSink, PubSubStream};
use ::redis::{IntoConnectionInfo, Msg, RedisError, Value};
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::registry::{Bridge, Inner, Revocations, RevocationsBuilder};
use crate::clock::wall_now;
use crate::redis::{Connection, DEFAULT_TIMEOUT, bounded, deployment_prefix};

/// The channel and the journal are this name, after the prefix. Ticket keys
/// are 16 hex digits after the prefix and the live set is `live`, so none
/// of them meet.
const SUFFIX: &str = "revocations";
/// The message format.
const FORMAT: u8 = 1;
/// Revocations kept while Redis is down, before they are merged.
const MAX_OUTBOX: usize = 10_000;
/// How often the subscription is checked with `PING`. A link that goes
/// silent without a reset (a partition, a middlebox that drops the
/// connection's state) delivers nothing and says nothing: only an answer
/// tells that the others are still heard. See [`Heard`] for the bound.
const HEARTBEAT: Duration = Duration::from_millis(250);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const TARGET: &str = "tower_ws_ticket::revoke";

/// A revocation on the wire: `{"v":1,"origin":…,"at":…,"of":{"key":…}}` or
/// `…,"of":"all"}`.
#[derive(Serialize, Deserialize)]
struct Message<K> {
    v: u8,
    origin: u64,
    at: u64,
    of: Target<K>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Target<K> {
    Key(K),
    All,
}

impl<K> RevocationsBuilder<K> {
    /// The prefix of the Redis channel and key the bridge uses:
    /// `<prefix>revocations`. Replicas of one application share it; another
    /// application sharing the Redis needs its own, or it would close this
    /// one's sockets. The default, `wst:<8 hex digits>:`, is derived from
    /// the running executable's file name and the key type's name, as the
    /// Redis store's is; set it when replicas run differently named
    /// executables.
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// The bound on each call to Redis (default 1 s), connection attempts
    /// included. It also bounds how long the registry stays
    /// [available](Revocations::is_available) without hearing Redis: the
    /// bridge's 250 ms heartbeat and this timeout, after which the layer
    /// refuses ticket upgrades (503) until the subscription proves itself
    /// again, so that a replica cut off from Redis without a reset stops
    /// admitting tickets another replica may have revoked.
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Builds a registry shared with every replica connected to the same
    /// Redis under the same prefix: a revocation made on any of them
    /// signals the key's sockets on all of them, and each refuses the key's
    /// older tickets. See the [module docs](crate::revoke#several-replicas)
    /// for what travels and what happens while Redis is down.
    ///
    /// Waits until the bridge is subscribed and has read the revocations
    /// of the last window, then runs it on a task of its own, which ends
    /// when the last clone of the registry is dropped. Must be called in a
    /// Tokio runtime with its time driver enabled.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tower_ws_ticket::Revocations;
    ///
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let revocations = Revocations::<String>::builder()
    ///     .key_prefix("dashboard:wst:")
    ///     .connect("redis://redis.internal:6379/")
    ///     .await?;
    /// // On any replica: every replica's sockets of "session-42" close.
    /// revocations.revoke(&"session-42".to_owned());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When the URL is invalid, or Redis cannot be reached (or does not
    /// answer within the timeout) for the subscription or the first
    /// reading of the journal.
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn connect<T: IntoConnectionInfo>(self, url: T) -> Result<Revocations<K>, RedisError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    {
        let prefix = self
            .key_prefix
            .clone()
            .unwrap_or_else(deployment_prefix::<K>);
        let prefix = prefix.as_str();
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let connection = Connection::open(url, timeout).await?;
        let name = format!("{prefix}{SUFFIX}");
        let subscription = Subscription::open(&connection, &name, timeout).await?;

        let origin = rand::random::<u64>();
        let connected = Arc::new(AtomicBool::new(true));
        let heard = Arc::new(Heard::new(HEARTBEAT + timeout));
        let (outbound, outgoing) = unbounded_channel();
        let registry = self.build_with(Some(Box::new(Outbound {
            outbound,
            origin,
            connected: Arc::clone(&connected),
            heard: Arc::clone(&heard),
        })));
        let mut task = Task {
            registry: registry.downgrade(),
            connection,
            name,
            timeout,
            origin,
            connected,
            heard,
            outgoing,
            outbox: VecDeque::new(),
            merged: false,
        };
        task.catch_up().await?;
        task.heard.now();
        tokio::spawn(task.run(subscription));
        Ok(registry)
    }
}

/// The registry's side of the bridge: revocations made here go to the
/// task, which sends them.
struct Outbound {
    outbound: UnboundedSender<Outgoing>,
    origin: u64,
    connected: Arc<AtomicBool>,
    heard: Arc<Heard>,
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
struct Heard {
    epoch: Instant,
    /// Nanoseconds from `epoch` to the last proof.
    last: AtomicU64,
    bound: u64,
}

impl Heard {
    fn new(bound: Duration) -> Self {
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
    fn now(&self) {
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
struct Outgoing {
    at: u64,
    json: String,
}

impl<K> Bridge<K> for Outbound
where
    K: Serialize + Send + Sync + 'static,
{
    fn publish(&self, key: Option<&K>, at: u64) {
        let message = Message {
            v: FORMAT,
            origin: self.origin,
            at,
            of: key.map_or(Target::All, Target::Key),
        };
        match serde_json::to_string(&message) {
            Ok(json) => {
                // Fails only once the task is gone (its runtime shut down),
                // and then `is_connected` says so.
                let _ = self.outbound.send(Outgoing { at, json });
            }
            // The category only: serde_json's message can quote the key.
            Err(err) => tracing::error!(
                target: TARGET,
                error = ?err.classify(),
                "a revocation key does not serialize: other replicas are not told"
            ),
        }
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
            && !self.outbound.is_closed()
            && self.heard.recently()
    }
}

/// A subscription to the channel: its own connection, as Redis pub/sub
/// (RESP2) requires.
struct Subscription {
    sink: PubSubSink,
    stream: PubSubStream,
}

impl Subscription {
    async fn open(
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
struct Task<K> {
    registry: Weak<Inner<K>>,
    connection: Connection,
    /// The channel's name, which is also the journal's key.
    name: String,
    timeout: Duration,
    origin: u64,
    connected: Arc<AtomicBool>,
    heard: Arc<Heard>,
    outgoing: UnboundedReceiver<Outgoing>,
    outbox: VecDeque<Outgoing>,
    /// Whether the outbox overflowed during this outage (logged once).
    merged: bool,
}

impl<K> Task<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static + DeserializeOwned,
{
    async fn run(mut self, subscription: Subscription) {
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
        let message = Message::<()> {
            v: FORMAT,
            origin: self.origin,
            at,
            of: Target::All,
        };
        let Ok(json) = serde_json::to_string(&message) else {
            return;
        };
        self.outbox.clear();
        self.outbox.push_back(Outgoing { at, json });
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
                .zadd(&self.name, &waiting.json, waiting.at / 1_000_000)
                .ignore()
                .zrembyscore(&self.name, "-inf", format!("({oldest_kept}"))
                .ignore()
                .pexpire(&self.name, i64::try_from(window_ms).unwrap_or(i64::MAX))
                .ignore()
                .publish(&self.name, &waiting.json)
                .ignore();
            let mut conn = self.connection.clone();
            bounded(self.timeout, pipe.query_async::<()>(&mut conn)).await?;
            self.outbox.pop_front();
        }
        Ok(())
    }

    /// Applies the journal: every revocation of the last window.
    async fn catch_up(&mut self) -> Result<(), RedisError> {
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

    /// Applies a revocation another replica made.
    fn receive(&self, payload: &[u8]) {
        let message: Message<K> = match serde_json::from_slice(payload) {
            Ok(message) => message,
            // The category only: never the payload, which holds a key.
            Err(err) => {
                tracing::warn!(
                    target: TARGET,
                    error = ?err.classify(),
                    "ignored a message on the revocation channel that does not decode"
                );
                return;
            }
        };
        if message.v != FORMAT || message.origin == self.origin {
            // Another format, or our own: applied when it was made.
            return;
        }
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        // Only the sockets whose tickets are at least as old as the
        // revocation: one opened here since, with a newer ticket, stays.
        match message.of {
            Target::Key(key) => registry.revoke_key(key, message.at, Some(message.at)),
            Target::All => registry.revoke_everything(message.at, Some(message.at)),
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
    fn messages_carry_the_key_serialized_and_round_trip() {
        let message = Message {
            v: FORMAT,
            origin: 7,
            at: 1_700_000_000_000_000_000,
            of: Target::Key(("alice".to_owned(), 3u32)),
        };
        let json = serde_json::to_string(&message).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"origin":7,"at":1700000000000000000,"of":{"key":["alice",3]}}"#
        );
        let back: Message<(String, u32)> = serde_json::from_str(&json).unwrap();
        assert!(matches!(back.of, Target::Key((name, 3)) if name == "alice"));
        let all = serde_json::to_string(&Message::<u8> {
            v: FORMAT,
            origin: 7,
            at: 1,
            of: Target::All,
        })
        .unwrap();
        assert_eq!(all, r#"{"v":1,"origin":7,"at":1,"of":"all"}"#);
        assert!(matches!(
            serde_json::from_str::<Message<u8>>(&all).unwrap().of,
            Target::All
        ));
    }
}

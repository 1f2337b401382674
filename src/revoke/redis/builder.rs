//! The bridge's settings on [`RevocationsBuilder`], and connecting it.

use std::collections::VecDeque;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ::redis::{ErrorKind, IntoConnectionInfo, RedisError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::unbounded_channel;

use super::bridge::{Heard, Outbound};
use super::message::{Codec, SigningKey};
use super::task::{DropLog, Subscription, Task};
use super::{HEARTBEAT, SUFFIX};
use crate::redis::{Connection, DEFAULT_TIMEOUT, deployment_prefix};
use crate::revoke::registry::{Revocations, RevocationsBuilder};

/// The bridge's settings, kept on the builder (`None`: the defaults).
#[derive(Debug, Default)]
pub(crate) struct Settings {
    key_prefix: Option<String>,
    timeout: Option<Duration>,
    signing_key: Option<SigningKey>,
    /// The length of a signing key given too short to sign with: refused
    /// when the bridge connects.
    short_key: Option<usize>,
}

impl Settings {
    /// The settings checked before anything is connected, and the bound on
    /// each call.
    fn checked(&self) -> Result<Duration, RedisError> {
        if let Some(len) = self.short_key {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "the revocation signing key is too short",
                format!(
                    "{len} bytes, at least {MIN_SIGNING_KEY_BYTES} are needed (32 random bytes \
                     are best)"
                ),
            )));
        }
        Ok(self.timeout.unwrap_or(DEFAULT_TIMEOUT))
    }
}

/// The shortest signing key taken, in bytes (128 bits): a shorter one, an
/// empty one above all, could be guessed by whoever can publish.
pub(crate) const MIN_SIGNING_KEY_BYTES: usize = 16;

impl<K> RevocationsBuilder<K> {
    /// The prefix of the Redis channel and key the bridge uses:
    /// `<prefix>revocations`. Replicas of one application share it; another
    /// application sharing the Redis needs its own, or it would close this
    /// one's sockets. The default, `wst:<8 hex digits>:`, is derived from
    /// the key type's name, as the Redis store's is from its identity
    /// type's (see [`RedisStoreBuilder::key_prefix`](crate::RedisStoreBuilder::key_prefix)):
    /// for a key type any application could use (`String`, a session id
    /// as `u64`) it also names the executable, with a warning logged; set
    /// one then.
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.redis.key_prefix = Some(prefix.into());
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
        self.redis.timeout = Some(timeout);
        self
    }

    /// Signs every revocation this replica sends with `key` (HMAC-SHA256),
    /// and applies only those signed with it: every replica of the
    /// application needs the same key, at least 32 random bytes, kept as
    /// a secret. Without one (the default), anyone who can `PUBLISH` on
    /// the channel speaks for every replica.
    ///
    /// # What access to the channel grants
    ///
    /// The bridge trusts what arrives on `<prefix>revocations` (the channel)
    /// and in the sorted set of the same name (the journal). A Redis user
    /// allowed to `PUBLISH` there, or to write that key, can close any
    /// key's sockets on every replica, or everyone's with a revocation of
    /// everything, and refuse their tickets minted before the message's
    /// date. The bridge bounds the harm: it drops messages over 4096
    /// bytes, and messages dated more than 5 s ahead of its own clock (a
    /// date further ahead would refuse tickets minted after it). A signing
    /// key removes it: a Redis user without the key can no longer revoke
    /// anything, only drop or delay the messages (which a replica that
    /// stops hearing Redis answers with 503, see
    /// [`timeout`](Self::timeout)). A signed message can be replayed by
    /// someone who reads the channel, which changes nothing: it revokes
    /// what it revoked, as of the same instant.
    ///
    /// Restrict the channel with Redis ACLs either way: give the
    /// application's replicas a user of their own that alone may publish
    /// and subscribe there and write the key, and give no other user
    /// `&<prefix>revocations` or `~<prefix>*`. For example, with the
    /// prefix `app:wst:` (the store's keys share it):
    ///
    /// ```text
    /// ACL SETUSER app on >secret-password resetchannels &app:wst:revocations ~app:wst:* +@read +@write +@scripting +@pubsub +ping
    /// ```
    ///
    /// The key must be at least 16 bytes (32 random bytes are best): a
    /// shorter one, an empty one above all, could be guessed, so `connect`
    /// refuses it with an error (`InvalidClientConfig`) before it reaches
    /// Redis.
    ///
    /// Messages dropped (unsigned, badly signed, too large, dated ahead)
    /// are logged as warnings with the reason, never with the payload or
    /// the key: the first at once, then at most one line each 10 s with
    /// how many were dropped since, so that a flood does not flood the log; `Debug` output shows that a key is set, never the key.
    ///
    /// ```no_run
    /// use tower_ws_ticket::Revocations;
    ///
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// // The same secret on every replica, from the deployment's secrets
    /// // (never a default: an empty key is one anybody can sign with).
    /// let key = std::env::var("REVOCATION_SIGNING_KEY").expect("the signing key is set");
    /// let revocations = Revocations::<String>::builder()
    ///     .key_prefix("app:wst:")
    ///     .signing_key(key)
    ///     .connect("redis://redis.internal:6379/")
    ///     .await?;
    /// # let _ = revocations;
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn signing_key(mut self, key: impl AsRef<[u8]>) -> Self {
        let key = key.as_ref();
        if key.len() < MIN_SIGNING_KEY_BYTES {
            self.redis.short_key = Some(key.len());
            self.redis.signing_key = None;
        } else {
            self.redis.short_key = None;
            self.redis.signing_key = Some(SigningKey::new(key));
        }
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
    /// When the URL is invalid, or when Redis cannot be reached (or does not
    /// answer within the timeout) for the subscription or the first
    /// reading of the journal.
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn connect<T: IntoConnectionInfo>(self, url: T) -> Result<Revocations<K>, RedisError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    {
        let timeout = self.redis.checked()?;
        let connection = Connection::open(url, timeout).await?;
        self.bridge_on(connection, timeout).await
    }

    /// Builds a registry shared with every replica connected to the same
    /// Redis under the same prefix, through the primary that the Redis
    /// Sentinels at `sentinels` name for `service_name`; as
    /// [`connect`](Self::connect) otherwise. After a failover the bridge
    /// subscribes and publishes on the new primary by itself (and reads the
    /// journal there), so revocations made after it reach every replica.
    /// The first sentinel address's user, password and database are used
    /// for the primary too.
    ///
    /// ```no_run
    /// use tower_ws_ticket::Revocations;
    ///
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let revocations = Revocations::<String>::builder()
    ///     .key_prefix("myapp:wst:")
    ///     .connect_sentinel(["redis://sentinel-1:26379/", "redis://sentinel-2:26379/"], "mymaster")
    ///     .await?;
    /// # let _ = revocations;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When an address is invalid or none is given, or when no sentinel
    /// names a primary that answers within the timeout.
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn connect_sentinel<T: IntoConnectionInfo>(
        self,
        sentinels: impl IntoIterator<Item = T>,
        service_name: &str,
    ) -> Result<Revocations<K>, RedisError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    {
        let timeout = self.redis.checked()?;
        let connection = Connection::open_sentinel(sentinels, service_name, timeout).await?;
        self.bridge_on(connection, timeout).await
    }

    /// Builds a registry shared with every replica connected to the same
    /// Redis Cluster under the same prefix; as [`connect`](Self::connect)
    /// otherwise. Revocations travel with `PUBLISH`, which Cluster forwards
    /// to every node, so the bridge subscribes at whichever of `nodes`
    /// answers, and at another after that node fails; the journal is one
    /// key, on the primary of its slot.
    ///
    /// ```no_run
    /// use tower_ws_ticket::Revocations;
    ///
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let revocations = Revocations::<String>::builder()
    ///     .key_prefix("myapp:wst:")
    ///     .connect_cluster(["redis://node-1:6379/", "redis://node-2:6379/"])
    ///     .await?;
    /// # let _ = revocations;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When an address is invalid or none is given, or when no node
    /// answers within the timeout.
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn connect_cluster<T: IntoConnectionInfo>(
        self,
        nodes: impl IntoIterator<Item = T>,
    ) -> Result<Revocations<K>, RedisError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    {
        let timeout = self.redis.checked()?;
        let connection = Connection::open_cluster(nodes, timeout).await?;
        self.bridge_on(connection, timeout).await
    }

    /// The key prefix, set or derived.
    fn prefix(&self) -> String {
        self.redis
            .key_prefix
            .clone()
            .unwrap_or_else(|| deployment_prefix::<K>("the revocation key"))
    }

    /// Subscribes on `connection`, reads the journal, and starts the task.
    async fn bridge_on(
        self,
        connection: Connection,
        timeout: Duration,
    ) -> Result<Revocations<K>, RedisError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    {
        let prefix = self.prefix();
        let name = format!("{prefix}{SUFFIX}");
        let subscription = Subscription::open(&connection, &name, timeout).await?;

        let codec = Arc::new(Codec::new(
            name.clone(),
            rand::random::<u64>(),
            self.redis.signing_key.clone(),
        ));
        let connected = Arc::new(AtomicBool::new(true));
        let heard = Arc::new(Heard::new(HEARTBEAT + timeout));
        let (outbound, outgoing) = unbounded_channel();
        let registry = self.build_with(Some(Box::new(Outbound {
            outbound,
            codec: Arc::clone(&codec),
            connected: Arc::clone(&connected),
            heard: Arc::clone(&heard),
        })));
        let mut task = Task {
            registry: registry.downgrade(),
            connection,
            name,
            timeout,
            codec,
            connected,
            heard,
            outgoing,
            outbox: VecDeque::new(),
            merged: false,
            drops: DropLog::default(),
        };
        task.catch_up().await?;
        task.heard.now();
        tokio::spawn(task.run(subscription));
        Ok(registry)
    }
}

//! [`RedisStoreBuilder`]: the store's settings, and connecting it.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{IntoConnectionInfo, RedisError};
use serde::Serialize;

use super::keys::Keys;
use super::scripts::{CONSUME_SCRIPT, COUNT_SCRIPT, MINT_SCRIPT, RESERVE_SCRIPT};
use super::store::{KeyOf, RedisStore, Shared};
use crate::redis::{Connection, DEFAULT_TIMEOUT, deployment_prefix};
use crate::store::DEFAULT_TTL;

impl<I> RedisStore<I> {
    /// Connects to the Redis at `url` (`redis://host:port/db`) with the
    /// default settings: TTL [`DEFAULT_TTL`](crate::DEFAULT_TTL) (30 s),
    /// the [default key prefix](RedisStoreBuilder::key_prefix) of `I`, no
    /// cap, 1 s timeout.
    ///
    /// # Errors
    ///
    /// When the URL is invalid, or when Redis cannot be reached after a few quick retries (within
    /// about 3 s); see [`RedisStoreBuilder::connect`].
    pub async fn connect<T: IntoConnectionInfo>(url: T) -> Result<Self, RedisError> {
        Self::builder().connect(url).await
    }

    /// A builder to set the TTL, the key prefix, the cap or the timeout.
    pub fn builder() -> RedisStoreBuilder<I> {
        RedisStoreBuilder::new()
    }
}

/// Configures a [`RedisStore`]; from [`RedisStore::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use tower_ws_ticket::RedisStore;
///
/// # async fn demo() -> Result<(), redis::RedisError> {
/// let store = RedisStore::<u64>::builder()
///     .ttl(Duration::from_secs(15))
///     .key_prefix("myapp:wst:")
///     .max_outstanding(50_000)
///     .timeout(Duration::from_millis(500))
///     .connect("redis://127.0.0.1/")
///     .await?;
/// assert_eq!(store.max_outstanding(), Some(50_000));
/// # Ok(()) }
/// ```
#[must_use]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub struct RedisStoreBuilder<I> {
    ttl: Duration,
    /// `None`: none set; the default is worked out as the store is built.
    prefix: Option<String>,
    max_outstanding: Option<usize>,
    max_per_identity: Option<usize>,
    key_of: Option<KeyOf<I>>,
    timeout: Duration,
    identity: PhantomData<fn() -> I>,
}

impl<I> RedisStoreBuilder<I> {
    pub(super) fn new() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            prefix: None,
            max_outstanding: None,
            max_per_identity: None,
            key_of: None,
            timeout: DEFAULT_TIMEOUT,
            identity: PhantomData,
        }
    }

    /// How long a ticket stays valid after it is minted (default 30 s).
    /// Redis keeps time in milliseconds: the TTL is rounded up to a whole
    /// millisecond, and is at least one.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The prefix of every key the store writes. Replicas of one
    /// application share theirs; each application sharing a Redis needs its
    /// own, or one application redeems another's tickets for the same
    /// identity value.
    ///
    /// The default, `wst:<8 hex digits>:`, is derived from the identity
    /// type's name (its full path, `myapp::auth::UserId`): replicas of one
    /// application agree on it whatever their executable is called and
    /// whichever version they run, and applications with types of their
    /// own differ. For a type any application could use (`String`, `u64`,
    /// a tuple of them) the default also names the executable's file, so
    /// that two applications sharing a Redis still keep apart, and a
    /// warning is logged: a build under another name (a rolling deploy
    /// that renames the binary) would not share tickets with the others.
    /// Set a prefix then, and to read the keys in Redis by a name of your
    /// choosing.
    ///
    /// Release 0.1.0's default was `wst:`; set `key_prefix("wst:")` to keep
    /// sharing tickets with replicas that still run it during an upgrade.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Keeps a hard cap on live tickets across every replica (default: no
    /// cap, only Redis's `maxmemory`). Past it, `mint` answers
    /// [`MintError::Full`](crate::MintError::Full) until tickets are consumed or expire. Each live
    /// ticket then costs Redis about 330 bytes with a `u64` identity (200
    /// for the ticket, 130 for its entry in the set of live tickets), and
    /// each call runs as a script: one round trip still, but about three
    /// and a half times the work for Redis (see `BENCHMARKS.md`).
    pub fn max_outstanding(mut self, max: usize) -> Self {
        self.max_outstanding = Some(max);
        self
    }

    /// Caps the live tickets of each identity at `max` across every replica
    /// (default: no cap), so that one signed-in client minting in a loop
    /// cannot use up the store for everyone. Past it, `mint` answers
    /// [`MintError::IdentityFull`](crate::MintError::IdentityFull), with how long until the identity's
    /// oldest live ticket expires, and the
    /// [`MintService`](crate::MintService) answers `429` with `Retry-After`.
    /// Consumed, burned and expired tickets free their place at once; a
    /// [`max_outstanding`](Self::max_outstanding) still caps the store as a
    /// whole.
    ///
    /// Identities are told apart by their JSON (`serde_json`, which must
    /// then be the same for equal identities: no maps with an unstable
    /// order); to count several identities as one, use
    /// [`max_per_identity_by`](Self::max_per_identity_by). Each identity
    /// with live tickets has a sorted set of them, named by a digest of
    /// its JSON (see [What Redis holds](RedisStore#what-redis-holds)); each
    /// call runs as a script, still one round trip.
    ///
    /// ```no_run
    /// use tower_ws_ticket::{MintError, RedisStore};
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::<u64>::builder()
    ///     .key_prefix("myapp:wst:")
    ///     .max_per_identity(5)
    ///     .connect("redis://127.0.0.1/")
    ///     .await?;
    /// for _ in 0..5 {
    ///     store.mint(7).await?;
    /// }
    /// assert!(matches!(store.mint(7).await, Err(MintError::IdentityFull { .. })));
    /// # Ok(()) }
    /// ```
    pub fn max_per_identity(mut self, max: usize) -> Self {
        self.max_per_identity = Some(max);
        self.key_of = None;
        self
    }

    /// Caps the live tickets of each *key* at `max`, where `key` makes the
    /// key of an identity (every session of one user, say); the key's JSON
    /// tells keys apart. Otherwise as
    /// [`max_per_identity`](Self::max_per_identity).
    ///
    /// ```no_run
    /// use serde::{Deserialize, Serialize};
    /// use tower_ws_ticket::RedisStore;
    ///
    /// #[derive(Clone, Serialize, Deserialize)]
    /// struct Session { user: u64, id: u64 }
    ///
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let store = RedisStore::<Session>::builder()
    ///     .max_per_identity_by(5, |session: &Session| session.user)
    ///     .connect("redis://127.0.0.1/")
    ///     .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn max_per_identity_by<K, F>(mut self, max: usize, key: F) -> Self
    where
        K: Serialize,
        F: Fn(&I) -> K + Send + Sync + 'static,
    {
        self.max_per_identity = Some(max);
        self.key_of = Some(Arc::new(move |identity: &I| {
            serde_json::to_vec(&key(identity))
        }));
        self
    }

    /// The bound on each call to Redis (default 1 s), after which the call
    /// answers `Unavailable`. [`connect`](Self::connect) also uses it for
    /// each connection attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects to the Redis at `url` (`redis://[:password@]host:port/db`,
    /// or `rediss://` when the `redis` crate's TLS features are enabled)
    /// and builds the store.
    ///
    /// The connection is a [`ConnectionManager`] that reconnects by itself
    /// whenever the connection drops, retrying with a jittered backoff of
    /// at most 1 s between attempts. Its socket sets `TCP_NODELAY` and, on
    /// Linux, gives up on a peer that leaves sent data unacknowledged for
    /// 10 s (or the timeout, when longer), so that a Redis host that
    /// vanished without closing the connection is noticed and the manager
    /// reconnects. This call waits for the first
    /// connection, and loads the store's scripts when it keeps a cap, so a
    /// wrong address or a Redis that refuses scripts is reported here.
    ///
    /// # Errors
    ///
    /// When the URL is invalid, when Redis cannot be reached after a few
    /// quick retries (within about 3 s), or when loading the scripts fails.
    pub async fn connect<T: IntoConnectionInfo>(self, url: T) -> Result<RedisStore<I>, RedisError> {
        let connection = Connection::open(url, self.timeout).await?;
        self.connect_on(connection).await
    }

    /// Connects to the primary that the Redis Sentinels at `sentinels` name
    /// for `service_name`, and builds the store. The store follows the
    /// primary across failovers by itself: see
    /// [Several replicas](crate::RedisStore#several-replicas-sentinel).
    ///
    /// The sentinels' addresses are `redis://host:port/` URLs (or anything
    /// [`IntoConnectionInfo`]); the first one's user, password and database
    /// are used for the primary too.
    ///
    /// ```no_run
    /// use tower_ws_ticket::RedisStore;
    ///
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let store = RedisStore::<u64>::builder()
    ///     .key_prefix("myapp:wst:")
    ///     .connect_sentinel(
    ///         [
    ///             "redis://sentinel-1:26379/",
    ///             "redis://sentinel-2:26379/",
    ///             "redis://sentinel-3:26379/",
    ///         ],
    ///         "mymaster",
    ///     )
    ///     .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When an address is invalid or none is given, when no sentinel
    /// names a primary that answers within the timeout, or when loading
    /// the scripts fails.
    pub async fn connect_sentinel<T: IntoConnectionInfo>(
        self,
        sentinels: impl IntoIterator<Item = T>,
        service_name: &str,
    ) -> Result<RedisStore<I>, RedisError> {
        let connection = Connection::open_sentinel(sentinels, service_name, self.timeout).await?;
        self.connect_on(connection).await
    }

    /// Connects to the Redis Cluster that `nodes` (`redis://host:port/`
    /// URLs of some of its nodes) belong to, and builds the store.
    ///
    /// Tickets spread over every primary; every script touches only the
    /// keys it is given, all in one hash slot: see
    /// [Several replicas: Cluster](crate::RedisStore#several-replicas-cluster)
    /// for the key layout and how the caps are kept. A failover is followed
    /// by redis-rs's cluster client: calls fail within the timeout while a
    /// primary is gone, and succeed again once its replica is promoted.
    ///
    /// ```no_run
    /// use tower_ws_ticket::RedisStore;
    ///
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let store = RedisStore::<u64>::builder()
    ///     .key_prefix("myapp:wst:")
    ///     .connect_cluster(["redis://node-1:6379/", "redis://node-2:6379/"])
    ///     .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When an address is invalid or none is given, when the key prefix
    /// holds `{` or `}` (its keys need their own hash tags), when no node
    /// answers within the timeout, or when loading the scripts fails.
    pub async fn connect_cluster<T: IntoConnectionInfo>(
        self,
        nodes: impl IntoIterator<Item = T>,
    ) -> Result<RedisStore<I>, RedisError> {
        if self.prefix().contains(['{', '}']) {
            return Err(RedisError::from((
                ::redis::ErrorKind::InvalidClientConfig,
                "on Redis Cluster the key prefix must not hold `{` or `}`",
            )));
        }
        let connection = Connection::open_cluster(nodes, self.timeout).await?;
        self.connect_on(connection).await
    }

    /// Builds the store on `connection`, loading its scripts when it keeps
    /// a cap, so that a Redis that refuses scripts is reported at once.
    async fn connect_on(self, connection: Connection) -> Result<RedisStore<I>, RedisError> {
        let store = self.build_on(connection);
        if store.max_outstanding().is_some() || store.max_per_identity().is_some() {
            // A clone of the connection shares it.
            let mut connection = store.connection();
            for script in [
                &*MINT_SCRIPT,
                &*CONSUME_SCRIPT,
                &*COUNT_SCRIPT,
                &*RESERVE_SCRIPT,
            ] {
                script.load_async(&mut connection).await?;
            }
        }
        Ok(store)
    }

    /// The key prefix, set or derived.
    fn prefix(&self) -> String {
        self.prefix
            .clone()
            .unwrap_or_else(|| deployment_prefix::<I>("the store's identity"))
    }

    /// Builds the store on a connection the application set up itself, for
    /// example to share one [`ConnectionManager`] or to choose its own
    /// reconnection policy. Nothing is sent until the first call.
    pub fn build(self, manager: ConnectionManager) -> RedisStore<I> {
        self.build_on(Connection::from_manager(manager))
    }

    fn build_on(self, connection: Connection) -> RedisStore<I> {
        let prefix = self.prefix();
        let ttl_ms = u64::try_from(self.ttl.as_nanos().div_ceil(1_000_000))
            .unwrap_or(u64::MAX)
            .max(1);
        let keys = Keys::new(prefix, connection.is_cluster());
        let shared = Shared {
            connection,
            keys,
            ttl: self.ttl,
            ttl_ms,
            max_outstanding: self.max_outstanding,
            max_per_identity: self.max_per_identity,
            timeout: self.timeout,
        };
        RedisStore::new(shared, self.key_of)
    }
}

impl<I> fmt::Debug for RedisStoreBuilder<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("ttl", &self.ttl)
            .field("key_prefix", &self.prefix)
            .field("max_outstanding", &self.max_outstanding)
            .field("max_per_identity", &self.max_per_identity)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

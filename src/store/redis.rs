//! The Redis-backed ticket store (feature `redis`): [`RedisStore`], for
//! deployments with several replicas.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, IntoConnectionInfo, RedisError, Script, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::{DEFAULT_TTL, Redeemed, TicketStore};
use crate::error::{MintError, Redacted, StoreUnavailable, TicketError};
use crate::ticket::{Ticket, TicketParts};

/// Default key prefix.
const DEFAULT_PREFIX: &str = "wst:";
/// Default bound on one call.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts after the first failed one, each connection attempt: with the
/// manager's backoff from 100 ms, doubled each time with up to 100% jitter,
/// an unreachable Redis is reported after 1.5 to 3 s (plus connection
/// timeouts, for a host that does not answer at all).
const CONNECT_RETRIES: usize = 4;
/// How long sent data may go unacknowledged before the connection is given
/// up as dead (`TCP_USER_TIMEOUT`, where the platform has it).
#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
const DEAD_PEER: Duration = Duration::from_secs(10);
/// The sorted set of live tickets is this key, after the prefix. Ticket keys
/// are 16 hex digits after the prefix, so the two never meet.
const LIVE_SET_SUFFIX: &str = "live";
/// How many times a mint draws a ticket whose lookup half is taken before
/// it gives up. With 64 random bits, a second draw already never happens.
const MINT_DRAWS: usize = 4;

/// The layout of a stored value: version, digest, mint time, identity.
const FORMAT_VERSION: u8 = 1;
const DIGEST_LEN: usize = 32;
const DIGEST_AT: usize = 1;
const MINTED_AT: usize = DIGEST_AT + DIGEST_LEN;
const IDENTITY_AT: usize = MINTED_AT + 8;
/// Binds a digest to this crate and format, apart from any other SHA-256.
const DIGEST_DOMAIN: &[u8] = b"tower-ws-ticket redis v1\0";

/// KEYS: ticket, live set. ARGV: value, TTL in ms, cap.
/// Returns 0 when the store is full, 1 when the key is taken, 2 when minted.
const MINT_LUA: &str = r"
local ttl = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.0f', now))
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return 0
end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl, 'NX') then
  return 1
end
redis.call('ZADD', KEYS[2], string.format('%.0f', now + ttl), KEYS[1])
redis.call('PEXPIRE', KEYS[2], ttl)
return 2
";

/// KEYS: ticket, live set. Returns the value, or nil.
const CONSUME_LUA: &str = r"
local value = redis.call('GETDEL', KEYS[1])
if value then
  redis.call('ZREM', KEYS[2], KEYS[1])
end
return value
";

/// KEYS: live set. Returns the number of live tickets.
const COUNT_LUA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%.0f', now))
return redis.call('ZCARD', KEYS[1])
";

static MINT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(MINT_LUA));
static CONSUME_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CONSUME_LUA));
static COUNT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(COUNT_LUA));

/// A ticket store in Redis, shared by every replica of a service.
///
/// With several replicas behind a load balancer, the replica that mints a
/// ticket is rarely the one the browser's WebSocket lands on. [`RedisStore`]
/// keeps tickets in one Redis that all replicas talk to, with the same
/// semantics and errors as [`MemoryStore`](crate::MemoryStore): single use
/// across every node, a hard cap on live tickets, and a distinct
/// [`Unavailable`](TicketError::Unavailable) error when Redis cannot answer,
/// which the layer and the mint route turn into `503` rather than `401`.
///
/// ```no_run
/// use std::time::Duration;
/// use tower_ws_ticket::{RedisStore, TicketError};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::<String>::builder()
///     .ttl(Duration::from_secs(30))
///     .key_prefix("dashboard:wst:")
///     .connect("redis://127.0.0.1:6379/")
///     .await?;
///
/// let ticket = store.mint("alice".to_owned()).await?;
/// // On any replica connected to the same Redis:
/// let redeemed = store.consume(ticket.expose_secret()).await?;
/// assert_eq!(redeemed.identity, "alice");
/// assert!(matches!(
///     store.consume(ticket.expose_secret()).await,
///     Err(TicketError::Unknown(_))
/// ));
/// # Ok(()) }
/// ```
///
/// The store implements [`TicketStore`], so [`WsTicketLayer`](crate::WsTicketLayer)
/// and [`MintService`](crate::MintService) take it exactly as they take the
/// memory store; give every replica a store connected to the same Redis:
///
/// ```no_run
/// use axum::Router;
/// use axum::extract::ws::WebSocketUpgrade;
/// use axum::response::Response;
/// use axum::routing::get;
/// use tower_ws_ticket::{MintService, RedisStore, WsTicketLayer};
///
/// async fn socket(ws: WebSocketUpgrade) -> Response {
///     ws.on_upgrade(|_socket| async {})
/// }
///
/// # async fn demo() -> Result<(), redis::RedisError> {
/// let store = RedisStore::<u64>::connect("redis://redis.internal:6379/").await?;
/// let app: Router = Router::new()
///     .route("/api/ws", get(socket))
///     .route_layer(WsTicketLayer::new(store.clone()))
///     // Behind the application's own authentication, which puts the
///     // caller's `u64` identity in the request extensions.
///     .route_service("/api/auth/ws-ticket", MintService::new(store));
/// # let _ = app;
/// # Ok(()) }
/// ```
///
/// # What Redis holds
///
/// A ticket is `wst_` followed by a random 8-byte *lookup half* and a
/// random 24-byte *secret half*. The Redis key is the key prefix followed by
/// the lookup half in hex (`wst:9f86d081884c7d65`); the value holds a
/// SHA-256 digest of the ticket, the wall-clock time of the mint and the
/// identity encoded with `serde_json`. The secret half itself is never
/// written anywhere, so a dump of Redis, a replica of it or a `MONITOR`
/// session yields no ticket that could be presented. On redemption the
/// digests are compared in constant time.
///
/// A value that does not decode (written by something else under the
/// prefix, or an identity whose type changed between deployments) is
/// refused as [`TicketError::Unknown`] and logged as a `tracing` warning,
/// never a panic; a key of the wrong Redis type is reported as
/// [`TicketError::Unavailable`] with Redis's error.
///
/// # One round trip per call
///
/// Each `mint` and each `consume` is one command, so one round trip:
///
/// - Without a cap (the default): the mint is a bare
///   `SET key value PX ttl NX` and the consume a bare `GETDEL`, and Redis's
///   own `maxmemory` is the bound.
/// - With a cap ([`max_outstanding`](RedisStoreBuilder::max_outstanding)):
///   the mint runs one Lua script (`EVALSHA`) that drops expired entries
///   from a sorted set of live tickets, refuses when the set holds the cap
///   already, and otherwise stores the ticket with `SET key value PX ttl NX`
///   and adds it to the set. The consume runs one script that does `GETDEL`
///   and removes the ticket from the set. Redis runs a script without
///   interleaving any other command, so the cap is a hard cap across every
///   replica, and `GETDEL` remains the single atomic step that decides who
///   gets a ticket. A hard cap needs state that all replicas see, and a
///   script is the way to check and update it within the one round trip.
///
/// Scripts are sent by digest; right after Redis restarts (it forgets
/// scripts) the first call of each script pays for reloading it once. The
/// cap's bookkeeping is work for Redis: with it, Redis spends about three
/// and a half times as long on each mint + consume pair as on the bare
/// commands (see `BENCHMARKS.md`), which matters only near Redis's own
/// limit of tens of thousands of pairs per second.
/// All replicas sharing a key prefix must agree on the TTL and on whether
/// a cap is kept. The live-ticket set is one key next to the tickets, so
/// this store targets a single Redis (with its replicas or Sentinel), not
/// Redis Cluster. `GETDEL` needs Redis 6.2 or later.
///
/// # Expiry
///
/// Redis expires tickets itself, on its own clock and to the millisecond:
/// a ticket presented at exactly `minted + ttl` is still valid. Once Redis
/// has dropped an expired ticket it cannot tell it from one that never
/// existed, so an expired ticket is refused as [`TicketError::Unknown`];
/// this store never answers [`TicketError::Expired`]. Both are a `401` at
/// the layer.
///
/// # When Redis is down or slow
///
/// Every call is bounded by a [timeout](RedisStoreBuilder::timeout) (1 s by
/// default). A call that fails to reach Redis or times out answers
/// [`TicketError::Unavailable`] / [`MintError::Unavailable`]; the message
/// describes the failure and never holds a secret (nothing secret is ever
/// sent to Redis). The connection is a `redis` [`ConnectionManager`], which
/// reconnects by itself in the background: once Redis is back, calls
/// succeed again without a restart of the application.
///
/// A timed-out call may still have been carried out by Redis: a consume
/// that answered `Unavailable` may have used the ticket up, in which case
/// the client's retry is refused as unknown and it asks for a new ticket;
/// a mint that timed out may leave a ticket no one holds, which expires
/// with its TTL.
///
/// Calls must run inside a Tokio runtime with its time driver enabled (as
/// every axum, tonic or hyper-on-Tokio server does).
///
/// # Sharing
///
/// Cheap to `Clone`: clones share one connection. `I` is the identity bound
/// to a ticket, stored with `serde_json`.
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub struct RedisStore<I> {
    shared: Arc<Shared>,
    identity: PhantomData<fn() -> I>,
}

struct Shared {
    manager: ConnectionManager,
    prefix: String,
    live_key: String,
    ttl: Duration,
    ttl_ms: u64,
    max_outstanding: Option<usize>,
    timeout: Duration,
}

/// What a stored value turned out to hold.
enum Decoded<I> {
    Valid(Redeemed<I>),
    /// The digest does not match: a wrong secret half, now burned.
    WrongSecret,
    /// Not a value this store wrote, or an identity that no longer decodes.
    Corrupt(String),
}

impl<I> RedisStore<I> {
    /// Connects to the Redis at `url` (`redis://host:port/db`) with the
    /// default settings: TTL [`DEFAULT_TTL`] (30 s), key prefix `wst:`, no
    /// cap, 1 s timeout.
    ///
    /// # Errors
    ///
    /// When the URL is invalid, or Redis cannot be reached after a few
    /// quick retries (within about 3 s); see [`RedisStoreBuilder::connect`].
    pub async fn connect<T: IntoConnectionInfo>(url: T) -> Result<Self, RedisError> {
        Self::builder().connect(url).await
    }

    /// A builder to set the TTL, the key prefix, the cap or the timeout.
    pub fn builder() -> RedisStoreBuilder<I> {
        RedisStoreBuilder::new()
    }

    /// How long tickets from this store stay valid.
    pub fn ttl(&self) -> Duration {
        self.shared.ttl
    }

    /// The cap on live tickets, across every replica; `None` when uncapped.
    pub fn max_outstanding(&self) -> Option<usize> {
        self.shared.max_outstanding
    }

    /// The prefix of every key this store writes.
    pub fn key_prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The bound on each call to Redis.
    pub fn timeout(&self) -> Duration {
        self.shared.timeout
    }

    /// Live tickets across every replica: minted, not yet consumed, not
    /// expired. One round trip.
    ///
    /// Only a store with a [cap](RedisStoreBuilder::max_outstanding) keeps
    /// count; one without answers `None`.
    ///
    /// # Errors
    ///
    /// [`StoreUnavailable`] when Redis cannot be reached or does not answer
    /// within the timeout.
    ///
    /// # Panics
    ///
    /// When polled outside a Tokio runtime with the time driver enabled.
    pub async fn outstanding(&self) -> Result<Option<usize>, StoreUnavailable> {
        let shared = &*self.shared;
        if shared.max_outstanding.is_none() {
            return Ok(None);
        }
        let mut conn = shared.manager.clone();
        let count = shared
            .bounded(
                COUNT_SCRIPT
                    .key(&shared.live_key)
                    .invoke_async::<usize>(&mut conn),
            )
            .await?;
        Ok(Some(count))
    }
}

impl<I> RedisStore<I>
where
    I: Serialize + DeserializeOwned,
{
    /// Mints a ticket bound to `identity`. One round trip.
    ///
    /// # Errors
    ///
    /// [`MintError::Full`] when the cap of live tickets is reached across
    /// all replicas (expired tickets never count), and
    /// [`MintError::Unavailable`] when Redis cannot be reached or does not
    /// answer within the timeout, or when `identity` fails to serialize.
    ///
    /// # Panics
    ///
    /// When polled outside a Tokio runtime with the time driver enabled.
    pub async fn mint(&self, identity: I) -> Result<Ticket, MintError> {
        let shared = &*self.shared;
        let mut value = encode_value(&identity).map_err(MintError::Unavailable)?;
        let minted = shared.bounded(async {
            for _ in 0..MINT_DRAWS {
                let (parts, ticket) = TicketParts::generate(shared.ttl);
                value[DIGEST_AT..MINTED_AT].copy_from_slice(&digest(&parts));
                match shared.store(parts.lookup, &value).await? {
                    Stored::Minted => return Ok(Ok(ticket)),
                    Stored::Full => return Ok(Err(MintError::Full)),
                    Stored::Taken => {}
                }
            }
            Ok(Err(MintError::Unavailable(StoreUnavailable::new(
                "redis: every drawn ticket key was taken",
            ))))
        });
        match minted.await {
            Ok(Ok(ticket)) => Ok(ticket),
            Ok(Err(err)) => Err(err),
            Err(unavailable) => Err(MintError::Unavailable(unavailable)),
        }
    }

    /// Consumes the ticket text `presented`: atomically, and only once,
    /// whichever replica is asked. One round trip.
    ///
    /// Of any number of concurrent calls for one ticket, on any number of
    /// replicas, exactly one gets the identity. A well-formed ticket whose
    /// lookup half exists but whose secret half is wrong is burned: the real
    /// holder's ticket stops working too (fail closed).
    ///
    /// # Errors
    ///
    /// [`TicketError::Malformed`] for text that is not a ticket of ours
    /// (Redis is not asked), [`TicketError::Unknown`] for a ticket never
    /// minted, already used, expired, presented with a wrong secret half or
    /// whose stored value does not decode (logged as a warning), and
    /// [`TicketError::Unavailable`] when Redis cannot be reached or does not
    /// answer within the timeout.
    ///
    /// # Panics
    ///
    /// When polled outside a Tokio runtime with the time driver enabled.
    pub async fn consume(&self, presented: &str) -> Result<Redeemed<I>, TicketError> {
        let parts = TicketParts::parse(presented)?;
        self.consume_parts(parts, Redacted::new(presented)).await
    }

    async fn consume_parts(
        &self,
        parts: TicketParts,
        shown: Redacted,
    ) -> Result<Redeemed<I>, TicketError> {
        let shared = &*self.shared;
        let value = shared
            .bounded(shared.take(parts.lookup))
            .await
            .map_err(TicketError::Unavailable)?;
        let Some(value) = value else {
            return Err(TicketError::Unknown(shown));
        };
        match decode_value(&value, &parts) {
            Decoded::Valid(redeemed) => Ok(redeemed),
            Decoded::WrongSecret => Err(TicketError::Unknown(shown)),
            Decoded::Corrupt(why) => {
                tracing::warn!(
                    ticket = %shown,
                    reason = %why,
                    "ticket value in redis does not decode; refused as unknown"
                );
                Err(TicketError::Unknown(shown))
            }
        }
    }
}

/// The outcome of one mint command.
enum Stored {
    Minted,
    Full,
    Taken,
}

impl Shared {
    fn key(&self, lookup: u64) -> String {
        ticket_key(&self.prefix, lookup)
    }

    /// Stores a ticket unless the cap is reached or its key is taken.
    async fn store(&self, lookup: u64, value: &[u8]) -> Result<Stored, RedisError> {
        let key = self.key(lookup);
        let mut conn = self.manager.clone();
        match self.max_outstanding {
            Some(cap) => {
                let outcome: i64 = MINT_SCRIPT
                    .key(&key)
                    .key(&self.live_key)
                    .arg(value)
                    .arg(self.ttl_ms)
                    .arg(cap)
                    .invoke_async(&mut conn)
                    .await?;
                match outcome {
                    2 => Ok(Stored::Minted),
                    1 => Ok(Stored::Taken),
                    0 => Ok(Stored::Full),
                    _ => Err(unexpected_reply("mint script")),
                }
            }
            None => {
                let reply: Value = ::redis::cmd("SET")
                    .arg(&key)
                    .arg(value)
                    .arg("PX")
                    .arg(self.ttl_ms)
                    .arg("NX")
                    .query_async(&mut conn)
                    .await?;
                match reply {
                    Value::Okay => Ok(Stored::Minted),
                    Value::Nil => Ok(Stored::Taken),
                    _ => Err(unexpected_reply("SET")),
                }
            }
        }
    }

    /// Removes a ticket and returns its value, if it was there.
    async fn take(&self, lookup: u64) -> Result<Option<Vec<u8>>, RedisError> {
        let key = self.key(lookup);
        let mut conn = self.manager.clone();
        if self.max_outstanding.is_some() {
            CONSUME_SCRIPT
                .key(&key)
                .key(&self.live_key)
                .invoke_async(&mut conn)
                .await
        } else {
            ::redis::cmd("GETDEL")
                .arg(&key)
                .query_async(&mut conn)
                .await
        }
    }

    /// Runs one call to Redis within the timeout.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreUnavailable> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(answer)) => Ok(answer),
            // The connection's own response timeout is the same bound.
            Ok(Err(err)) if err.is_timeout() => Err(self.timed_out()),
            // Neither the commands nor their replies hold a secret, so the
            // error can be shown as it is.
            Ok(Err(err)) => Err(StoreUnavailable::new(format!("redis: {err}"))),
            Err(_) => Err(self.timed_out()),
        }
    }

    fn timed_out(&self) -> StoreUnavailable {
        StoreUnavailable::new(format!("redis did not answer within {:?}", self.timeout))
    }
}

/// The key of a ticket: the prefix, then the lookup half's bytes in hex.
fn ticket_key(prefix: &str, lookup: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(prefix.len() + 16);
    key.push_str(prefix);
    for byte in lookup.to_le_bytes() {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    key
}

fn unexpected_reply(command: &'static str) -> RedisError {
    RedisError::from((
        ::redis::ErrorKind::UnexpectedReturnType,
        "unexpected reply",
        command.to_owned(),
    ))
}

/// The SHA-256 of the ticket, bound to its lookup half and this format.
fn digest(parts: &TicketParts) -> [u8; DIGEST_LEN] {
    Sha256::new()
        .chain_update(DIGEST_DOMAIN)
        .chain_update(parts.lookup.to_le_bytes())
        .chain_update(parts.secret)
        .finalize()
        .into()
}

/// A value with its digest left blank (the mint fills it in per draw).
fn encode_value<I: Serialize>(identity: &I) -> Result<Vec<u8>, StoreUnavailable> {
    let minted_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    let mut value = Vec::with_capacity(IDENTITY_AT + 32);
    value.push(FORMAT_VERSION);
    value.extend_from_slice(&[0; DIGEST_LEN]);
    value.extend_from_slice(&minted_ms.to_be_bytes());
    serde_json::to_writer(&mut value, identity)
        .map_err(|err| StoreUnavailable::new(format!("identity does not serialize: {err}")))?;
    Ok(value)
}

fn decode_value<I: DeserializeOwned>(value: &[u8], parts: &TicketParts) -> Decoded<I> {
    if value.len() < IDENTITY_AT || value[0] != FORMAT_VERSION {
        return Decoded::Corrupt(format!(
            "not a ticket value of this version ({} bytes)",
            value.len()
        ));
    }
    if !bool::from(value[DIGEST_AT..MINTED_AT].ct_eq(&digest(parts))) {
        return Decoded::WrongSecret;
    }
    let mut minted = [0; 8];
    minted.copy_from_slice(&value[MINTED_AT..IDENTITY_AT]);
    let Some(minted_at) = UNIX_EPOCH.checked_add(Duration::from_millis(u64::from_be_bytes(minted)))
    else {
        return Decoded::Corrupt("mint time out of range".to_owned());
    };
    // Another replica's clock may run ahead of this one's: a mint time in
    // the future is read as now.
    let minted_at = minted_at.min(SystemTime::now());
    match serde_json::from_slice(&value[IDENTITY_AT..]) {
        Ok(identity) => Decoded::Valid(Redeemed {
            identity,
            minted_at,
        }),
        // The category and position only: serde_json's message can quote
        // the identity, which is the application's data.
        Err(err) => Decoded::Corrupt(format!(
            "identity does not decode ({:?} error at line {} column {})",
            err.classify(),
            err.line(),
            err.column()
        )),
    }
}

impl<I> Clone for RedisStore<I> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            identity: PhantomData,
        }
    }
}

impl<I> fmt::Debug for RedisStore<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.shared.prefix)
            .field("ttl", &self.shared.ttl)
            .field("max_outstanding", &self.shared.max_outstanding)
            .field("timeout", &self.shared.timeout)
            .finish_non_exhaustive()
    }
}

/// A boxed future, as [`RedisStore`]'s [`TicketStore`] futures are.
///
/// Redis answers over the network, so the call is a real future; boxing it
/// costs one allocation per call, which is noise next to the round trip,
/// and keeps the trait's associated types nameable.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<I> TicketStore for RedisStore<I>
where
    I: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Identity = I;
    type MintFuture = BoxFuture<Result<Ticket, MintError>>;
    type ConsumeFuture = BoxFuture<Result<Redeemed<I>, TicketError>>;

    fn mint_ticket(&self, identity: I) -> Self::MintFuture {
        let store = self.clone();
        Box::pin(async move { store.mint(identity).await })
    }

    fn consume_ticket(&self, presented: &str) -> Self::ConsumeFuture {
        let parts = match TicketParts::parse(presented) {
            Ok(parts) => parts,
            Err(malformed) => return Box::pin(std::future::ready(Err(malformed))),
        };
        let shown = Redacted::new(presented);
        let store = self.clone();
        Box::pin(async move { store.consume_parts(parts, shown).await })
    }

    fn ttl(&self) -> Duration {
        self.shared.ttl
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
    prefix: String,
    max_outstanding: Option<usize>,
    timeout: Duration,
    identity: PhantomData<fn() -> I>,
}

impl<I> RedisStoreBuilder<I> {
    fn new() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            prefix: DEFAULT_PREFIX.to_owned(),
            max_outstanding: None,
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

    /// The prefix of every key the store writes (default `wst:`). Give
    /// each application sharing a Redis its own prefix; replicas of one
    /// application share theirs.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Keeps a hard cap on live tickets across every replica (default: no
    /// cap, only Redis's `maxmemory`). Past it, `mint` answers
    /// [`MintError::Full`] until tickets are consumed or expire. Each live
    /// ticket then costs Redis about 330 bytes with a `u64` identity (200
    /// for the ticket, 130 for its entry in the set of live tickets), and
    /// each call runs as a script: one round trip still, but about three
    /// and a half times the work for Redis (see `BENCHMARKS.md`).
    pub fn max_outstanding(mut self, max: usize) -> Self {
        self.max_outstanding = Some(max);
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
        let mut info = url.into_connection_info()?;
        // Commands are small and latency is the point: no Nagle delay.
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        // A peer that vanished without a reset (a dropped host, a partition)
        // would otherwise hold the connection until the kernel's own
        // retransmission limit, many minutes, with every call timing out:
        // give up on unacknowledged data sooner so that the manager
        // reconnects.
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        let tcp = tcp.set_user_timeout(self.timeout.max(DEAD_PEER));
        info = info.set_tcp_settings(tcp);
        let client = Client::open(info)?;
        // Each call is bounded by the store's own timeout, so the
        // connection gets no response timeout of its own (a second timer
        // per command would buy nothing).
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_number_of_retries(CONNECT_RETRIES)
            .set_max_delay(Duration::from_secs(1));
        let mut manager = ConnectionManager::new_with_config(client, config).await?;
        if self.max_outstanding.is_some() {
            for script in [&*MINT_SCRIPT, &*CONSUME_SCRIPT, &*COUNT_SCRIPT] {
                script.load_async(&mut manager).await?;
            }
        }
        Ok(self.build(manager))
    }

    /// Builds the store on a connection the application set up itself, for
    /// example to share one [`ConnectionManager`] or to choose its own
    /// reconnection policy. Nothing is sent until the first call.
    pub fn build(self, manager: ConnectionManager) -> RedisStore<I> {
        let ttl_ms = u64::try_from(self.ttl.as_nanos().div_ceil(1_000_000))
            .unwrap_or(u64::MAX)
            .max(1);
        let live_key = format!("{}{LIVE_SET_SUFFIX}", self.prefix);
        RedisStore {
            shared: Arc::new(Shared {
                manager,
                prefix: self.prefix,
                live_key,
                ttl: self.ttl,
                ttl_ms,
                max_outstanding: self.max_outstanding,
                timeout: self.timeout,
            }),
            identity: PhantomData,
        }
    }
}

impl<I> fmt::Debug for RedisStoreBuilder<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("ttl", &self.ttl)
            .field("key_prefix", &self.prefix)
            .field("max_outstanding", &self.max_outstanding)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> TicketParts {
        TicketParts::draw().0
    }

    fn sealed<I: Serialize>(parts: &TicketParts, identity: &I) -> Vec<u8> {
        let mut value = encode_value(identity).expect("serializes");
        value[DIGEST_AT..MINTED_AT].copy_from_slice(&digest(parts));
        value
    }

    #[test]
    fn value_round_trips() {
        let parts = parts();
        let value = sealed(&parts, &("alice".to_owned(), 7u32));
        let Decoded::Valid(redeemed) = decode_value::<(String, u32)>(&value, &parts) else {
            panic!("our own value decodes");
        };
        assert_eq!(redeemed.identity, ("alice".to_owned(), 7));
        let age = SystemTime::now()
            .duration_since(redeemed.minted_at)
            .expect("minted in the past");
        assert!(age < Duration::from_secs(5));
    }

    #[test]
    fn value_holds_no_secret() {
        let parts = parts();
        let value = sealed(&parts, &1u8);
        assert!(
            !value
                .windows(8)
                .any(|w| parts.secret.windows(8).any(|s| s == w))
        );
    }

    #[test]
    fn wrong_secret_is_refused() {
        let ticket = parts();
        let value = sealed(&ticket, &1u8);
        let mut other = ticket;
        other.secret[0] ^= 1;
        assert!(matches!(
            decode_value::<u8>(&value, &other),
            Decoded::WrongSecret
        ));
        let mut moved = ticket;
        moved.lookup ^= 1;
        assert!(matches!(
            decode_value::<u8>(&value, &moved),
            Decoded::WrongSecret
        ));
    }

    #[test]
    fn bad_values_are_corrupt_not_a_panic() {
        let parts = parts();
        let good = sealed(&parts, &1u8);
        let mut wrong_version = good.clone();
        wrong_version[0] = 9;
        let mut wrong_identity = good[..IDENTITY_AT].to_vec();
        wrong_identity.extend_from_slice(b"\"not a number\"");
        for bad in [
            Vec::new(),
            b"garbage".to_vec(),
            good[..IDENTITY_AT - 1].to_vec(),
            wrong_version,
            wrong_identity,
            good[..IDENTITY_AT].to_vec(),
        ] {
            assert!(
                matches!(decode_value::<u8>(&bad, &parts), Decoded::Corrupt(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn corrupt_identity_message_does_not_quote_it() {
        let parts = parts();
        let mut value = sealed(&parts, &1u8)[..IDENTITY_AT].to_vec();
        value.extend_from_slice(b"\"private-data\"");
        let Decoded::Corrupt(why) = decode_value::<u8>(&value, &parts) else {
            panic!("does not decode");
        };
        assert!(!why.contains("private"), "{why}");
    }

    #[test]
    fn keys_are_prefix_and_lookup_hex() {
        assert_eq!(
            ticket_key("wst:", 0x0123_4567_89ab_cdef),
            "wst:efcdab8967452301"
        );
        assert_eq!(ticket_key("", 0), "0000000000000000");
        // The live set's key never looks like a ticket's.
        assert_ne!(LIVE_SET_SUFFIX.len(), 16);
    }
}

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
use crate::audience::Audience;
use crate::error::{MintError, Redacted, StoreUnavailable, TicketError};
use crate::ticket::{Ticket, TicketParts};

/// What every default key prefix starts with.
const PREFIX_HEAD: &str = "wst:";
/// Default bound on one call (the store's, and the revocation bridge's).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
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
/// An identity's sorted set of live tickets (with a cap per identity) is
/// this, then 32 hex digits of a digest of its key, after the prefix.
const IDENTITY_SET_INFIX: &str = "id:";
/// Hex digits of an identity's digest in its set's key: 128 bits.
const IDENTITY_HEX_LEN: usize = 32;
/// How many times a mint draws a ticket whose lookup half is taken before
/// it gives up. With 64 random bits, a second draw already never happens.
const MINT_DRAWS: usize = 4;

/// The layout of a stored value. Format 1: version, digest, mint time,
/// identity. Format 2 puts a flags byte after the mint time and, as the
/// flags announce, the identity's key for its cap (32 hex digits: the
/// consume script reads it at this fixed place) and the audience's digest,
/// then the identity. A ticket with neither is written in format 1, which
/// the previous release reads too.
const FORMAT_PLAIN: u8 = 1;
const FORMAT_TAGGED: u8 = 2;
const DIGEST_LEN: usize = 32;
const DIGEST_AT: usize = 1;
const MINTED_AT: usize = DIGEST_AT + DIGEST_LEN;
/// Where format 1's identity and format 2's flags are.
const IDENTITY_AT: usize = MINTED_AT + 8;
const FLAGS_AT: usize = IDENTITY_AT;
const TAGS_AT: usize = FLAGS_AT + 1;
const HAS_AUDIENCE: u8 = 1;
const HAS_IDENTITY_KEY: u8 = 2;
/// Binds a digest to this crate and format, apart from any other SHA-256.
const DIGEST_DOMAIN: &[u8] = b"tower-ws-ticket redis v1\0";
/// The same for an audience's name, and for an identity's key.
const AUDIENCE_DOMAIN: &[u8] = b"tower-ws-ticket redis audience v1\0";
const IDENTITY_DOMAIN: &[u8] = b"tower-ws-ticket redis identity v1\0";

/// KEYS: ticket, live set, and with a cap per identity the identity's set.
/// ARGV: value, TTL in ms, cap on live tickets, cap per identity (-1: none).
/// Returns 0 when the store is full, 1 when the key is taken, 2 when
/// minted, and `{3, ms}` when the identity is full: `ms` until its oldest
/// live ticket expires.
const MINT_LUA: &str = r"
local ttl = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local per = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expired = string.format('(%.0f', now)
if cap >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', expired)
  if redis.call('ZCARD', KEYS[2]) >= cap then
    return 0
  end
end
if per >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', expired)
  if redis.call('ZCARD', KEYS[3]) >= per then
    local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    if oldest[2] then
      return {3, tonumber(oldest[2]) - now}
    end
    return {3, ttl}
  end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl, 'NX') then
  return 1
end
local expires = string.format('%.0f', now + ttl)
if cap >= 0 then
  redis.call('ZADD', KEYS[2], expires, KEYS[1])
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if per >= 0 then
  redis.call('ZADD', KEYS[3], expires, KEYS[1])
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return 2
";

/// KEYS: ticket, live set. ARGV: whether the store keeps the live set
/// (`1` / `0`), the prefix of identity sets. Returns the value, or nil.
///
/// A format 2 value that carries its identity's key names the identity's
/// set, which is built from it here: the layer that consumes a ticket
/// knows nothing of its identity. The set is always under the store's
/// prefix. (Keys not passed in KEYS are why this store is for a single
/// Redis, not Redis Cluster.)
const CONSUME_LUA: &str = r"
local value = redis.call('GETDEL', KEYS[1])
if value then
  if ARGV[1] == '1' then
    redis.call('ZREM', KEYS[2], KEYS[1])
  end
  local flags = string.byte(value, 42)
  if string.byte(value, 1) == 2 and flags and flags % 4 >= 2 then
    redis.call('ZREM', ARGV[2] .. string.sub(value, 43, 74), KEYS[1])
  end
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
/// A ticket minted with an [`Audience`] also carries a SHA-256 digest of
/// the audience's name (never the name), compared in constant time on
/// redemption. With a [cap per identity](RedisStoreBuilder::max_per_identity),
/// each identity with live tickets has a sorted set of them under
/// `<prefix>id:<32 hex digits>`: 128 bits of a SHA-256 digest of the
/// identity's JSON (or of its key's), never the identity itself. Its
/// tickets carry those digits too, so that a consume, which knows only
/// the ticket, can count its ticket out. Values of the previous release
/// (format 1, no audience) still decode, as tickets without an audience,
/// and tickets without an audience or a cap per identity are still
/// written that way.
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
/// - With a cap ([`max_outstanding`](RedisStoreBuilder::max_outstanding),
///   [`max_per_identity`](RedisStoreBuilder::max_per_identity), or both):
///   the mint runs one Lua script (`EVALSHA`) that drops expired entries
///   from the sorted set of live tickets (and from the identity's), refuses
///   when a set holds its cap already, and otherwise stores the ticket with
///   `SET key value PX ttl NX` and adds it to the sets. The consume runs
///   one script that does `GETDEL` and removes the ticket from the sets.
///   Redis runs a script without interleaving any other command, so the
///   caps are hard caps across every replica, and `GETDEL` remains the
///   single atomic step that decides who gets a ticket. A hard cap needs
///   state that all replicas see, and a script is the way to check and
///   update it within the one round trip.
///
/// An audience changes no command: it travels inside the value.
///
/// Scripts are sent by digest; right after Redis restarts (it forgets
/// scripts) the first call of each script pays for reloading it once. The
/// cap's bookkeeping is work for Redis: with it, Redis spends about three
/// and a half times as long on each mint + consume pair as on the bare
/// commands (see `BENCHMARKS.md`), which matters only near Redis's own
/// limit of tens of thousands of pairs per second.
/// All replicas sharing a key prefix must agree on the TTL and on which
/// caps are kept. The live-ticket set is one key next to the tickets, so
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
    /// What the cap per identity counts by, when it does not count by the
    /// identity itself.
    key_of: Option<KeyOf<I>>,
    identity: PhantomData<fn() -> I>,
}

/// A key function, as the JSON of the key it makes.
type KeyOf<I> = Arc<dyn Fn(&I) -> serde_json::Result<Vec<u8>> + Send + Sync>;

struct Shared {
    manager: ConnectionManager,
    prefix: String,
    live_key: String,
    /// The prefix of identities' sets: the key prefix, then `id:`.
    identity_prefix: String,
    ttl: Duration,
    ttl_ms: u64,
    max_outstanding: Option<usize>,
    max_per_identity: Option<usize>,
    timeout: Duration,
}

impl Shared {
    /// Whether calls run the scripts, which keep the sets the caps count.
    fn scripted(&self) -> bool {
        self.max_outstanding.is_some() || self.max_per_identity.is_some()
    }
}

/// A mint, ready to send: the value (its digest filled in per draw), and
/// the identity's set when the store caps per identity.
struct Prepared {
    value: Vec<u8>,
    identity_set: Option<String>,
}

/// What a stored value turned out to hold.
enum Decoded<I> {
    Valid(Redeemed<I>),
    /// The digest does not match: a wrong secret half, now burned.
    WrongSecret,
    /// The ticket is for another audience, or for one or none where the
    /// other was asked for; now burned.
    WrongAudience,
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

    /// The cap on one identity's live tickets, across every replica;
    /// `None` when uncapped.
    pub fn max_per_identity(&self) -> Option<usize> {
        self.shared.max_per_identity
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
    /// Mints a ticket bound to `identity`, with no audience. One round trip.
    ///
    /// # Errors
    ///
    /// [`MintError::Full`] when the cap of live tickets is reached across
    /// all replicas (expired tickets never count),
    /// [`MintError::IdentityFull`] when `identity` holds its
    /// [`max_per_identity`](RedisStoreBuilder::max_per_identity) across all
    /// replicas, and [`MintError::Unavailable`] when Redis cannot be reached
    /// or does not answer within the timeout, or when `identity` (or its
    /// key) fails to serialize.
    ///
    /// # Panics
    ///
    /// When polled outside a Tokio runtime with the time driver enabled.
    pub async fn mint(&self, identity: I) -> Result<Ticket, MintError> {
        let prepared = self.prepare(&identity, None)?;
        self.shared.mint(prepared).await
    }

    /// Mints a ticket bound to `identity` that only a consume for
    /// `audience` accepts. One round trip, as [`mint`](Self::mint).
    ///
    /// # Errors
    ///
    /// As [`mint`](Self::mint).
    ///
    /// # Panics
    ///
    /// When polled outside a Tokio runtime with the time driver enabled.
    pub async fn mint_with_audience(
        &self,
        identity: I,
        audience: &Audience,
    ) -> Result<Ticket, MintError> {
        let prepared = self.prepare(&identity, Some(audience))?;
        self.shared.mint(prepared).await
    }

    /// The value to store, and the identity's set when there is a cap per
    /// identity.
    fn prepare(&self, identity: &I, audience: Option<&Audience>) -> Result<Prepared, MintError> {
        let shared = &*self.shared;
        let cap = match (&shared.max_per_identity, &self.key_of) {
            (None, _) => CapKey::Uncapped,
            (Some(_), None) => CapKey::Identity,
            (Some(_), Some(key_of)) => CapKey::Key(key_of(identity).map_err(|err| {
                MintError::Unavailable(StoreUnavailable::new(format!(
                    "identity key does not serialize: {err}"
                )))
            })?),
        };
        let audience = audience.map(audience_digest);
        let (value, identity_hex) =
            encode_value(identity, audience.as_ref(), cap).map_err(MintError::Unavailable)?;
        let identity_set = identity_hex.map(|hex| format!("{}{hex}", shared.identity_prefix));
        Ok(Prepared {
            value,
            identity_set,
        })
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
        self.consume_for(presented, None).await
    }

    /// Consumes the ticket text `presented`, minted for `audience`:
    /// atomically, and only once, whichever replica is asked. One round
    /// trip. A ticket minted for another audience or for none is refused
    /// and burned.
    ///
    /// # Errors
    ///
    /// As [`consume`](Self::consume), with [`TicketError::WrongAudience`]
    /// for a ticket minted for another audience or for none.
    ///
    /// # Panics
    ///
    /// When polled outside a Tokio runtime with the time driver enabled.
    pub async fn consume_with_audience(
        &self,
        presented: &str,
        audience: &Audience,
    ) -> Result<Redeemed<I>, TicketError> {
        self.consume_for(presented, Some(audience)).await
    }

    async fn consume_for(
        &self,
        presented: &str,
        audience: Option<&Audience>,
    ) -> Result<Redeemed<I>, TicketError> {
        let parts = TicketParts::parse(presented)?;
        let audience = audience.map(audience_digest);
        self.shared
            .consume(parts, Redacted::new(presented), audience)
            .await
    }
}

/// The outcome of one mint command.
enum Stored {
    Minted,
    Full,
    /// The identity holds its maximum; a place frees in this many ms.
    IdentityFull(u64),
    Taken,
}

impl Shared {
    fn key(&self, lookup: u64) -> String {
        ticket_key(&self.prefix, lookup)
    }

    /// Takes the ticket out (GETDEL) and checks it: one round trip.
    async fn consume<I: DeserializeOwned>(
        &self,
        parts: TicketParts,
        shown: Redacted,
        audience: Option<[u8; DIGEST_LEN]>,
    ) -> Result<Redeemed<I>, TicketError> {
        let value = self
            .bounded(self.take(parts.lookup))
            .await
            .map_err(TicketError::Unavailable)?;
        let Some(value) = value else {
            return Err(TicketError::Unknown(shown));
        };
        // GETDEL has taken the ticket out already: whatever the checks
        // find, it is burned.
        match decode_value(&value, &parts, audience.as_ref()) {
            Decoded::Valid(redeemed) => Ok(redeemed),
            Decoded::WrongSecret => Err(TicketError::Unknown(shown)),
            Decoded::WrongAudience => Err(TicketError::WrongAudience(shown)),
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

    /// Draws tickets until one is stored (a 64-bit lookup half is taken at
    /// most once in a blue moon), within the timeout.
    async fn mint(&self, prepared: Prepared) -> Result<Ticket, MintError> {
        let Prepared {
            mut value,
            identity_set,
        } = prepared;
        let minted = self.bounded(async {
            for _ in 0..MINT_DRAWS {
                let (parts, ticket) = TicketParts::generate(self.ttl);
                value[DIGEST_AT..MINTED_AT].copy_from_slice(&digest(&parts));
                match self
                    .store(parts.lookup, &value, identity_set.as_deref())
                    .await?
                {
                    Stored::Minted => return Ok(Ok(ticket)),
                    Stored::Full => return Ok(Err(MintError::Full)),
                    Stored::IdentityFull(ms) => {
                        return Ok(Err(MintError::IdentityFull {
                            retry_after: Duration::from_millis(ms),
                        }));
                    }
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

    /// Stores a ticket unless a cap is reached or its key is taken.
    async fn store(
        &self,
        lookup: u64,
        value: &[u8],
        identity_set: Option<&str>,
    ) -> Result<Stored, RedisError> {
        let key = self.key(lookup);
        let mut conn = self.manager.clone();
        if self.scripted() {
            let mut script = MINT_SCRIPT.prepare_invoke();
            script.key(&key).key(&self.live_key);
            if let Some(set) = identity_set {
                script.key(set);
            }
            let reply: Value = script
                .arg(value)
                .arg(self.ttl_ms)
                .arg(cap_arg(self.max_outstanding))
                .arg(cap_arg(self.max_per_identity))
                .invoke_async(&mut conn)
                .await?;
            return match reply {
                Value::Int(2) => Ok(Stored::Minted),
                Value::Int(1) => Ok(Stored::Taken),
                Value::Int(0) => Ok(Stored::Full),
                Value::Array(ref items) => match items.as_slice() {
                    [Value::Int(3), Value::Int(ms)] => {
                        Ok(Stored::IdentityFull(u64::try_from(*ms).unwrap_or(0)))
                    }
                    _ => Err(unexpected_reply("mint script")),
                },
                _ => Err(unexpected_reply("mint script")),
            };
        }
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

    /// Removes a ticket and returns its value, if it was there.
    async fn take(&self, lookup: u64) -> Result<Option<Vec<u8>>, RedisError> {
        let key = self.key(lookup);
        let mut conn = self.manager.clone();
        if self.scripted() {
            CONSUME_SCRIPT
                .key(&key)
                .key(&self.live_key)
                .arg(u8::from(self.max_outstanding.is_some()))
                .arg(&self.identity_prefix)
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

/// The default key prefix for a deployment whose values are of type `T`:
/// `wst:` and 8 hex digits of a digest of the running executable's file
/// name and `T`'s type name, then `:`. Replicas of one application run the
/// same executable with the same types, so they agree; two applications
/// sharing a Redis differ unless both are equal.
pub(crate) fn deployment_prefix<T: ?Sized>() -> String {
    let executable = std::env::current_exe()
        .ok()
        .and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let digest = Sha256::new()
        .chain_update(b"tower-ws-ticket key prefix\0")
        .chain_update(executable.as_bytes())
        .chain_update(b"\0")
        .chain_update(std::any::type_name::<T>().as_bytes())
        .finalize();
    let mut prefix = String::with_capacity(PREFIX_HEAD.len() + 9);
    prefix.push_str(PREFIX_HEAD);
    push_hex(&mut prefix, &digest[..4]);
    prefix.push(':');
    prefix
}

/// A client for `url` and a connection manager on it, as every Redis
/// connection of the crate is set up (the store's, and the revocation
/// bridge's publisher): calls bounded by `timeout`, which also bounds each
/// connection attempt, a few quick retries, and the socket options below.
pub(crate) async fn open<T: IntoConnectionInfo>(
    url: T,
    timeout: Duration,
) -> Result<(Client, ConnectionManager), RedisError> {
    let mut info = url.into_connection_info()?;
    // Commands are small and latency is the point: no Nagle delay.
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    // A peer that vanished without a reset (a dropped host, a partition)
    // would otherwise hold the connection until the kernel's own
    // retransmission limit, many minutes, with every call timing out:
    // give up on unacknowledged data sooner so that the manager
    // reconnects.
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    let tcp = tcp.set_user_timeout(timeout.max(DEAD_PEER));
    info = info.set_tcp_settings(tcp);
    let client = Client::open(info)?;
    // Each call is bounded by its caller's timeout, so the connection
    // gets no response timeout of its own (a second timer per command
    // would buy nothing).
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_number_of_retries(CONNECT_RETRIES)
        .set_max_delay(Duration::from_secs(1));
    let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
    Ok((client, manager))
}

/// The key of a ticket: the prefix, then the lookup half's bytes in hex.
fn ticket_key(prefix: &str, lookup: u64) -> String {
    let mut key = String::with_capacity(prefix.len() + 16);
    key.push_str(prefix);
    push_hex(&mut key, &lookup.to_le_bytes());
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

/// What a value says of its identity's cap.
enum CapKey {
    /// The store keeps no cap per identity.
    Uncapped,
    /// Counted by the identity itself: its JSON is the key.
    Identity,
    /// Counted by a key function: the key's JSON.
    Key(Vec<u8>),
}

/// A value with its digest left blank (the mint fills it in per draw), and
/// the hex digits of its identity's set when there is a cap per identity.
fn encode_value<I: Serialize>(
    identity: &I,
    audience: Option<&[u8; DIGEST_LEN]>,
    cap: CapKey,
) -> Result<(Vec<u8>, Option<String>), StoreUnavailable> {
    let minted_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    let capped = !matches!(cap, CapKey::Uncapped);
    let tagged = capped || audience.is_some();
    let mut value = Vec::with_capacity(TAGS_AT + IDENTITY_HEX_LEN + DIGEST_LEN + 32);
    value.push(if tagged { FORMAT_TAGGED } else { FORMAT_PLAIN });
    value.extend_from_slice(&[0; DIGEST_LEN]);
    value.extend_from_slice(&minted_ms.to_be_bytes());
    let mut key_at = None;
    if tagged {
        let flags = if capped { HAS_IDENTITY_KEY } else { 0 }
            | if audience.is_some() { HAS_AUDIENCE } else { 0 };
        value.push(flags);
        if capped {
            // Filled in below, once the identity's JSON is there.
            key_at = Some(value.len());
            value.extend_from_slice(&[b'0'; IDENTITY_HEX_LEN]);
        }
        if let Some(audience) = audience {
            value.extend_from_slice(audience);
        }
    }
    let json_at = value.len();
    serde_json::to_writer(&mut value, identity)
        .map_err(|err| StoreUnavailable::new(format!("identity does not serialize: {err}")))?;
    let hex = match cap {
        CapKey::Uncapped => None,
        CapKey::Identity => Some(identity_hex(&value[json_at..])),
        CapKey::Key(json) => Some(identity_hex(&json)),
    };
    if let (Some(at), Some(hex)) = (key_at, &hex) {
        value[at..at + IDENTITY_HEX_LEN].copy_from_slice(hex.as_bytes());
    }
    Ok((value, hex))
}

fn decode_value<I: DeserializeOwned>(
    value: &[u8],
    parts: &TicketParts,
    audience: Option<&[u8; DIGEST_LEN]>,
) -> Decoded<I> {
    let version = value.first().copied();
    if value.len() < IDENTITY_AT || !matches!(version, Some(FORMAT_PLAIN | FORMAT_TAGGED)) {
        return Decoded::Corrupt(format!(
            "not a ticket value of a known format ({} bytes)",
            value.len()
        ));
    }
    if !bool::from(value[DIGEST_AT..MINTED_AT].ct_eq(&digest(parts))) {
        return Decoded::WrongSecret;
    }
    let (stored_audience, json_at) = if version == Some(FORMAT_TAGGED) {
        match tags(value) {
            Some(tags) => tags,
            None => return Decoded::Corrupt("unreadable tags".to_owned()),
        }
    } else {
        // Format 1 values were written before audiences: none.
        (None, IDENTITY_AT)
    };
    if !same_audience(stored_audience, audience) {
        return Decoded::WrongAudience;
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
    match serde_json::from_slice(&value[json_at..]) {
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

/// A format 2 value's audience digest, if any, and where its identity's
/// JSON starts; `None` when the tags do not read.
fn tags(value: &[u8]) -> Option<(Option<&[u8; DIGEST_LEN]>, usize)> {
    let flags = *value.get(FLAGS_AT)?;
    if flags & !(HAS_AUDIENCE | HAS_IDENTITY_KEY) != 0 {
        return None;
    }
    let mut at = TAGS_AT;
    if flags & HAS_IDENTITY_KEY != 0 {
        at += IDENTITY_HEX_LEN;
    }
    let audience = if flags & HAS_AUDIENCE != 0 {
        let digest = value.get(at..at + DIGEST_LEN)?.try_into().ok()?;
        at += DIGEST_LEN;
        Some(digest)
    } else {
        None
    };
    (at <= value.len()).then_some((audience, at))
}

/// Whether a ticket's audience is the one asked for: both none, or equal
/// digests, compared in constant time.
fn same_audience(stored: Option<&[u8; DIGEST_LEN]>, asked: Option<&[u8; DIGEST_LEN]>) -> bool {
    match (stored, asked) {
        (None, None) => true,
        (Some(stored), Some(asked)) => bool::from(stored.ct_eq(asked)),
        _ => false,
    }
}

/// The SHA-256 of an audience's name, bound to this crate and format.
fn audience_digest(audience: &Audience) -> [u8; DIGEST_LEN] {
    Sha256::new()
        .chain_update(AUDIENCE_DOMAIN)
        .chain_update(audience.name().as_bytes())
        .finalize()
        .into()
}

/// The hex digits naming an identity's set: 128 bits of the SHA-256 of its
/// key's JSON, so that no key name holds the identity.
fn identity_hex(key_json: &[u8]) -> String {
    let digest: [u8; DIGEST_LEN] = Sha256::new()
        .chain_update(IDENTITY_DOMAIN)
        .chain_update(key_json)
        .finalize()
        .into();
    let mut hex = String::with_capacity(IDENTITY_HEX_LEN);
    push_hex(&mut hex, &digest[..IDENTITY_HEX_LEN / 2]);
    hex
}

fn push_hex(text: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &byte in bytes {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
}

/// A cap as the mint script takes it: -1 for none.
fn cap_arg(cap: Option<usize>) -> i64 {
    cap.map_or(-1, |cap| i64::try_from(cap).unwrap_or(i64::MAX))
}

impl<I> Clone for RedisStore<I> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            key_of: self.key_of.clone(),
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
            .field("max_per_identity", &self.shared.max_per_identity)
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

    fn mint_ticket(&self, identity: I, audience: Option<&Audience>) -> Self::MintFuture {
        // Encoded now: the future holds the value, not the identity.
        let prepared = match self.prepare(&identity, audience) {
            Ok(prepared) => prepared,
            Err(err) => return Box::pin(std::future::ready(Err(err))),
        };
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { shared.mint(prepared).await })
    }

    fn consume_ticket(&self, presented: &str, audience: Option<&Audience>) -> Self::ConsumeFuture {
        let parts = match TicketParts::parse(presented) {
            Ok(parts) => parts,
            Err(malformed) => return Box::pin(std::future::ready(Err(malformed))),
        };
        let shown = Redacted::new(presented);
        let audience = audience.map(audience_digest);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { shared.consume(parts, shown, audience).await })
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
    max_per_identity: Option<usize>,
    key_of: Option<KeyOf<I>>,
    timeout: Duration,
    identity: PhantomData<fn() -> I>,
}

impl<I> RedisStoreBuilder<I> {
    fn new() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            prefix: deployment_prefix::<I>(),
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
    /// The default is derived per deployment, `wst:<8 hex digits>:`, from
    /// the running executable's file name and the identity type's name, so
    /// two applications differ unless both match. Set it yourself when
    /// replicas run differently named executables, and to read the keys in
    /// Redis by a name of your choosing.
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

    /// Caps the live tickets of each identity at `max` across every replica
    /// (default: no cap), so that one signed-in client minting in a loop
    /// cannot use up the store for everyone. Past it, `mint` answers
    /// [`MintError::IdentityFull`], with how long until the identity's
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
        let (_, manager) = open(url, self.timeout).await?;
        let store = self.build(manager);
        if store.shared.scripted() {
            // A clone of the manager shares its connection.
            let mut connection = store.shared.manager.clone();
            for script in [&*MINT_SCRIPT, &*CONSUME_SCRIPT, &*COUNT_SCRIPT] {
                script.load_async(&mut connection).await?;
            }
        }
        Ok(store)
    }

    /// Builds the store on a connection the application set up itself, for
    /// example to share one [`ConnectionManager`] or to choose its own
    /// reconnection policy. Nothing is sent until the first call.
    pub fn build(self, manager: ConnectionManager) -> RedisStore<I> {
        let ttl_ms = u64::try_from(self.ttl.as_nanos().div_ceil(1_000_000))
            .unwrap_or(u64::MAX)
            .max(1);
        let live_key = format!("{}{LIVE_SET_SUFFIX}", self.prefix);
        let identity_prefix = format!("{}{IDENTITY_SET_INFIX}", self.prefix);
        RedisStore {
            shared: Arc::new(Shared {
                manager,
                prefix: self.prefix,
                live_key,
                identity_prefix,
                ttl: self.ttl,
                ttl_ms,
                max_outstanding: self.max_outstanding,
                max_per_identity: self.max_per_identity,
                timeout: self.timeout,
            }),
            key_of: self.key_of,
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
            .field("max_per_identity", &self.max_per_identity)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The value codec's properties, for the fuzz target and the property
/// tests (`crate::fuzzing`): it panics on a violation.
///
/// - What the store writes reads back as the identity it was written for,
///   under its own ticket and audience; under another audience it reads as
///   the wrong audience, under another ticket as the wrong secret.
/// - No piece of the secret half is in the value.
/// - Any bytes at all read as some outcome, never a panic.
#[cfg(any(test, fuzzing))]
pub(crate) fn codec_properties(
    identity: &str,
    audience: Option<&str>,
    key: Option<&str>,
    garbage: &[u8],
) {
    let parts = TicketParts::draw().0;
    let asked = audience.map(|name| audience_digest(&Audience::new(name)));
    let cap = match key {
        None => CapKey::Uncapped,
        Some("") => CapKey::Identity,
        Some(key) => CapKey::Key(key.as_bytes().to_vec()),
    };
    let capped = !matches!(cap, CapKey::Uncapped);
    let (mut value, hex) =
        encode_value(&identity, asked.as_ref(), cap).expect("a string serialises");
    value[DIGEST_AT..MINTED_AT].copy_from_slice(&digest(&parts));
    assert_eq!(hex.is_some(), capped);
    let version = if capped || asked.is_some() {
        FORMAT_TAGGED
    } else {
        FORMAT_PLAIN
    };
    assert_eq!(value[0], version);
    assert!(
        !parts
            .secret
            .windows(8)
            .any(|secret| value.windows(8).any(|w| w == secret)),
        "a piece of the secret half is in the value"
    );
    match decode_value::<String>(&value, &parts, asked.as_ref()) {
        Decoded::Valid(redeemed) => assert_eq!(redeemed.identity, identity),
        _ => panic!("the value written does not read back"),
    }
    let other = audience_digest(&Audience::new(format!("{}~other", audience.unwrap_or(""))));
    let wrong = if asked.is_some() { None } else { Some(other) };
    assert!(matches!(
        decode_value::<String>(&value, &parts, wrong.as_ref()),
        Decoded::WrongAudience
    ));
    assert!(matches!(
        decode_value::<String>(&value, &TicketParts::draw().0, asked.as_ref()),
        Decoded::WrongSecret
    ));
    // Garbage, as it is and behind a valid digest: some outcome, no panic.
    let _ = decode_value::<String>(garbage, &parts, asked.as_ref());
    let mut forged = value[..MINTED_AT.min(value.len())].to_vec();
    forged.extend_from_slice(garbage);
    let _ = decode_value::<String>(&forged, &parts, asked.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> TicketParts {
        TicketParts::draw().0
    }

    fn sealed<I: Serialize>(parts: &TicketParts, identity: &I) -> Vec<u8> {
        sealed_with(parts, identity, None, CapKey::Uncapped)
    }

    fn sealed_with<I: Serialize>(
        parts: &TicketParts,
        identity: &I,
        audience: Option<&Audience>,
        cap: CapKey,
    ) -> Vec<u8> {
        let audience = audience.map(audience_digest);
        let (mut value, _) = encode_value(identity, audience.as_ref(), cap).expect("serializes");
        value[DIGEST_AT..MINTED_AT].copy_from_slice(&digest(parts));
        value
    }

    #[test]
    fn default_prefixes_differ_by_type_and_agree_within_one() {
        struct A;
        struct B;
        let a = deployment_prefix::<A>();
        assert_eq!(a, deployment_prefix::<A>());
        assert_ne!(a, deployment_prefix::<B>());
        assert_eq!(a.len(), "wst:".len() + 8 + 1);
        assert!(a.starts_with("wst:") && a.ends_with(':'));
    }

    #[test]
    fn value_round_trips() {
        let parts = parts();
        let value = sealed(&parts, &("alice".to_owned(), 7u32));
        let Decoded::Valid(redeemed) = decode_value::<(String, u32)>(&value, &parts, None) else {
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
            decode_value::<u8>(&value, &other, None),
            Decoded::WrongSecret
        ));
        let mut moved = ticket;
        moved.lookup ^= 1;
        assert!(matches!(
            decode_value::<u8>(&value, &moved, None),
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
                matches!(decode_value::<u8>(&bad, &parts, None), Decoded::Corrupt(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn corrupt_identity_message_does_not_quote_it() {
        let parts = parts();
        let mut value = sealed(&parts, &1u8)[..IDENTITY_AT].to_vec();
        value.extend_from_slice(b"\"private-data\"");
        let Decoded::Corrupt(why) = decode_value::<u8>(&value, &parts, None) else {
            panic!("does not decode");
        };
        assert!(!why.contains("private"), "{why}");
    }

    /// A value as the previous release wrote it, byte for byte.
    fn format_1_value(parts: &TicketParts, identity_json: &[u8]) -> Vec<u8> {
        let mut value = vec![1];
        value.extend_from_slice(&digest(parts));
        value.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
        value.extend_from_slice(identity_json);
        value
    }

    #[test]
    fn a_plain_ticket_is_still_written_in_format_1() {
        let parts = parts();
        let value = sealed(&parts, &"alice");
        assert_eq!(value, {
            let mut old = format_1_value(&parts, br#""alice""#);
            old[MINTED_AT..IDENTITY_AT].copy_from_slice(&value[MINTED_AT..IDENTITY_AT]);
            old
        });
    }

    #[test]
    fn format_1_values_decode_as_tickets_without_an_audience() {
        let parts = parts();
        let value = format_1_value(&parts, br#""alice""#);
        let Decoded::Valid(redeemed) = decode_value::<String>(&value, &parts, None) else {
            panic!("a format 1 value decodes");
        };
        assert_eq!(redeemed.identity, "alice");
        let admin = audience_digest(&Audience::new("admin"));
        assert!(matches!(
            decode_value::<String>(&value, &parts, Some(&admin)),
            Decoded::WrongAudience
        ));
    }

    #[test]
    fn audiences_round_trip_and_must_match() {
        let parts = parts();
        let (page, admin) = (Audience::new("page"), Audience::new("admin"));
        for cap in [false, true] {
            let cap_key = || {
                if cap {
                    CapKey::Identity
                } else {
                    CapKey::Uncapped
                }
            };
            let value = sealed_with(&parts, &42u64, Some(&admin), cap_key());
            assert_eq!(value[0], FORMAT_TAGGED);
            // The name is not in the value: its digest is.
            assert!(!value.windows(5).any(|w| w == b"admin"));
            let want = |audience: Option<&Audience>| {
                let digest = audience.map(audience_digest);
                decode_value::<u64>(&value, &parts, digest.as_ref())
            };
            assert!(matches!(want(Some(&admin)), Decoded::Valid(r) if r.identity == 42));
            assert!(matches!(want(Some(&page)), Decoded::WrongAudience));
            assert!(matches!(want(None), Decoded::WrongAudience));

            let plain = sealed_with(&parts, &42u64, None, cap_key());
            let digest = audience_digest(&admin);
            assert!(matches!(
                decode_value::<u64>(&plain, &parts, Some(&digest)),
                Decoded::WrongAudience
            ));
            assert!(matches!(
                decode_value::<u64>(&plain, &parts, None),
                Decoded::Valid(_)
            ));
        }
    }

    #[test]
    fn a_wrong_secret_is_told_before_a_wrong_audience() {
        let ticket = parts();
        let value = sealed_with(
            &ticket,
            &1u8,
            Some(&Audience::new("admin")),
            CapKey::Uncapped,
        );
        let mut forged = ticket;
        forged.secret[3] ^= 1;
        assert!(matches!(
            decode_value::<u8>(&value, &forged, None),
            Decoded::WrongSecret
        ));
    }

    #[test]
    fn identity_key_sits_where_the_consume_script_reads_it() {
        let parts = parts();
        let (value, hex) = encode_value(&"alice", None, CapKey::Identity).expect("serializes");
        let hex = hex.expect("capped");
        assert_eq!(hex.len(), IDENTITY_HEX_LEN);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        // Lua's string.byte(value, 1) and (value, 42), string.sub(43, 74).
        assert_eq!(value[0], 2);
        assert_eq!(value[41] % 4, HAS_IDENTITY_KEY);
        assert_eq!(&value[42..74], hex.as_bytes());
        // Keyed by the identity's JSON, or by a key function's.
        assert_eq!(hex, identity_hex(br#""alice""#));
        let (_, by_key) = encode_value(&"alice", None, CapKey::Key(b"7".to_vec())).expect("ok");
        assert_eq!(by_key.as_deref(), Some(identity_hex(b"7").as_str()));
        assert_ne!(by_key.as_deref(), Some(hex.as_str()));
        // Neither the key nor the value's tags hold the identity.
        assert!(!hex.contains("alice"));
        let mut sealed = value;
        sealed[DIGEST_AT..MINTED_AT].copy_from_slice(&digest(&parts));
        assert!(matches!(
            decode_value::<String>(&sealed, &parts, None),
            Decoded::Valid(r) if r.identity == "alice"
        ));
    }

    #[test]
    fn unreadable_tags_are_corrupt() {
        let parts = parts();
        let good = sealed_with(
            &parts,
            &1u8,
            Some(&Audience::new("admin")),
            CapKey::Identity,
        );
        let mut unknown_flag = good.clone();
        unknown_flag[FLAGS_AT] |= 0x80;
        for bad in [
            unknown_flag,
            good[..TAGS_AT + 10].to_vec(),
            good[..IDENTITY_AT].to_vec(),
        ] {
            assert!(
                matches!(decode_value::<u8>(&bad, &parts, None), Decoded::Corrupt(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn caps_reach_the_script_as_numbers() {
        assert_eq!(cap_arg(None), -1);
        assert_eq!(cap_arg(Some(0)), 0);
        assert_eq!(cap_arg(Some(5)), 5);
    }

    #[test]
    fn keys_are_prefix_and_lookup_hex() {
        assert_eq!(
            ticket_key("wst:", 0x0123_4567_89ab_cdef),
            "wst:efcdab8967452301"
        );
        assert_eq!(ticket_key("", 0), "0000000000000000");
        // The live set's key and identities' sets never look like a
        // ticket's.
        assert_ne!(LIVE_SET_SUFFIX.len(), 16);
        assert_ne!(IDENTITY_SET_INFIX.len() + IDENTITY_HEX_LEN, 16);
        assert!(!LIVE_SET_SUFFIX.starts_with(IDENTITY_SET_INFIX));
    }
}

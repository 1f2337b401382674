//! [`RedisStore`]: a ticket's mint and its consume, one round trip each.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ::redis::{RedisError, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::{
    CapKey, DIGEST_AT, DIGEST_LEN, Decoded, MINTED_AT, audience_digest, decode_value, digest,
    encode_value, identity_hex_in,
};
use super::keys::{BUCKETS, Keys, identity_bucket, quota_bucket, share};
use super::scripts::{CONSUME_SCRIPT, COUNT_SCRIPT, MINT_SCRIPT, RESERVE_SCRIPT, cap_arg};
use crate::audience::Audience;
use crate::error::{MintError, Redacted, StoreUnavailable, TicketError};
use crate::redis::{Connection, bounded};
use crate::store::{Redeemed, TicketStore};
use crate::ticket::{Ticket, TicketParts};

/// How many times a mint draws a ticket whose lookup half is taken before
/// it gives up. With 64 random bits, a second draw already never happens.
const MINT_DRAWS: usize = 4;

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
/// let store = RedisStore::<u64>::builder()
///     .key_prefix("myapp:wst:")
///     .connect("redis://redis.internal:6379/")
///     .await?;
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
/// SHA-256 digest of the ticket, the wall-clock time of the mint (to the
/// nanosecond, read as the mint starts, so that a revocation tells a ticket
/// minted after it returned from one minted before it was called) and the
/// identity encoded with `serde_json`. The secret half itself is never
/// written anywhere, so a dump of Redis, a replica of it or a `MONITOR`
/// session yields no ticket that could be presented. On redemption the
/// digests are compared in constant time.
///
/// A ticket minted with an [`Audience`] also carries a SHA-256 digest of
/// the audience's name (never the name), compared in constant time on
/// redemption. With a [cap per identity](crate::RedisStoreBuilder::max_per_identity),
/// each identity with live tickets has a sorted set of them under
/// `<prefix>id:<32 hex digits>`: 128 bits of a SHA-256 digest of the
/// identity's JSON (or of its key's), never the identity itself. Its
/// tickets carry those digits too, so that a consume, which knows only
/// the ticket, can count its ticket out. Values of release 0.1.0
/// (format 1, no audience, the mint time in milliseconds) still decode, as
/// tickets without an audience; 0.1.0 cannot read this release's values,
/// so during a rolling upgrade from it a ticket minted on an upgraded
/// replica and presented to an old one is refused once (401, the client
/// mints again).
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
/// - With a cap ([`max_outstanding`](crate::RedisStoreBuilder::max_outstanding),
///   [`max_per_identity`](crate::RedisStoreBuilder::max_per_identity), or both):
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
/// caps are kept. `GETDEL` needs Redis 6.2 or later.
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
/// Every call is bounded by a [timeout](crate::RedisStoreBuilder::timeout) (1 s by
/// default). A call that fails to reach Redis or times out answers
/// [`TicketError::Unavailable`] / [`MintError::Unavailable`]; the message
/// describes the failure and never holds a secret (nothing secret is ever
/// sent to Redis). The connection is a `redis` [`ConnectionManager`](::redis::aio::ConnectionManager), which
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
/// # Several replicas: Sentinel
///
/// [`connect_sentinel`](crate::RedisStoreBuilder::connect_sentinel) asks
/// the sentinels for the primary and follows it across failovers, without
/// a restart: a call that fails as a lost primary would (an I/O error,
/// `READONLY`, no answer in time), and a `ROLE` asked of the primary every
/// second that does not answer `master`, start a search in the
/// background, which asks the sentinels again until they name a primary
/// that answers and moves the connection there. While there is none,
/// every call ends within the timeout as `Unavailable` (the layer answers
/// 503, or closes with 1013); calls succeed again on the same store
/// handles once the new primary is found, within about a second of the
/// promotion. A failover loses the writes the replica had not received
/// (Redis replicates asynchronously): a ticket minted in the last moments
/// before it is unknown afterwards (one 4401 and one new ticket for the
/// browser client). The same holds for a consume: a ticket consumed in
/// those moments is still on the new primary, so whoever holds it could
/// consume it once more there, within its TTL. Keep the TTL short, as the
/// default is, if that window matters to you.
///
/// # Several replicas: Cluster
///
/// [`connect_cluster`](crate::RedisStoreBuilder::connect_cluster) cuts the
/// store into 16 buckets, each with a hash tag that falls in its own
/// sixteenth of the cluster's 16,384 slots, so that the buckets, and the
/// tickets, spread over the primaries. A ticket's bucket is the low 4
/// bits of its (random) lookup half, so a consume finds its key from the
/// ticket alone: `<prefix>{<tag>}<16 hex digits>`. Every script touches
/// only the keys it is given, all with one tag:
///
/// - Without a cap, a mint is `SET … NX PX` and a consume `GETDEL`, as on
///   one Redis: one round trip each.
/// - `max_outstanding` is split over the buckets, each keeping a sorted set
///   of its live tickets (`<prefix>{<tag>}live`) and a share of the cap
///   (the shares add up to it exactly). The mint script checks and fills
///   the ticket's bucket; a mint that finds its bucket full draws a ticket
///   for the next bucket and tries again, so the store answers
///   [`MintError::Full`] only once every bucket holds its share: at the
///   cap, never before (a refusal can meet a consume that frees a place
///   meanwhile, as on one Redis). Near the cap, a mint costs a round trip
///   per full bucket it meets.
/// - With `max_per_identity`, an identity's tickets all go to one bucket,
///   chosen by its digest, beside its set
///   (`<prefix>{<tag>}id:<32 hex digits>`), so the mint script checks the
///   cap per identity and stores the ticket in one step. With
///   `max_outstanding` as well, the ticket's place under the store's cap
///   is taken first in a bucket of its own (a second round trip, given
///   back if the ticket is not stored), so that one identity's bucket
///   never refuses while others have room. The consume takes the ticket
///   out in one script, then counts it out of those sets with `ZREM` (a
///   second round trip): if that fails, the ticket still counts until its
///   TTL ends (fail closed).
///
/// Exactly once still rests on the one `GETDEL` that takes a ticket out;
/// audiences travel in the value, as on one Redis. The key prefix must not
/// hold `{` or `}`. redis-rs's cluster client follows a failover: while a
/// primary is gone, calls to its slots fail within the timeout, and
/// succeed again once its replica is promoted; what a failover loses is
/// as under Sentinel above.
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
pub(super) type KeyOf<I> = Arc<dyn Fn(&I) -> serde_json::Result<Vec<u8>> + Send + Sync>;

/// What every clone of a store shares: the connection and the settings.
pub(super) struct Shared {
    pub(super) connection: Connection,
    pub(super) keys: Keys,
    pub(super) ttl: Duration,
    pub(super) ttl_ms: u64,
    pub(super) max_outstanding: Option<usize>,
    pub(super) max_per_identity: Option<usize>,
    pub(super) timeout: Duration,
}

impl Shared {
    /// Whether calls run the scripts, which keep the sets the caps count.
    pub(super) fn scripted(&self) -> bool {
        self.max_outstanding.is_some() || self.max_per_identity.is_some()
    }
}

/// A mint, ready to send: the value (its digest filled in per draw), and
/// the hex digits of the identity's set when the store caps per identity.
struct Prepared {
    value: Vec<u8>,
    identity_hex: Option<String>,
}

impl<I> RedisStore<I> {
    pub(super) fn new(shared: Shared, key_of: Option<KeyOf<I>>) -> Self {
        Self {
            shared: Arc::new(shared),
            key_of,
            identity: PhantomData,
        }
    }

    /// The connection, for the builder to load the scripts on.
    pub(super) fn connection(&self) -> Connection {
        self.shared.connection.clone()
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
        self.shared.keys.prefix()
    }

    /// The bound on each call to Redis.
    pub fn timeout(&self) -> Duration {
        self.shared.timeout
    }

    /// Live tickets across every replica: minted, not yet consumed, not
    /// expired. One round trip.
    ///
    /// Only a store with a [cap](crate::RedisStoreBuilder::max_outstanding) keeps
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
        let buckets = if shared.keys.bucketed() { BUCKETS } else { 1 };
        let count = shared
            .bounded(async {
                let mut count = 0;
                for bucket in 0..buckets {
                    let mut conn = shared.connection.clone();
                    count += COUNT_SCRIPT
                        .key(shared.keys.live(bucket))
                        .invoke_async::<usize>(&mut conn)
                        .await?;
                }
                Ok(count)
            })
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
    /// [`max_per_identity`](crate::RedisStoreBuilder::max_per_identity) across all
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
        Ok(Prepared {
            value,
            identity_hex,
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

    /// Draws tickets until one is stored, within the timeout. A 64-bit
    /// lookup half is taken at most once in a blue moon; on Redis Cluster
    /// with `max_outstanding`, a bucket that holds its share sends the
    /// mint on to the next, so that the store refuses only once every
    /// bucket is full.
    async fn mint(&self, prepared: Prepared) -> Result<Ticket, MintError> {
        let Prepared {
            mut value,
            identity_hex,
        } = prepared;
        let minted = self.bounded(async {
            let bucketed = self.keys.bucketed();
            let tries = if bucketed && self.max_outstanding.is_some() {
                BUCKETS
            } else {
                1
            };
            let first = usize::from(rand::random::<u8>()) % BUCKETS;
            let (mut tried, mut taken) = (0, 0);
            while tried < tries {
                let next = (first + tried) % BUCKETS;
                // Where the ticket goes, and which bucket's set counts it.
                let (bucket, quota) = match (bucketed, identity_hex.as_deref()) {
                    (false, _) => (None, None),
                    (true, Some(hex)) => (
                        Some(identity_bucket(hex)),
                        self.max_outstanding.map(|_| next),
                    ),
                    (true, None) => (self.max_outstanding.map(|_| next), None),
                };
                let (parts, ticket) = self.draw(bucket, quota);
                value[DIGEST_AT..MINTED_AT].copy_from_slice(&digest(&parts));
                match self
                    .store(parts.lookup, &value, identity_hex.as_deref())
                    .await?
                {
                    Stored::Minted => return Ok(Ok(ticket)),
                    Stored::Full => tried += 1,
                    Stored::IdentityFull(ms) => {
                        return Ok(Err(MintError::IdentityFull {
                            retry_after: Duration::from_millis(ms),
                        }));
                    }
                    Stored::Taken => {
                        taken += 1;
                        if taken == MINT_DRAWS {
                            return Ok(Err(MintError::Unavailable(StoreUnavailable::new(
                                "redis: every drawn ticket key was taken",
                            ))));
                        }
                    }
                }
            }
            Ok(Err(MintError::Full))
        });
        match minted.await {
            Ok(Ok(ticket)) => Ok(ticket),
            Ok(Err(err)) => Err(err),
            Err(unavailable) => Err(MintError::Unavailable(unavailable)),
        }
    }

    /// A fresh ticket whose key is in `bucket` and whose quota bucket is
    /// `quota`, where they are asked for: random tickets are drawn until
    /// one fits (16 draws on average for a bucket, 256 for both; each is a
    /// few hundred nanoseconds).
    fn draw(&self, bucket: Option<usize>, quota: Option<usize>) -> (TicketParts, Ticket) {
        loop {
            let (parts, ticket) = TicketParts::generate(self.ttl);
            if bucket.is_none_or(|wanted| super::keys::bucket(parts.lookup) == wanted)
                && quota.is_none_or(|wanted| quota_bucket(parts.lookup) == wanted)
            {
                return (parts, ticket);
            }
        }
    }

    /// Stores a ticket unless a cap is reached or its key is taken.
    async fn store(
        &self,
        lookup: u64,
        value: &[u8],
        identity_hex: Option<&str>,
    ) -> Result<Stored, RedisError> {
        let key = self.keys.ticket(lookup);
        let mut conn = self.connection.clone();
        if !self.scripted() {
            let reply: Value = ::redis::cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("PX")
                .arg(self.ttl_ms)
                .arg("NX")
                .query_async(&mut conn)
                .await?;
            return match reply {
                Value::Okay => Ok(Stored::Minted),
                Value::Nil => Ok(Stored::Taken),
                _ => Err(unexpected_reply("SET")),
            };
        }
        let bucket = super::keys::bucket(lookup);
        let identity_set = identity_hex.map(|hex| self.keys.identity_set(bucket, hex));
        // On Cluster with both caps, the ticket sits in its identity's
        // bucket and a place in another bucket's set counts it: taken
        // first, given back if the ticket is not stored.
        let reserved = if self.keys.bucketed() && identity_set.is_some() {
            match self.max_outstanding {
                Some(max) => {
                    let quota = quota_bucket(lookup);
                    let live = self.keys.live(quota);
                    let reply: Value = RESERVE_SCRIPT
                        .key(&live)
                        .arg(&key)
                        .arg(self.ttl_ms)
                        .arg(cap_arg(Some(share(max, quota))))
                        .invoke_async(&mut conn)
                        .await?;
                    match reply {
                        Value::Int(1) => Some(live),
                        Value::Int(0) => return Ok(Stored::Full),
                        _ => return Err(unexpected_reply("reserve script")),
                    }
                }
                None => None,
            }
        } else {
            None
        };
        let store_cap = match (self.keys.bucketed(), self.max_outstanding) {
            (_, None) => None,
            (false, max) => max,
            (true, Some(_)) if reserved.is_some() => None,
            (true, Some(max)) => Some(share(max, bucket)),
        };
        let mut script = MINT_SCRIPT.prepare_invoke();
        script.key(&key).key(self.keys.live(bucket));
        if let Some(set) = &identity_set {
            script.key(set);
        }
        let reply: Result<Value, RedisError> = script
            .arg(value)
            .arg(self.ttl_ms)
            .arg(cap_arg(store_cap))
            .arg(cap_arg(self.max_per_identity))
            .invoke_async(&mut conn)
            .await;
        let stored = match reply {
            Ok(Value::Int(2)) => Ok(Stored::Minted),
            Ok(Value::Int(1)) => Ok(Stored::Taken),
            Ok(Value::Int(0)) => Ok(Stored::Full),
            Ok(Value::Array(ref items)) => match items.as_slice() {
                [Value::Int(3), Value::Int(ms)] => {
                    Ok(Stored::IdentityFull(u64::try_from(*ms).unwrap_or(0)))
                }
                _ => Err(unexpected_reply("mint script")),
            },
            Ok(_) => Err(unexpected_reply("mint script")),
            Err(err) => Err(err),
        };
        if let Some(live) = reserved
            && !matches!(stored, Ok(Stored::Minted))
        {
            // Left behind, the place would count until the TTL: fail
            // closed, never open.
            let _: Result<Value, _> = ::redis::cmd("ZREM")
                .arg(&live)
                .arg(&key)
                .query_async(&mut conn)
                .await;
        }
        stored
    }

    /// Removes a ticket and returns its value, if it was there.
    async fn take(&self, lookup: u64) -> Result<Option<Vec<u8>>, RedisError> {
        let key = self.keys.ticket(lookup);
        let mut conn = self.connection.clone();
        if !self.scripted() {
            return ::redis::cmd("GETDEL")
                .arg(&key)
                .query_async(&mut conn)
                .await;
        }
        if !self.keys.bucketed() {
            return CONSUME_SCRIPT
                .key(&key)
                .key(self.keys.live(0))
                .arg(u8::from(self.max_outstanding.is_some()))
                .arg(self.keys.identity_prefix())
                .invoke_async(&mut conn)
                .await;
        }
        // On Cluster a script touches only the keys it is given, and the
        // identity's set is named in the value: the script takes the
        // ticket out (the one step that decides who gets it) and, without
        // a cap per identity, counts it out of its bucket's set; the sets
        // that the value names are updated after, by themselves.
        let bucket = super::keys::bucket(lookup);
        let own_set = self.max_outstanding.is_some() && self.max_per_identity.is_none();
        let value: Option<Vec<u8>> = CONSUME_SCRIPT
            .key(&key)
            .key(self.keys.live(bucket))
            .arg(u8::from(own_set))
            .arg("")
            .invoke_async(&mut conn)
            .await?;
        if self.max_per_identity.is_some()
            && let Some(hex) = value.as_deref().and_then(identity_hex_in)
        {
            let identity_set = self.keys.identity_set(bucket, hex);
            let mut sets = vec![identity_set];
            if self.max_outstanding.is_some() {
                sets.push(self.keys.live(quota_bucket(lookup)));
            }
            for set in sets {
                // A failure leaves the ticket counted until its TTL ends:
                // fail closed, never open.
                let removed: Result<Value, _> = ::redis::cmd("ZREM")
                    .arg(&set)
                    .arg(&key)
                    .query_async(&mut conn)
                    .await;
                if let Err(err) = removed {
                    tracing::debug!(error = %err, "a consumed ticket stays counted until its TTL");
                }
            }
        }
        Ok(value)
    }

    /// Runs one call to Redis within the timeout.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreUnavailable> {
        match bounded(self.timeout, call).await {
            Ok(answer) => Ok(answer),
            // The connection's own response timeout is the same bound.
            Err(err) if err.is_timeout() => Err(StoreUnavailable::new(format!(
                "redis did not answer within {:?}",
                self.timeout
            ))),
            // Neither the commands nor their replies hold a secret, so the
            // error can be shown as it is.
            Err(err) => Err(StoreUnavailable::new(format!("redis: {err}"))),
        }
    }
}

fn unexpected_reply(command: &'static str) -> RedisError {
    RedisError::from((
        ::redis::ErrorKind::UnexpectedReturnType,
        "unexpected reply",
        command.to_owned(),
    ))
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
            .field("key_prefix", &self.shared.keys.prefix())
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

//! Live revocation: close a signed-out user's sockets, on every replica.
//!
//! A socket outlives the ticket that opened it. [`Revocations`] is a
//! registry of live sockets keyed by a revocation key of the application's
//! choosing (a session id, a user id). Given to
//! [`WsTicketLayer::revocations`](crate::WsTicketLayer::revocations) with a
//! function from a ticket's identity to its key, it puts a [`Revocation`]
//! handle in the request extensions of every upgrade the layer admits; the
//! handler selects on [`Revocation::revoked`] beside its socket and closes
//! it (with code 4401, "fetch a new ticket") when it completes.
//!
//! [`Revocations::revoke`] then does two things for a key:
//!
//! - it signals every live socket of the key and returns how many;
//! - for one [window](Revocations::window) (the store's TTL and a second),
//!   it refuses the key's tickets minted before the call (401, audit
//!   reason [`revoked`](crate::RejectReason::Revoked)), so that a ticket
//!   minted a second before the sign-out dies with the session. The check
//!   compares the ticket's wall-clock [`minted_at`](crate::Redeemed) with
//!   the revocation's time, so replicas should keep their clocks in sync
//!   (NTP); newer tickets (the user signed in again) are not affected.
//!
//! [`Revocations::revoke_all`] does the same for everything, the sockets
//! opened with the internal credential or the session token included (they
//! get a handle too, which only `revoke_all` signals).
//!
//! A socket can also end at an instant: when its identity's sign-in
//! expires ([`WsTicketLayer::expires_at`](crate::WsTicketLayer::expires_at))
//! or at its maximum age
//! ([`max_socket_age`](crate::WsTicketLayer::max_socket_age)). The same
//! handle is signalled, and [`Revocation::reason`] tells the causes apart
//! ([`RevokeReason::Revoked`], [`RevokeReason::Expired`]). One thread
//! serves every deadline of the process, sleeping until the next one falls
//! due; a socket with a deadline costs an entry in its queue, no task and
//! no timer of its own. A deadline is read off the wall clock at the
//! upgrade and kept on the monotonic clock, so a wall clock stepped later
//! moves no socket's end.
//!
//! Memory stays bounded: a handle leaves the registry when its last clone
//! is dropped (the registry holds only live sockets), and revocation
//! records expire with their window, reclaimed in amortized O(1).
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_ws_ticket::{MemoryStore, Revocation, Revocations, WsTicketLayer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Infallible> {
//! let store = MemoryStore::<String>::new();
//! let revocations = Revocations::<String>::new();
//! let service = ServiceBuilder::new()
//!     .layer(
//!         WsTicketLayer::new(store.clone())
//!             // The identity is the key here; a session id is a common choice.
//!             .revocations(revocations.clone(), |user: &String| user.clone()),
//!     )
//!     .service_fn(|req: Request<String>| async move {
//!         // A real handler upgrades, moves the handle into the socket's task
//!         // and selects on `revocation.revoked()`; this one hands it back.
//!         let revocation = req.extensions().get::<Revocation>().cloned();
//!         let mut response = Response::new(String::new());
//!         response.extensions_mut().insert(revocation);
//!         Ok::<_, Infallible>(response)
//!     });
//! let upgrade = |ticket: &str| {
//!     Request::get(format!("/api/ws?ticket={ticket}"))
//!         .header("upgrade", "websocket")
//!         .header("connection", "upgrade")
//!         .body(String::new())
//!         .unwrap()
//! };
//!
//! let ticket = store.mint("alice".to_owned()).unwrap();
//! let response = service.clone().oneshot(upgrade(ticket.expose_secret())).await?;
//! let socket = response.extensions().get::<Option<Revocation>>().cloned().flatten().unwrap();
//! let minted_before = store.mint("alice".to_owned()).unwrap();
//!
//! // alice signs out: her socket is signalled...
//! assert_eq!(revocations.revoke(&"alice".to_owned()), 1);
//! socket.revoked().await;
//! // ...and a ticket minted before the sign-out is refused.
//! let refused = service.oneshot(upgrade(minted_before.expose_secret())).await?;
//! assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
//! # Ok(()) }
//! ```
//!
//! # Several replicas
//!
//! With the `redis` feature, `Revocations::builder().connect(url)` bridges
//! the registry to Redis pub/sub: a revocation made on one replica signals
//! the key's sockets on every replica connected to the same Redis under
//! the same key prefix, and each refuses the key's older tickets.
//! `connect_sentinel` (the primary that Redis Sentinels name, followed
//! across failovers) and `connect_cluster` (Redis Cluster, where the
//! channel is heard at any node) do the same on those topologies.
//!
//! **What travels.** One channel per key prefix, `<prefix>revocations`
//! (`wst:revocations` by default). A revocation is a small JSON message on
//! it: a format version, the sending replica's random id, the wall-clock
//! time of the revocation, and the key serialized with `serde` (or "all"),
//! signed with HMAC-SHA256 when the replicas share a
//! [signing key](RevocationsBuilder::signing_key). Keys never appear in
//! channel or key names. A replica drops a message over 4096 bytes, one
//! dated more than 5 s ahead of its clock, and with a signing key one not
//! signed with it: see the signing key's docs for what access to the
//! channel grants and how to restrict it with Redis ACLs.
//!
//! **What Redis keeps.** Each message also goes into a sorted set of the
//! same name, scored by its time and trimmed to the window: a journal of
//! the revocations that can still refuse a ticket. Message and journal
//! entry are one `MULTI`, one round trip per revocation. A replica that
//! connects, or reconnects after an outage, subscribes first and then
//! reads the journal, so it misses no revocation made while it was not
//! listening, and one started after a sign-out still refuses the tickets
//! minted before it.
//!
//! **The admission path asks Redis nothing.** Each replica keeps the
//! records it hears in its own registry. A local answer could only be
//! wrong about a revocation this replica has not heard, which happens only
//! while its subscription does not deliver. The bridge sends a `PING` on
//! its subscription every 250 ms, and Redis answers a connection in order,
//! after the messages it pushed before: an answer proves that every
//! revocation that reached Redis before it has been applied. So whenever
//! the subscription has not proved itself for the heartbeat and the call
//! timeout (1.25 s by default), because its connection failed or because
//! it went silent without a reset (a partition), until it is back and has
//! read the journal, the registry is not
//! [available](Revocations::is_available) and the layer refuses ticket
//! upgrades with 503 (fail closed: retry later). That bound is the longest
//! a replica cut off from Redis can admit a ticket another replica revoked. With a `RedisStore` on the
//! same Redis those would fail anyway. Sockets already open stay open, and
//! the journal read on reconnection signals those that a revocation made
//! meanwhile covers.
//!
//! **While Redis is down**, revocations made on a replica still work there
//! at once: its sockets are signalled and the older tickets refused. They
//! wait in an outbox (bounded: past 10,000 they are merged into one
//! revocation of everything, the only safe summary) and are sent when Redis
//! is back. The bridge reconnects by itself, with a backoff from 100 ms to
//! 1 s. The outage is logged once as a warning when it starts and once
//! when it ends, never per message.

mod handle;
mod hook;
#[cfg(feature = "redis")]
mod redis;
mod registry;
mod signal;
#[cfg(test)]
mod tests;

pub use handle::{Revocation, RevokedFuture};
pub(crate) use hook::SocketEnds;
#[cfg(all(feature = "redis", any(test, fuzzing)))]
pub(crate) use redis::{Codec as RevocationCodec, Dropped as RevocationDropped, SigningKey};
pub use registry::{Revocations, RevocationsBuilder};
pub use signal::RevokeReason;

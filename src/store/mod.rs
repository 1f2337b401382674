//! Where tickets live: the [`TicketStore`] trait the layer and the mint
//! route are written against, and its implementations.
//!
//! [`MemoryStore`] (the default) keeps tickets in this process, sharded so
//! that concurrent requests rarely meet on a lock. With the `redis` feature,
//! `RedisStore` shares them between replicas. Any other backend fits by
//! implementing [`TicketStore`].
//!
//! The trait is asynchronous through associated future types that are
//! `Send + 'static`, so the layer's own future can name them without boxing.
//! The memory store answers with [`std::future::Ready`]: its path allocates
//! no future at all.
//!
//! ```
//! use tower_ws_ticket::{MemoryStore, TicketStore};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = MemoryStore::<String>::new();
//! let ticket = store.issue("alice".to_owned()).await.unwrap();
//! let redeemed = store.redeem(ticket.expose_secret()).await.unwrap();
//! assert_eq!(redeemed.identity, "alice");
//! // Single use: the same ticket is refused the second time.
//! assert!(store.redeem(ticket.expose_secret()).await.is_err());
//! # }
//! ```

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::error::{MintError, TicketError};
use crate::ticket::Ticket;

mod memory;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;

#[cfg(feature = "redis")]
pub use self::redis::{RedisStore, RedisStoreBuilder};
pub use memory::{MemoryStore, MemoryStoreBuilder};

/// How long a ticket stays valid after it is minted unless a store is told
/// otherwise: 30 seconds.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// A ticket that was consumed: the identity it was minted for, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed<I> {
    /// The identity the ticket was bound to when it was minted.
    pub identity: I,
    /// Wall-clock time of the mint, for logs and audit. Expiry itself is
    /// decided on a monotonic clock.
    pub minted_at: SystemTime,
}

/// A place that mints and consumes tickets, as the layer and the mint
/// route see it.
///
/// Implementations must keep the ticket semantics of the crate: tickets are
/// single use (of any number of concurrent `redeem` calls for one ticket,
/// exactly one succeeds), valid while `now <= minted + ttl`, and a failure
/// to reach the backend is [`TicketError::Unavailable`] /
/// [`MintError::Unavailable`], never a panic.
///
/// The method names differ from [`MemoryStore`]'s synchronous inherent
/// `mint` / `consume` so that both can be called on it without ambiguity.
pub trait TicketStore: Clone + Send + Sync + 'static {
    /// The identity a ticket is bound to (the application's user or session).
    type Identity: Clone + Send + Sync + 'static;
    /// The future [`issue`](TicketStore::issue) returns.
    type IssueFuture: Future<Output = Result<Ticket, MintError>> + Send + 'static;
    /// The future [`redeem`](TicketStore::redeem) returns.
    type RedeemFuture: Future<Output = Result<Redeemed<Self::Identity>, TicketError>>
        + Send
        + 'static;

    /// Mints a ticket bound to `identity`.
    fn issue(&self, identity: Self::Identity) -> Self::IssueFuture;

    /// Consumes the ticket text `presented`, atomically and once.
    fn redeem(&self, presented: &str) -> Self::RedeemFuture;

    /// How long tickets from this store stay valid.
    fn ttl(&self) -> Duration;
}

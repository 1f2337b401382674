//! Where tickets live: the [`TicketStore`] trait the layer and the mint
//! route are written against, and its implementations.
//!
//! # Words
//!
//! The crate says two verbs, everywhere:
//!
//! - **mint**: make a ticket bound to an identity. [`MemoryStore::mint`],
//!   [`TicketStore::mint_ticket`], [`MintError`], the
//!   [`MintService`](crate::MintService) route, the
//!   [`Minted`](crate::AuditEvent::Minted) audit event.
//! - **consume**: use a ticket up, once, to learn its identity.
//!   [`MemoryStore::consume`], [`TicketStore::consume_ticket`],
//!   [`TicketError`], the [`Consumed`](crate::AuditEvent::Consumed) audit
//!   event. What consuming yields is the identity, [`Redeemed`].
//!
//! The trait's methods carry `_ticket` so that they never collide with a
//! store's own synchronous `mint` / `consume`.
//!
//! Both stores can also bind tickets to an [`Audience`] (which guarded
//! route may consume them) and cap the live tickets of each identity
//! (`max_per_identity` on their builders), so that one signed-in user
//! cannot use up the store's `max_outstanding` for everyone.
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
//! let ticket = store.mint_ticket("alice".to_owned(), None).await.unwrap();
//! let redeemed = store.consume_ticket(ticket.expose_secret(), None).await.unwrap();
//! assert_eq!(redeemed.identity, "alice");
//! // Single use: the same ticket is refused the second time.
//! assert!(store.consume_ticket(ticket.expose_secret(), None).await.is_err());
//! # }
//! ```

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::audience::Audience;
use crate::error::{MintError, TicketError};
use crate::ticket::Ticket;

mod memory;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;

#[cfg(all(feature = "redis", any(test, fuzzing)))]
pub(crate) use self::redis::codec_properties;
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
    /// Wall-clock time as the mint began (on the store's
    /// [`Clock::wall`](crate::Clock::wall)), for logs, audit and
    /// revocations: a revocation refuses the tickets dated at or before
    /// its instant. Expiry itself is decided on a monotonic clock.
    pub minted_at: SystemTime,
}

/// A place that mints and consumes tickets, as the layer and the mint
/// route see it.
///
/// Implementations must keep the ticket semantics of the crate: tickets are
/// single use (of any number of concurrent `consume_ticket` calls for one
/// ticket, exactly one succeeds), valid while `now <= minted + ttl`,
/// `minted_at` is the wall-clock time read as the mint began (so never
/// later than the mint's return, nor than the consume), and a
/// failure to reach the backend is [`TicketError::Unavailable`] /
/// [`MintError::Unavailable`], never a panic.
///
/// The futures are `Unpin` as well as `Send + 'static`: the layer polls a
/// consume once as it is made, and when it is ready already (the memory
/// store's always is) hands the request on without boxing anything. A
/// store whose futures are `async` blocks returns them boxed
/// (`Pin<Box<dyn Future<Output = …> + Send>>` is `Unpin`).
///
/// # Audiences
///
/// Both methods take the [`Audience`] the ticket is for, or `None`. A store
/// keeps the audience a ticket was minted for beside it, and on consume
/// compares it with the one asked for: a ticket minted with an audience
/// answers only a consume for that audience, and one minted without
/// answers only a consume without. A mismatch is
/// [`TicketError::WrongAudience`], and the ticket is taken out all the
/// same (burned), exactly as for a wrong secret half.
///
/// The store checks, not the layer, because the store is where the ticket
/// is taken out: the check and the burn are one step, the same for every
/// caller (the layer, an application calling the store itself), and no
/// caller can forget either. It also keeps [`Redeemed`] as it is.
///
/// # Implementing it
///
/// Another backend builds on [`TicketParts`](crate::TicketParts), which
/// draws, parses and compares tickets. A toy one, single process:
///
/// ```
/// use std::collections::HashMap;
/// use std::future::{Ready, ready};
/// use std::sync::{Arc, Mutex};
/// use std::time::{Duration, SystemTime};
/// use tower_ws_ticket::{
///     Audience, MintError, Redacted, Redeemed, Ticket, TicketError, TicketParts, TicketStore,
/// };
///
/// type Secret = [u8; TicketParts::SECRET_LEN];
///
/// struct Entry {
///     secret: Secret,
///     audience: Option<Audience>,
///     identity: String,
///     minted_at: SystemTime,
/// }
///
/// #[derive(Clone, Default)]
/// struct MapStore(Arc<Mutex<HashMap<u64, Entry>>>);
///
/// impl TicketStore for MapStore {
///     type Identity = String;
///     type MintFuture = Ready<Result<Ticket, MintError>>;
///     type ConsumeFuture = Ready<Result<Redeemed<String>, TicketError>>;
///
///     fn mint_ticket(&self, identity: String, audience: Option<&Audience>) -> Self::MintFuture {
///         let (parts, ticket) = TicketParts::generate(self.ttl());
///         let entry = Entry {
///             secret: *parts.expose_secret(),
///             audience: audience.cloned(),
///             identity,
///             minted_at: SystemTime::now(),
///         };
///         self.0.lock().unwrap().insert(parts.lookup(), entry);
///         ready(Ok(ticket))
///     }
///
///     fn consume_ticket(&self, presented: &str, audience: Option<&Audience>) -> Self::ConsumeFuture {
///         let outcome = TicketParts::parse(presented).and_then(|parts| {
///             // Take the entry out first: that makes the ticket single use,
///             // and burns it whatever the checks below find.
///             // (A real store also checks the TTL here.)
///             let taken = self.0.lock().unwrap().remove(&parts.lookup());
///             match taken {
///                 Some(entry) if parts.secret_matches(&entry.secret) => {
///                     if entry.audience.as_ref() != audience {
///                         return Err(TicketError::WrongAudience(Redacted::new(presented)));
///                     }
///                     Ok(Redeemed { identity: entry.identity, minted_at: entry.minted_at })
///                 }
///                 _ => Err(TicketError::Unknown(Redacted::new(presented))),
///             }
///         });
///         ready(outcome)
///     }
///
///     fn ttl(&self) -> Duration {
///         Duration::from_secs(30)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MapStore::default();
/// let ticket = store.mint_ticket("alice".into(), None).await.unwrap();
/// let redeemed = store.consume_ticket(ticket.expose_secret(), None).await.unwrap();
/// assert_eq!(redeemed.identity, "alice");
/// assert!(store.consume_ticket(ticket.expose_secret(), None).await.is_err());
///
/// let admin = Audience::new("admin");
/// let ticket = store.mint_ticket("alice".into(), Some(&admin)).await.unwrap();
/// assert!(matches!(
///     store.consume_ticket(ticket.expose_secret(), None).await,
///     Err(TicketError::WrongAudience(_))
/// ));
/// # }
/// ```
pub trait TicketStore: Clone + Send + Sync + 'static {
    /// The identity a ticket is bound to (the application's user or session).
    type Identity: Clone + Send + Sync + 'static;
    /// The future [`mint_ticket`](TicketStore::mint_ticket) returns.
    type MintFuture: Future<Output = Result<Ticket, MintError>> + Send + Unpin + 'static;
    /// The future [`consume_ticket`](TicketStore::consume_ticket) returns.
    type ConsumeFuture: Future<Output = Result<Redeemed<Self::Identity>, TicketError>>
        + Send
        + Unpin
        + 'static;

    /// Mints a ticket bound to `identity`, and to `audience` when given.
    ///
    /// A store with a cap per identity answers
    /// [`MintError::IdentityFull`] once `identity` holds its maximum of
    /// live tickets.
    fn mint_ticket(
        &self,
        identity: Self::Identity,
        audience: Option<&Audience>,
    ) -> Self::MintFuture;

    /// Consumes the ticket text `presented`, atomically and once, for
    /// `audience` (`None`: for tickets minted without one).
    ///
    /// A ticket of another audience is taken out and refused with
    /// [`TicketError::WrongAudience`]; see [Audiences](TicketStore#audiences).
    fn consume_ticket(&self, presented: &str, audience: Option<&Audience>) -> Self::ConsumeFuture;

    /// How long tickets from this store stay valid.
    fn ttl(&self) -> Duration;
}

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![warn(missing_debug_implementations, rust_2018_idioms, clippy::all)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The shape of the crate, one job per module:
//
//   ticket      ticket text: generate, parse into lookup and secret halves, redact
//   store       the TicketStore trait; memory.rs (sharded, the default),
//               redis.rs (feature "redis")
//   clock       Clock, SystemClock, ManualClock: monotonic time for expiry
//   credential  InternalCredential, SessionToken, a spawned child's attach URL
//   layer       WsTicketLayer / WsTicket / ResponseFuture: the upgrade guard,
//               with upgrade detection, query parsing and URI rewrite beside it
//   mint        MintService: the POST /api/auth/ws-ticket route
//   audit       audit events, the tracing they emit, URI redaction for logs
//   error       TicketError, MintError, StoreUnavailable
pub mod audit;
pub mod clock;
pub mod credential;
pub mod error;
pub mod layer;
pub mod mint;
pub mod store;
pub mod ticket;

pub use audit::{AuditEvent, CredentialKind, MintRefusal, RejectReason, redact_uri};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credential::{AttachUrlError, ChildCredential, InternalCredential, SessionToken};
pub use error::{MintError, StoreUnavailable, TicketError};
pub use layer::{
    ConfigError, DefaultRejection, Principal, Rejection, RejectionResponse, WsTicket, WsTicketLayer,
};
pub use mint::MintService;
pub use store::{DEFAULT_TTL, MemoryStore, MemoryStoreBuilder, Redeemed, TicketStore};
#[cfg(feature = "redis")]
pub use store::{RedisStore, RedisStoreBuilder};
pub use ticket::{Redacted, Ticket, TicketParts};

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![warn(missing_debug_implementations, rust_2018_idioms, clippy::all)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Public names, one rule: every type, trait and function a user names in
// a `use` line is at the crate root (`pub use` below), and the docs,
// README and examples name it there. A module is public only as a chapter
// of the docs (layer, mint, store, revoke, audit, peer, clock, credential,
// error, ticket: their module docs are the guide to their area, their
// items the same as the root's) or for names that are not at the root
// (wire's constants, layer::ResponseFuture, mint::ResponseFuture). A
// module that would only hold one item is private, and the item's docs
// carry what its module said (origin -> ConfigError and
// WsTicketLayer::allowed_origins, extract -> NotBehindLayer, audience ->
// Audience).
//
// The shape of the crate, one job per module. Dependencies point one way,
// from the leaves down the list to the layer and the mint route; nothing
// imports a module below it:
//
//   leaves
//     wire        the wire format: parameter names, credential prefixes, the
//                 subprotocol channel, close codes, CredentialKind, finding a
//                 credential in a request and removing it
//     origin      Origin allowlists and same-origin checks
//     reject      what a rejection gets, one table: RejectReason and
//                 MintRejectReason -> short name (log field, metric label),
//                 HTTP status, close code and close reason, audit level;
//                 the audit trail, the layer and the mint route read it
//     metric      the metrics (feature "metrics"): names, one call each
//                 (labels from reject's short names), the store-latency
//                 timer; empty without the feature
//     error       TicketError, MintError, StoreUnavailable, Redacted
//     clock       Clock, SystemClock, ManualClock: monotonic time for expiry
//     peer        PeerExtractor, DefaultPeer: where a request's peer address is
//     audience    Audience: which guarded route a ticket is for
//     hash        the hasher of maps keyed by a u64 the crate draws itself
//                 (the memory store's tickets, the registry's handles)
//     extract     (feature "axum") what the extractors share: reading the
//                 layer's extensions, NotBehindLayer when they are missing
//   credentials
//     ticket      ticket text: generate, parse into lookup and secret halves
//     credential  InternalCredential, SessionToken, a spawned child's attach URL
//   redis         (feature "redis") what the Redis store and the revocation
//                 bridge share: Connection (the deployment's Redis, one type
//                 whatever the topology: one node, Sentinel's primary
//                 followed across failovers in sentinel.rs, or Cluster in
//                 cluster.rs), the bound on each call, the default key
//                 prefix
//   store         the TicketStore trait; memory/ (sharded, the default) with
//                 memory/per_identity.rs (its caps per identity), redis/
//                 (feature "redis": store, builder, codec, keys and their
//                 Cluster buckets, scripts)
//   audit         audit events, the tracing they emit, URI redaction for logs;
//                 re-exports the reasons from reject
//   revoke        Revocations (the registry of live sockets by key), the
//                 Revocation handle a socket holds and the RevokedFuture it
//                 hands out; signal.rs is how a handle is told to end and
//                 why (RevokeReason), with the one timer thread that ends
//                 sockets at an instant (expiry, maximum age);
//                 hook.rs holds SocketEnds, what the layer configures;
//                 redis/ bridges replicas (feature "redis": builder,
//                 message with its size, date and signature checks,
//                 bridge, task)
//   layer         WsTicketLayer (the builder), WsTicket (service), ResponseFuture;
//                 admission.rs decides, principal.rs is what a handler gets,
//                 upgrade.rs / scope.rs say which requests are guarded,
//                 subprotocol.rs selects the marker on the answer,
//                 rejection.rs builds the response of a rejection, close.rs
//                 turns it into an accepted socket closed with the table's
//                 code (feature "tokio")
//   mint          MintService: the POST /api/auth/ws-ticket route
mod audience;
pub mod audit;
pub mod clock;
pub mod credential;
pub mod error;
#[cfg(feature = "axum")]
mod extract;
mod hash;
pub mod layer;
mod metric;
pub mod mint;
mod origin;
pub mod peer;
#[cfg(feature = "redis")]
mod redis;
mod reject;
pub mod revoke;
pub mod store;
pub mod ticket;
pub mod wire;

// Not API: entry points for the fuzz targets and the property tests,
// compiled only for them (cargo fuzz sets `--cfg fuzzing`).
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;

pub use audience::Audience;
pub use audit::{
    AuditEvent, Delivery, MintRejectReason, RejectReason, redact_subprotocols, redact_uri,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credential::{AttachUrlError, ChildCredential, InternalCredential, SessionToken};
pub use error::{MintError, Redacted, StoreUnavailable, TicketError};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::NotBehindLayer;
pub use layer::{
    DefaultRejection, Principal, Rejection, RejectionResponse, WsTicket, WsTicketLayer,
};
pub use mint::MintService;
pub use origin::ConfigError;
pub use peer::{DefaultPeer, PeerExtractor};
pub use revoke::{Revocation, Revocations, RevocationsBuilder, RevokeReason, RevokedFuture};
pub use store::{DEFAULT_TTL, MemoryStore, MemoryStoreBuilder, Redeemed, TicketStore};
#[cfg(feature = "redis")]
pub use store::{RedisStore, RedisStoreBuilder};
pub use ticket::{Ticket, TicketParts};
pub use wire::CredentialKind;

//! The mint route: [`MintService`] answers an authenticated
//! `POST /api/auth/ws-ticket` with a fresh ticket.
//!
//! `ttl_seconds` is the store's TTL in whole seconds, rounded down.
//!
//! It reads the caller's identity from the request extensions, where the
//! application's own authentication put it (or through
//! [`identity_from`](MintService::identity_from)), mints a ticket bound to
//! it and answers `200` with `{"ticket":"wst_…","ttl_seconds":30}`,
//! `Content-Type: application/json` and `Cache-Control: no-store`.
//!
//! | request | response |
//! |---|---|
//! | `POST` with an identity | 200 and the ticket |
//! | any other method | 405, `Allow: POST` |
//! | an `Origin` that is not the request's own (its `Host`) nor in [`allowed_origins`](MintService::allowed_origins) | 403 |
//! | no identity | 401 |
//! | the identity holds its store's [`max_per_identity`](crate::MemoryStoreBuilder::max_per_identity) | 429, `Retry-After`: seconds until its oldest live ticket expires |
//! | store full | 503, `Retry-After: 1` |
//! | store unreachable | 503, `Retry-After: 1` |
//!
//! It is a tower `Service` for any request body with `Error = Infallible`,
//! so axum takes it with `Router::route_service`.
//!
//! Cross-site requests are refused by default: a browser sends `Origin` on
//! every `POST`, and a page on another site that makes your visitor's
//! browser `POST` here (with their cookies) is refused with 403 unless its
//! origin is in [`allowed_origins`](MintService::allowed_origins). A
//! request without `Origin` (not a browser) passes this check.
//!
//! Each live ticket takes a place under the store's cap until it is used
//! or expires, so one signed-in client minting in a loop could fill the
//! store for everyone for a TTL. Cap each identity's live tickets in the
//! store (`max_per_identity` on its builder): past it this route answers
//! `429 Too Many Requests` with `Retry-After`, and everyone else keeps
//! minting.
//!
//! With [`audience`](MintService::audience), the tickets are bound to one
//! guarded route; see [`Audience`](crate::Audience).
//!
//! ```
//! use http::{Request, StatusCode};
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//! use tower_ws_ticket::{MemoryStore, MintService};
//!
//! #[derive(Clone)]
//! struct UserId(u64);
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = MemoryStore::<UserId>::new();
//! let mint = MintService::new(store.clone());
//!
//! // Your auth middleware puts the identity in the extensions.
//! let mut req = Request::post("/api/auth/ws-ticket").body(()).unwrap();
//! req.extensions_mut().insert(UserId(7));
//! let response = mint.clone().oneshot(req).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! let body = std::str::from_utf8(&body).unwrap();
//! assert!(body.starts_with(r#"{"ticket":"wst_"#));
//! assert!(body.ends_with(r#","ttl_seconds":30}"#));
//!
//! // Without an identity: 401.
//! let anonymous = Request::post("/api/auth/ws-ticket").body(()).unwrap();
//! assert_eq!(mint.oneshot(anonymous).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```

mod future;
mod response;
mod service;

pub use future::ResponseFuture;
pub use service::MintService;

#[cfg(test)]
mod tests;

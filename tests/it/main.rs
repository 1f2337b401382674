//! Every integration test that needs nothing beyond Rust, in one binary:
//! each file here is a module, so `cargo test` links axum, warp, tonic and
//! hyper once instead of once per file. Helpers the tests share live in
//! the demo crate's `testkit`.
//!
//! Separate binaries, on purpose: the suites that need an outside program
//! (`tests/redis*.rs`, `tests/revocation_redis.rs`, `tests/browser.rs`) and
//! the two tests that install a global `tracing` subscriber
//! (`tests/axum_log.rs`, `tests/dashboard_log.rs`), which would otherwise
//! capture, and slow down, every test here.

// The store conformance suite, shared with `tests/redis.rs`; its macro
// names `$crate::store_suite`, so it sits at the root.
#[path = "../store_suite/mod.rs"]
mod store_suite;

mod attacks;
mod audience;
mod axum_feature;
mod axum_lenient;
mod dashboard;
mod memory_store;
mod revocation;
mod stack_axum;
mod stack_hyper;
mod stack_tonic;
mod stack_warp;
mod subprotocol;
mod with_axum_login;

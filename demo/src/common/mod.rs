//! What the four stack apps ([`stack_axum`](crate::stack_axum),
//! [`stack_tonic`](crate::stack_tonic), [`stack_warp`](crate::stack_warp),
//! [`stack_hyper`](crate::stack_hyper)) share, so they cannot drift apart.
//!
//! - [`identity`]: the signed-in [`User`], its [`Store`], and the stand-in
//!   sign-in ([`DEMO_USER_HEADER`], [`demo_user`]);
//! - [`handlers`]: the [`greeting`] a socket opens with, and the axum pieces
//!   of `stack_axum` and `stack_tonic`'s web routes ([`demo_auth`],
//!   [`socket()`], [`echo`]);
//! - [`serve`]: the hyper-util accept loop of `stack_tonic`, `stack_warp` and
//!   `stack_hyper` ([`serve_with_upgrades`]);
//! - [`start`]: the first lines of each example's `main` ([`listen`],
//!   [`print_ticket_hint`]).
//!
//! What is specific to a stack stays in that stack's module.

pub mod handlers;
pub mod identity;
pub mod serve;
pub mod start;

pub use handlers::{demo_auth, echo, greeting, socket};
pub use identity::{DEMO_USER_HEADER, MINT_PATH, Store, User, demo_user};
pub use serve::serve_with_upgrades;
pub use start::{listen, print_ticket_hint};

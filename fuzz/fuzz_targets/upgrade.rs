//! Upgrade detection against axum, tungstenite, warp and hyper handler
//! models: see `check_upgrade`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_ws_ticket_fuzz::{NearHandshake, check_upgrade};

fuzz_target!(|input: NearHandshake| check_upgrade(&input.0));

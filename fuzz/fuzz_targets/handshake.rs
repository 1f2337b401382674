//! Accept-then-close's handshake validation (RFC 6455 / RFC 8441): see
//! `check_handshake`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_ws_ticket_fuzz::{NearHandshake, check_handshake};

fuzz_target!(|input: NearHandshake| check_handshake(&input.0));

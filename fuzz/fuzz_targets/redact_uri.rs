//! `redact_uri`: see `check_redact_uri`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_ws_ticket_fuzz::{AnyUri, check_redact_uri};

fuzz_target!(|input: AnyUri| check_redact_uri(&input.0));

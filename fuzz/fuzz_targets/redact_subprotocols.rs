//! `redact_subprotocols`: see `check_redact_subprotocols`.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use tower_ws_ticket_fuzz::{PROTOCOL_WORDS, check_redact_subprotocols, header_value};

#[derive(Debug)]
struct Input(HeaderValue);

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        header_value(u, PROTOCOL_WORDS).map(Self)
    }
}

fuzz_target!(|input: Input| check_redact_subprotocols(&input.0));

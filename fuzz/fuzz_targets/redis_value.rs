//! The Redis store's value codec: see `check_redis_value`. What the store
//! writes reads back, under the right ticket and audience only, holds no
//! piece of the secret, and any bytes read as a stored value are an
//! outcome, never a panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tower_ws_ticket::fuzzing::check_redis_value;

#[derive(Debug, Arbitrary)]
struct Input {
    identity: String,
    audience: Option<String>,
    key: Option<String>,
    garbage: Vec<u8>,
}

fuzz_target!(|input: Input| {
    check_redis_value(
        &input.identity,
        input.audience.as_deref(),
        input.key.as_deref(),
        &input.garbage,
    );
});

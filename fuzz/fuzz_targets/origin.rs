//! Origin allowlists and same-origin: see `check_origins`.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tower_ws_ticket_fuzz::{ORIGIN_WORDS, check_origins, text};

#[derive(Debug)]
struct Input {
    entries: Vec<String>,
    presented: Vec<u8>,
    host: String,
    flips: u64,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let entries = (0..u.int_in_range(0..=3)?)
            .map(|_| text(u, ORIGIN_WORDS, 6))
            .collect::<Result<_>>()?;
        let presented = if u.ratio(7u8, 8)? {
            text(u, ORIGIN_WORDS, 6)?.into_bytes()
        } else {
            <&[u8]>::arbitrary(u)?.to_vec()
        };
        Ok(Self {
            entries,
            presented,
            host: text(u, ORIGIN_WORDS, 3)?,
            flips: u.arbitrary()?,
        })
    }
}

fuzz_target!(|input: Input| {
    let entries: Vec<&str> = input.entries.iter().map(String::as_str).collect();
    check_origins(&entries, &input.presented, &input.host, input.flips);
    // The presented value as an allowlist entry of its own.
    if let Ok(text) = std::str::from_utf8(&input.presented) {
        check_origins(&[text], &input.presented, &input.host, input.flips);
    }
});

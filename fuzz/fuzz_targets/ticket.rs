//! Ticket parsing: see `check_ticket_text` and `check_ticket_bytes`.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tower_ws_ticket_fuzz::{check_ticket_bytes, check_ticket_text};

#[derive(Debug)]
enum Input {
    /// Any text.
    Text(String),
    /// `wst_` and text of the base64url alphabet (and its neighbours),
    /// around the right length.
    NearTicket(String),
    /// Any 32 bytes, spelled as a ticket.
    Bytes([u8; 32]),
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.int_in_range(0u8..=2)? {
            0 => Self::Text(u.arbitrary()?),
            1 => {
                const ALPHABET: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.";
                let mut text = (*u.choose(&["wst_", "WST_", "wsi_", "wst", ""])?).to_owned();
                for _ in 0..u.int_in_range(40..=46)? {
                    text.push(char::from(*u.choose(ALPHABET)?));
                }
                Self::NearTicket(text)
            }
            _ => Self::Bytes(u.arbitrary()?),
        })
    }
}

fuzz_target!(|input: Input| match input {
    Input::Text(text) | Input::NearTicket(text) => check_ticket_text(&text),
    Input::Bytes(raw) => check_ticket_bytes(raw),
});

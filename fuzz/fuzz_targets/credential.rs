//! Credential finding and the URI / `Sec-WebSocket-Protocol` rewrite:
//! see `check_credential`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_ws_ticket_fuzz::{AnyUri, Protocols, check_credential};

fuzz_target!(|input: (AnyUri, Protocols)| {
    let (AnyUri(uri), Protocols(headers)) = input;
    check_credential(&uri, &headers);
});

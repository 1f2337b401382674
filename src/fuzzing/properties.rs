//! What each parser must guarantee, for any input: each `check_*` function
//! panics with the input and the broken property when one does not hold.
//!
//! The oracles here are models written apart from the code under test
//! (what axum, tungstenite or a router would do; what a credential looks
//! like), never the crate's own helpers: a property checked with the
//! function it checks proves nothing.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{
    CONNECTION, HeaderName, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Uri, Version};
use percent_encoding::percent_decode_str;

use super::{CredentialKind, Found, NotOne, Verdict};
use crate::ticket::TicketParts;

#[cfg(feature = "redis")]
mod revocation;
#[cfg(feature = "redis")]
pub use revocation::*;

/// Secrets shorter than this are not looked for in an output: a short
/// value (`a`, `1`) shows up in any text by chance.
pub const MIN_SECRET: usize = 8;

const PARAMS: [&str; 3] = ["ticket", "internal", "token"];
const ENTRY_PREFIX: &str = "ws-ticket.";

// ---------------------------------------------------------------------------
// Words that matter to each parser, for the fuzz targets' and the property
// tests' inputs
// ---------------------------------------------------------------------------

/// Words of a query: credential names and prefixes, escapes, separators.
pub const QUERY_WORDS: &[&str] = &[
    "ticket",
    "internal",
    "token",
    "Ticket",
    "TOKEN",
    "%74icket",
    "tick%65t",
    "wst_",
    "wsi_",
    "WST_",
    "w%73t_",
    "AbCdEfGh",
    "0123456789",
    "=",
    "=",
    "&",
    "&",
    ";",
    "+",
    "%",
    "%2",
    "%26",
    "%3B",
    "%3D",
    "%20",
    "%ff",
    "%00",
    "x",
    "-",
    "_",
];
/// Words of a path: segments, dot-segments, escaped dots and separators.
pub const PATH_WORDS: &[&str] = &[
    "api", "ws", "API", "Ws", "/", "/", "//", "..", ".", "%2e", "%2E", "%2e%2e", "%2F", "%2f",
    "%25", "%252e", "%5C", "\\", "%41", "%77", "x", "%", "%ff",
];
/// Words of a `Sec-WebSocket-Protocol` value.
pub const PROTOCOL_WORDS: &[&str] = &[
    "ws-ticket",
    "ws-ticket.",
    "WS-Ticket.",
    "wst_",
    "wsi_",
    "WSI_",
    "AbCdEfGh12",
    "chat.v1",
    ",",
    ", ",
    " ",
    "\t",
    "x",
];
/// Words of an origin or a host.
pub const ORIGIN_WORDS: &[&str] = &[
    "http",
    "https",
    "ws",
    "HTTPS",
    "chrome-extension",
    "://",
    "://",
    "app.example.com",
    "App.Example.COM",
    "localhost",
    "127.0.0.1",
    ":",
    ":80",
    ":443",
    ":3000",
    ":0443",
    ":99999",
    ".",
    "[::1]",
    "[",
    "]",
    "/",
    "@",
    "?",
    "#",
    "null",
];
/// Words of the handshake headers' values.
pub const HEADER_WORDS: &[&str] = &[
    "websocket",
    "WebSocket",
    "upgrade",
    "Upgrade",
    "keep-alive",
    "h2c",
    "13",
    "8",
    " ",
    ",",
    "\t",
    "dGhlIHNhbXBsZSBub25jZQ==",
    "c2hvcnQ=",
    "x",
];
/// The header names that matter to a handshake.
pub const HEADER_NAMES: &[&str] = &[
    "upgrade",
    "connection",
    "sec-websocket-version",
    "sec-websocket-key",
    "sec-websocket-protocol",
    "origin",
    "host",
];

// ---------------------------------------------------------------------------
// Shared models
// ---------------------------------------------------------------------------

/// Query decoding as form_urlencoded (and so axum, warp and the layer)
/// reads it: `+` is a space, then percent-escapes, invalid UTF-8 replaced.
pub fn form_decode(text: &str) -> String {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The non-empty `&`-separated pieces of a query.
fn pieces(query: &str) -> Vec<&str> {
    query.split('&').filter(|piece| !piece.is_empty()).collect()
}

/// A piece's raw name and raw value (empty when there is no `=`).
fn split_piece(piece: &str) -> (&str, &str) {
    piece.split_once('=').unwrap_or((piece, ""))
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Every substring of `text` that reads like a ticket or an internal
/// credential and is at least [`MIN_SECRET`] long: `wst_` or `wsi_` in any
/// case, and the base64url characters after it.
pub fn credential_looking(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for start in 0..bytes.len().saturating_sub(3) {
        let head = &bytes[start..start + 4];
        if !(head.eq_ignore_ascii_case(b"wst_") || head.eq_ignore_ascii_case(b"wsi_")) {
            continue;
        }
        let end = start
            + 4
            + bytes[start + 4..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
                .count();
        if end - start >= MIN_SECRET {
            found.push(&text[start..end]);
        }
    }
    found
}

/// Whether `secret` shows in `text`, as it is or percent-decoded.
fn shows(text: &str, secret: &str) -> bool {
    text.contains(secret) || form_decode(text).contains(secret)
}

/// `text` with the ASCII letters at the positions `flips` selects (bit
/// `i % 64` for byte `i`) in the other case.
pub fn flip_case(text: &[u8], flips: u64) -> Vec<u8> {
    text.iter()
        .enumerate()
        .map(|(i, b)| {
            if flips >> (i % 64) & 1 == 0 {
                *b
            } else if b.is_ascii_lowercase() {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            }
        })
        .collect()
}

/// The entries of every `Sec-WebSocket-Protocol` header, trimmed; `None`
/// when a header is not text.
fn protocol_entries(headers: &HeaderMap) -> Option<Vec<String>> {
    let mut entries = Vec::new();
    for value in headers.get_all(SEC_WEBSOCKET_PROTOCOL) {
        entries.extend(entries_of(value.to_str().ok()?));
    }
    Some(entries)
}

fn entries_of(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',')
        .map(|entry| entry.trim_matches([' ', '\t']))
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
}

fn is_credential_entry(entry: &str) -> bool {
    starts_with_ignore_case(entry, ENTRY_PREFIX)
}

// ---------------------------------------------------------------------------
// Credential finding and rewrite
// ---------------------------------------------------------------------------

/// [`find_credential`](super::find_credential) over any URI and
/// `Sec-WebSocket-Protocol` headers:
///
/// - a header that is not text is refused, whatever else is presented: it
///   may hide a credential entry (as ambiguous when two credentials are
///   read besides it, else as malformed);
/// - no credential is `Missing`; two anywhere (query pieces named exactly
///   `ticket`, `internal` or `token`, `ws-ticket.` entries in any case)
///   are refused, whatever their values;
/// - one in the query: found, with its decoded value; the rewritten URI
///   parses to itself, keeps scheme, authority, path and every other piece
///   in order, holds no credential parameter, and does not show the value;
/// - one in the header: found when its value starts with `wst_` or `wsi_`
///   (refused otherwise); the rest of the
///   header is the other entries in order, with no credential entry and
///   without the value.
pub fn check_credential(uri: &Uri, headers: &HeaderMap) {
    let query = uri.query().unwrap_or("");
    let in_query: Vec<(usize, CredentialKind, String)> = pieces(query)
        .iter()
        .enumerate()
        .filter_map(|(i, piece)| {
            let (name, value) = split_piece(piece);
            let kind = match form_decode(name).as_str() {
                "ticket" => CredentialKind::Ticket,
                "internal" => CredentialKind::Internal,
                "token" => CredentialKind::SessionToken,
                _ => return None,
            };
            Some((i, kind, form_decode(value)))
        })
        .collect();
    let entries = protocol_entries(headers);
    let in_header = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .flat_map(|value| entries_of(value.to_str().unwrap_or("")))
        .filter(|entry| is_credential_entry(entry))
        .count();
    let found = super::find_credential(uri, headers);
    let context = || format!("uri {uri:?}, headers {headers:?}, found {found:?}");
    let Some(entries) = entries else {
        // Two credentials read before the unreadable line already make
        // the request ambiguous: refused either way, nothing consumed.
        let refused = match in_query.len() + in_header {
            0 | 1 => matches!(found, Err(NotOne::Malformed)),
            _ => matches!(found, Err(NotOne::Ambiguous | NotOne::Malformed)),
        };
        assert!(refused, "an unreadable header not refused: {}", context());
        return;
    };
    match in_query.len() + in_header {
        0 => assert_eq!(
            found.as_ref().err(),
            Some(&NotOne::Missing),
            "{}",
            context()
        ),
        1 => {}
        _ => assert!(
            matches!(found, Err(NotOne::Ambiguous | NotOne::Malformed)),
            "two credentials not refused: {}",
            context()
        ),
    }
    if in_query.len() + in_header != 1 {
        return;
    }
    if let [(index, kind, value)] = &in_query[..] {
        let Ok(Found::Query {
            kind: found_kind,
            value: found_value,
            uri: rewritten,
        }) = &found
        else {
            panic!("one credential in the query not found: {}", context());
        };
        assert_eq!((found_kind, found_value), (kind, value), "{}", context());
        check_rewritten_uri(uri, *index, value, rewritten);
        return;
    }
    // The one credential is a header entry.
    let (credential, others): (Vec<&String>, Vec<&String>) =
        entries.iter().partition(|entry| is_credential_entry(entry));
    let value = &credential[0][ENTRY_PREFIX.len()..];
    let kind = if value.starts_with("wst_") {
        CredentialKind::Ticket
    } else if value.starts_with("wsi_") {
        CredentialKind::Internal
    } else {
        assert_eq!(
            found.as_ref().err(),
            Some(&NotOne::Malformed),
            "{}",
            context()
        );
        return;
    };
    let Ok(Found::Protocol {
        kind: found_kind,
        value: found_value,
        rest,
    }) = &found
    else {
        panic!("one credential entry not found: {}", context());
    };
    assert_eq!(
        (*found_kind, found_value.as_str()),
        (kind, value),
        "{}",
        context()
    );
    let rest_text = rest
        .as_ref()
        .map(|rest| rest.to_str().expect("text").to_owned());
    let kept: Vec<String> = rest_text
        .as_deref()
        .map(entries_of)
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(
        kept,
        others.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "the other entries, in order: {}",
        context()
    );
    assert!(
        !kept.iter().any(|entry| is_credential_entry(entry)),
        "{}",
        context()
    );
    if value.len() >= MIN_SECRET && !others.iter().any(|entry| entry.contains(value)) {
        assert!(
            !rest_text.unwrap_or_default().contains(value),
            "the value stays in the header: {}",
            context()
        );
    }
    // Without the entry, the request presents nothing.
    let mut without = headers.clone();
    without.remove(SEC_WEBSOCKET_PROTOCOL);
    if let Some(rest) = rest {
        without.insert(SEC_WEBSOCKET_PROTOCOL, rest.clone());
    }
    assert!(
        matches!(super::find_credential(uri, &without), Err(NotOne::Missing)),
        "{}",
        context()
    );
}

/// The URI handed on without the credential piece `index` of `original`.
fn check_rewritten_uri(original: &Uri, index: usize, value: &str, rewritten: &Uri) {
    let context = || format!("{original:?} -> {rewritten:?}");
    let text = rewritten.to_string();
    assert_eq!(
        text.parse::<Uri>().ok().as_ref(),
        Some(rewritten),
        "does not parse back: {}",
        context()
    );
    assert_eq!(rewritten.scheme(), original.scheme(), "{}", context());
    assert_eq!(rewritten.authority(), original.authority(), "{}", context());
    assert_eq!(rewritten.path(), original.path(), "{}", context());
    let mut expected = pieces(original.query().unwrap_or(""));
    let removed = expected.remove(index);
    let kept = pieces(rewritten.query().unwrap_or(""));
    assert_eq!(kept, expected, "other pieces, in order: {}", context());
    assert!(
        !kept
            .iter()
            .any(|piece| PARAMS.contains(&form_decode(split_piece(piece).0).as_str())),
        "a credential parameter is left: {}",
        context()
    );
    // The value may show in the rewritten URI only where the original
    // showed it outside the credential piece (the path, another piece).
    let head = |uri: &Uri| format!("{:?}{:?}{}", uri.scheme(), uri.authority(), uri.path());
    let shown_in = |head: String, pieces: &[&str]| {
        shows(&head, value) || pieces.iter().any(|piece| shows(piece, value))
    };
    if value.chars().count() >= MIN_SECRET && !shown_in(head(original), &expected) {
        assert!(
            !shown_in(head(rewritten), &kept),
            "the value of {removed:?} is still shown: {}",
            context()
        );
    }
    assert!(
        matches!(
            super::find_credential(rewritten, &HeaderMap::new()),
            Err(NotOne::Missing)
        ),
        "{}",
        context()
    );
}

// ---------------------------------------------------------------------------
// Upgrade detection
// ---------------------------------------------------------------------------

fn first<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h HeaderValue> {
    headers.get(name)
}

/// Whether a comma-separated list in any header `name` holds `token`.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

fn protocol_is_websocket<B>(req: &Request<B>) -> bool {
    req.extensions()
        .get::<hyper::ext::Protocol>()
        .is_some_and(|protocol| protocol.as_str() == "websocket")
}

/// axum 0.8's `WebSocketUpgrade` extractor (`extract/ws.rs`), leaving out
/// its last check (hyper's `OnUpgrade` in the extensions) so that the
/// model accepts a little more than axum does.
pub fn axum_accepts<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    let eq = |name: &HeaderName, value: &str| {
        first(headers, name).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
    };
    let shape = if req.version() <= Version::HTTP_11 {
        req.method() == Method::GET
            && first(headers, &CONNECTION).is_some_and(|v| {
                std::str::from_utf8(v.as_bytes())
                    .is_ok_and(|text| text.to_ascii_lowercase().contains("upgrade"))
            })
            && eq(&UPGRADE, "websocket")
            && headers.contains_key(SEC_WEBSOCKET_KEY)
    } else {
        req.method() == Method::CONNECT && protocol_is_websocket(req)
    };
    shape && eq(&SEC_WEBSOCKET_VERSION, "13")
}

/// tungstenite 0.28's server handshake (`handshake/server.rs`,
/// `create_parts`), as tokio-tungstenite's `accept_hdr_async` runs it.
pub fn tungstenite_accepts<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    let text = |name: &HeaderName| first(headers, name).and_then(|v| v.to_str().ok());
    req.method() == Method::GET
        && req.version() >= Version::HTTP_11
        && text(&CONNECTION).is_some_and(|v| {
            v.split([' ', ','])
                .any(|token| token.eq_ignore_ascii_case("upgrade"))
        })
        && text(&UPGRADE).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && first(headers, &SEC_WEBSOCKET_VERSION).is_some_and(|v| v == "13")
        && headers.contains_key(SEC_WEBSOCKET_KEY)
}

/// warp 0.4's `ws()` filter: `Connection` holding `upgrade` as a token in
/// any of its headers, the first `Upgrade` equal to `websocket` in any
/// case, version `13`, a key; no HTTP version check.
pub fn warp_accepts<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    req.method() == Method::GET
        && has_token(headers, &CONNECTION, "upgrade")
        && first(headers, &UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
        && first(headers, &SEC_WEBSOCKET_VERSION).is_some_and(|v| v == "13")
        && headers.contains_key(SEC_WEBSOCKET_KEY)
}

/// A hand-written hyper handler that checks tokens anywhere in the lists
/// (the crate's own `stack_hyper` example), or upgrades any CONNECT: hyper
/// hands over any HTTP/1.1 request with an `Upgrade` header answered 101,
/// and any `CONNECT` answered 2xx, over HTTP/1.1 and HTTP/2 alike.
pub fn hyper_handler_accepts<B>(req: &Request<B>) -> bool {
    req.method() == Method::CONNECT
        || (req.version() == Version::HTTP_11
            && has_token(req.headers(), &UPGRADE, "websocket")
            && has_token(req.headers(), &CONNECTION, "upgrade"))
}

/// [`is_websocket_upgrade`](super::is_websocket_upgrade) over any request:
/// it never says no to a request that axum, tungstenite, warp or a
/// hand-written hyper handler would turn into a socket; and a request with
/// no `Upgrade` header that is not a `CONNECT` is never an upgrade (plain
/// requests pass untouched).
pub fn check_upgrade(req: &Request<()>) {
    let detected = super::is_websocket_upgrade(req);
    for (model, accepts) in [
        ("axum", axum_accepts(req)),
        ("tungstenite", tungstenite_accepts(req)),
        ("warp", warp_accepts(req)),
        ("hyper handler", hyper_handler_accepts(req)),
    ] {
        assert!(
            !accepts || detected,
            "{model} upgrades what the guard passes: {req:?}"
        );
    }
    if req.method() != Method::CONNECT && !req.headers().contains_key(UPGRADE) {
        assert!(!detected, "a plain request taken for an upgrade: {req:?}");
    }
}

// ---------------------------------------------------------------------------
// Accept-then-close handshake validation
// ---------------------------------------------------------------------------

/// [`handshake`](super::handshake) over any request: whatever it accepts
/// is a valid WebSocket handshake, and its answer is right.
///
/// - RFC 6455: `GET`, HTTP/1.1, one `Sec-WebSocket-Version` that is `13`,
///   `Upgrade` holding `websocket`, `Connection` holding `upgrade`, one
///   `Sec-WebSocket-Key` that is base64 of 16 bytes; the accept key is
///   base64(SHA-1(key ++ GUID)).
/// - RFC 8441: an HTTP/2 `CONNECT` with `:protocol` `websocket` and one
///   `Sec-WebSocket-Version` that is `13`.
///
/// Also: the protocol a refusal selects is an offered entry that carries
/// no credential.
#[cfg(feature = "tokio")]
pub fn check_handshake(req: &Request<()>) {
    use base64::engine::general_purpose::STANDARD;
    use sha1::{Digest as _, Sha1};

    use super::Handshake;

    let headers = req.headers();
    if let Some(handshake) = super::handshake(req) {
        let versions: Vec<_> = headers.get_all(SEC_WEBSOCKET_VERSION).iter().collect();
        assert!(
            matches!(&versions[..], [v] if v.as_bytes().trim_ascii() == b"13"),
            "version not exactly 13: {req:?}"
        );
        match handshake {
            Handshake::Http1 { accept } => {
                assert_eq!(req.method(), Method::GET, "{req:?}");
                assert_eq!(req.version(), Version::HTTP_11, "{req:?}");
                assert!(has_token(headers, &UPGRADE, "websocket"), "{req:?}");
                assert!(has_token(headers, &CONNECTION, "upgrade"), "{req:?}");
                let keys: Vec<_> = headers.get_all(SEC_WEBSOCKET_KEY).iter().collect();
                let [key] = &keys[..] else {
                    panic!("not exactly one key: {req:?}");
                };
                assert_eq!(
                    STANDARD.decode(key.as_bytes()).map(|nonce| nonce.len()),
                    Ok(16),
                    "key: {req:?}"
                );
                let mut digest = Sha1::new();
                digest.update(key.as_bytes());
                digest.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
                assert_eq!(accept, STANDARD.encode(digest.finalize()), "{req:?}");
            }
            Handshake::Http2 => {
                assert_eq!(req.method(), Method::CONNECT, "{req:?}");
                assert_eq!(req.version(), Version::HTTP_2, "not HTTP/2: {req:?}");
                assert!(protocol_is_websocket(req), "{req:?}");
            }
        }
    }
    if let Some(selected) = super::protocol_to_select(headers) {
        let offered: Vec<String> = headers
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(entries_of)
            .collect();
        assert!(offered.iter().any(|entry| entry == selected), "{req:?}");
        assert!(
            !is_credential_entry(selected) && credential_looking(selected).is_empty(),
            "selected a credential: {req:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Path scope
// ---------------------------------------------------------------------------

/// A canonical path as text again: segments joined with `/`, each `%`
/// escaped (the one character `canonical` gives a meaning to).
pub fn render(segments: &[String]) -> String {
    segments
        .iter()
        .map(|segment| format!("/{}", segment.replace('%', "%25")))
        .collect()
}

fn decode_path(text: &str) -> Cow<'_, str> {
    percent_decode_str(text).decode_utf8_lossy()
}

/// How a simple router splits a path into segments.
#[derive(Debug, Clone, Copy)]
enum Split {
    /// On `/`, escapes left as they are (axum, warp, `strip_prefix`).
    Raw,
    /// On `/`, then each segment percent-decoded.
    PerSegment,
    /// Percent-decoded, then split (an encoded `/` is a separator).
    Decoded,
}

/// One simple router's reading of a path: how it splits, whether it keeps
/// empty segments (`//`), and whether it applies dot-segments (RFC 3986
/// section 5.2.4, where `..` also removes an empty segment).
fn router_reading(path: &str, split: Split, keep_empty: bool, resolve: bool) -> Vec<String> {
    let decoded;
    let text = match split {
        Split::Decoded => {
            decoded = decode_path(path);
            decoded.as_ref()
        }
        Split::Raw | Split::PerSegment => path,
    };
    let mut segments: Vec<String> = text
        .strip_prefix('/')
        .unwrap_or(text)
        .split('/')
        .map(|segment| match split {
            Split::PerSegment => decode_path(segment).into_owned(),
            Split::Raw | Split::Decoded => segment.to_owned(),
        })
        .collect();
    if !keep_empty {
        segments.retain(|segment| !segment.is_empty());
    }
    if resolve {
        let mut out: Vec<String> = Vec::new();
        for segment in segments {
            match segment.as_str() {
                "." => {}
                ".." => {
                    out.pop();
                }
                _ => out.push(segment),
            }
        }
        segments = out;
    }
    segments
}

/// The guard's path scope:
///
/// - a configured path's canonical form is idempotent:
///   `canonical(render(canonical(p))) == canonical(p)`;
/// - a configured path, requested as it is spelled or in its canonical
///   form, is never `Outside`;
/// - a request path that any simple router model puts under a guarded
///   path is never `Outside`. The models: split raw, per-segment decoded,
///   or decoded then split; empty segments dropped or kept; dot-segments
///   as they are or applied. The router's own route reads either as the
///   guard reads it (canonical) or the router's way.
///
/// Configured paths that do not start with `/` are skipped (the layer
/// refuses them at configuration time).
pub fn check_scope(exact: &[&str], prefixes: &[&str], path: &str) {
    let exact: Vec<&str> = exact
        .iter()
        .copied()
        .filter(|p| p.starts_with('/'))
        .collect();
    let prefixes: Vec<&str> = prefixes
        .iter()
        .copied()
        .filter(|p| p.starts_with('/'))
        .collect();
    let scope = super::Scope::new(&exact, &prefixes);
    for configured in exact.iter().chain(&prefixes) {
        let canonical = super::canonical(configured);
        assert_eq!(
            super::canonical(&render(&canonical)),
            canonical,
            "canonical is not idempotent for {configured:?}"
        );
        for spelling in [configured.to_string(), render(&canonical)] {
            assert_ne!(
                scope.verdict(&spelling),
                Verdict::Outside,
                "configured path {configured:?} requested as {spelling:?}"
            );
        }
    }
    if exact.is_empty() && prefixes.is_empty() {
        assert_ne!(scope.verdict(path), Verdict::Outside);
        return;
    }
    let verdict = scope.verdict(path);
    if verdict != Verdict::Outside {
        return;
    }
    for split in [Split::Raw, Split::PerSegment, Split::Decoded] {
        for keep_empty in [false, true] {
            for resolve in [false, true] {
                let reading = router_reading(path, split, keep_empty, resolve);
                let routes = |configured: &str| {
                    [
                        super::canonical(configured),
                        router_reading(configured, split, keep_empty, resolve),
                    ]
                };
                let under_exact = exact.iter().any(|p| routes(p).contains(&reading));
                let under_prefix = prefixes
                    .iter()
                    .any(|p| routes(p).iter().any(|route| reading.starts_with(route)));
                assert!(
                    !(under_exact || under_prefix),
                    "{path:?} passes as Outside, but a router ({split:?}, keep empty \
                     {keep_empty}, resolve {resolve}) reads it as {reading:?}, under \
                     exact {exact:?} / prefixes {prefixes:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Origins
// ---------------------------------------------------------------------------

/// Whether `text` is a serialized origin as a browser sends it (RFC 6454,
/// section 6.2): `scheme://host[:port]`, nothing after, the port in plain
/// decimal and left out when it is the scheme's default.
pub fn is_serialized_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok
        || rest.is_empty()
        || !rest.is_ascii()
        || rest.contains(|c: char| matches!(c, '/' | '?' | '#' | '@' | ' ') || c.is_ascii_control())
    {
        return false;
    }
    // A port follows the last `:` outside an IPv6 literal.
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    if host.is_empty() {
        return false;
    }
    let Some(port) = port else { return true };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    };
    !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && (port == "0" || !port.starts_with('0'))
        && port.parse::<u16>().is_ok_and(|port| Some(port) != default)
}

/// Origin allowlists and same-origin, over any entries, presented value
/// and host (`flips` picks letters to change case):
///
/// - nothing panics;
/// - an entry's normal form is idempotent, and a list of that entry allows
///   its normal form in any ASCII case, and the entry as written exactly
///   when it is its normal form (ASCII case aside);
/// - whatever a list allows, it allows in any ASCII case, and it is a
///   serialized origin: its own normal form, `scheme://host[:port]`, no
///   user, path, query, fragment or trailing slash;
/// - same-origin does not depend on ASCII case, of the origin or the host,
///   and holds only for a serialized origin whose host is the `Host`'s.
pub fn check_origins(entries: &[&str], presented: &[u8], host: &str, flips: u64) {
    for entry in entries {
        let Some(normal) = super::normalise_origin(entry) else {
            assert_eq!(super::origin_allowed(&[entry], b""), None, "{entry:?}");
            continue;
        };
        assert_eq!(
            super::normalise_origin(&normal).as_ref(),
            Some(&normal),
            "the normal form of {entry:?} is not its own"
        );
        let shown = normal.as_bytes();
        for spelling in [
            shown.to_vec(),
            flip_case(shown, flips),
            shown.to_ascii_uppercase(),
        ] {
            assert_eq!(
                super::origin_allowed(&[entry], &spelling),
                Some(true),
                "{entry:?} (normal {normal:?}) does not allow {:?}",
                String::from_utf8_lossy(&spelling)
            );
        }
        assert_eq!(
            super::origin_allowed(&[entry], entry.as_bytes()),
            Some(entry.eq_ignore_ascii_case(&normal)),
            "{entry:?} (normal {normal:?})"
        );
    }
    if let Some(true) = super::origin_allowed(entries, presented) {
        for spelling in [
            flip_case(presented, flips),
            presented.to_ascii_uppercase(),
            presented.to_ascii_lowercase(),
        ] {
            assert_eq!(
                super::origin_allowed(entries, &spelling),
                Some(true),
                "{entries:?} allows {presented:?} but not {spelling:?}"
            );
        }
        let text = std::str::from_utf8(presented).expect("an allowed origin is text");
        assert!(
            is_serialized_origin(text),
            "{entries:?} allows {text:?}, which a browser does not send"
        );
        assert!(
            super::normalise_origin(text).is_some_and(|normal| normal.eq_ignore_ascii_case(text)),
            "{entries:?} allows {text:?}, which is not a serialized origin"
        );
        let (_, rest) = text
            .split_once("://")
            .expect("an allowed origin has a scheme");
        assert!(
            !rest.is_empty() && !rest.contains(['/', '?', '#', '@']),
            "{entries:?} allows {text:?}, which is not an origin"
        );
    }
    let same = super::is_same_origin(presented, host);
    if same {
        let text = std::str::from_utf8(presented).expect("a same origin is text");
        assert!(
            is_serialized_origin(text),
            "{text:?} is same-origin with {host:?}, but not a serialized origin"
        );
        let (_, authority) = text.split_once("://").expect("checked above");
        let name = |authority: &str| match authority.rsplit_once(':') {
            Some((name, port)) if !port.contains(']') => name.to_ascii_lowercase(),
            _ => authority.to_ascii_lowercase(),
        };
        assert_eq!(
            name(authority),
            name(host),
            "{text:?} same-origin with {host:?}"
        );
    }
    let flipped_host = String::from_utf8(flip_case(host.as_bytes(), flips.rotate_left(17)))
        .expect("case changes keep UTF-8");
    assert_eq!(
        super::is_same_origin(&flip_case(presented, flips), &flipped_host),
        same,
        "same-origin depends on case: {presented:?} {host:?}"
    );
}

// ---------------------------------------------------------------------------
// Tickets
// ---------------------------------------------------------------------------

/// A ticket's text from its halves, as the crate spells it: `wst_`, then
/// the lookup half (little-endian) and the secret half in base64url
/// without padding.
pub fn encode_ticket(parts: &TicketParts) -> String {
    let mut raw = parts.lookup().to_le_bytes().to_vec();
    raw.extend_from_slice(parts.expose_secret());
    format!("wst_{}", URL_SAFE_NO_PAD.encode(raw))
}

/// [`TicketParts::parse`] over any text: what parses has exactly the
/// ticket shape (`wst_` and 43 base64url characters) and its halves encode
/// back to the same text; what does not is `Malformed`, naming at most the
/// first 8 characters.
pub fn check_ticket_text(text: &str) {
    match TicketParts::parse(text) {
        Ok(parts) => {
            assert_eq!(text.len(), 47, "{text:?}");
            assert!(text.starts_with("wst_"), "{text:?}");
            assert!(
                text[4..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')),
                "{text:?}"
            );
            assert_eq!(encode_ticket(&parts), text, "round trip");
        }
        Err(crate::TicketError::Malformed(shown)) => {
            let first: String = text.chars().take(8).collect();
            assert_eq!(shown.as_str(), first, "{text:?}");
        }
        Err(other) => panic!("{text:?} refused as {other:?}, not as malformed"),
    }
}

/// Any 32 bytes, spelled as a ticket, parse back to the same halves.
pub fn check_ticket_bytes(raw: [u8; 32]) {
    let text = format!("wst_{}", URL_SAFE_NO_PAD.encode(raw));
    let parts = TicketParts::parse(&text).expect("every 32 bytes spell a ticket");
    assert_eq!(parts.lookup().to_le_bytes(), raw[..8], "{text}");
    assert_eq!(parts.expose_secret()[..], raw[8..], "{text}");
    assert_eq!(encode_ticket(&parts), text);
    check_ticket_text(&text);
}

// ---------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------

/// Whether a query piece may carry a secret, and so must be hidden: a
/// credential parameter (its name, or a `;`-separated part's name,
/// decoded, in any case), or anything that reads like a ticket or internal
/// credential ([`MIN_SECRET`] long or more) in the piece, its decoded name
/// or its decoded value.
fn must_hide(piece: &str) -> bool {
    let is_param = |name: &str| {
        let name = form_decode(name);
        PARAMS.iter().any(|param| name.eq_ignore_ascii_case(param))
    };
    let (name, value) = split_piece(piece);
    is_param(name)
        || piece.split(';').any(|part| is_param(split_piece(part).0))
        || [piece, &form_decode(name), &form_decode(value)]
            .iter()
            .any(|text| !credential_looking(text).is_empty())
}

/// [`redact_uri`](crate::redact_uri) over any URI:
///
/// - scheme, authority and path are kept, and every query piece is kept
///   as it was, in order, or hidden (`REDACTED`, or its raw name and
///   `=REDACTED`);
/// - a piece named `ticket`, `internal` or `token` (any case, also behind
///   a `;`), or holding anything that reads like a ticket or internal
///   credential (`wst_`/`wsi_`, any case, decoded), is hidden;
/// - a hidden piece shows nothing but its raw name, and not even that when
///   the name reads like a credential; so no credential value shows, and
///   nothing that reads like a ticket or internal credential
///   ([`MIN_SECRET`] long or more) shows anywhere in the redacted query.
pub fn check_redact_uri(uri: &Uri) {
    let shown = crate::redact_uri(uri);
    let context = || format!("{uri:?} -> {shown:?}");
    let mut head = String::new();
    if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
        head = format!("{scheme}://{authority}");
    }
    head.push_str(uri.path());
    let rest = shown.strip_prefix(head.as_str());
    assert!(rest.is_some(), "head changed: {}", context());
    let rest = rest.unwrap_or_default();
    let Some(query) = uri.query() else {
        assert_eq!(rest, "", "{}", context());
        return;
    };
    let shown_query = rest
        .strip_prefix('?')
        .unwrap_or_else(|| panic!("{}", context()));
    let input = pieces(query);
    let output: Vec<&str> = if shown_query.is_empty() {
        Vec::new()
    } else {
        shown_query.split('&').collect()
    };
    assert_eq!(output.len(), input.len(), "pieces: {}", context());
    for (raw, out) in input.iter().zip(&output) {
        let raw_name = split_piece(raw).0;
        let hidden = *out == "REDACTED" || *out == format!("{raw_name}=REDACTED");
        assert!(
            hidden || *out == *raw,
            "{raw:?} shown as {out:?}: {}",
            context()
        );
        // A hidden piece shows nothing of itself but its raw name, so no
        // value shows through it; and a name that reads like a credential
        // is hidden too.
        assert!(
            !must_hide(raw) || hidden,
            "{raw:?} not hidden: {}",
            context()
        );
        if !credential_looking(&form_decode(raw_name)).is_empty()
            || !credential_looking(raw_name).is_empty()
        {
            assert_eq!(*out, "REDACTED", "{}", context());
        }
    }
    // Whatever reads like a ticket or internal credential cannot be the
    // text of a piece that is shown, so it shows nowhere in the query.
    for secret in input.iter().flat_map(|raw| {
        let (name, value) = split_piece(raw);
        [raw.to_string(), form_decode(name), form_decode(value)]
    }) {
        for looking in credential_looking(&secret) {
            assert!(
                !shows(shown_query, looking),
                "{looking:?} shown: {}",
                context()
            );
        }
    }
}

/// [`redact_subprotocols`](crate::redact_subprotocols) over any header
/// value: a value that is not text shows as `<opaque>`; otherwise each
/// entry is kept or hidden, in order; a credential entry (`ws-ticket.…`
/// in any case) shows as `ws-ticket.REDACTED` and an entry holding
/// anything that reads like a ticket or internal credential is hidden; no
/// credential entry's value shows.
pub fn check_redact_subprotocols(value: &HeaderValue) {
    let shown = crate::redact_subprotocols(value);
    let Ok(text) = value.to_str() else {
        assert_eq!(shown, "<opaque>");
        return;
    };
    let context = || format!("{text:?} -> {shown:?}");
    let input: Vec<String> = entries_of(text).collect();
    let output: Vec<&str> = if shown.is_empty() {
        Vec::new()
    } else {
        shown.split(", ").collect()
    };
    assert_eq!(output.len(), input.len(), "entries: {}", context());
    for (entry, out) in input.iter().zip(&output) {
        let hidden = matches!(*out, "REDACTED" | "ws-ticket.REDACTED");
        assert!(hidden || *out == entry, "{}", context());
        if is_credential_entry(entry) {
            // The value is gone, whatever it is.
            assert_eq!(*out, "ws-ticket.REDACTED", "{}", context());
        } else if !credential_looking(entry).is_empty() {
            assert!(hidden, "{entry:?} not hidden: {}", context());
        }
        for looking in credential_looking(entry) {
            assert!(!shown.contains(looking), "{looking:?} shown: {}", context());
        }
    }
}

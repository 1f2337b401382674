//! Structured inputs for the fuzz targets.
//!
//! Raw bytes rarely spell `ticket=wst_…` or `/api/ws/%2e%2e`, so each input
//! is text built from the words that matter to its parser (the same lists
//! the property tests use, in `tower_ws_ticket::fuzzing::properties`) mixed
//! with arbitrary characters and strings. The properties themselves live
//! in the crate (`fuzzing::properties`): a target only builds its input.
#![forbid(unsafe_code)]

use arbitrary::{Arbitrary, Result, Unstructured};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};
pub use tower_ws_ticket::fuzzing::properties::{self, *};

/// Text of up to `max` pieces, each a word of `words`, an arbitrary
/// character, or (rarely) an arbitrary string.
pub fn text(u: &mut Unstructured<'_>, words: &[&str], max: usize) -> Result<String> {
    let mut out = String::new();
    for _ in 0..u.int_in_range(0..=max)? {
        match u.int_in_range(0u8..=7)? {
            0..=4 => out.push_str(u.choose(words)?),
            5 | 6 => out.push(char::from(u.int_in_range(0x20u8..=0x7e)?)),
            _ => out.push_str(<&str>::arbitrary(u)?),
        }
    }
    Ok(out)
}

/// A header value: text of `words` that is a valid value, else arbitrary
/// bytes that are (non-UTF-8 included, as `to_str` refuses them).
pub fn header_value(u: &mut Unstructured<'_>, words: &[&str]) -> Result<HeaderValue> {
    if u.ratio(7u8, 8)? {
        let text = text(u, words, 8)?;
        if let Ok(value) = HeaderValue::from_str(&text) {
            return Ok(value);
        }
    }
    let bytes = <&[u8]>::arbitrary(u)?;
    HeaderValue::from_bytes(bytes).map_err(|_| arbitrary::Error::IncorrectFormat)
}

/// A URI with a path and usually a query, in origin or absolute form.
#[derive(Debug)]
pub struct AnyUri(pub Uri);

impl<'a> Arbitrary<'a> for AnyUri {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let head = *u.choose(&["", "http://h", "https://App.example:8443"])?;
        let mut text = format!("{head}/{}", self::text(u, PATH_WORDS, 5)?);
        if u.ratio(9u8, 10)? {
            text.push('?');
            text.push_str(&self::text(u, QUERY_WORDS, 16)?);
        }
        text.parse()
            .map(AnyUri)
            .map_err(|_| arbitrary::Error::IncorrectFormat)
    }
}

/// Any number of `Sec-WebSocket-Protocol` headers.
#[derive(Debug)]
pub struct Protocols(pub HeaderMap);

impl<'a> Arbitrary<'a> for Protocols {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut headers = HeaderMap::new();
        for _ in 0..u.int_in_range(0..=3)? {
            headers.append(
                http::header::SEC_WEBSOCKET_PROTOCOL,
                header_value(u, PROTOCOL_WORDS)?,
            );
        }
        Ok(Self(headers))
    }
}

/// A request near a WebSocket handshake: any method and version, each of
/// the handshake's headers present with its right value or not, more
/// headers of the names that matter (or any name), and maybe a
/// `:protocol` (hyper's `Protocol` extension).
#[derive(Debug)]
pub struct NearHandshake(pub Request<()>);

impl<'a> Arbitrary<'a> for NearHandshake {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut req = Request::new(());
        let method = *u.choose(&["GET", "POST", "CONNECT", "connect", "HEAD", "OPTIONS"])?;
        *req.method_mut() = Method::from_bytes(method.as_bytes()).expect("a method");
        *req.version_mut() = *u.choose(&[
            Version::HTTP_09,
            Version::HTTP_10,
            Version::HTTP_11,
            Version::HTTP_2,
            Version::HTTP_3,
        ])?;
        for (name, value) in [
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ] {
            if u.ratio(3u8, 4)? {
                req.headers_mut()
                    .append(name, HeaderValue::from_static(value));
            }
        }
        for _ in 0..u.int_in_range(0..=4)? {
            let name = if u.ratio(7u8, 8)? {
                HeaderName::from_static(u.choose(HEADER_NAMES)?)
            } else {
                HeaderName::from_bytes(<&[u8]>::arbitrary(u)?)
                    .map_err(|_| arbitrary::Error::IncorrectFormat)?
            };
            let value = header_value(u, HEADER_WORDS)?;
            req.headers_mut().append(name, value);
        }
        if u.arbitrary()? {
            let protocol = *u.choose(&["websocket", "WebSocket", "connect-udp", ""])?;
            req.extensions_mut()
                .insert(hyper::ext::Protocol::from_static(protocol));
        }
        Ok(Self(req))
    }
}

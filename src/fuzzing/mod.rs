//! NOT API: entry points for the fuzz targets in `fuzz/` and the crate's
//! property tests. No semver promise; anything here may change or go in
//! any release.
//!
//! This module is compiled only for the crate's own tests and under
//! `--cfg fuzzing` (which `cargo fuzz` sets), so a user's build never sees
//! it. It has two parts:
//!
//! - thin wrappers over the crate-private parsers, below, so that a fuzz
//!   target (another crate) can call them;
//! - [`properties`]: what each parser must guarantee, written once as
//!   functions that panic on a violation. The fuzz targets feed them
//!   `arbitrary` input, the property tests proptest's; each side only
//!   builds inputs.
#![doc(hidden)]

use http::{HeaderMap, HeaderValue, Request, Uri};

pub use crate::wire::CredentialKind;

pub mod properties;
#[cfg(test)]
mod tests;

/// What [`find_credential`] found, and the request without it.
#[derive(Debug)]
pub enum Found {
    /// A credential parameter of the query.
    Query {
        /// Its kind.
        kind: CredentialKind,
        /// Its value, percent-decoded.
        value: String,
        /// The URI without it.
        uri: Uri,
    },
    /// A `ws-ticket.` entry of `Sec-WebSocket-Protocol`.
    Protocol {
        /// Its kind.
        kind: CredentialKind,
        /// Its value: the entry after `ws-ticket.`.
        value: String,
        /// The header's other entries, or none left.
        rest: Option<HeaderValue>,
    },
}

/// Why a request does not present exactly one credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOne {
    /// No credential.
    Missing,
    /// Two credentials.
    Ambiguous,
    /// An unreadable credential entry or header.
    Malformed,
}

/// The layer's credential finding (`wire::find_credential`).
pub fn find_credential(uri: &Uri, headers: &HeaderMap) -> Result<Found, NotOne> {
    use crate::wire::{self, Without};
    let presented = wire::find_credential(uri, headers).map_err(|err| match err {
        wire::NotOne::Missing => NotOne::Missing,
        wire::NotOne::Ambiguous => NotOne::Ambiguous,
        wire::NotOne::Malformed => NotOne::Malformed,
    })?;
    let (kind, value) = (presented.kind, presented.value.into_owned());
    Ok(match presented.without {
        Without::Uri(uri) => Found::Query { kind, value, uri },
        Without::Protocols(rest) => Found::Protocol { kind, value, rest },
    })
}

/// The Redis store's value codec: see `store::redis::codec_properties`
/// (`identity` is written as a JSON string; `key` is `None` for no cap per
/// identity, `Some("")` for a cap by the identity itself, else the cap's
/// key; `garbage` is read as a stored value).
#[cfg(feature = "redis")]
pub fn check_redis_value(
    identity: &str,
    audience: Option<&str>,
    key: Option<&str>,
    garbage: &[u8],
) {
    crate::store::codec_properties(identity, audience, key, garbage);
}

/// Why the revocation bridge drops a payload (`revoke::redis::message`).
#[cfg(feature = "redis")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Sent by this replica.
    Ours,
    /// Another message format.
    OtherFormat,
    /// Over the size bound.
    TooLarge,
    /// Dated too far ahead of this replica's clock.
    Ahead,
    /// Not signed, and this replica signs.
    Unsigned,
    /// Its signature does not verify.
    BadSignature,
    /// Signed, and this replica does not sign.
    Signed,
    /// Not JSON of a revocation.
    Malformed,
}

/// A revocation bridge's message codec: its channel, its replica's id and
/// its signing key, if any.
#[cfg(feature = "redis")]
#[derive(Debug)]
pub struct RevocationCodec(crate::revoke::RevocationCodec);

#[cfg(feature = "redis")]
impl RevocationCodec {
    /// The codec of replica `origin` on `channel`.
    pub fn new(channel: &str, origin: u64, signing_key: Option<&[u8]>) -> Self {
        Self(crate::revoke::RevocationCodec::new(
            channel.to_owned(),
            origin,
            signing_key.map(crate::revoke::SigningKey::new),
        ))
    }

    /// The payload of a revocation of `key` (everything when `None`) made
    /// here at `at`; `None` when it cannot be sent.
    pub fn encode(&self, key: Option<&str>, at: u64) -> Option<String> {
        self.0.encode(key.as_ref(), at).ok()
    }

    /// What this replica makes of `payload` at `now`: the key revoked
    /// (`None`: everything) and its date, or why it is dropped and the
    /// reason's text as the log shows it.
    pub fn decode<K: serde::de::DeserializeOwned>(
        &self,
        payload: &[u8],
        now: u64,
    ) -> Result<(Option<K>, u64), (Dropped, String)> {
        use crate::revoke::RevocationDropped as D;
        self.0
            .decode(payload, now)
            .map(|received| (received.key, received.at))
            .map_err(|why| {
                let kind = match why {
                    D::Ours => Dropped::Ours,
                    D::OtherFormat => Dropped::OtherFormat,
                    D::TooLarge(_) => Dropped::TooLarge,
                    D::Ahead(_) => Dropped::Ahead,
                    D::Unsigned => Dropped::Unsigned,
                    D::BadSignature => Dropped::BadSignature,
                    D::Signed => Dropped::Signed,
                    D::Malformed(_) => Dropped::Malformed,
                };
                (kind, why.to_string())
            })
    }
}

/// The layer's upgrade detection.
pub fn is_websocket_upgrade(req: &Request<()>) -> bool {
    crate::layer::upgrade::is_websocket_upgrade(req)
}

/// A configured guarded path's canonical segments.
pub fn canonical(path: &str) -> Vec<String> {
    crate::layer::scope::canonical(path)
}

/// What a scope says about a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not under any guarded path.
    Outside,
    /// Guarded.
    Guarded,
    /// Guarded, and refused for its dot-segments or encoded separators.
    Ambiguous,
}

/// A scope of `exact` paths and `prefixes` (each must start with `/`).
#[derive(Debug)]
pub struct Scope(crate::layer::scope::Scope);

impl Scope {
    /// The scope of these paths.
    pub fn new(exact: &[&str], prefixes: &[&str]) -> Self {
        let mut scope = crate::layer::scope::Scope::default();
        exact.iter().for_each(|p| scope.add_exact(p));
        prefixes.iter().for_each(|p| scope.add_prefix(p));
        Self(scope)
    }

    /// Its verdict on a request path.
    pub fn verdict(&self, path: &str) -> Verdict {
        use crate::layer::scope::Verdict as V;
        match self.0.verdict(path) {
            V::Outside => Verdict::Outside,
            V::Guarded => Verdict::Guarded,
            V::Ambiguous => Verdict::Ambiguous,
        }
    }
}

/// An allowlist entry's normal form, or `None` when it is refused.
pub fn normalise_origin(origin: &str) -> Option<String> {
    crate::origin::normalise(origin)
}

/// Whether an allowlist of `entries` allows a presented `Origin` value;
/// `None` when the list is refused.
pub fn origin_allowed(entries: &[&str], presented: &[u8]) -> Option<bool> {
    crate::origin::AllowedOrigins::new(entries.iter().copied())
        .ok()
        .map(|list| list.allows(presented))
}

/// The mint route's same-origin check.
pub fn is_same_origin(presented: &[u8], host: &str) -> bool {
    crate::origin::is_same_origin(presented, host)
}

/// What accept-then-close takes a refused request for.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub enum Handshake {
    /// An RFC 6455 handshake, answered 101 with this accept key.
    Http1 {
        /// The `Sec-WebSocket-Accept` value.
        accept: HeaderValue,
    },
    /// An RFC 8441 extended CONNECT, answered 200.
    Http2,
}

/// Accept-then-close's handshake validation.
#[cfg(feature = "tokio")]
pub fn handshake(req: &Request<()>) -> Option<Handshake> {
    use crate::layer::close::Handshake as H;
    Some(match H::of(req)? {
        H::Http1 { accept } => Handshake::Http1 { accept },
        H::Http2 => Handshake::Http2,
    })
}

/// The protocol a refusal's handshake selects.
#[cfg(feature = "tokio")]
pub fn protocol_to_select(headers: &HeaderMap) -> Option<&str> {
    crate::wire::protocol_to_select(headers)
}

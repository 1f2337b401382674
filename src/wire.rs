//! The wire format: what a client sends, and how the crate finds it.
//!
//! Everything the crate knows about the shape of a credential on the wire
//! lives here, and nothing here knows about stores, audit or the layer:
//!
//! - the two channels a credential travels in: a query parameter
//!   ([`TICKET_PARAM`], [`INTERNAL_PARAM`], [`TOKEN_PARAM`]), or an entry
//!   `ws-ticket.<credential>` of the `Sec-WebSocket-Protocol` header beside
//!   the marker [`SUBPROTOCOL`] (the only header a browser lets a page set
//!   on a WebSocket, and one that no access log records);
//! - the prefixes that tell credentials apart in any position
//!   ([`TICKET_PREFIX`], [`INTERNAL_PREFIX`]) and the [`CredentialKind`]
//!   each names;
//! - finding the one credential a request carries, and the request without
//!   it;
//! - what may carry a secret, for [`redact_uri`](crate::redact_uri) and
//!   [`redact_subprotocols`](crate::audit::redact_subprotocols);
//! - the close codes a refused socket ends with
//!   ([`accept_then_close`](crate::WsTicketLayer::accept_then_close)).
//!
//! The page side, with the ticket off the URL:
//!
//! ```js
//! new WebSocket(url, ["ws-ticket", `ws-ticket.${ticket}`, /* the app's own */ "chat.v1"])
//! ```
//!
//! ```
//! use tower_ws_ticket::CredentialKind;
//! use tower_ws_ticket::wire::{SUBPROTOCOL, TICKET_PARAM, TICKET_PREFIX};
//!
//! assert_eq!(CredentialKind::Ticket.param(), TICKET_PARAM);
//! assert_eq!(format!("/api/ws?{TICKET_PARAM}={TICKET_PREFIX}…"), "/api/ws?ticket=wst_…");
//! assert_eq!(format!("{SUBPROTOCOL}.{TICKET_PREFIX}…"), "ws-ticket.wst_…");
//! ```

use std::borrow::Cow;

use http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use http::uri::PathAndQuery;
use http::{HeaderMap, Uri};

/// Query parameter carrying a ticket.
pub const TICKET_PARAM: &str = "ticket";
/// Query parameter carrying the internal credential.
pub const INTERNAL_PARAM: &str = "internal";
/// Query parameter carrying the loopback session token.
pub const TOKEN_PARAM: &str = "token";
/// Every credential parameter, in the order of [`CredentialKind`].
pub const CREDENTIAL_PARAMS: [&str; 3] = [TICKET_PARAM, INTERNAL_PARAM, TOKEN_PARAM];

/// The marker subprotocol a client offers beside its credential entry
/// `ws-ticket.<credential>`, and the protocol the layer selects for it when
/// the application selects none of its own.
pub const SUBPROTOCOL: &str = "ws-ticket";
/// What a credential entry of `Sec-WebSocket-Protocol` starts with.
pub(crate) const ENTRY_PREFIX: &str = "ws-ticket.";

/// Close code of a socket refused for its credential (every 401 case:
/// missing, unknown, used, expired, malformed, wrong audience, revoked).
/// A client should fetch a new ticket, then reconnect.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code of a socket refused whatever its credential (every 403
/// case: a forbidden `Origin`, a peer that is not on loopback, an ambiguous
/// path). A client should not retry.
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code (RFC 6455's "Try Again Later") of a socket refused because
/// the ticket store could not be reached. A client should back off and
/// retry; its ticket may or may not have been used, so it mints a new one.
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

/// What every ticket's text starts with.
pub const TICKET_PREFIX: &str = "wst_";
/// What every internal credential's text starts with.
pub const INTERNAL_PREFIX: &str = "wsi_";

/// Which credential a request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    /// A single-use ticket (`?ticket=`).
    Ticket,
    /// The process's internal credential (`?internal=`).
    Internal,
    /// The loopback session token (`?token=`).
    SessionToken,
}

impl CredentialKind {
    /// A short, stable name: `"ticket"`, `"internal"` or `"token"`.
    pub const fn as_str(self) -> &'static str {
        self.param()
    }

    /// The query parameter this credential travels in.
    pub const fn param(self) -> &'static str {
        match self {
            Self::Ticket => TICKET_PARAM,
            Self::Internal => INTERNAL_PARAM,
            Self::SessionToken => TOKEN_PARAM,
        }
    }

    fn from_param(name: &str) -> Option<Self> {
        match name {
            TICKET_PARAM => Some(Self::Ticket),
            INTERNAL_PARAM => Some(Self::Internal),
            TOKEN_PARAM => Some(Self::SessionToken),
            _ => None,
        }
    }
}

/// Whether `text` holds a ticket or internal credential prefix anywhere,
/// in any case.
fn holds_credential_prefix(text: &str) -> bool {
    text.as_bytes().windows(TICKET_PREFIX.len()).any(|window| {
        window.eq_ignore_ascii_case(TICKET_PREFIX.as_bytes())
            || window.eq_ignore_ascii_case(INTERNAL_PREFIX.as_bytes())
    })
}

/// Whether a `Sec-WebSocket-Protocol` entry may carry a secret: a
/// credential entry in any case, or anything holding a credential prefix.
pub(crate) fn entry_may_carry_credential(entry: &str) -> bool {
    is_credential_entry(entry) || holds_credential_prefix(entry)
}

/// Whether a `Sec-WebSocket-Protocol` entry is a credential entry
/// (`ws-ticket.…`, in any case).
pub(crate) fn is_credential_entry(entry: &str) -> bool {
    entry
        .get(..ENTRY_PREFIX.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(ENTRY_PREFIX))
}

/// The entries of every `Sec-WebSocket-Protocol` header, in order, with
/// the spaces around them trimmed; `None` for a header that is not text.
pub(crate) fn protocol_entries(headers: &HeaderMap) -> impl Iterator<Item = Option<&str>> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .flat_map(|value| {
            // A value that is not text is one `None`; text, its entries.
            let (text, opaque) = match value.to_str() {
                Ok(text) => (text, None),
                Err(_) => ("", Some(None)),
            };
            let entries = text
                .split(',')
                .map(|entry| entry.trim_matches([' ', '\t']))
                .filter(|entry| !entry.is_empty())
                .map(Some);
            opaque.into_iter().chain(entries)
        })
}

/// Whether the client offered the marker [`SUBPROTOCOL`], exactly: the
/// protocol a handshake may then select for it.
#[cfg(any(feature = "tokio", test))]
pub(crate) fn offers_marker(headers: &HeaderMap) -> bool {
    protocol_entries(headers).any(|entry| entry == Some(SUBPROTOCOL))
}

/// The protocol a refusal's handshake selects so that a browser completes
/// it (Chromium fails a handshake that selects none of the offered
/// protocols): the marker when offered, else the first entry that carries
/// no credential. Never a credential entry.
#[cfg(any(feature = "tokio", test))]
pub(crate) fn protocol_to_select(headers: &HeaderMap) -> Option<&str> {
    if offers_marker(headers) {
        return Some(SUBPROTOCOL);
    }
    protocol_entries(headers)
        .flatten()
        .find(|entry| !entry_may_carry_credential(entry))
}

/// One `name=value` piece of a query string, its name decoded. The value
/// is decoded only when asked for.
///
/// Decoding is form_urlencoded's (percent-decoding, `+` as space, invalid
/// UTF-8 replaced), one `&`-separated piece at a time, so that a rewrite
/// can keep every other piece exactly as the client spelled it.
pub(crate) struct Param<'a> {
    /// The piece as it appears in the query.
    pub(crate) raw: &'a str,
    name: Cow<'a, str>,
}

impl<'a> Param<'a> {
    /// The name as spelled in the query, before decoding.
    pub(crate) fn raw_name(&self) -> &'a str {
        raw_name(self.raw)
    }

    /// How this piece shows in a redacted URI: `None` to show it as it
    /// is, or the text to show instead.
    ///
    /// A piece is hidden when it may carry a secret: a credential's name in
    /// any case, with stray spaces or control characters around it, or
    /// behind a `;` (the layer refuses those spellings without consuming
    /// anything, so the value may still be live; and some servers split
    /// queries on `;`), or anything in its name or value that reads like a
    /// ticket or an internal credential (`wst_`, `wsi_`, in any case and
    /// however percent-encoded), whatever its name.
    pub(crate) fn redacted(&self) -> Option<Cow<'a, str>> {
        let value = self.value();
        let names_a_credential = |text: &str| {
            text.split(';').any(|piece| {
                let name = piece.split_once('=').map_or(piece, |(name, _)| name);
                let name = name.trim_matches(|c: char| c.is_whitespace() || c.is_control());
                CREDENTIAL_PARAMS
                    .iter()
                    .any(|param| name.eq_ignore_ascii_case(param))
            })
        };
        let name_holds_one = holds_credential_prefix(&self.name);
        if !(name_holds_one
            || holds_credential_prefix(&value)
            || names_a_credential(&self.name)
            || names_a_credential(&value))
        {
            return None;
        }
        Some(if name_holds_one {
            Cow::Borrowed("REDACTED")
        } else {
            Cow::Owned(format!("{}=REDACTED", self.raw_name()))
        })
    }

    fn value(&self) -> Cow<'a, str> {
        let raw_value = self.raw.split_once('=').map_or("", |(_, value)| value);
        if !needs_decoding(raw_value) {
            return Cow::Borrowed(raw_value);
        }
        form_urlencoded::parse(self.raw.as_bytes())
            .next()
            .map(|(_, value)| value)
            .unwrap_or_default()
    }
}

fn raw_name(piece: &str) -> &str {
    piece.split_once('=').map_or(piece, |(name, _)| name)
}

/// Whether form_urlencoded decoding would change `raw`: only `%` escapes
/// and `+` do (the text is valid UTF-8 already, so nothing else is
/// replaced). Most names and values, tickets among them, have neither, and
/// are read as they are.
fn needs_decoding(raw: &str) -> bool {
    // Eight bytes at a time: a ticket (~50 bytes, with neither) is read on
    // every upgrade, and a byte-at-a-time loop was a tenth of the layer's
    // own instructions.
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const PERCENTS: u64 = u64::from_ne_bytes([b'%'; 8]);
    const PLUSES: u64 = u64::from_ne_bytes([b'+'; 8]);
    // Exact as a yes/no: whether any byte of `x` is zero.
    let any_zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let (words, tail) = raw.as_bytes().as_chunks::<8>();
    words.iter().any(|word| {
        let word = u64::from_ne_bytes(*word);
        any_zero_byte(word ^ PERCENTS) || any_zero_byte(word ^ PLUSES)
    }) || tail.iter().any(|&b| b == b'%' || b == b'+')
}

/// The non-empty pieces of `query`. Pieces are separated by `&`; a `;` is
/// part of a piece, as form_urlencoded (and so axum and warp) reads it.
pub(crate) fn params(query: &str) -> impl Iterator<Item = Param<'_>> {
    query.split('&').filter(|raw| !raw.is_empty()).map(|raw| {
        let raw_name = raw_name(raw);
        let name = if needs_decoding(raw_name) {
            form_urlencoded::parse(raw_name.as_bytes())
                .next()
                .map(|(name, _)| name)
                .unwrap_or_default()
        } else {
            Cow::Borrowed(raw_name)
        };
        Param { raw, name }
    })
}

/// The one credential a request presents, and how to hand the request on
/// without it.
#[derive(Debug)]
pub(crate) struct Presented<'a> {
    pub(crate) kind: CredentialKind,
    pub(crate) value: Cow<'a, str>,
    pub(crate) without: Without,
    /// Whether the client offered the marker [`SUBPROTOCOL`] (whichever
    /// channel the credential came in): the protocol to select for it.
    pub(crate) marker_offered: bool,
}

/// The request without its credential: what to replace.
#[derive(Debug)]
pub(crate) enum Without {
    /// The credential was in the query: the URI without it, every other
    /// piece kept in order.
    Uri(Uri),
    /// The credential was a `Sec-WebSocket-Protocol` entry: the header's
    /// other entries in order, or none left at all.
    Protocols(Option<HeaderValue>),
}

/// Why a request does not present exactly one credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotOne {
    /// No credential at all.
    Missing,
    /// Two credentials (the same parameter twice, two kinds, two
    /// credential entries, or one in the query and one in the header).
    Ambiguous,
    /// A credential entry whose value is neither a ticket nor an internal
    /// credential, a `Sec-WebSocket-Protocol` line that is not text, or a
    /// header that cannot be rebuilt without the credential.
    Malformed,
}

/// Finds the single credential a request presents, in its query or its
/// `Sec-WebSocket-Protocol` header, and what the request looks like
/// without it.
///
/// Two credentials anywhere are [`NotOne::Ambiguous`] whatever their
/// values: there is no telling which one a proxy or the application would
/// read. The session token travels in the query only.
pub(crate) fn find_credential<'a>(
    uri: &'a Uri,
    headers: &'a HeaderMap,
) -> Result<Presented<'a>, NotOne> {
    let in_query = take_from_query(uri)?;
    let (in_header, marker_offered) = take_from_protocols(headers)?;
    let mut found = match (in_query, in_header) {
        (Some(_), Some(_)) => return Err(NotOne::Ambiguous),
        (Some(found), None) | (None, Some(found)) => found,
        (None, None) => return Err(NotOne::Missing),
    };
    found.marker_offered = marker_offered;
    Ok(found)
}

/// The credential parameter of the URI's query, if any, found in one pass
/// that also builds the URI without it.
fn take_from_query(uri: &Uri) -> Result<Option<Presented<'_>>, NotOne> {
    // Most upgrades from a browser carry their credential in the header:
    // a query that cannot name a credential (no parameter name in it, and
    // no escape that could spell one) is not rebuilt for nothing.
    let query = uri.query().unwrap_or("");
    if !query.contains('%') && !CREDENTIAL_PARAMS.iter().any(|name| query.contains(name)) {
        return Ok(None);
    }
    let mut found = None;
    let stripped = rebuild_without_credentials(uri, |kind, param| {
        if found.is_some() {
            return Err(NotOne::Ambiguous);
        }
        found = Some((kind, param.value()));
        Ok(())
    })?;
    Ok(found.map(|(kind, value)| Presented {
        kind,
        value,
        without: Without::Uri(stripped),
        marker_offered: false,
    }))
}

/// The credential entry of the `Sec-WebSocket-Protocol` header(s), if any,
/// and the header's other entries; and whether the marker was offered.
///
/// A line that is not text (obs-text such as Latin-1 `café`) is refused
/// whatever else the request carries, as [`NotOne::Malformed`] (or as
/// [`NotOne::Ambiguous`] when two credentials were read before it): what
/// it holds cannot be read, so neither can whether the request presents
/// one credential, and it cannot be handed on without the one it may hide.
fn take_from_protocols(headers: &HeaderMap) -> Result<(Option<Presented<'_>>, bool), NotOne> {
    let mut found = None;
    let mut kept = String::new();
    let mut marker_offered = false;
    for entry in protocol_entries(headers) {
        let entry = entry.ok_or(NotOne::Malformed)?;
        marker_offered |= entry == SUBPROTOCOL;
        if !is_credential_entry(entry) {
            if !kept.is_empty() {
                kept.push_str(", ");
            }
            kept.push_str(entry);
            continue;
        }
        if found.is_some() {
            return Err(NotOne::Ambiguous);
        }
        let value = &entry[ENTRY_PREFIX.len()..];
        let kind = if value.starts_with(TICKET_PREFIX) {
            CredentialKind::Ticket
        } else if value.starts_with(INTERNAL_PREFIX) {
            CredentialKind::Internal
        } else {
            return Err(NotOne::Malformed);
        };
        found = Some((kind, value));
    }
    let Some((kind, value)) = found else {
        return Ok((None, marker_offered));
    };
    let rest = if kept.is_empty() {
        None
    } else {
        // Takes the buffer over: no second copy of the header.
        Some(HeaderValue::try_from(kept).map_err(|_| NotOne::Malformed)?)
    };
    let presented = Presented {
        kind,
        value: Cow::Borrowed(value),
        without: Without::Protocols(rest),
        // Set by `find_credential`, wherever the credential was.
        marker_offered: false,
    };
    Ok((Some(presented), marker_offered))
}

/// `uri` without any credential parameter, every other piece kept in
/// order: for URIs a handler keeps beside the request's own (axum's
/// `OriginalUri`).
#[cfg(any(feature = "axum", test))]
pub(crate) fn without_credentials(uri: &Uri) -> Option<Uri> {
    rebuild_without_credentials(uri, |_, _| Ok(())).ok()
}

/// Rebuilds `uri` without its credential parameters, handing each to
/// `credential` on the way.
fn rebuild_without_credentials<'a>(
    uri: &'a Uri,
    mut credential: impl FnMut(CredentialKind, &Param<'a>) -> Result<(), NotOne>,
) -> Result<Uri, NotOne> {
    let query = uri.query().unwrap_or("");
    let path = uri.path();
    let mut kept = String::with_capacity(path.len() + query.len() + 1);
    kept.push_str(path);
    let mut separator = '?';
    for param in params(query) {
        match CredentialKind::from_param(&param.name) {
            Some(kind) => credential(kind, &param)?,
            None => {
                kept.push(separator);
                kept.push_str(param.raw);
                separator = '&';
            }
        }
    }
    // Removing whole pieces of a valid query leaves a valid one, so this
    // cannot fail; if it ever did, refusing beats passing the secret on.
    with_path_and_query(uri, kept).ok_or(NotOne::Malformed)
}

fn with_path_and_query(uri: &Uri, path_and_query: String) -> Option<Uri> {
    let path_and_query = PathAndQuery::try_from(path_and_query).ok()?;
    if uri.scheme().is_none() && uri.authority().is_none() {
        return Some(Uri::from(path_and_query));
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(query: &str) -> Result<(CredentialKind, String), NotOne> {
        let uri: Uri = format!("/p?{query}").parse().unwrap();
        find_credential(&uri, &HeaderMap::new()).map(|p| (p.kind, p.value.into_owned()))
    }

    fn strip(uri: &str) -> String {
        let uri: Uri = uri.parse().unwrap();
        match find_credential(&uri, &HeaderMap::new()).unwrap().without {
            Without::Uri(uri) => uri.to_string(),
            other => panic!("{other:?}"),
        }
    }

    fn protocols(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(SEC_WEBSOCKET_PROTOCOL, value.parse().unwrap());
        }
        headers
    }

    fn from_header(values: &[&str]) -> Result<(CredentialKind, String, Option<String>), NotOne> {
        let headers = protocols(values);
        let uri = Uri::from_static("/p");
        let found = find_credential(&uri, &headers)?;
        let Without::Protocols(rest) = found.without else {
            panic!("found in the query");
        };
        Ok((
            found.kind,
            found.value.into_owned(),
            rest.map(|v| v.to_str().unwrap().to_owned()),
        ))
    }

    #[test]
    fn finds_each_kind_and_decodes_its_value() {
        assert_eq!(
            find("a=1&ticket=wst_abc").unwrap(),
            (CredentialKind::Ticket, "wst_abc".into())
        );
        assert_eq!(
            find("internal=wsi_%41b").unwrap(),
            (CredentialKind::Internal, "wsi_Ab".into())
        );
        assert_eq!(
            find("token=a+b%26c").unwrap(),
            (CredentialKind::SessionToken, "a b&c".into())
        );
    }

    #[test]
    fn none_is_missing_and_two_are_ambiguous() {
        let bare = Uri::from_static("/p");
        assert_eq!(
            find_credential(&bare, &HeaderMap::new()).unwrap_err(),
            NotOne::Missing
        );
        assert_eq!(find("").unwrap_err(), NotOne::Missing);
        assert_eq!(find("Ticket=x&TOKEN=y").unwrap_err(), NotOne::Missing);
        assert_eq!(find("ticket=a&ticket=b").unwrap_err(), NotOne::Ambiguous);
        assert_eq!(find("ticket=a&internal=b").unwrap_err(), NotOne::Ambiguous);
        assert_eq!(find("token=a&%74icket=b").unwrap_err(), NotOne::Ambiguous);
    }

    #[test]
    fn needs_decoding_finds_an_escape_at_every_position() {
        let plain = |raw: &str| raw.bytes().any(|b| b == b'%' || b == b'+');
        for len in 0..40 {
            let clean = "aZ9_-~.*".repeat(5)[..len].to_owned();
            assert!(!needs_decoding(&clean), "{clean:?}");
            for at in 0..len {
                for escape in ['%', '+'] {
                    let mut text = clean.clone().into_bytes();
                    text[at] = escape as u8;
                    let text = String::from_utf8(text).unwrap();
                    assert!(needs_decoding(&text), "{text:?}");
                    assert_eq!(needs_decoding(&text), plain(&text));
                }
            }
        }
        // Bytes one away from `%` (0x25) and `+` (0x2B), and high bytes,
        // in every lane: no false alarm.
        let near = "$&*,\u{e9}\u{7f}".repeat(8);
        assert!(!needs_decoding(&near));
        assert_eq!(needs_decoding(&near), plain(&near));
    }

    #[test]
    fn hostile_input_never_panics() {
        let long = format!("a={}&ticket=x", "z".repeat(60 * 1024));
        assert_eq!(find(&long).unwrap().1, "x");
        assert_eq!(find("ticket=%zz%").unwrap().1, "%zz%");
        assert_eq!(find("ticket=%ff%fe").unwrap().1, "\u{fffd}\u{fffd}");
        assert_eq!(find("ticket").unwrap().1, "");
        assert_eq!(find("&&=&ticket=&").unwrap().1, "");
    }

    #[test]
    fn strip_keeps_other_parameters_in_order() {
        assert_eq!(
            strip("/api/ws?b=2&ticket=wst_x&a=%201&c"),
            "/api/ws?b=2&a=%201&c"
        );
        assert_eq!(strip("/api/ws?ticket=wst_x"), "/api/ws");
        assert_eq!(
            strip("https://h:8443/api/ws?internal=x&z=1"),
            "https://h:8443/api/ws?z=1"
        );
    }

    #[test]
    fn without_credentials_drops_every_credential_parameter() {
        let uri: Uri = "/p?a=1&ticket=wst_x&internal=y&b".parse().unwrap();
        assert_eq!(without_credentials(&uri).unwrap(), "/p?a=1&b");
        let plain: Uri = "/p?a=1".parse().unwrap();
        assert_eq!(without_credentials(&plain).unwrap(), "/p?a=1");
    }

    #[test]
    fn a_credential_entry_is_found_and_removed_from_the_header() {
        assert_eq!(
            from_header(&["ws-ticket, ws-ticket.wst_abc, chat.v1"]).unwrap(),
            (
                CredentialKind::Ticket,
                "wst_abc".into(),
                Some("ws-ticket, chat.v1".into())
            )
        );
        // Split over several headers, odd spacing: the rest keeps its order.
        assert_eq!(
            from_header(&["a ,ws-ticket", "ws-ticket.wsi_x", "b,\tc"]).unwrap(),
            (
                CredentialKind::Internal,
                "wsi_x".into(),
                Some("a, ws-ticket, b, c".into())
            )
        );
        // The entry alone: no header left.
        assert_eq!(
            from_header(&["ws-ticket.wst_abc"]).unwrap(),
            (CredentialKind::Ticket, "wst_abc".into(), None)
        );
    }

    #[test]
    fn header_credentials_that_are_not_exactly_one_are_refused() {
        assert_eq!(
            from_header(&["ws-ticket.wst_a, ws-ticket.wst_b"]).unwrap_err(),
            NotOne::Ambiguous
        );
        assert_eq!(
            from_header(&["ws-ticket.wst_a", "WS-TICKET.wsi_b"]).unwrap_err(),
            NotOne::Ambiguous
        );
        for unknown in ["ws-ticket.", "ws-ticket.token", "ws-ticket.WST_a"] {
            assert_eq!(from_header(&[unknown]).unwrap_err(), NotOne::Malformed);
        }
        // The marker alone carries nothing.
        assert_eq!(from_header(&["ws-ticket"]).unwrap_err(), NotOne::Missing);
        // The query and the header at once.
        let uri: Uri = "/p?ticket=wst_a".parse().unwrap();
        let headers = protocols(&["ws-ticket, ws-ticket.wst_b"]);
        assert_eq!(
            find_credential(&uri, &headers).unwrap_err(),
            NotOne::Ambiguous
        );
    }

    #[test]
    fn an_opaque_header_with_a_credential_is_refused() {
        let mut headers = protocols(&["ws-ticket.wst_a"]);
        headers.append(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        let uri = Uri::from_static("/p");
        assert_eq!(
            find_credential(&uri, &headers).unwrap_err(),
            NotOne::Malformed
        );
    }

    #[test]
    fn an_unreadable_protocol_line_is_refused_whatever_else_is_presented() {
        // Issue 18, finding 1: a credential entry inside a line of obs-text
        // (Latin-1 `café`) went unseen, so a ticket in the query was taken
        // as the only credential and the line reached the handler.
        let latin1 = HeaderValue::from_bytes(b"ws-ticket, ws-ticket.wst_hidden, caf\xe9").unwrap();
        let with_line = |values: &[&str]| {
            let mut headers = protocols(values);
            headers.append(SEC_WEBSOCKET_PROTOCOL, latin1.clone());
            headers
        };
        for query in ["ticket=wst_a", "internal=wsi_a", "token=t"] {
            let uri: Uri = format!("/p?{query}").parse().unwrap();
            let found = find_credential(&uri, &with_line(&[])).map(|p| p.kind);
            assert_eq!(found.unwrap_err(), NotOne::Malformed, "{query}");
        }
        // Nothing readable at all: the line may hold a credential the layer
        // cannot see, so it is refused as unreadable, not as missing.
        let bare = Uri::from_static("/p");
        let found = find_credential(&bare, &with_line(&["ws-ticket"])).map(|p| p.kind);
        assert_eq!(found.unwrap_err(), NotOne::Malformed);
    }

    #[test]
    fn the_protocol_selected_for_a_refusal_is_never_a_credential() {
        let pick = |values: &[&str]| protocol_to_select(&protocols(values)).map(str::to_owned);
        assert_eq!(
            pick(&["chat.v1, ws-ticket, ws-ticket.wst_a"]),
            Some("ws-ticket".into())
        );
        assert_eq!(pick(&["ws-ticket.wst_a, chat.v1"]), Some("chat.v1".into()));
        assert_eq!(pick(&["wst_leaked, chat.v1"]), Some("chat.v1".into()));
        assert_eq!(pick(&["ws-ticket.wst_a"]), None);
        assert_eq!(pick(&[]), None);
        // Only the exact marker counts as offered.
        assert!(!offers_marker(&protocols(&["WS-Ticket"])));
    }
}

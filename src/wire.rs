//! The wire format: what a client sends, and how the crate finds it.
//!
//! Everything the crate knows about the shape of a credential on the wire
//! lives here, and nothing here knows about stores, audit or the layer:
//!
//! - the query parameters a credential travels in ([`TICKET_PARAM`],
//!   [`INTERNAL_PARAM`], [`TOKEN_PARAM`]) and the [`CredentialKind`] each
//!   names;
//! - the prefixes that tell credentials apart in any position
//!   ([`TICKET_PREFIX`], [`INTERNAL_PREFIX`]);
//! - finding the one credential a request URI carries, and the URI without
//!   it;
//! - which query pieces may carry a secret, for
//!   [`redact_uri`](crate::redact_uri).
//!
//! ```
//! use tower_ws_ticket::wire::{CredentialKind, TICKET_PARAM, TICKET_PREFIX};
//!
//! assert_eq!(CredentialKind::Ticket.param(), TICKET_PARAM);
//! assert_eq!(format!("/api/ws?{TICKET_PARAM}={TICKET_PREFIX}…"), "/api/ws?ticket=wst_…");
//! ```

use std::borrow::Cow;

use http::Uri;
use http::uri::PathAndQuery;

/// Query parameter carrying a ticket.
pub const TICKET_PARAM: &str = "ticket";
/// Query parameter carrying the internal credential.
pub const INTERNAL_PARAM: &str = "internal";
/// Query parameter carrying the loopback session token.
pub const TOKEN_PARAM: &str = "token";
/// Every credential parameter, in the order of [`CredentialKind`].
pub const CREDENTIAL_PARAMS: [&str; 3] = [TICKET_PARAM, INTERNAL_PARAM, TOKEN_PARAM];

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
    pub fn as_str(self) -> &'static str {
        self.param()
    }

    /// The query parameter this credential travels in.
    pub fn param(self) -> &'static str {
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

/// Whether `value` reads like a ticket or an internal credential, whatever
/// it was sent as: such a value is hidden wherever it turns up.
pub(crate) fn looks_like_credential(value: &str) -> bool {
    let value = value.trim_start();
    value.starts_with(TICKET_PREFIX) || value.starts_with(INTERNAL_PREFIX)
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

    /// Whether this piece may carry a secret, for redaction: a credential's
    /// name in any case or with stray spaces or control characters around it
    /// (the layer refuses those spellings without consuming anything, so the
    /// value may still be live), or a value that reads like a ticket or an
    /// internal credential under any name.
    pub(crate) fn may_carry_credential(&self) -> bool {
        let name = self
            .name
            .trim_matches(|c: char| c.is_whitespace() || c.is_control());
        CREDENTIAL_PARAMS
            .iter()
            .any(|param| name.eq_ignore_ascii_case(param))
            || looks_like_credential(&self.value())
    }

    fn value(&self) -> Cow<'a, str> {
        form_urlencoded::parse(self.raw.as_bytes())
            .next()
            .map(|(_, value)| value)
            .unwrap_or_default()
    }
}

fn raw_name(piece: &str) -> &str {
    piece.split_once('=').map_or(piece, |(name, _)| name)
}

/// The non-empty pieces of `query`. Pieces are separated by `&`; a `;` is
/// part of a piece, as form_urlencoded (and so axum and warp) reads it.
pub(crate) fn params(query: &str) -> impl Iterator<Item = Param<'_>> {
    query.split('&').filter(|raw| !raw.is_empty()).map(|raw| {
        let name = form_urlencoded::parse(raw_name(raw).as_bytes())
            .next()
            .map(|(name, _)| name)
            .unwrap_or_default();
        Param { raw, name }
    })
}

/// The one credential a request URI presents, and the URI without it.
#[derive(Debug)]
pub(crate) struct Presented<'a> {
    pub(crate) kind: CredentialKind,
    pub(crate) value: Cow<'a, str>,
    /// The URI to hand on: every other piece of the query kept, in order.
    pub(crate) stripped: Uri,
}

/// Why a URI does not present exactly one credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotOne {
    /// No credential parameter at all.
    Missing,
    /// Two credential parameters (the same twice, or two kinds).
    Ambiguous,
    /// The URI could not be rebuilt without the credential.
    Unrewritable,
}

/// Finds the single credential parameter in the URI's query, in one pass
/// that also builds the URI without it.
///
/// Two credential parameters (the same name twice, or two kinds) are
/// [`NotOne::Ambiguous`] whatever their values: there is no telling which
/// one a proxy or the application would read.
pub(crate) fn take_credential(uri: &Uri) -> Result<Presented<'_>, NotOne> {
    let mut found = None;
    let stripped = rebuild_without_credentials(uri, |kind, param| {
        if found.is_some() {
            return Err(NotOne::Ambiguous);
        }
        found = Some((kind, param.value()));
        Ok(())
    })?;
    let (kind, value) = found.ok_or(NotOne::Missing)?;
    Ok(Presented {
        kind,
        value,
        stripped,
    })
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
    with_path_and_query(uri, kept).ok_or(NotOne::Unrewritable)
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
        take_credential(&uri).map(|p| (p.kind, p.value.into_owned()))
    }

    fn strip(uri: &str) -> String {
        let uri: Uri = uri.parse().unwrap();
        take_credential(&uri).unwrap().stripped.to_string()
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
        assert_eq!(take_credential(&bare).unwrap_err(), NotOne::Missing);
        assert_eq!(find("").unwrap_err(), NotOne::Missing);
        assert_eq!(find("Ticket=x&TOKEN=y").unwrap_err(), NotOne::Missing);
        assert_eq!(find("ticket=a&ticket=b").unwrap_err(), NotOne::Ambiguous);
        assert_eq!(find("ticket=a&internal=b").unwrap_err(), NotOne::Ambiguous);
        assert_eq!(find("token=a&%74icket=b").unwrap_err(), NotOne::Ambiguous);
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
}

//! Finding the credential in a query string, and removing it again.
//!
//! Decoding is form_urlencoded's (percent-decoding, `+` as space, invalid
//! UTF-8 replaced), applied one `&`-separated piece at a time so that the
//! rewrite can keep every other piece exactly as the client spelled it.

use std::borrow::Cow;

use http::Uri;
use http::uri::PathAndQuery;

use super::{CREDENTIAL_PARAMS, INTERNAL_PARAM, TICKET_PARAM, TOKEN_PARAM};
use crate::audit::{CredentialKind, RejectReason};

/// One `name=value` piece of a query string, its name decoded. The value
/// is decoded only for the one piece that turns out to be a credential.
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

    fn credential_kind(&self) -> Option<CredentialKind> {
        match self.name.as_ref() {
            TICKET_PARAM => Some(CredentialKind::Ticket),
            INTERNAL_PARAM => Some(CredentialKind::Internal),
            TOKEN_PARAM => Some(CredentialKind::SessionToken),
            _ => None,
        }
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
            || ["wst_", "wsi_"]
                .iter()
                .any(|prefix| self.value().trim_start().starts_with(prefix))
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

/// The non-empty pieces of `query`.
pub(crate) fn params(query: &str) -> impl Iterator<Item = Param<'_>> {
    query.split('&').filter(|raw| !raw.is_empty()).map(|raw| {
        let name = form_urlencoded::parse(raw_name(raw).as_bytes())
            .next()
            .map(|(name, _)| name)
            .unwrap_or_default();
        Param { raw, name }
    })
}

/// The one credential a request presents, and the request's URI without it.
pub(crate) struct Presented<'a> {
    pub(crate) kind: CredentialKind,
    pub(crate) value: Cow<'a, str>,
    /// The URI to hand on: every other piece of the query kept, in order.
    pub(crate) stripped: Uri,
}

/// Finds the single credential parameter in the URI's query, in one pass
/// that also builds the URI without it.
///
/// A request with none is `Missing`; one with two (the same name twice, or
/// two kinds) is `Ambiguous`, whatever their values: there is no telling
/// which one a proxy or the application would read.
pub(crate) fn take_credential(uri: &Uri) -> Result<Presented<'_>, RejectReason> {
    let query = uri.query().unwrap_or("");
    let path = uri.path();
    let mut kept = String::with_capacity(path.len() + query.len() + 1);
    kept.push_str(path);
    let mut separator = '?';
    let mut found = None;
    for param in params(query) {
        match param.credential_kind() {
            Some(_) if found.is_some() => return Err(RejectReason::Ambiguous),
            Some(kind) => found = Some((kind, param.value())),
            None => {
                kept.push(separator);
                kept.push_str(param.raw);
                separator = '&';
            }
        }
    }
    let (kind, value) = found.ok_or(RejectReason::Missing)?;
    // Removing whole pieces of a valid query leaves a valid one, so this
    // cannot fail; if it ever did, refusing beats passing the secret on.
    let stripped = with_path_and_query(uri, kept).ok_or(RejectReason::Malformed)?;
    Ok(Presented {
        kind,
        value,
        stripped,
    })
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

    fn find(query: &str) -> Result<(CredentialKind, String), RejectReason> {
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
        assert_eq!(take_credential(&bare).err(), Some(RejectReason::Missing));
        assert_eq!(find("").err(), Some(RejectReason::Missing));
        assert_eq!(find("Ticket=x&TOKEN=y").err(), Some(RejectReason::Missing));
        assert_eq!(
            find("ticket=a&ticket=b").err(),
            Some(RejectReason::Ambiguous)
        );
        assert_eq!(
            find("ticket=a&internal=b").err(),
            Some(RejectReason::Ambiguous)
        );
        assert_eq!(
            find("token=a&%74icket=b").err(),
            Some(RejectReason::Ambiguous)
        );
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
}

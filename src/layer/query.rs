//! Finding the credential in a query string, and removing it again.
//!
//! Decoding is form_urlencoded's (percent-decoding, `+` as space, invalid
//! UTF-8 replaced), applied one `&`-separated piece at a time so that the
//! rewrite can keep every other piece exactly as the client spelled it.

use std::borrow::Cow;

use http::Uri;
use http::uri::PathAndQuery;

use super::{INTERNAL_PARAM, TICKET_PARAM, TOKEN_PARAM};
use crate::audit::{CredentialKind, RejectReason};

/// One `name=value` piece of a query string.
pub(crate) struct Param<'a> {
    /// The piece as it appears in the query.
    pub(crate) raw: &'a str,
    name: Cow<'a, str>,
    value: Cow<'a, str>,
}

impl<'a> Param<'a> {
    /// The name as spelled in the query, before decoding.
    pub(crate) fn raw_name(&self) -> &'a str {
        self.raw.split_once('=').map_or(self.raw, |(name, _)| name)
    }

    fn credential_kind(&self) -> Option<CredentialKind> {
        match self.name.as_ref() {
            TICKET_PARAM => Some(CredentialKind::Ticket),
            INTERNAL_PARAM => Some(CredentialKind::Internal),
            TOKEN_PARAM => Some(CredentialKind::SessionToken),
            _ => None,
        }
    }

    /// Whether this piece carries a credential (by its decoded name).
    pub(crate) fn is_credential(&self) -> bool {
        self.credential_kind().is_some()
    }
}

/// The non-empty pieces of `query`, decoded.
pub(crate) fn params(query: &str) -> impl Iterator<Item = Param<'_>> {
    query.split('&').filter(|raw| !raw.is_empty()).map(|raw| {
        let (name, value) = form_urlencoded::parse(raw.as_bytes())
            .next()
            .unwrap_or_default();
        Param { raw, name, value }
    })
}

/// The one credential a request presents.
pub(crate) struct Presented<'a> {
    pub(crate) kind: CredentialKind,
    pub(crate) value: Cow<'a, str>,
}

/// Finds the single credential parameter in `query`.
///
/// A request with none is `Missing`; one with two (the same name twice, or
/// two kinds) is `Ambiguous`, whatever their values: there is no telling
/// which one a proxy or the application would read.
pub(crate) fn find_credential(query: Option<&str>) -> Result<Presented<'_>, RejectReason> {
    let mut found = None;
    for param in params(query.unwrap_or("")) {
        let Some(kind) = param.credential_kind() else {
            continue;
        };
        if found.is_some() {
            return Err(RejectReason::Ambiguous);
        }
        found = Some(Presented {
            kind,
            value: param.value,
        });
    }
    found.ok_or(RejectReason::Missing)
}

/// `uri` without its credential parameters, every other piece kept in order.
///
/// Returns `None` only if the result were not a valid URI, which removing
/// whole pieces of a valid query cannot cause; callers refuse the request
/// rather than pass the secret on.
pub(crate) fn strip_credentials(uri: &Uri) -> Option<Uri> {
    let query = uri.query()?;
    let path = uri.path();
    let mut rebuilt = String::with_capacity(path.len() + query.len() + 1);
    rebuilt.push_str(path);
    let mut separator = '?';
    for param in params(query).filter(|p| !p.is_credential()) {
        rebuilt.push(separator);
        rebuilt.push_str(param.raw);
        separator = '&';
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(rebuilt).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(query: &str) -> Result<(CredentialKind, String), RejectReason> {
        find_credential(Some(query)).map(|p| (p.kind, p.value.into_owned()))
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
        assert_eq!(find_credential(None).err(), Some(RejectReason::Missing));
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
        let uri: Uri = "/api/ws?b=2&ticket=wst_x&a=%201&c".parse().unwrap();
        assert_eq!(strip_credentials(&uri).unwrap(), "/api/ws?b=2&a=%201&c");
        let uri: Uri = "/api/ws?ticket=wst_x".parse().unwrap();
        assert_eq!(strip_credentials(&uri).unwrap(), "/api/ws");
        let uri: Uri = "https://h:8443/api/ws?internal=x&z=1".parse().unwrap();
        assert_eq!(
            strip_credentials(&uri).unwrap(),
            "https://h:8443/api/ws?z=1"
        );
    }
}

//! The credentials beside tickets: the process-lifetime
//! [`InternalCredential`] for server-spawned clients, the legacy
//! [`SessionToken`] of loopback mode, and [`ChildCredential`], which builds a
//! spawned child's attach URL for whichever mode the server runs in.
//!
//! A child reads its attach URL once at start and reuses it on every
//! reconnect, so a single-use ticket is the wrong shape for it. The internal
//! credential is generated once per process, never expires, may be used any
//! number of times, and should leave the process only through a spawned
//! child's environment: never in HTML, never in a response, never in a log.
//!
//! ```
//! use tower_ws_ticket::{ChildCredential, InternalCredential};
//!
//! let internal = InternalCredential::generate();
//! let child = ChildCredential::Internal(internal.clone());
//! let url = child.attach_url("ws://127.0.0.1:3000/api/pub").unwrap();
//! assert!(url.starts_with("ws://127.0.0.1:3000/api/pub?internal=wsi_"));
//! assert!(internal.verify(&url["ws://127.0.0.1:3000/api/pub?internal=".len()..]));
//! // Debug output never carries the secret.
//! assert!(!format!("{internal:?} {child:?}").contains(internal.expose_secret()));
//! ```

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq as _;

use http::HeaderValue;

use crate::wire::{
    CREDENTIAL_PARAMS, ENTRY_PREFIX, INTERNAL_PARAM, INTERNAL_PREFIX, SUBPROTOCOL, TOKEN_PARAM,
};

/// A secret string: compared in constant time, redacted in `Debug`, no
/// `Display`. Shared by every credential type so each gets the same care.
#[derive(Clone)]
struct Secret(Arc<str>);

impl Secret {
    fn verify(&self, presented: &str) -> bool {
        // An empty secret would let an empty parameter in; refuse both.
        !presented.is_empty()
            && !self.0.is_empty()
            && bool::from(presented.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The process-lifetime credential for clients this server spawns itself.
///
/// 256 random bits from the thread-local CSPRNG, as URL-safe text starting
/// with `wsi_`. Clones share the value; it never expires and may be
/// verified any number of times. It is independent of every ticket store:
/// a ticket is never accepted in its place, nor it in a ticket's.
///
/// ```
/// use tower_ws_ticket::InternalCredential;
///
/// let credential = InternalCredential::generate();
/// let text = credential.expose_secret().to_owned();
/// assert!(credential.verify(&text));
/// assert!(credential.verify(&text)); // multi-use
/// assert!(!credential.verify(""));
/// assert!(!credential.verify(&InternalCredential::generate().expose_secret()));
/// ```
#[derive(Clone, Debug)]
pub struct InternalCredential {
    secret: Secret,
}

impl InternalCredential {
    /// Draws a new credential: 32 bytes from the thread-local CSPRNG.
    pub fn generate() -> Self {
        let (_, text) = crate::ticket::random_text::<32>(INTERNAL_PREFIX);
        Self {
            secret: Secret(text.into()),
        }
    }

    /// The credential text, for a spawned child's environment or attach URL
    /// (prefer [`ChildCredential::attach_url`]). Stable for the value's life.
    pub fn expose_secret(&self) -> &str {
        &self.secret.0
    }

    /// Whether `presented` is this credential, compared in constant time.
    /// Empty and wrong values fail.
    pub fn verify(&self, presented: &str) -> bool {
        self.secret.verify(presented)
    }

    /// The `Sec-WebSocket-Protocol` value a child offers to attach with
    /// this credential: the marker, then the credential entry
    /// (`ws-ticket, ws-ticket.wsi_…`). No URL, and so no access log, holds
    /// it. Marked sensitive, so HTTP libraries that honour the flag keep it
    /// out of their debug output.
    ///
    /// # Client logs
    ///
    /// Not every client library honours the flag: tungstenite (and so
    /// tokio-tungstenite) writes every handshake request it sends, headers
    /// and URL included, to its TRACE log, and this credential never
    /// expires. A child that dials with it must silence that target in its
    /// log filter, with this directive beside its own (`tracing`'s
    /// `EnvFilter` or `env_logger` syntax):
    ///
    /// ```text
    /// tungstenite::handshake::client=off
    /// ```
    ///
    /// The same holds for [`ChildCredential::attach_url`], whose URL holds
    /// the credential.
    ///
    /// ```
    /// use tower_ws_ticket::InternalCredential;
    ///
    /// let credential = InternalCredential::generate();
    /// let offered = credential.subprotocols();
    /// assert!(offered.is_sensitive());
    /// assert!(offered.to_str().unwrap().starts_with("ws-ticket, ws-ticket.wsi_"));
    /// ```
    pub fn subprotocols(&self) -> HeaderValue {
        let offered = format!("{SUBPROTOCOL}, {ENTRY_PREFIX}{}", self.expose_secret());
        // `wsi_` and base64url characters, drawn here: always a valid value.
        let mut value =
            HeaderValue::try_from(offered).expect("generated credential text is a header value");
        value.set_sensitive(true);
        value
    }
}

/// The legacy session token that loopback mode accepts in `?token=`.
///
/// Compared in constant time and redacted in `Debug`. An empty token
/// matches nothing.
///
/// ```
/// use tower_ws_ticket::SessionToken;
///
/// let token = SessionToken::new("s3cret-session");
/// assert!(token.verify("s3cret-session"));
/// assert!(!token.verify("s3cret-sessioN"));
/// assert_eq!(format!("{token:?}"), "SessionToken { secret: <redacted> }");
/// ```
#[derive(Clone, Debug)]
pub struct SessionToken {
    secret: Secret,
}

impl SessionToken {
    /// Wraps the application's session token.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            secret: Secret(token.into().into()),
        }
    }

    /// The token text, for a spawned child's attach URL.
    pub fn expose_secret(&self) -> &str {
        &self.secret.0
    }

    /// Whether `presented` is this token, compared in constant time.
    pub fn verify(&self, presented: &str) -> bool {
        self.secret.verify(presented)
    }
}

/// The credential a spawned child attaches with, chosen by the server's
/// mode: the internal credential in gated mode, the session token in
/// loopback mode.
///
/// Get it from the layer (`WsTicketLayer::child_credential`) so the choice
/// follows the layer's configuration and no caller can forget the gated
/// branch; build it by hand only where no layer is at hand.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ChildCredential {
    /// Gated mode: attach with `?internal=`.
    Internal(InternalCredential),
    /// Loopback mode: attach with `?token=`.
    SessionToken(SessionToken),
}

impl ChildCredential {
    /// The query parameter this credential travels in.
    pub fn param(&self) -> &'static str {
        match self {
            Self::Internal(_) => INTERNAL_PARAM,
            Self::SessionToken(_) => TOKEN_PARAM,
        }
    }

    /// The `Sec-WebSocket-Protocol` value that carries this credential,
    /// the way to attach that keeps it out of URLs: for the internal
    /// credential, [`InternalCredential::subprotocols`]; `None` for the
    /// session token, which travels in the query only (loopback mode's
    /// legacy shape): use [`attach_url`](Self::attach_url) for it.
    pub fn subprotocols(&self) -> Option<HeaderValue> {
        match self {
            Self::Internal(internal) => Some(internal.subprotocols()),
            Self::SessionToken(_) => None,
        }
    }

    /// `base` with this credential appended as a query parameter
    /// (percent-encoded), keeping any query and fragment already there.
    ///
    /// Prefer [`subprotocols`](Self::subprotocols) where the credential
    /// allows it: a URL is what logs record. A client library may log it
    /// too: tungstenite writes each handshake's request line to its TRACE
    /// log, so silence `tungstenite::handshake::client=off` in the child's
    /// log filter (see [`InternalCredential::subprotocols`]).
    ///
    /// # Errors
    ///
    /// [`AttachUrlError`] when `base` already carries a credential parameter
    /// (`ticket`, `internal` or `token`), which the layer would refuse as
    /// ambiguous.
    pub fn attach_url(&self, base: &str) -> Result<String, AttachUrlError> {
        let (before_fragment, fragment) = match base.split_once('#') {
            Some((head, fragment)) => (head, Some(fragment)),
            None => (base, None),
        };
        let query = before_fragment.split_once('?').map(|(_, q)| q);
        if let Some(query) = query {
            let clash = form_urlencoded::parse(query.as_bytes())
                .any(|(name, _)| CREDENTIAL_PARAMS.contains(&name.as_ref()));
            if clash {
                return Err(AttachUrlError { _private: () });
            }
        }
        let secret = match self {
            Self::Internal(c) => c.expose_secret(),
            Self::SessionToken(t) => t.expose_secret(),
        };
        let mut url = String::with_capacity(base.len() + secret.len() + 16);
        url.push_str(before_fragment);
        match query {
            None => url.push('?'),
            Some("") => {}
            Some(_) => url.push('&'),
        }
        url.push_str(self.param());
        url.push('=');
        url.extend(form_urlencoded::byte_serialize(secret.as_bytes()));
        if let Some(fragment) = fragment {
            url.push('#');
            url.push_str(fragment);
        }
        Ok(url)
    }
}

/// The base URL given to [`ChildCredential::attach_url`] already carries a
/// credential parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachUrlError {
    _private: (),
}

impl fmt::Display for AttachUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("attach URL base already carries a credential parameter")
    }
}

impl Error for AttachUrlError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[test]
    fn generated_credentials_are_distinct_and_url_safe() {
        let a = InternalCredential::generate();
        let b = InternalCredential::generate();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 47);
        assert!(a.expose_secret().starts_with("wsi_"));
        assert!(
            a.expose_secret()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn verify_accepts_only_the_exact_value() {
        let c = InternalCredential::generate();
        let text = c.expose_secret().to_owned();
        assert!(c.verify(&text));
        assert!(c.clone().verify(&text));
        assert!(!c.verify(""));
        assert!(!c.verify(&text[..text.len() - 1]));
        assert!(!c.verify(&format!("{text}x")));
        let mut flipped = text.into_bytes();
        flipped[10] ^= 1;
        assert!(!c.verify(&String::from_utf8_lossy(&flipped)));
    }

    #[test]
    fn empty_session_token_matches_nothing() {
        let token = SessionToken::new("");
        assert!(!token.verify(""));
        assert!(!token.verify("x"));
    }

    #[test]
    fn tickets_and_internal_credentials_are_not_interchangeable() {
        let store = MemoryStore::<u8>::new();
        let internal = InternalCredential::generate();
        let ticket = store.mint(1).expect("mint");
        assert!(!internal.verify(ticket.expose_secret()));
        assert!(store.consume(internal.expose_secret()).is_err());
        // The ticket was not touched by the failed attempts.
        assert!(store.consume(ticket.expose_secret()).is_ok());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let internal = InternalCredential::generate();
        let token = SessionToken::new("hunter2-session-token");
        let shown = format!(
            "{internal:?} {token:?} {:?} {:?}",
            ChildCredential::Internal(internal.clone()),
            ChildCredential::SessionToken(token.clone())
        );
        assert!(!shown.contains(internal.expose_secret()));
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn attach_url_uses_the_mode_parameter() {
        let internal = InternalCredential::generate();
        let gated = ChildCredential::Internal(internal.clone());
        assert_eq!(
            gated.attach_url("ws://127.0.0.1:1/api/ws").unwrap(),
            format!(
                "ws://127.0.0.1:1/api/ws?internal={}",
                internal.expose_secret()
            )
        );
        let loopback = ChildCredential::SessionToken(SessionToken::new("a b&c"));
        assert_eq!(
            loopback.attach_url("ws://h/api/ws?room=1#top").unwrap(),
            "ws://h/api/ws?room=1&token=a+b%26c#top"
        );
        assert_eq!(
            loopback.attach_url("ws://h/api/ws?").unwrap(),
            "ws://h/api/ws?token=a+b%26c"
        );
    }

    #[test]
    fn attach_url_refuses_a_base_with_a_credential() {
        let gated = ChildCredential::Internal(InternalCredential::generate());
        for base in [
            "ws://h/?ticket=x",
            "ws://h/?a=1&internal=y",
            "ws://h/?token=",
        ] {
            assert!(gated.attach_url(base).is_err(), "{base}");
        }
    }
}

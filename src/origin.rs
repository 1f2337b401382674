//! Origins: the allowlist the layer and the mint route check `Origin`
//! headers against, and the mint route's same-origin default.
//!
//! How origins compare is on
//! [`WsTicketLayer::allowed_origins`](crate::WsTicketLayer::allowed_origins).

use std::error::Error;
use std::fmt;

use http::HeaderMap;
use http::header::ORIGIN;

/// A configured allowlist, normalised.
#[derive(Clone, Debug)]
pub(crate) struct AllowedOrigins(Box<[String]>);

impl AllowedOrigins {
    pub(crate) fn new<O: Into<String>>(
        origins: impl IntoIterator<Item = O>,
    ) -> Result<Self, ConfigError> {
        origins
            .into_iter()
            .map(|origin| {
                let origin = origin.into();
                normalise(&origin).ok_or(ConfigError::InvalidOrigin(origin))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|list| Self(list.into()))
    }

    /// Whether a presented `Origin` header value is on the list: the same
    /// serialized origin, in any ASCII case. `null`, and anything that is
    /// not a serialized origin, never is.
    pub(crate) fn allows(&self, presented: &[u8]) -> bool {
        self.0
            .iter()
            .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(presented))
    }

    /// Whether every `Origin` header of a request (usually one, or none)
    /// is on the list. A request without one passes: browsers always send
    /// it, and other clients cannot be driven by a hostile page.
    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(ORIGIN)
            .iter()
            .all(|origin| self.allows(origin.as_bytes()))
    }
}

/// An origin as the allowlist keeps it: its serialized form, lowercased,
/// without a default port or trailing slash; `None` when it is not
/// `scheme://host[:port]`.
pub(crate) fn normalise(origin: &str) -> Option<String> {
    Origin::parse(origin).map(|parsed| parsed.serialize())
}

/// Whether a presented `Origin` header value is a serialized origin naming
/// the host a request was sent to (`host` is its `Host` header, or its
/// HTTP/2 authority): same host, and the same port once default ports are
/// filled in. The scheme
/// cannot be compared, as TLS often ends before the application.
pub(crate) fn is_same_origin(presented: &[u8], host: &str) -> bool {
    let (Some(origin), Some((host, port))) = (Origin::from_header(presented), split_host(host))
    else {
        return false;
    };
    let origin_port = origin.port.or(origin.default_port);
    let host_port = port.or(origin.default_port);
    origin.host.eq_ignore_ascii_case(host) && origin_port.is_some() && origin_port == host_port
}

/// A parsed serialized origin, lowercased.
struct Origin {
    scheme: String,
    host: String,
    /// The explicit port, unless it is the scheme's default.
    port: Option<u16>,
    default_port: Option<u16>,
}

impl Origin {
    /// A presented `Origin` header value, when it is a serialized origin
    /// exactly (ASCII case aside): what `parse` would also take, such as a
    /// default port spelled out or a trailing slash, no browser sends.
    fn from_header(presented: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(presented).ok()?;
        Self::parse(text).filter(|origin| origin.serialize().eq_ignore_ascii_case(text))
    }

    /// An origin as configured: a serialized origin, or one with its
    /// default port spelled out or a trailing slash.
    fn parse(origin: &str) -> Option<Self> {
        let (scheme, rest) = origin.split_once("://")?;
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        let host_port = rest.strip_suffix('/').unwrap_or(rest);
        if !valid_scheme
            || !host_port.is_ascii()
            || host_port.contains(|c: char| {
                matches!(c, '/' | '?' | '#' | '@' | ' ') || c.is_ascii_control()
            })
        {
            return None;
        }
        let scheme = scheme.to_ascii_lowercase();
        let (host, port) = split_host(host_port)?;
        let default_port = match scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        };
        Some(Self {
            host: host.to_ascii_lowercase(),
            port: port.filter(|port| Some(*port) != default_port),
            default_port,
            scheme,
        })
    }

    fn serialize(&self) -> String {
        match self.port {
            Some(port) => format!("{}://{}:{port}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }
}

/// `host[:port]` split in two; `None` when the host is empty or not a
/// host, or the port is not a number in plain decimal (`0443` is not). A
/// port follows the last `:` unless that colon is inside an IPv6 literal.
fn split_host(host_port: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (host_port, None),
    };
    // A `:` or a bracket belongs in an IPv6 literal only: `h::80` would
    // read as host `h:`, whose serialized origin `scheme://h:` names no
    // host at all.
    let is_host = match host.strip_prefix('[') {
        Some(literal) => literal
            .strip_suffix(']')
            .is_some_and(|inner| !inner.is_empty() && !inner.contains(['[', ']'])),
        None => !host.is_empty() && !host.contains([':', '[', ']']),
    };
    if !is_host {
        return None;
    }
    match port {
        None => Some((host, None)),
        // One spelling per port: a leading zero makes a second one.
        Some(port)
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (port == "0" || !port.starts_with('0')) =>
        {
            Some((host, Some(port.parse().ok()?)))
        }
        Some(_) => None,
    }
}

/// A setting that cannot work.
///
/// ```
/// use tower_ws_ticket::{ConfigError, WsTicketLayer, MemoryStore};
///
/// let layer = WsTicketLayer::new(MemoryStore::<u64>::new())
///     .try_allowed_origins(["https://app.example.com"])?;
/// # let _ = layer;
/// assert!(matches!(
///     WsTicketLayer::new(MemoryStore::<u64>::new()).try_allowed_origins(["app.example.com"]),
///     Err(ConfigError::InvalidOrigin(_))
/// ));
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// An allowed origin that is not `scheme://host[:port]`.
    InvalidOrigin(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidOrigin(origin) => write!(
                f,
                "invalid allowed origin {origin:?}: expected scheme://host[:port] with no path"
            ),
        }
    }
}

impl Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_as_serialized_origins() {
        let list = AllowedOrigins::new([
            "https://App.Example.com:443/",
            "http://localhost:3000",
            "http://[::1]:8080",
        ])
        .unwrap();
        assert!(list.allows(b"https://app.example.com"));
        assert!(list.allows(b"HTTPS://APP.EXAMPLE.COM"));
        assert!(list.allows(b"http://localhost:3000"));
        assert!(list.allows(b"http://[::1]:8080"));
        assert!(!list.allows(b"http://app.example.com"));
        assert!(!list.allows(b"https://app.example.com:8443"));
        assert!(!list.allows(b"https://evil.example.com"));
        assert!(!list.allows(b"https://app.example.com.evil.com"));
        assert!(!list.allows(b"http://localhost:30000"));
        assert!(!list.allows(b"null"));
        assert!(!list.allows(b""));
        assert!(!list.allows(b"\xff\xfe"));
    }

    #[test]
    fn every_origin_header_must_be_allowed() {
        let list = AllowedOrigins::new(["https://a.example"]).unwrap();
        let mut headers = HeaderMap::new();
        assert!(list.admits(&headers));
        headers.append(ORIGIN, "https://a.example".parse().unwrap());
        assert!(list.admits(&headers));
        headers.append(ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!list.admits(&headers));
    }

    #[test]
    fn invalid_entries_are_refused() {
        for bad in [
            "null",
            "app.example.com",
            "https://",
            "https://h/path",
            "https://h:x",
            "https://h:99999",
            "https://u@h",
        ] {
            assert_eq!(
                AllowedOrigins::new([bad]).unwrap_err(),
                ConfigError::InvalidOrigin(bad.to_owned()),
                "{bad}"
            );
        }
    }

    #[test]
    fn hosts_with_a_stray_colon_or_bracket_are_refused() {
        // Found by the `origin` fuzz target: `http://t:80:80:80` was kept as
        // `http://t:80:80`, which normalised again to `http://t:80`, and
        // `http://h::80` as `http://h:`, which does not parse at all.
        for bad in [
            "http://h::80",
            "http://t:80:80:80",
            "http://[::1",
            "http://::1",
            "http://a]:1",
            "http://[]",
            "http://[[::1]]",
        ] {
            assert!(AllowedOrigins::new([bad]).is_err(), "{bad}");
            assert!(!is_same_origin(bad.as_bytes(), "h"), "{bad}");
        }
        assert!(!is_same_origin(b"http://h", "h::80"));
        assert!(!is_same_origin(b"http://[::1]", "[::1"));
        // IPv6 literals keep working, with a port or without.
        assert_eq!(
            normalise("http://[::1]:80").as_deref(),
            Some("http://[::1]")
        );
        assert_eq!(
            normalise("http://[::1]:8080").as_deref(),
            Some("http://[::1]:8080")
        );
        assert!(is_same_origin(b"http://[::1]", "[::1]:80"));
    }

    #[test]
    fn same_origin_compares_host_and_port() {
        for (origin, host) in [
            ("https://app.example.com", "app.example.com"),
            ("https://app.example.com", "App.Example.com:443"),
            ("http://localhost:3000", "localhost:3000"),
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://[::1]:3000", "[::1]:3000"),
            ("http://app.example.com", "app.example.com:80"),
        ] {
            assert!(is_same_origin(origin.as_bytes(), host), "{origin} {host}");
        }
        for (origin, host) in [
            ("https://evil.example", "app.example.com"),
            ("http://localhost:3001", "localhost:3000"),
            ("https://app.example.com", "app.example.com:8443"),
            ("https://app.example.com.evil", "app.example.com"),
            ("null", "app.example.com"),
            ("", "app.example.com"),
            ("https://app.example.com", ""),
            ("https://app.example.com", "app.example.com:x"),
            // No default port to fill in: only an explicit, equal one counts.
            ("chrome-extension://abc", "abc"),
        ] {
            assert!(!is_same_origin(origin.as_bytes(), host), "{origin} {host}");
        }
    }

    /// Shapes of `https://app.example.com` that no browser sends: an
    /// `Origin` header is a serialized origin (RFC 6454, section 6.2),
    /// with the default port left out and any other port in plain decimal.
    const NOT_SERIALIZED: [&str; 14] = [
        "https://app.example.com:0443",
        "https://app.example.com:00443",
        "https://app.example.com:443",
        "https://app.example.com:",
        "https://app.example.com/",
        "https://app.example.com/x",
        "https://app.example.com?",
        "https://app.example.com#",
        "https://u@app.example.com",
        "https://u:p@app.example.com",
        "https://app.example.com.",
        " https://app.example.com",
        "https://app.example.com ",
        "https:/app.example.com",
    ];

    #[test]
    fn an_origin_header_must_be_a_serialized_origin() {
        // Issue 18, finding 4: `https://app.example.com:0443` passed the
        // allowlist and the same-origin check.
        let list = AllowedOrigins::new(["https://app.example.com", "http://h:8080"]).unwrap();
        for shape in NOT_SERIALIZED {
            assert!(!list.allows(shape.as_bytes()), "{shape:?}");
            assert!(
                !is_same_origin(shape.as_bytes(), "app.example.com"),
                "{shape:?}"
            );
        }
        for shape in ["http://h:08080", "http://h:8080/", "http://h:+8080"] {
            assert!(!list.allows(shape.as_bytes()), "{shape:?}");
            assert!(!is_same_origin(shape.as_bytes(), "h:8080"), "{shape:?}");
        }
        // The serialized forms themselves still pass.
        assert!(list.allows(b"https://app.example.com"));
        assert!(list.allows(b"http://h:8080"));
        assert!(is_same_origin(
            b"https://app.example.com",
            "app.example.com"
        ));
        assert!(is_same_origin(b"http://h:8080", "h:8080"));
    }

    #[test]
    fn a_port_with_leading_zeros_is_no_allowed_origin() {
        for bad in ["https://h:0443", "http://h:080", "http://h:08080"] {
            assert!(AllowedOrigins::new([bad]).is_err(), "{bad}");
        }
    }
}

//! The `Origin` allowlist.
//!
//! Origins compare as serialized origins: `scheme://host[:port]`, ASCII
//! case-insensitive, no path, no trailing slash, and a scheme's default port
//! (80 for http/ws, 443 for https/wss) the same as no port. Entries and
//! presented values go through the same normalisation, so
//! `https://App.example.com:443/` in the configuration matches the
//! `https://app.example.com` a browser sends.

use std::error::Error;
use std::fmt;

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
                normalize(&origin).ok_or(ConfigError::InvalidOrigin(origin))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|list| Self(list.into()))
    }

    /// Whether a presented `Origin` header value is on the list. `null`, and
    /// anything that is not a serialized origin, never is.
    pub(crate) fn allows(&self, presented: &[u8]) -> bool {
        let Some(presented) = std::str::from_utf8(presented).ok().and_then(normalize) else {
            return false;
        };
        self.0.contains(&presented)
    }
}

fn normalize(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let host_port = rest.strip_suffix('/').unwrap_or(rest);
    if !valid_scheme
        || host_port.is_empty()
        || !host_port.is_ascii()
        || host_port
            .contains(|c: char| matches!(c, '/' | '?' | '#' | '@' | ' ') || c.is_ascii_control())
    {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let host_port = host_port.to_ascii_lowercase();
    // A port follows the last ':' unless that colon is inside an IPv6 literal.
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (host_port.as_str(), None),
    };
    if host.is_empty() {
        return None;
    }
    let default_port = match scheme.as_str() {
        "http" | "ws" => Some("80"),
        "https" | "wss" => Some("443"),
        _ => None,
    };
    match port {
        Some(port) if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) => None,
        Some(port) if Some(port) != default_port => Some(format!("{scheme}://{host}:{port}")),
        _ => Some(format!("{scheme}://{host}")),
    }
}

/// A layer setting that cannot work.
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
    fn invalid_entries_are_refused() {
        for bad in [
            "null",
            "app.example.com",
            "https://",
            "https://h/path",
            "https://h:x",
            "https://u@h",
        ] {
            assert_eq!(
                AllowedOrigins::new([bad]).unwrap_err(),
                ConfigError::InvalidOrigin(bad.to_owned()),
                "{bad}"
            );
        }
    }
}

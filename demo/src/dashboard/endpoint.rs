//! [`Endpoint`]: where the dashboard is served, and whether over HTTPS.
//! The origins pages come from, the session cookie's `Secure` flag, the
//! child's URL and the accept loop all follow from it.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::tls::ServerTls;

use super::child;

/// The address the dashboard is bound to and, over HTTPS, the certificate
/// it serves. A plain `SocketAddr` converts into an HTTP endpoint, so
/// `App::new(store, addr)` serves plain HTTP.
#[derive(Clone, Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    tls: Option<Arc<ServerTls>>,
}

impl Endpoint {
    /// Plain HTTP on `addr`.
    pub fn http(addr: SocketAddr) -> Self {
        Self { addr, tls: None }
    }

    /// HTTPS on `addr` with `tls`: HTTP/2 or HTTP/1.1 by ALPN, and
    /// WebSockets over either.
    pub fn https(addr: SocketAddr, tls: ServerTls) -> Self {
        Self {
            addr,
            tls: Some(Arc::new(tls)),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The certificate served, over HTTPS.
    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_deref()
    }

    /// `https` or `http`: the scheme of the pages' origin.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// `wss` or `ws`: the scheme of the sockets' URLs.
    pub fn ws_scheme(&self) -> &'static str {
        if self.tls.is_some() { "wss" } else { "ws" }
    }

    /// The URL of `path` (`/`, say) as a browser on this machine opens it:
    /// the bound address, or loopback when bound to an unspecified one
    /// (`0.0.0.0` is not a place a browser can go).
    pub fn browse_url(&self, path: &str) -> String {
        if self.addr.ip().is_unspecified() {
            format!("{}://localhost:{}{path}", self.scheme(), self.addr.port())
        } else {
            format!("{}://{}{path}", self.scheme(), self.addr)
        }
    }

    /// The URL of `path` as the in-process child dials it
    /// ([`child::dial_addr`]).
    pub fn dial_url(&self, path: &str) -> String {
        format!(
            "{}://{}{path}",
            self.ws_scheme(),
            child::dial_addr(self.addr)
        )
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Self::http(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_scheme_and_the_address() {
        let bound: SocketAddr = "127.0.0.1:3000".parse().expect("addr");
        let http = Endpoint::from(bound);
        assert_eq!(http.browse_url("/"), "http://127.0.0.1:3000/");
        assert_eq!(http.dial_url("/api/pub"), "ws://127.0.0.1:3000/api/pub");

        let any: SocketAddr = "0.0.0.0:3000".parse().expect("addr");
        let https = Endpoint::https(any, ServerTls::self_signed(any).expect("a certificate"));
        assert_eq!(https.browse_url("/"), "https://localhost:3000/");
        assert_eq!(https.dial_url("/api/pub"), "wss://127.0.0.1:3000/api/pub");
    }
}

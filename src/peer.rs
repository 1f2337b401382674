//! Where a request's peer address comes from: the [`PeerExtractor`] role,
//! and [`DefaultPeer`].
//!
//! Loopback mode needs the peer address to decide (a session token is
//! accepted only from a loopback peer, and refused when the peer is
//! unknown), and audit events record it. Each stack keeps it somewhere else
//! in the request extensions, so finding it is a role with a default:
//!
//! | stack | where the address is | what to do |
//! |---|---|---|
//! | axum, `into_make_service_with_connect_info::<SocketAddr>()` | `ConnectInfo<SocketAddr>` | nothing with the `axum` feature; else `.peer_addr(\|ext\| ext.get::<ConnectInfo<SocketAddr>>().map(\|c\| c.0))` |
//! | hyper / hyper-util accept loop | where your loop puts it | insert the `SocketAddr` (read by default) |
//! | tonic | `TcpConnectInfo` | `.peer_addr(\|ext\| ext.get::<TcpConnectInfo>().and_then(\|i\| i.remote_addr()))` |
//!
//! ```
//! use std::net::SocketAddr;
//! use http::Extensions;
//! use tower_ws_ticket::{DefaultPeer, PeerExtractor};
//!
//! let mut extensions = Extensions::new();
//! assert_eq!(DefaultPeer.peer_addr(&extensions), None);
//! let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
//! extensions.insert(addr);
//! assert_eq!(DefaultPeer.peer_addr(&extensions), Some(addr));
//!
//! // Any function of the extensions is an extractor too.
//! struct Conn { remote: SocketAddr }
//! let from_conn = |ext: &Extensions| ext.get::<Conn>().map(|c| c.remote);
//! assert_eq!(from_conn.peer_addr(&extensions), None);
//! ```

use std::net::SocketAddr;

use http::Extensions;

/// Finds the peer address of a request in its extensions.
///
/// Implemented by [`DefaultPeer`] and by every
/// `Fn(&Extensions) -> Option<SocketAddr> + Send + Sync + 'static`.
pub trait PeerExtractor: Send + Sync + 'static {
    /// The peer's address, when the stack recorded it.
    fn peer_addr(&self, extensions: &Extensions) -> Option<SocketAddr>;
}

/// The default [`PeerExtractor`]: a plain `SocketAddr` in the extensions,
/// and with the `axum` feature axum's `ConnectInfo<SocketAddr>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPeer;

impl PeerExtractor for DefaultPeer {
    fn peer_addr(&self, extensions: &Extensions) -> Option<SocketAddr> {
        let plain = extensions.get::<SocketAddr>().copied();
        #[cfg(feature = "axum")]
        let plain = plain.or_else(|| {
            extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|info| info.0)
        });
        plain
    }
}

impl<F> PeerExtractor for F
where
    F: Fn(&Extensions) -> Option<SocketAddr> + Send + Sync + 'static,
{
    fn peer_addr(&self, extensions: &Extensions) -> Option<SocketAddr> {
        self(extensions)
    }
}

#[cfg(all(test, feature = "axum"))]
mod tests {
    use super::*;

    #[test]
    fn default_peer_reads_axum_connect_info() {
        let addr: SocketAddr = "10.1.2.3:4".parse().unwrap();
        let mut extensions = Extensions::new();
        extensions.insert(axum::extract::ConnectInfo(addr));
        assert_eq!(DefaultPeer.peer_addr(&extensions), Some(addr));
    }
}

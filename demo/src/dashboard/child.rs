//! The in-process "child": what a server-spawned helper process would do,
//! as a task. It gets its attach URL once, at start, and reuses it on
//! every reconnect, which a single-use ticket could not do.
//!
//! The attach URL carries the internal credential, so it lives in an
//! [`AttachUrl`], which cannot be printed. tokio-tungstenite's handshake
//! still logs the URL it dials at TRACE level (target
//! `tungstenite::handshake::client`); [`logging`](crate::logging) turns
//! that target off, and the dashboard's log test proves it at TRACE.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite;

/// How often the child publishes a tick.
pub const CHILD_TICK: Duration = Duration::from_secs(2);

/// The child's reconnect backoff: first wait, then doubling up to the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// A URL carrying a secret: `Debug` redacts it and it has no `Display`,
/// so it cannot end up in a log line by accident.
#[derive(Clone)]
pub struct AttachUrl(String);

impl AttachUrl {
    /// Wraps `url`, which carries a credential.
    pub fn new(url: String) -> Self {
        Self(url)
    }

    /// The URL with its credential, for dialing.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AttachUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttachUrl(<redacted>)")
    }
}

/// Where the in-process child dials: the bound address, or loopback when
/// bound to an unspecified one (`0.0.0.0` is nowhere to dial).
pub fn dial_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// Runs the child until the task is aborted: attaches to `url`, publishes a
/// tick every [`CHILD_TICK`], and reconnects with backoff whenever its
/// socket drops.
pub async fn run(url: AttachUrl) {
    let mut backoff = BACKOFF_MIN;
    let mut ticks = 0u64;
    let started = Instant::now();
    loop {
        match tokio_tungstenite::connect_async(url.expose_secret()).await {
            Ok((mut socket, _response)) => {
                backoff = BACKOFF_MIN;
                let mut tick = tokio::time::interval(CHILD_TICK);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            ticks += 1;
                            let text = format!(
                                "tick {ticks} (child up {} s)",
                                started.elapsed().as_secs()
                            );
                            if socket.send(tungstenite::Message::text(text)).await.is_err() {
                                break;
                            }
                        }
                        incoming = socket.next() => match incoming {
                            Some(Ok(tungstenite::Message::Close(_)) | Err(_)) | None => break,
                            Some(Ok(_)) => {}
                        },
                    }
                }
                tracing::info!(target: "dashboard::child", "socket dropped; reconnecting");
            }
            Err(err) => tracing::warn!(
                target: "dashboard::child",
                error = describe(&err),
                retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                "attach failed"
            ),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// A connect error in words that cannot carry the attach URL.
fn describe(err: &tungstenite::Error) -> String {
    match err {
        tungstenite::Error::Http(response) => format!("refused with HTTP {}", response.status()),
        tungstenite::Error::Io(io) => format!("I/O error: {}", io.kind()),
        _ => "handshake failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_url_debug_hides_the_url() {
        let url = AttachUrl::new("ws://127.0.0.1:1/api/pub?internal=wsi_secret".into());
        assert_eq!(format!("{url:?}"), "AttachUrl(<redacted>)");
    }

    #[test]
    fn unspecified_addresses_dial_loopback() {
        let v4: SocketAddr = "0.0.0.0:3000".parse().expect("addr");
        assert_eq!(dial_addr(v4), "127.0.0.1:3000".parse().expect("addr"));
        let v6: SocketAddr = "[::]:3000".parse().expect("addr");
        assert_eq!(dial_addr(v6), "[::1]:3000".parse().expect("addr"));
        let bound: SocketAddr = "192.0.2.7:80".parse().expect("addr");
        assert_eq!(dial_addr(bound), bound);
    }
}

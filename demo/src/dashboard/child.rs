//! The in-process "child": what a server-spawned helper process would do,
//! as a task. It gets its credential once, at start, and reuses it on
//! every reconnect, which a single-use ticket could not do.
//!
//! It sends the internal credential in the `Sec-WebSocket-Protocol`
//! header (`ws-ticket, ws-ticket.wsi_…`), never in the URL: a URL is what
//! access logs, proxies and tokio-tungstenite's own TRACE lines print, and
//! this credential never expires. The header still appears in
//! tungstenite's dump of the whole handshake request (TRACE, target
//! `tungstenite::handshake::client`), which [`logging`](crate::logging)
//! turns off; the dashboard's log test proves at TRACE that the credential
//! reaches no log.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use http::HeaderValue;
use http::header::SEC_WEBSOCKET_PROTOCOL;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tower_ws_ticket::InternalCredential;

/// How often the child publishes a tick.
pub const CHILD_TICK: Duration = Duration::from_secs(2);

/// The child's reconnect backoff: first wait, then doubling up to the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Where and how the child attaches: the socket's URL, which carries no
/// credential, the internal credential it offers as a subprotocol, and
/// for a `wss:` URL the TLS client configuration it dials with. `Debug`
/// shows the URL and redacts the credential.
#[derive(Clone, Debug)]
pub struct ChildAttach {
    url: String,
    credential: InternalCredential,
    tls: Option<Arc<ClientConfig>>,
}

impl ChildAttach {
    /// Attaches to `url` (no credential in it) with `credential`.
    pub fn new(url: String, credential: InternalCredential) -> Self {
        Self {
            url,
            credential,
            tls: None,
        }
    }

    /// Dials a `wss:` URL with `tls`: the dashboard's child trusts exactly
    /// the certificate its server shows
    /// ([`ServerTls::pinned_client`](crate::tls::ServerTls::pinned_client)).
    #[must_use]
    pub fn with_tls(mut self, tls: Arc<ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The URL the child dials: no credential in it, safe to print.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The credential the child presents.
    pub fn credential(&self) -> &InternalCredential {
        &self.credential
    }

    /// The `Sec-WebSocket-Protocol` value the child offers: the marker,
    /// then the credential entry (`ws-ticket, ws-ticket.wsi_…`). Marked
    /// sensitive, so HTTP libraries that honour the flag keep it out of
    /// their own debug output.
    pub fn subprotocols(&self) -> HeaderValue {
        self.credential.subprotocols()
    }

    /// The handshake request: [`url`](Self::url) with
    /// [`subprotocols`](Self::subprotocols). The server's layer takes the
    /// credential entry out and answers with the marker selected, which
    /// tungstenite checks (a server that selects none of the offered
    /// protocols fails the handshake).
    ///
    /// # Errors
    ///
    /// When the URL is not a WebSocket URL.
    pub fn request(&self) -> Result<Request, tungstenite::Error> {
        let mut request = self.url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, self.subprotocols());
        Ok(request)
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

/// Runs the child until the task is aborted: attaches as `attach` says,
/// publishes a tick every [`CHILD_TICK`], and reconnects with backoff
/// whenever its socket drops.
pub async fn run(attach: ChildAttach) {
    let mut backoff = BACKOFF_MIN;
    let mut ticks = 0u64;
    let started = Instant::now();
    loop {
        let published = match attach.request() {
            Ok(request) => {
                attach_and_publish(request, attach.tls.as_ref(), &mut ticks, started).await
            }
            Err(err) => Err(err),
        };
        match published {
            Ok(()) => {
                backoff = BACKOFF_MIN;
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

/// Dials `request`'s host, over TLS with `tls` when given, opens the
/// socket and publishes on it until it drops. Fails when it cannot attach.
async fn attach_and_publish(
    request: Request,
    tls: Option<&Arc<ClientConfig>>,
    ticks: &mut u64,
    started: Instant,
) -> Result<(), tungstenite::Error> {
    let host = request.uri().host().unwrap_or_default();
    // `[::1]` in a URL is `::1` to a resolver and to rustls.
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = request
        .uri()
        .port_u16()
        .unwrap_or(if tls.is_some() { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    match tls {
        None => {
            publish(
                tokio_tungstenite::client_async(request, tcp).await?.0,
                ticks,
                started,
            )
            .await
        }
        Some(tls) => {
            let name = ServerName::try_from(host)
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
            let stream = TlsConnector::from(Arc::clone(tls))
                .connect(name, tcp)
                .await?;
            publish(
                tokio_tungstenite::client_async(request, stream).await?.0,
                ticks,
                started,
            )
            .await
        }
    }
}

/// Publishes a tick every [`CHILD_TICK`] on `socket` until it drops.
async fn publish<S>(
    mut socket: WebSocketStream<S>,
    ticks: &mut u64,
    started: Instant,
) -> Result<(), tungstenite::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut tick = tokio::time::interval(CHILD_TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                *ticks += 1;
                let text = format!("tick {ticks} (child up {} s)", started.elapsed().as_secs());
                if socket.send(tungstenite::Message::text(text)).await.is_err() {
                    return Ok(());
                }
            }
            incoming = socket.next() => match incoming {
                Some(Ok(tungstenite::Message::Close(_)) | Err(_)) | None => return Ok(()),
                Some(Ok(_)) => {}
            },
        }
    }
}

/// A connect error in words that cannot carry the credential.
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
    fn the_credential_travels_in_the_subprotocol_header_only() {
        let credential = InternalCredential::generate();
        let secret = credential.expose_secret().to_owned();
        let attach = ChildAttach::new("ws://127.0.0.1:1/api/pub".into(), credential);
        assert!(!format!("{attach:?}").contains(&secret));
        let request = attach.request().expect("a WebSocket URL");
        assert_eq!(request.uri(), "ws://127.0.0.1:1/api/pub");
        let offered = &request.headers()[SEC_WEBSOCKET_PROTOCOL];
        assert_eq!(offered, format!("ws-ticket, ws-ticket.{secret}").as_str());
        assert!(offered.is_sensitive());
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

//! Refusals a browser can read: accept the handshake, then close the
//! socket at once with a close code (feature `tokio`).
//!
//! A page's `WebSocket` cannot see the HTTP status of a refused handshake:
//! it gets close code 1006 whether the ticket expired, the origin is
//! forbidden or the store is down. With
//! [`accept_then_close`](super::WsTicketLayer::accept_then_close), a refusal
//! of a valid WebSocket handshake is answered as an accepted one (101, or
//! 200 for an HTTP/2 extended CONNECT), and a task writes one close frame on
//! the new socket:
//!
//! | rejection | close code | the client should |
//! |---|---|---|
//! | 401 (every credential problem) | [`CLOSE_UNAUTHORIZED`](crate::wire::CLOSE_UNAUTHORIZED) 4401 | fetch a new ticket, then reconnect |
//! | 403 (origin, peer, path) | [`CLOSE_FORBIDDEN`](crate::wire::CLOSE_FORBIDDEN) 4403 | not retry |
//! | 503 (store unreachable) | [`CLOSE_TRY_AGAIN_LATER`](crate::wire::CLOSE_TRY_AGAIN_LATER) 1013 | back off, then retry with a new ticket |
//!
//! The code and the close reason's text come from the table in
//! [`RejectReason`](crate::RejectReason): one text per code (`unauthorized`,
//! `forbidden`, `try again later`) but `expired`, so that the close tells an
//! outsider no more than the status would; the audit trail keeps the
//! detail. [`detailed_close_reasons`](super::WsTicketLayer::detailed_close_reasons)
//! sends the short name instead, for development. The text is never a
//! credential. Nothing of the application runs: the inner service is not
//! called.
//!
//! Bounded: at most [`max_closes_in_flight`](super::WsTicketLayer::max_closes_in_flight)
//! such closes at once (default 1,024); past it, the refusal is the HTTP
//! status. Each ends within its [timeout](super::WsTicketLayer::close_timeout)
//! (default 5 s) even when the client never reads. A request that is not a
//! valid handshake, that hyper cannot upgrade (no `OnUpgrade` in its
//! extensions), or that arrives outside a Tokio runtime keeps the HTTP
//! status.
//!
//! Writing a handshake and one close frame needs no WebSocket library: the
//! accept key is SHA-1 and base64 (RFC 6455 section 4.2.2), and a server's
//! close frame is a four-byte header and its payload.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{
    CACHE_CONTROL, CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest as _, Sha1};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::audit::RejectReason;
use crate::wire;

/// Default bound on closes in flight.
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// Default bound on one close, from the handshake to the end.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// RFC 6455's GUID for the accept key.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The accept-then-close setting of a layer: its bound and timeout, and
/// the count of closes in flight that every clone of the layer shares.
#[derive(Clone, Debug)]
pub(crate) struct AcceptThenClose {
    max_in_flight: usize,
    timeout: Duration,
    /// The short name as the close reason, not the code's one text.
    detailed: bool,
    in_flight: Arc<AtomicUsize>,
}

/// A place among the closes in flight, given back when dropped.
struct Permit(Arc<AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Default for AcceptThenClose {
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            timeout: DEFAULT_TIMEOUT,
            detailed: false,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl AcceptThenClose {
    pub(crate) fn set_max_in_flight(&mut self, max: usize) {
        self.max_in_flight = max;
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub(crate) fn set_detailed(&mut self) {
        self.detailed = true;
    }

    /// Turns `response`, the rejection of `req` for `reason`, into an
    /// accepted handshake and spawns the task that closes the socket with
    /// the reason's code. The close code when it did; `None` (and
    /// `response` untouched) when the rejection stays an HTTP status.
    pub(crate) fn take_over<B, ResBody>(
        &self,
        req: &mut Request<B>,
        reason: RejectReason,
        response: &mut Response<ResBody>,
    ) -> Option<u16> {
        let code = reason.close_code();
        let handshake = Handshake::of(req)?;
        // Only a connection hyper can hand over gets a 101.
        req.extensions().get::<OnUpgrade>()?;
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let permit = self.permit()?;
        let on_upgrade = hyper::upgrade::on(&mut *req);
        let text = if self.detailed {
            reason.as_str()
        } else {
            reason.close_reason()
        };
        let frame = close_frame(code, text);
        let timeout = self.timeout;
        runtime.spawn(async move {
            let _permit = permit;
            // However the socket ends (timeout, error, clean close), the
            // task ends with it: nothing to report.
            let _ = tokio::time::timeout(timeout, close_socket(on_upgrade, frame)).await;
        });
        handshake.answer(req.headers(), response);
        Some(code)
    }

    fn permit(&self) -> Option<Permit> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_in_flight).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit(Arc::clone(&self.in_flight)))
    }
}

/// A valid WebSocket handshake, as RFC 6455 and RFC 8441 define it.
pub(crate) enum Handshake {
    /// HTTP/1.1: answered 101 with the accept key.
    Http1 { accept: HeaderValue },
    /// HTTP/2 extended CONNECT: answered 200.
    Http2,
}

impl Handshake {
    pub(crate) fn of<B>(req: &Request<B>) -> Option<Self> {
        let headers = req.headers();
        let mut versions = headers.get_all(SEC_WEBSOCKET_VERSION).iter();
        match (versions.next(), versions.next()) {
            (Some(version), None) if version.as_bytes().trim_ascii() == b"13" => {}
            _ => return None,
        }
        if req.method() == Method::CONNECT {
            // Extended CONNECT is HTTP/2's (RFC 8441): a CONNECT of another
            // version answered 200 turns into a raw tunnel, not a socket.
            let protocol = req.extensions().get::<hyper::ext::Protocol>()?;
            return (req.version() == Version::HTTP_2 && protocol.as_str() == "websocket")
                .then_some(Self::Http2);
        }
        if req.method() != Method::GET
            || req.version() != Version::HTTP_11
            || !has_token(headers, UPGRADE, "websocket")
            || !has_token(headers, CONNECTION, "upgrade")
        {
            return None;
        }
        // Exactly one key (RFC 6455 section 11.3.1): with two, which one a
        // client checks the accept key against is anyone's guess.
        let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
        let (Some(key), None) = (keys.next(), keys.next()) else {
            return None;
        };
        let mut nonce = [0u8; 16];
        match STANDARD.decode_slice(key.as_bytes(), &mut nonce) {
            Ok(16) => {}
            _ => return None,
        }
        let digest = Sha1::new()
            .chain_update(key.as_bytes())
            .chain_update(ACCEPT_GUID)
            .finalize();
        let accept = HeaderValue::from_str(&STANDARD.encode(digest)).ok()?;
        Some(Self::Http1 { accept })
    }

    /// Makes `response` the handshake's acceptance. Its body is not sent:
    /// hyper sends none with a 101, nor with a 2xx to CONNECT.
    fn answer<ResBody>(self, request_headers: &HeaderMap, response: &mut Response<ResBody>) {
        let headers = response.headers_mut();
        headers.clear();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self {
            Self::Http1 { accept } => {
                *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                let headers = response.headers_mut();
                headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
                headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
            }
            Self::Http2 => *response.status_mut() = StatusCode::OK,
        }
        // A browser that offered protocols fails a handshake that selects
        // none; the marker (or an entry without a credential) is selected.
        if let Some(protocol) = wire::protocol_to_select(request_headers)
            .and_then(|protocol| HeaderValue::from_str(protocol).ok())
        {
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, protocol);
        }
    }
}

/// Whether a comma-separated header holds `token`, in any case.
fn has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// A server's close frame: FIN and opcode 8, an unmasked payload of the
/// code and the reason (at most 123 bytes, so the length fits one byte).
fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    let mut frame = Vec::with_capacity(4 + reason.len());
    frame.push(0x88);
    frame.push(u8::try_from(2 + reason.len()).unwrap_or(125));
    frame.extend_from_slice(&code.to_be_bytes());
    frame.extend_from_slice(reason);
    frame
}

/// Waits for the upgrade, writes the close frame, waits for the client's
/// close frame (or the end of the stream) so that the page sees a clean
/// close, and shuts the stream down.
async fn close_socket(on_upgrade: OnUpgrade, frame: Vec<u8>) -> std::io::Result<()> {
    let upgraded = on_upgrade.await.map_err(std::io::Error::other)?;
    let mut io = TokioIo::new(upgraded);
    io.write_all(&frame).await?;
    io.flush().await?;
    let mut reply = [0u8; 128];
    let _ = io.read(&mut reply).await?;
    io.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(
        configure: impl FnOnce(http::request::Builder) -> http::request::Builder,
    ) -> Request<()> {
        configure(
            Request::get("/ws")
                .header("upgrade", "websocket")
                .header("connection", "keep-alive, Upgrade")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        )
        .body(())
        .unwrap()
    }

    #[test]
    fn the_accept_key_is_rfc_6455s() {
        // The example of RFC 6455 section 1.3.
        let Some(Handshake::Http1 { accept }) = Handshake::of(&handshake(|b| b)) else {
            panic!("a valid handshake");
        };
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn only_valid_handshakes_are_taken_over() {
        for invalid in [
            handshake(|b| b.method(Method::POST)),
            handshake(|b| b.version(Version::HTTP_10)),
            // A second version beside 13.
            handshake(|b| b.header("sec-websocket-version", "8")),
        ] {
            assert!(Handshake::of(&invalid).is_none());
        }
        let no_key = Request::get("/ws")
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        assert!(Handshake::of(&no_key).is_none());
        let short_key = handshake(|b| b).map(|_| ());
        let mut short_key = short_key;
        short_key
            .headers_mut()
            .insert(SEC_WEBSOCKET_KEY, HeaderValue::from_static("c2hvcnQ="));
        assert!(Handshake::of(&short_key).is_none());
        let mut connect = Request::connect("/ws")
            .version(Version::HTTP_2)
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        assert!(Handshake::of(&connect).is_none(), "no :protocol");
        connect
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        assert!(matches!(Handshake::of(&connect), Some(Handshake::Http2)));
    }

    #[test]
    fn extended_connect_is_http2_only_and_one_key_is_one() {
        // Found by the `handshake` fuzz target: a CONNECT carrying a
        // `:protocol` over HTTP/1.1 or HTTP/3 was answered as RFC 8441's,
        // and a request with two keys as RFC 6455's.
        for version in [Version::HTTP_11, Version::HTTP_3] {
            let mut connect = Request::connect("/ws")
                .version(version)
                .header("sec-websocket-version", "13")
                .body(())
                .unwrap();
            connect
                .extensions_mut()
                .insert(hyper::ext::Protocol::from_static("websocket"));
            assert!(Handshake::of(&connect).is_none(), "{version:?}");
        }
        let two_keys = handshake(|b| b.header("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA=="));
        assert!(Handshake::of(&two_keys).is_none());
    }

    #[test]
    fn close_frames_are_four_bytes_and_the_reason() {
        assert_eq!(
            close_frame(4401, "expired"),
            [&[0x88, 9, 0x11, 0x31][..], b"expired"].concat()
        );
        let long = "x".repeat(300);
        let frame = close_frame(1013, &long);
        assert_eq!(frame.len(), 4 + 123);
        assert_eq!(frame[1], 125);
    }

    #[test]
    fn the_bound_is_kept_and_places_come_back() {
        let mut close = AcceptThenClose::default();
        close.set_max_in_flight(2);
        let a = close.permit().expect("first");
        let _b = close.permit().expect("second");
        assert!(close.permit().is_none());
        drop(a);
        assert!(close.permit().is_some());
    }
}

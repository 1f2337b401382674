//! Which requests are WebSocket upgrades.
//!
//! Two shapes reach a WebSocket handler: HTTP/1.1 with `Upgrade: websocket`
//! (RFC 6455 also asks for `GET` and `Connection: upgrade`), and HTTP/2
//! extended CONNECT (RFC 8441): method `CONNECT` with the `:protocol`
//! pseudo-header, which hyper hands over as [`hyper::ext::Protocol`].
//!
//! The guard must see at least every request some handler would turn into
//! a socket, and handlers are more lenient than the RFCs: hyper upgrades
//! any HTTP/1.1 request that carries an `Upgrade` header once the handler
//! answers 101, axum accepts any `Connection` value that merely contains
//! "upgrade", and hyper hands any `CONNECT` answered 2xx (HTTP/1.1, or
//! HTTP/2 with or without `:protocol`) over as a raw stream. So these count
//! as upgrades here:
//!
//! - any request whose `Upgrade` header mentions `websocket`, in any case,
//!   with any method, whatever `Connection` says;
//! - any `CONNECT`.
//!
//! Guarding a request that could not have become a socket costs nothing;
//! missing one would open a socket without a credential. A forward proxy
//! that must let `CONNECT` through keeps it out of the layer's
//! [scope](super::WsTicketLayer::guard_path) (its authority-form target has
//! an empty path).

use http::header::UPGRADE;
use http::{Method, Request};

pub(crate) fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    req.method() == Method::CONNECT
        || req.headers().get_all(UPGRADE).iter().any(|value| {
            value
                .as_bytes()
                .windows(b"websocket".len())
                .any(|w| w.eq_ignore_ascii_case(b"websocket"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::get("/ws");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn http1_upgrade_is_recognised_in_any_case_and_list() {
        assert!(is_websocket_upgrade(&get(&[
            ("upgrade", "websocket"),
            ("connection", "Upgrade")
        ])));
        assert!(is_websocket_upgrade(&get(&[
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, UPGRADE")
        ])));
        assert!(is_websocket_upgrade(&get(&[
            ("upgrade", "h2c, websocket"),
            ("connection", "keep-alive"),
            ("connection", "upgrade")
        ])));
    }

    #[test]
    fn lenient_handshakes_are_guarded_too() {
        // axum upgrades these (it looks for "upgrade" inside Connection, and
        // hyper upgrades on the Upgrade header alone), so the guard must see
        // them as upgrades.
        assert!(is_websocket_upgrade(&get(&[
            ("upgrade", "websocket"),
            ("connection", "upgraded")
        ])));
        assert!(is_websocket_upgrade(&get(&[
            ("upgrade", "websocket"),
            ("connection", "x-upgrade")
        ])));
        assert!(is_websocket_upgrade(&get(&[("upgrade", "websocket")])));
        assert!(is_websocket_upgrade(&get(&[("upgrade", "websocket/13")])));
        let post = Request::post("/ws")
            .header("upgrade", "websocket")
            .body(())
            .unwrap();
        assert!(is_websocket_upgrade(&post));
    }

    #[test]
    fn plain_requests_are_not_upgrades() {
        assert!(!is_websocket_upgrade(&get(&[])));
        assert!(!is_websocket_upgrade(&get(&[("connection", "upgrade")])));
        assert!(!is_websocket_upgrade(&get(&[
            ("upgrade", "h2c"),
            ("connection", "upgrade")
        ])));
    }

    #[test]
    fn every_connect_is_an_upgrade() {
        // RFC 8441's extended CONNECT...
        let mut extended = Request::connect("/ws").body(()).unwrap();
        extended
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        assert!(is_websocket_upgrade(&extended));
        // ...and any other: hyper turns a CONNECT answered 2xx into a raw
        // stream, over HTTP/1.1 too.
        assert!(is_websocket_upgrade(
            &Request::connect("/ws").body(()).unwrap()
        ));
        let mut udp = Request::connect("/ws").body(()).unwrap();
        udp.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("connect-udp"));
        assert!(is_websocket_upgrade(&udp));
    }
}

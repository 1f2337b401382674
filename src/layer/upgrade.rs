//! Which requests are WebSocket upgrades.
//!
//! Two shapes reach a WebSocket handler: HTTP/1.1 with `Upgrade: websocket`
//! (RFC 6455 also asks for `GET` and `Connection: upgrade`), and HTTP/2
//! extended CONNECT (RFC 8441): method `CONNECT` with the `:protocol`
//! pseudo-header, which hyper hands over as [`hyper::ext::Protocol`], equal
//! to `websocket`.
//!
//! The guard must see at least every request some handler would upgrade,
//! and handlers are more lenient than the RFC: hyper upgrades any HTTP/1.1
//! request that carries an `Upgrade` header once the handler answers 101,
//! and axum accepts any `Connection` value that merely contains "upgrade".
//! So any request whose `Upgrade` header mentions `websocket` (in any case,
//! any method, whatever `Connection` says) counts as an upgrade here:
//! guarding a request that could not have been upgraded costs nothing,
//! while missing one would open a socket without a credential.

use http::header::UPGRADE;
use http::{Method, Request};

pub(crate) fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    let upgrade_header = req.headers().get_all(UPGRADE).iter().any(|value| {
        value
            .as_bytes()
            .windows(b"websocket".len())
            .any(|w| w.eq_ignore_ascii_case(b"websocket"))
    });
    upgrade_header
        || (req.method() == Method::CONNECT
            && req
                .extensions()
                .get::<hyper::ext::Protocol>()
                .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket")))
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
        let connect = Request::connect("example.com:443").body(()).unwrap();
        assert!(!is_websocket_upgrade(&connect));
    }

    #[test]
    fn http2_extended_connect_is_an_upgrade() {
        let mut req = Request::connect("/ws").body(()).unwrap();
        assert!(!is_websocket_upgrade(&req));
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        assert!(is_websocket_upgrade(&req));
        let mut other = Request::connect("/ws").body(()).unwrap();
        other
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static("connect-udp"));
        assert!(!is_websocket_upgrade(&other));
    }
}

//! Which requests are WebSocket upgrades.
//!
//! Two shapes: HTTP/1.1 `GET` with `Upgrade: websocket` and a `Connection`
//! header holding the `upgrade` token, and HTTP/2 extended CONNECT
//! (RFC 8441): method `CONNECT` with the `:protocol` pseudo-header, which
//! hyper hands over as [`hyper::ext::Protocol`], equal to `websocket`.
//! Header tokens compare case-insensitively and may sit in comma lists
//! spread over several header lines.

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderName, Method, Request};

pub(crate) fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    match *req.method() {
        Method::GET => {
            has_token(req.headers(), &UPGRADE, "websocket")
                && has_token(req.headers(), &CONNECTION, "upgrade")
        }
        Method::CONNECT => req
            .extensions()
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket")),
        _ => false,
    }
}

fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
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
            ("upgrade", "websocket"),
            ("connection", "keep-alive"),
            ("connection", "upgrade")
        ])));
    }

    #[test]
    fn plain_requests_are_not_upgrades() {
        assert!(!is_websocket_upgrade(&get(&[])));
        assert!(!is_websocket_upgrade(&get(&[("upgrade", "websocket")])));
        assert!(!is_websocket_upgrade(&get(&[("connection", "upgrade")])));
        assert!(!is_websocket_upgrade(&get(&[
            ("upgrade", "h2c"),
            ("connection", "upgrade")
        ])));
        assert!(!is_websocket_upgrade(&get(&[
            ("upgrade", "websocket"),
            ("connection", "upgraded")
        ])));
        let post = Request::post("/ws")
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .body(())
            .unwrap();
        assert!(!is_websocket_upgrade(&post));
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

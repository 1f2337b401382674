//! Where requests may come from, checked by libraries rather than by hand:
//!
//! - the sockets: `WsTicketLayer::allowed_origins` with [`page_origins`]
//!   (a page on another site cannot open them, even with a ticket);
//! - the mint route: `MintService::allowed_origins` with the same list;
//! - the forms and the page's other `POST`s: tower-http's CSRF layer,
//!   [`csrf`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_http::csrf::{CsrfLayer, ProtectionError};

use super::endpoint::Endpoint;

/// The origins a browser may open the sockets and mint tickets from: the
/// bound address and, on loopback, `localhost` too, in the endpoint's
/// scheme (`https://…` over TLS). Empty when bound to an unspecified
/// address such as `0.0.0.0`, whose host name is unknown.
pub fn page_origins(endpoint: &Endpoint) -> Vec<String> {
    let (scheme, addr) = (endpoint.scheme(), endpoint.addr());
    let ip = addr.ip();
    if ip.is_unspecified() {
        Vec::new()
    } else if ip.is_loopback() {
        vec![
            format!("{scheme}://{addr}"),
            format!("{scheme}://localhost:{}", addr.port()),
        ]
    } else {
        vec![format!("{scheme}://{addr}")]
    }
}

/// Cross-site request forgery protection for the page's `POST`s (the
/// sign-in and sign-out forms, the child's drop button): tower-http's
/// [`CsrfLayer`], which refuses (403) a state-changing request that a
/// browser says comes from another site (`Sec-Fetch-Site`), or whose
/// `Origin` names another host than the request's `Host`. Safe methods
/// and clients that send neither header (not a browser) pass.
///
/// It needs no list of origins, so it works whatever address the demo is
/// bound to.
pub fn csrf() -> CsrfLayer<fn(ProtectionError) -> Response> {
    CsrfLayer::new().with_rejection_response(refuse_cross_site as fn(ProtectionError) -> Response)
}

/// The CSRF layer's answer: 403, saying why in words a person can read.
fn refuse_cross_site(_: ProtectionError) -> Response {
    (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::tls::ServerTls;

    #[test]
    fn loopback_allows_localhost_too() {
        let addr: SocketAddr = "127.0.0.1:3000".parse().expect("addr");
        assert_eq!(
            page_origins(&addr.into()),
            ["http://127.0.0.1:3000", "http://localhost:3000"]
        );
    }

    #[test]
    fn https_pages_have_https_origins() {
        let addr: SocketAddr = "127.0.0.1:3000".parse().expect("addr");
        let tls = ServerTls::self_signed(addr).expect("a certificate");
        assert_eq!(
            page_origins(&Endpoint::https(addr, tls)),
            ["https://127.0.0.1:3000", "https://localhost:3000"]
        );
    }

    #[test]
    fn unspecified_address_has_no_list() {
        let addr: SocketAddr = "0.0.0.0:3000".parse().expect("addr");
        assert!(page_origins(&addr.into()).is_empty());
        let addr: SocketAddr = "192.0.2.7:80".parse().expect("addr");
        assert_eq!(page_origins(&addr.into()), ["http://192.0.2.7:80"]);
    }
}

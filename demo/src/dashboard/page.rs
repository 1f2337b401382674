//! The pages and the one script file they load: `GET /` (the dashboard),
//! `GET /protocols` (the same socket opened with and without an app
//! protocol) and `GET /ws-ticket.js` (the browser client module,
//! `client/ws-ticket.js`, built into the binary). No build step and no CDN;
//! each page is served with a strict Content Security Policy.

use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

/// The dashboard page. Every `__NONCE__` in it is replaced per response by
/// the CSP nonce.
pub const PAGE: &str = include_str!("page.html");

/// The protocols page: two sockets, one offering the app's own protocol
/// ([`APP_PROTOCOL`](super::page_socket::APP_PROTOCOL)) and one offering
/// none. `__NONCE__` as in [`PAGE`].
pub const PROTOCOLS_PAGE: &str = include_str!("protocols.html");

/// Where the pages import the client module from.
pub const CLIENT_MODULE_PATH: &str = "/ws-ticket.js";

/// The browser client module, as the repository ships it: built into the
/// binary, so the demo runs from anywhere and always serves the module its
/// own tests checked.
pub const CLIENT_MODULE: &str = include_str!("../../../client/ws-ticket.js");

/// `GET /`: the dashboard. It holds no secret: no ticket (the client module
/// mints its own, and never hands it to the page) and never the internal
/// credential.
pub async fn page() -> Response {
    html_with_csp(PAGE)
}

/// `GET /protocols`: the protocols page; see [`PROTOCOLS_PAGE`].
pub async fn protocols_page() -> Response {
    html_with_csp(PROTOCOLS_PAGE)
}

/// `GET /ws-ticket.js`: the client module. `no-cache` rather than a long
/// lifetime: the path is stable (pages import it by name), so a browser
/// must revalidate to pick up a new version. A JavaScript MIME type, as
/// browsers require of a module script.
pub async fn client_module() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        CLIENT_MODULE,
    )
        .into_response()
}

/// `template` with a fresh CSP nonce for its inline script and style.
fn html_with_csp(template: &str) -> Response {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let nonce = URL_SAFE_NO_PAD.encode(raw);
    // Scripts: the page's own inline module (its nonce) and the client
    // module it imports from this origin ('self'). Every response of the
    // server carries `nosniff` (see `App::serve`), so no JSON answer can
    // be loaded as a script in its place. `connect-src 'self'` covers the
    // mint route and the same-origin ws: socket.
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}' 'self'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    );
    (
        [
            (CONTENT_SECURITY_POLICY, csp),
            (CACHE_CONTROL, "no-store".to_owned()),
            (X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            // Not `no-referrer`: with it, Chromium sends `Origin: null` on
            // the page's own form posts, which the CSRF layer refuses from
            // a browser that does not send `Sec-Fetch-Site`.
            (REFERRER_POLICY, "same-origin".to_owned()),
        ],
        Html(template.replace("__NONCE__", &nonce)),
    )
        .into_response()
}

//! `GET /`: the page, one self-contained file with no build step and no
//! CDN, served with a strict Content Security Policy.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

/// The page. Every `__NONCE__` in it is replaced per response by the CSP
/// nonce.
pub const PAGE: &str = include_str!("page.html");

/// `GET /`: the page, with a fresh CSP nonce for its inline script and
/// style. It holds no secret: no ticket (the page mints its own) and never
/// the internal credential.
pub async fn page() -> Response {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let nonce = URL_SAFE_NO_PAD.encode(raw);
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
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
        Html(PAGE.replace("__NONCE__", &nonce)),
    )
        .into_response()
}

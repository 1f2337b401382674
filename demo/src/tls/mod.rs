//! HTTPS for the dashboard, with HTTP/2 and HTTP/1.1 chosen by ALPN, on
//! rustls (ring provider) and tokio-rustls.
//!
//! Browsers speak HTTP/2 only over TLS, and open a WebSocket over HTTP/2
//! (RFC 8441 extended CONNECT) only on a connection whose server announced
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`; [`serve`] announces it. So this is
//! what it takes to see a real browser's socket arrive as an HTTP/2
//! CONNECT:
//!
//! - [`TlsChoice`]: what the environment asks for: `TLS=self-signed`, or
//!   `TLS_CERT` and `TLS_KEY` (PEM files), or neither (plain HTTP);
//! - [`ServerTls`]: the certificate served, generated at start (rcgen) or
//!   read from the files, and the rustls configuration around it;
//! - [`serve`]: the accept loop: TLS handshake, then hyper-util's server
//!   for both HTTP versions, extended CONNECT on;
//! - [`ServerTls::pinned_client`]: how an in-process client (the
//!   dashboard's child) trusts exactly the certificate this server shows,
//!   self-signed or not, whatever address it dials.
//!
//! ```text
//! TLS=self-signed cargo run --example dashboard
//! TLS_CERT=cert.pem TLS_KEY=key.pem cargo run --example dashboard
//! ```

mod certificate;
mod pinned;
mod serve;

pub use certificate::{CERT_VAR, KEY_VAR, ServerTls, TLS_VAR, TlsChoice, TlsError};
pub use serve::{HANDSHAKE_TIMEOUT, serve};

#[cfg(test)]
mod tests;

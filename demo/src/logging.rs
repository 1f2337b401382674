//! The log set-up every example starts with ([`init`]), and the filter it
//! uses ([`filter`]), which tests reuse to check what the examples log.
//!
//! Two rules hold whatever `RUST_LOG` says:
//!
//! - **No secret.** tungstenite dumps each client handshake request, URL
//!   and headers included, at TRACE under the target
//!   `tungstenite::handshake::client`. The dashboard's in-process child
//!   offers the internal credential in its `Sec-WebSocket-Protocol` header
//!   (its URL holds none), so [`filter`] turns that target off
//!   ([`SILENCED`]); the only other line it has is a bare "Client handshake
//!   done." at DEBUG.
//! - **No colour codes in a file.** ANSI colours only when standard output
//!   is a terminal, so `cargo run --example dashboard > log.txt` stays
//!   readable and greppable.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Directives added after `RUST_LOG`'s, turning off targets whose output
/// would hold a credential. A directive for the same target in `RUST_LOG`
/// is replaced by these. (Turned off, not capped at a level: a directive
/// such as `target=debug` would also switch DEBUG on for that target
/// when the rest of the log is at INFO.)
pub const SILENCED: &[&str] = &["tungstenite::handshake::client=off"];

/// The default when `RUST_LOG` is unset or unreadable: every request
/// (credentials redacted) and the crate's audit events (target
/// `tower_ws_ticket::audit`).
pub const DEFAULT_DIRECTIVES: &str = "info";

/// An [`EnvFilter`] from `directives` (`RUST_LOG`'s syntax), with
/// [`SILENCED`] on top. Unreadable directives fall back to
/// [`DEFAULT_DIRECTIVES`].
pub fn filter(directives: &str) -> EnvFilter {
    let filter =
        EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_DIRECTIVES));
    SILENCED.iter().fold(filter, |filter, directive| {
        // A constant of this module: it parses, or the unit tests fail.
        filter.add_directive(directive.parse().expect("a valid directive"))
    })
}

/// Installs the global subscriber: formatted lines on standard output,
/// filtered by `RUST_LOG` (default [`DEFAULT_DIRECTIVES`]) through
/// [`filter`], coloured only on a terminal. `log` records (tungstenite's)
/// are routed into it too.
///
/// # Panics
///
/// When a global subscriber is already set: call it once, at start.
pub fn init() {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_DIRECTIVES.to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(filter(&directives))
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use super::*;

    /// What a subscriber with `filter(directives)` writes for a TRACE and
    /// a DEBUG event at the handshake target, and a TRACE and an INFO
    /// event elsewhere.
    fn logged(directives: &str) -> String {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(directives))
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "tungstenite::handshake::client", "Request: secret-url");
            tracing::debug!(target: "tungstenite::handshake::client", "handshake done");
            tracing::trace!(target: "elsewhere", "ordinary trace");
            tracing::info!(target: "elsewhere", "ordinary info");
        });
        let bytes = buffer.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_handshake_dump_is_off_whatever_rust_log_says() {
        for directives in [
            "trace",
            "tungstenite=trace,trace",
            "trace,tungstenite::handshake::client=trace",
        ] {
            let logs = logged(directives);
            assert!(logs.contains("ordinary trace"), "{directives}: {logs}");
            assert!(!logs.contains("secret-url"), "{directives}: {logs}");
        }
    }

    #[test]
    fn the_crate_docs_tell_users_what_the_demo_silences() {
        // A child that dials with the internal credential leaks it through
        // tungstenite's TRACE dump unless its filter has these directives;
        // the README and the credential helpers' docs must say so.
        let readme = include_str!("../../README.md");
        let credential_docs = include_str!("../../src/credential.rs");
        for directive in SILENCED {
            assert!(readme.contains(directive), "README lacks {directive}");
            assert!(
                credential_docs.contains(directive),
                "the credential helpers' docs lack {directive}"
            );
        }
    }

    #[test]
    fn silencing_a_target_turns_nothing_on() {
        let logs = logged("info");
        assert!(logs.contains("ordinary info"), "{logs}");
        assert!(!logs.contains("handshake done"), "{logs}");
        assert!(!logs.contains("ordinary trace"), "{logs}");
    }

    #[test]
    fn unreadable_directives_fall_back_to_info() {
        let logs = logged("=nonsense=");
        assert!(!logs.contains("ordinary trace"), "{logs}");
    }
}

//! What the environment asks for ([`TlsChoice`]), and the certificate
//! served with its rustls configuration ([`ServerTls`]).

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// The environment variable that turns HTTPS on with a certificate made
/// at start: `TLS=self-signed`.
pub const TLS_VAR: &str = "TLS";
/// The PEM file holding the certificate chain, leaf first.
pub const CERT_VAR: &str = "TLS_CERT";
/// The PEM file holding the certificate's private key (PKCS#8, PKCS#1 or
/// SEC1).
pub const KEY_VAR: &str = "TLS_KEY";

/// The one value of `TLS` this demo knows.
const SELF_SIGNED: &str = "self-signed";

/// The protocols offered by ALPN, preferred first: browsers pick HTTP/2,
/// other clients (the child's tungstenite, curl --http1.1) HTTP/1.1.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// How the server is to be reached, as the environment says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsChoice {
    /// Neither `TLS` nor `TLS_CERT` / `TLS_KEY`: plain HTTP (and so
    /// HTTP/1.1 only, in a browser).
    Plain,
    /// `TLS=self-signed`: a certificate generated at start, which browsers
    /// warn about (nothing vouches for it).
    SelfSigned,
    /// `TLS_CERT` and `TLS_KEY`: a certificate of your own, in PEM files.
    Files {
        /// The certificate chain, leaf first.
        cert: PathBuf,
        /// Its private key.
        key: PathBuf,
    },
}

impl TlsChoice {
    /// Reads `TLS`, `TLS_CERT` and `TLS_KEY` from the process environment.
    ///
    /// # Errors
    ///
    /// As [`from_vars`](Self::from_vars).
    pub fn from_env() -> Result<Self, TlsError> {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// Reads the choice through `var` (an environment lookup). An empty
    /// variable counts as unset.
    ///
    /// # Errors
    ///
    /// When `TLS` holds anything but `self-signed`, when it is set beside
    /// `TLS_CERT` or `TLS_KEY` (which certificate is meant?), or when only
    /// one of `TLS_CERT` and `TLS_KEY` is set.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<Self, TlsError> {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let (mode, cert, key) = (var(TLS_VAR), var(CERT_VAR), var(KEY_VAR));
        match (mode, cert, key) {
            (None, None, None) => Ok(Self::Plain),
            (Some(mode), None, None) if mode == SELF_SIGNED => Ok(Self::SelfSigned),
            (Some(mode), _, _) if mode != SELF_SIGNED => {
                Err(TlsError::UnknownMode(mode.to_string_lossy().into_owned()))
            }
            (Some(_), _, _) => Err(TlsError::Conflicting),
            (None, Some(cert), Some(key)) => Ok(Self::Files {
                cert: cert.into(),
                key: key.into(),
            }),
            (None, Some(_), None) => Err(TlsError::Missing(KEY_VAR)),
            (None, None, Some(_)) => Err(TlsError::Missing(CERT_VAR)),
        }
    }

    /// The certificate this choice serves on `addr`, if any: generated
    /// now, or read from the files.
    ///
    /// # Errors
    ///
    /// As [`ServerTls::self_signed`] and [`ServerTls::from_pem_files`].
    pub fn load(&self, addr: SocketAddr) -> Result<Option<ServerTls>, TlsError> {
        match self {
            Self::Plain => Ok(None),
            Self::SelfSigned => ServerTls::self_signed(addr).map(Some),
            Self::Files { cert, key } => {
                ServerTls::from_pem_files(cert.clone(), key.clone()).map(Some)
            }
        }
    }
}

/// Where the served certificate came from, for the start-up banner.
#[derive(Clone, Debug)]
enum Source {
    SelfSigned,
    Files,
}

/// The certificate the server shows and the rustls configuration serving
/// it: TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`. `Debug` names the
/// certificate's source, never the key.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    leaf: CertificateDer<'static>,
    source: Source,
}

impl ServerTls {
    /// A certificate generated now (rcgen), for `localhost`, `127.0.0.1`,
    /// `::1` and `addr`'s own address when it is a specific one. Its key
    /// lives in memory only, and dies with the process.
    ///
    /// # Errors
    ///
    /// When generating the key or the certificate fails.
    pub fn self_signed(addr: SocketAddr) -> Result<Self, TlsError> {
        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let ip = addr.ip().to_string();
        if !addr.ip().is_unspecified() && !names.contains(&ip) {
            names.push(ip);
        }
        let generated = rcgen::generate_simple_self_signed(names).map_err(TlsError::Generate)?;
        let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
        Self::new(
            vec![generated.cert.der().clone()],
            key.into(),
            Source::SelfSigned,
        )
    }

    /// The certificate chain in the PEM file `cert` (leaf first) and the
    /// private key in the PEM file `key`.
    ///
    /// # Errors
    ///
    /// When a file cannot be read, holds no certificate or no key, or the
    /// key does not belong to the certificate.
    pub fn from_pem_files(cert: PathBuf, key: PathBuf) -> Result<Self, TlsError> {
        let unreadable = |path: &PathBuf| {
            let path = path.clone();
            move |error| TlsError::Unreadable { path, error }
        };
        let chain = CertificateDer::pem_file_iter(&cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(unreadable(&cert))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(cert));
        }
        let key = match PrivateKeyDer::from_pem_file(&key) {
            Ok(der) => der,
            Err(pem::Error::NoItemsFound) => return Err(TlsError::NoKey(key)),
            Err(error) => return Err(unreadable(&key)(error)),
        };
        Self::new(chain, key, Source::Files)
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        source: Source,
    ) -> Result<Self, TlsError> {
        let leaf = chain
            .first()
            .cloned()
            .ok_or(TlsError::Rejected(rustls::Error::NoCertificatesPresented))?;
        // rustls checks here that the key is the certificate's.
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
            .map_err(TlsError::Rejected)?;
        config.alpn_protocols = ALPN.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(Self {
            config: Arc::new(config),
            leaf,
            source,
        })
    }

    /// The rustls server configuration.
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    /// A tokio-rustls acceptor over [`config`](Self::config).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config())
    }

    /// The certificate the server shows (DER), the leaf of its chain.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.leaf
    }

    /// Whether the certificate was generated at start (browsers warn about
    /// it) rather than read from files.
    pub fn is_self_signed(&self) -> bool {
        matches!(self.source, Source::SelfSigned)
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("source", &self.source)
            .field("alpn", &"h2, http/1.1")
            .finish_non_exhaustive()
    }
}

/// The crypto provider both ends use: ring, for a build that takes
/// seconds rather than minutes (aws-lc-rs compiles a C library with cmake).
/// rustls marks ring's provider deprecated because it has no post-quantum
/// key exchange; a production server picks aws-lc-rs, which is rustls's
/// default.
#[allow(deprecated)]
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why HTTPS cannot be served as asked; each message says what to change.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// `TLS` holds something else than `self-signed`.
    UnknownMode(String),
    /// `TLS` is set beside `TLS_CERT` / `TLS_KEY`.
    Conflicting,
    /// One of `TLS_CERT` / `TLS_KEY` is set, not this one.
    Missing(&'static str),
    /// A PEM file cannot be read or parsed.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: pem::Error,
    },
    /// The certificate file holds no certificate.
    NoCertificate(PathBuf),
    /// The key file holds no private key.
    NoKey(PathBuf),
    /// Generating the self-signed certificate failed.
    Generate(rcgen::Error),
    /// rustls refused the certificate and key (most often: the key is not
    /// the certificate's).
    Rejected(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownMode(mode) => write!(
                f,
                "{TLS_VAR}={mode:?} is not understood: use {TLS_VAR}={SELF_SIGNED}, \
                 or {CERT_VAR} and {KEY_VAR} (PEM files) without {TLS_VAR}, or neither for plain HTTP"
            ),
            Self::Conflicting => write!(
                f,
                "{TLS_VAR}={SELF_SIGNED} and {CERT_VAR} / {KEY_VAR} are both set: \
                 unset {TLS_VAR} to serve your certificate, or the other two for a generated one"
            ),
            Self::Missing(name) => write!(
                f,
                "{name} is not set: a certificate of your own needs both {CERT_VAR} and {KEY_VAR}"
            ),
            Self::Unreadable { path, error } => {
                write!(f, "cannot read the PEM file {}: {error}", path.display())
            }
            Self::NoCertificate(path) => write!(
                f,
                "{CERT_VAR}={} holds no certificate (expected -----BEGIN CERTIFICATE-----)",
                path.display()
            ),
            Self::NoKey(path) => write!(
                f,
                "{KEY_VAR}={} holds no private key (expected -----BEGIN PRIVATE KEY----- \
                 or an RSA / EC one)",
                path.display()
            ),
            Self::Generate(error) => {
                write!(f, "cannot generate a self-signed certificate: {error}")
            }
            Self::Rejected(error) => write!(
                f,
                "the certificate and key cannot be served (is {KEY_VAR} the key of {CERT_VAR}?): {error}"
            ),
        }
    }
}

impl std::error::Error for TlsError {}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn choice(vars: &[(&str, &str)]) -> Result<TlsChoice, TlsError> {
        TlsChoice::from_vars(|name| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| value.into())
        })
    }

    #[test]
    fn the_environment_picks_plain_self_signed_or_files() {
        assert_eq!(choice(&[]).expect("plain"), TlsChoice::Plain);
        assert_eq!(choice(&[(TLS_VAR, "")]).expect("plain"), TlsChoice::Plain);
        assert_eq!(
            choice(&[(TLS_VAR, "self-signed")]).expect("self-signed"),
            TlsChoice::SelfSigned
        );
        assert_eq!(
            choice(&[(CERT_VAR, "c.pem"), (KEY_VAR, "k.pem")]).expect("files"),
            TlsChoice::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            }
        );
    }

    #[test]
    fn a_mistake_in_the_environment_is_an_error_that_says_what_to_change() {
        let err = choice(&[(TLS_VAR, "on")]).expect_err("unknown mode");
        assert!(matches!(&err, TlsError::UnknownMode(mode) if mode == "on"));
        assert!(err.to_string().contains("TLS=self-signed"), "{err}");
        for vars in [
            &[(TLS_VAR, "self-signed"), (CERT_VAR, "c.pem")][..],
            &[
                (TLS_VAR, "self-signed"),
                (CERT_VAR, "c.pem"),
                (KEY_VAR, "k.pem"),
            ],
        ] {
            assert!(matches!(choice(vars), Err(TlsError::Conflicting)));
        }
        assert!(matches!(
            choice(&[(CERT_VAR, "c.pem")]),
            Err(TlsError::Missing(KEY_VAR))
        ));
        assert!(matches!(
            choice(&[(KEY_VAR, "k.pem")]),
            Err(TlsError::Missing(CERT_VAR))
        ));
        // A bad TLS value is reported as such, whatever else is set.
        assert!(matches!(
            choice(&[(TLS_VAR, "yes"), (CERT_VAR, "c.pem")]),
            Err(TlsError::UnknownMode(_))
        ));
    }

    /// A scratch folder, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("tower-ws-ticket-tls-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a scratch folder");
            Self(dir)
        }

        fn file(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).expect("write a scratch file");
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A certificate and its key as PEM, as rcgen writes them.
    fn pem_pair() -> (String, String) {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("generate");
        (generated.cert.pem(), generated.signing_key.serialize_pem())
    }

    #[test]
    fn pem_files_are_served_with_both_http_versions() {
        let scratch = Scratch::new("pem");
        let (cert, key) = pem_pair();
        let tls = ServerTls::from_pem_files(
            scratch.file("cert.pem", &cert),
            scratch.file("key.pem", &key),
        )
        .expect("a certificate of one's own");
        assert!(!tls.is_self_signed());
        assert_eq!(tls.config().alpn_protocols, [&b"h2"[..], b"http/1.1"]);
    }

    #[test]
    fn unusable_pem_files_are_clear_errors() {
        let scratch = Scratch::new("bad-pem");
        let (cert, key) = pem_pair();
        let (other_cert, _) = pem_pair();
        let cert = scratch.file("cert.pem", &cert);
        let key = scratch.file("key.pem", &key);
        let other_cert = scratch.file("other.pem", &other_cert);
        let empty = scratch.file("empty.pem", "");
        let missing = scratch.0.join("missing.pem");
        let load = |cert: &Path, key: &Path| ServerTls::from_pem_files(cert.into(), key.into());

        let err = load(&missing, &key).expect_err("no such file");
        assert!(matches!(&err, TlsError::Unreadable { path, .. } if *path == missing));
        assert!(err.to_string().contains("missing.pem"), "{err}");
        assert!(matches!(
            load(&empty, &key),
            Err(TlsError::NoCertificate(_))
        ));
        // A key file that holds a certificate only.
        assert!(matches!(load(&cert, &cert), Err(TlsError::NoKey(_))));
        let err = load(&other_cert, &key).expect_err("a key of another certificate");
        assert!(matches!(err, TlsError::Rejected(_)), "{err:?}");
    }

    #[test]
    fn self_signed_names_the_bound_address_too() {
        let addr: SocketAddr = "127.0.0.2:3443".parse().expect("addr");
        let tls = ServerTls::self_signed(addr).expect("a certificate");
        assert!(tls.is_self_signed());
        assert!(!format!("{tls:?}").contains("PRIVATE"));
        // The DER holds the IP address SANs as their four bytes.
        let der = tls.leaf().as_ref();
        for ip in [[127, 0, 0, 1], [127, 0, 0, 2]] {
            assert!(der.windows(4).any(|window| window == ip), "{ip:?}");
        }
    }
}

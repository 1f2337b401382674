//! A client configuration that trusts exactly the certificate this server
//! shows: for a client in the same process (the dashboard's child).
//!
//! The child dials the bound address (`127.0.0.1:PORT`, say), which a
//! certificate of your own need not name, and a self-signed certificate
//! has no authority to check it against. It knows the very certificate
//! the server presents, though, so it accepts that one, byte for byte,
//! and nothing else; the handshake's signatures are still checked against
//! its key, so only a holder of the key passes.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, Error, SignatureScheme};

use super::ServerTls;
use super::certificate::provider;

impl ServerTls {
    /// A rustls client configuration that accepts this server's
    /// certificate (its [`leaf`](Self::leaf)) and no other, whatever the
    /// name dialled; ALPN `http/1.1` (tungstenite's WebSockets are
    /// HTTP/1.1 only).
    pub fn pinned_client(&self) -> Arc<ClientConfig> {
        let provider = provider();
        let verifier = Pinned {
            leaf: self.leaf().clone(),
            algorithms: provider.signature_verification_algorithms,
        };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            // The ring provider supports the default versions.
            .expect("TLS 1.2 and 1.3 with ring")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// Accepts one end-entity certificate, and checks the handshake's
/// signatures against it.
#[derive(Debug)]
struct Pinned {
    leaf: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // A certificate is public: a plain comparison leaks nothing.
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

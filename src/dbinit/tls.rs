//! TLS for the PostgreSQL connection, following libpq's `sslmode` meanings.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::DbInitError;

fn provider() -> Arc<CryptoProvider> {
    // Explicit, so the choice does not depend on which rustls features other crates enable.
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Returns a client configuration that encrypts but accepts any server certificate, like
/// libpq's `sslmode=require` without a root certificate.
pub(super) fn encrypt_only() -> Result<ClientConfig, DbInitError> {
    let provider = provider();
    Ok(ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(DbInitError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth())
}

/// Returns a client configuration that verifies the server certificate and host name
/// against the CA certificates in a PEM bundle (`sslmode=verify-full`).
pub(super) fn verify_full(ca_bundle: &Path) -> Result<ClientConfig, DbInitError> {
    let bundle_error = |message: String| DbInitError::CaBundle {
        path: ca_bundle.to_path_buf(),
        message,
    };
    let pem = std::fs::read(ca_bundle).map_err(|e| bundle_error(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bundle_error(format!("not a PEM certificate bundle: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bundle_error(format!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bundle_error("holds no certificate".to_owned()));
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(DbInitError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Accepts any certificate but still checks that the server holds its key, so the
/// session is encrypted end to end with whoever answered.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_only_config_builds() {
        encrypt_only().expect("a client config");
    }

    #[test]
    fn ca_bundle_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = verify_full(&missing).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = verify_full(&empty).unwrap_err();
        assert!(err.to_string().contains("empty.pem"), "{err}");
        assert!(format!("{err:?}").contains("no certificate"), "{err:?}");
    }
}

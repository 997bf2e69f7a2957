//! TLS for TCP listeners (rustls with the ring provider).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::error::{ServeError, TlsError};

/// An acceptor for the certificate chain in `cert` and the key in `key` (PEM files).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServeError> {
    let tls_err = |path: &Path, reason: TlsError| ServeError::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(cert, TlsError::Pem(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(cert, TlsError::Pem(e)))?;
    if certs.is_empty() {
        return Err(tls_err(cert, TlsError::NoCertificate));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err(key, TlsError::Pem(e)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(cert, TlsError::Rustls(e)))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| tls_err(cert, TlsError::NotAPair(e)))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

//! The team gateway's TLS: the config's PEM certificate chain and key as a rustls acceptor (ring,
//! TLS 1.2 and 1.3, HTTP/1.1 by ALPN). Read when the config is, so SIGHUP picks up a renewed
//! certificate for the next connection.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::config::{ConfigError, Tls};

/// An acceptor for `tls`'s certificate and key; the error names the file and what is wrong.
pub fn acceptor(tls: &Tls) -> Result<TlsAcceptor, ConfigError> {
    let (cert, key) = (&tls.cert.0, &tls.key.0);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| ConfigError(format!("tls.cert: cannot read a PEM certificate chain from {cert}: {e}")))?;
    if chain.is_empty() {
        return Err(ConfigError(format!("tls.cert: {cert} holds no certificate")));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ConfigError(format!("tls.key: cannot read a PEM private key from {key}: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            ConfigError(format!("tls: the key in {} does not go with the certificate in {cert}: {e}", tls.key.0))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

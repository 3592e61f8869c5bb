//! TLS with rustls (ring; no OpenSSL): the server's certificate, and what the client trusts
//! (the system's root certificates plus an optional private CA).

use std::sync::Arc;

use once_cell::sync::Lazy;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// ALPN protocols, most preferred first.
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The system's root certificates, loaded once per process.
static SYSTEM_ROOTS: Lazy<Vec<CertificateDer<'static>>> =
    Lazy::new(|| rustls_native_certs::load_native_certs().certs);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A PEM option given either as the PEM text itself or as the path of a PEM file.
pub fn read_pem(value: &str, option: &str) -> Result<Vec<u8>> {
    if value.contains("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    std::fs::read(value).map_err(|e| {
        Error::invalid_option(
            option,
            format!("is neither PEM text nor a readable PEM file ({})", e.kind()),
        )
    })
}

/// Certificates in a PEM document (at least one).
pub fn parse_certificates(pem: &[u8], option: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::invalid_option(option, "contains an invalid PEM certificate"))?;
    if certificates.is_empty() {
        return Err(Error::invalid_option(option, "contains no PEM certificate"));
    }
    Ok(certificates)
}

/// The server side: `cert` (chain) and `key` as PEM; offers h2 and http/1.1 by ALPN.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>> {
    let chain = parse_certificates(cert_pem, "incoming.tls.cert")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
        Error::invalid_option("incoming.tls.key", "contains no valid PEM private key")
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid_option("incoming.tls", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            Error::invalid_option(
                "incoming.tls",
                format!("certificate and key do not work together: {e}"),
            )
        })?;
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// The client side: trusts the system's roots and `extra_ca`; offers `alpn`.
pub fn client_config(
    extra_ca: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(SYSTEM_ROOTS.iter().cloned());
    for certificate in extra_ca {
        roots
            .add(certificate.clone())
            .map_err(|e| Error::invalid_option("outgoing.tls.ca", e.to_string()))?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid_option("outgoing.tls", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        (certified.cert.pem(), certified.signing_key.serialize_pem())
    }

    #[test]
    fn server_config_from_pem_text() {
        let (cert, key) = self_signed();
        let config = server_config(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn mismatched_or_missing_pem_is_an_option_error() {
        let (cert, _) = self_signed();
        let (_, other_key) = self_signed();
        let error = server_config(cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("incoming.tls"), "{error}");
        let error = server_config(b"junk", b"junk").unwrap_err();
        assert!(error.to_string().contains("incoming.tls.cert"), "{error}");
        let error = read_pem("/nonexistent/cert.pem", "incoming.tls.cert").unwrap_err();
        assert!(error.to_string().contains("incoming.tls.cert"), "{error}");
    }

    #[test]
    fn client_config_accepts_a_private_ca() {
        let (cert, _) = self_signed();
        let ca = parse_certificates(cert.as_bytes(), "outgoing.tls.ca").unwrap();
        let config = client_config(&ca, &[ALPN_H2]).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
    }
}

//! TLS with rustls (ring; no OpenSSL): the server's certificate, and what the client trusts
//! (the system's root certificates plus an optional private CA).

use std::sync::Arc;

use once_cell::sync::Lazy;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// ALPN protocols, most preferred first.
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The system's root certificates, loaded once per process.
static SYSTEM_ROOTS: Lazy<Vec<CertificateDer<'static>>> =
    Lazy::new(|| rustls_native_certs::load_native_certs().certs);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A PEM option given either as the PEM text itself or as the path of a PEM file. Errors
/// here are reasons; `options` puts the option's name in front.
pub fn read_pem(value: &str) -> Result<Vec<u8>, String> {
    if value.contains("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    std::fs::read(value)
        .map_err(|e| format!("is neither PEM text nor a readable PEM file ({})", e.kind()))
}

/// Certificates in a PEM document (at least one).
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "contains an invalid PEM certificate".to_owned())?;
    if certificates.is_empty() {
        return Err("contains no PEM certificate".to_owned());
    }
    Ok(certificates)
}

/// The private key in a PEM document.
pub fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| "contains no valid PEM private key".to_owned())
}

/// The server side: a certificate chain and its key; offers h2 and http/1.1 by ALPN.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, String> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key do not work together: {e}"))?;
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// The client side: trusts the system's roots and `extra_ca`; offers `alpn`.
pub fn client_config(
    extra_ca: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(SYSTEM_ROOTS.iter().cloned());
    for certificate in extra_ca {
        roots.add(certificate.clone()).map_err(|e| e.to_string())?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
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

    fn server_config_from_pem(cert: &str, key: &str) -> Result<Arc<ServerConfig>, String> {
        server_config(
            parse_certificates(cert.as_bytes())?,
            parse_private_key(key.as_bytes())?,
        )
    }

    #[test]
    fn server_config_from_pem_text() {
        let (cert, key) = self_signed();
        let config = server_config_from_pem(&cert, &key).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn mismatched_or_missing_pem_is_refused_with_a_reason() {
        let (cert, _) = self_signed();
        let (_, other_key) = self_signed();
        let error = server_config_from_pem(&cert, &other_key).unwrap_err();
        assert!(error.contains("do not work together"), "{error}");
        let error = parse_certificates(b"junk").unwrap_err();
        assert!(error.contains("no PEM certificate"), "{error}");
        let error = parse_private_key(b"junk").unwrap_err();
        assert!(error.contains("private key"), "{error}");
        let error = read_pem("/nonexistent/cert.pem").unwrap_err();
        assert!(error.contains("readable PEM file"), "{error}");
    }

    #[test]
    fn client_config_accepts_a_private_ca() {
        let (cert, _) = self_signed();
        let ca = parse_certificates(cert.as_bytes()).unwrap();
        let config = client_config(&ca, &[ALPN_H2]).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
    }
}

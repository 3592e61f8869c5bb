//! TLS with rustls (ring; no OpenSSL): the server's certificate, and what the client trusts
//! (the system's root certificates plus an optional private CA). Mutual TLS: the server can
//! require client certificates issued by given CAs (rustls' `WebPkiClientVerifier`), and the
//! client can present one.

use std::fmt;
use std::sync::Arc;

use once_cell::sync::Lazy;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
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

/// What the server asks of clients in the handshake.
pub enum ClientAuth {
    /// No client certificate.
    None,
    /// A client certificate issued by one of these CAs (`client_ca_roots`), else the
    /// handshake fails.
    Required(Arc<RootCertStore>),
}

/// The CA certificates client certificates must be issued by (each must parse as one).
pub fn client_ca_roots(ca: Vec<CertificateDer<'static>>) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    for certificate in ca {
        roots.add(certificate).map_err(|e| e.to_string())?;
    }
    Ok(Arc::new(roots))
}

/// The server side: a certificate chain and its key; offers h2 and http/1.1 by ALPN.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: ClientAuth,
) -> Result<Arc<ServerConfig>, String> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Required(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|e| format!("client CA: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key do not work together: {e}"))?;
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// A client certificate chain with its private key, checked to belong together. The key never
/// appears in `Debug` output.
#[derive(Clone)]
pub struct ClientCertificate(CertifiedKey);

/// Why a client certificate and key were refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientCertificateError {
    /// The key is not the private key of the chain's first certificate.
    KeyMismatch,
    /// rustls cannot sign with the key (an unsupported algorithm, or not a key at all).
    UnusableKey,
}

impl ClientCertificate {
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, ClientCertificateError> {
        CertifiedKey::from_der(chain, key, &provider())
            .map(ClientCertificate)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => ClientCertificateError::KeyMismatch,
                _ => ClientCertificateError::UnusableKey,
            })
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ClientCertificate({} certificates, key <redacted>)",
            self.0.cert.len()
        )
    }
}

/// The client side: trusts the system's roots and `extra_ca`; presents `client_certificate`
/// when the server asks for one; offers `alpn`.
pub fn client_config(
    extra_ca: &[CertificateDer<'static>],
    client_certificate: Option<&ClientCertificate>,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(SYSTEM_ROOTS.iter().cloned());
    for certificate in extra_ca {
        roots.add(certificate.clone()).map_err(|e| e.to_string())?;
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut config = match client_certificate {
        None => builder.with_no_client_auth(),
        Some(certificate) => builder
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certificate.0.clone()))),
    };
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
            ClientAuth::None,
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
        let config = client_config(&ca, None, &[ALPN_H2]).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
    }

    #[test]
    fn server_requiring_client_certificates_builds_from_a_ca() {
        // The handshake itself (no certificate, one from another CA: refused) is tested end to
        // end in __test__/mtls.test.js.
        let (cert, key) = self_signed();
        let (ca, _) = self_signed();
        let client_ca = parse_certificates(ca.as_bytes()).unwrap();
        server_config(
            parse_certificates(cert.as_bytes()).unwrap(),
            parse_private_key(key.as_bytes()).unwrap(),
            ClientAuth::Required(client_ca_roots(client_ca).unwrap()),
        )
        .unwrap();
    }

    #[test]
    fn client_certificate_and_key_must_match() {
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let chain = || parse_certificates(cert.as_bytes()).unwrap();
        let certificate =
            ClientCertificate::new(chain(), parse_private_key(key.as_bytes()).unwrap()).unwrap();
        let config = client_config(&[], Some(&certificate), &[]).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
        let without = client_config(&[], None, &[]).unwrap();
        assert!(!without.client_auth_cert_resolver.has_certs());
        let mismatch =
            ClientCertificate::new(chain(), parse_private_key(other_key.as_bytes()).unwrap());
        assert_eq!(mismatch.unwrap_err(), ClientCertificateError::KeyMismatch);
        let debug = format!("{certificate:?}");
        assert!(
            !debug.contains("PRIVATE") && debug.contains("redacted"),
            "{debug}"
        );
    }
}

//! The validated configuration. `options.rs` builds it from the JS options once, in the
//! constructor; everything after that trusts it.

use std::net::IpAddr;
use std::sync::Arc;

use http::Uri;
use rustls_pki_types::CertificateDer;

use crate::auth::Secret;
use crate::ildcp::IldcpInfo;
use crate::routing::UrlTemplate;

/// 1.6.1's default JWT lifetime (milliseconds).
pub const DEFAULT_JWT_EXPIRY_MS: u64 = 30_000;

#[derive(Debug, Clone)]
pub struct Config {
    pub incoming: IncomingConfig,
    pub outgoing: OutgoingConfig,
    pub routing: Routing,
}

/// Where Prepares go: one peer, or (multilateral mode) one URL per child.
#[derive(Debug, Clone)]
pub enum Routing {
    /// `outgoing.url` as is.
    Bilateral { url: Uri },
    /// `outgoing.url` with the child's address segment in place of `multiDelimiter`.
    Multilateral {
        url_template: UrlTemplate,
        /// The `ildcp` option; fetched through the data handler when absent.
        ildcp: Option<IldcpInfo>,
    },
}

#[derive(Debug, Clone)]
pub struct IncomingConfig {
    /// Interface to bind; `::` (all interfaces, dual stack) unless `incoming.host` is given.
    pub host: IpAddr,
    pub port: u16,
    pub jwt_secret: Option<Secret>,
    pub static_token: Option<Secret>,
    /// `incoming.tls`: serve HTTPS (ALPN h2 and http/1.1) instead of cleartext.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

#[derive(Debug, Clone)]
pub struct OutgoingConfig {
    pub credential: OutgoingCredential,
    /// Send `Bearer <token>` (false only with the legacy `secret` / `secretToken` names).
    pub bearer: bool,
    /// `ILP-Peer-Name`; checked to be a valid header value.
    pub name: String,
    pub send_ilp_destination: bool,
    pub http2: bool,
    pub http2_max_requests_per_session: Option<u64>,
    /// Extra CA certificates trusted for `https://` peers (`outgoing.tls.ca`), besides the
    /// system's.
    pub tls_ca: Vec<CertificateDer<'static>>,
}

#[derive(Debug, Clone)]
pub enum OutgoingCredential {
    /// HS256 JWTs with this lifetime in whole seconds (at least 1).
    Jwt {
        secret: Secret,
        lifetime_secs: u64,
    },
    Static(Secret),
}

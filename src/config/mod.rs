//! The validated configuration. `options` builds it from the JS options once, in the
//! constructor; everything after that trusts it.

pub mod options;
pub mod secret;
pub mod tls;
pub mod url;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Uri};

use self::secret::Secret;
use self::url::{split_authority, UrlTemplate};
use crate::protocol::ildcp::IldcpInfo;

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
    pub credentials: IncomingCredentials,
    /// `incoming.tls`: serve HTTPS (ALPN h2 and http/1.1) instead of cleartext.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `incoming.jwtMaxLifetime`: a JWT whose `exp` lies further ahead is refused.
    pub jwt_max_lifetime: Duration,
    pub limits: ConnectionLimits,
}

/// What incoming requests must present in `Authorization`: at least one static token or JWT
/// secret, unless the TLS handshake requires a client certificate (`options` refuses neither).
#[derive(Debug, Clone, Default)]
pub struct IncomingCredentials {
    /// `incoming.staticToken` (legacy `secretToken`): a request presenting any one is accepted.
    pub static_tokens: Vec<Secret>,
    /// `incoming.jwtSecret` (legacy `secret`): a JWT signed with any one is accepted.
    pub jwt_secrets: Vec<Secret>,
    /// `incoming.jwtSubject`: accepted JWTs carry exactly this `sub` claim.
    pub jwt_subject: Option<String>,
    /// `incoming.tls.clientCa`: the handshake admits only clients with a certificate from those
    /// CAs, which authenticates the peer; without tokens or secrets, no `Authorization` is
    /// needed. (Tokens or secrets configured as well are still required.)
    pub client_certificate_required: bool,
}

/// How much the server lets clients hold (`incoming.maxConnections`, `incoming.headersTimeout`,
/// `incoming.bodyTimeout`, `incoming.maxHandlerCalls`, `incoming.maxHandlerCallsPerConnection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once. At the cap, connections without a request in flight are
    /// closed to make room; when all are busy, new ones wait in the accept backlog.
    pub max_connections: usize,
    /// Time to deliver a request head, from connection open or from when the previous request
    /// was answered; so also how long a connection may sit idle.
    pub headers_timeout: Duration,
    /// Time to deliver the body once the head has arrived; also how long answers may wait
    /// for the client to take them before its connection is dropped.
    pub body_timeout: Duration,
    /// Data-handler calls in flight at once (`incoming.maxHandlerCalls`); beyond, 503.
    pub max_handler_calls: usize,
    /// The same per connection (`incoming.maxHandlerCallsPerConnection`); beyond, 503 or
    /// HTTP/2 REFUSED_STREAM.
    pub max_handler_calls_per_connection: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            // Above the 60 s idle timeout of common load balancers (AWS ALB, nginx), so they
            // close idle connections first and never send on one we are closing.
            headers_timeout: Duration::from_secs(65),
            body_timeout: Duration::from_secs(10),
            max_handler_calls: 8192,
            // The HTTP/2 stream limit: a client that does not cancel its requests never
            // reaches it.
            max_handler_calls_per_connection: 1024,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OutgoingConfig {
    pub credential: OutgoingCredential,
    /// Send `Bearer <token>` (false only with the legacy `secret` / `secretToken` names).
    pub bearer: bool,
    /// `ILP-Peer-Name` (visible ASCII).
    pub name: HeaderValue,
    pub send_ilp_destination: bool,
    pub http2: bool,
    pub http2_max_requests_per_session: Option<u64>,
    /// Connections (HTTP/2: sessions) open at once to one peer origin
    /// (`outgoing.maxConnections`); further requests wait for one within their expiry.
    pub max_connections: usize,
    /// Unused connections and sessions are closed after this (`outgoing.idleTimeout`).
    pub idle_timeout: Duration,
    /// What `https://` peers are checked against: the system's root certificates and
    /// `outgoing.tls.ca`; offers ALPN `h2` when `http2`.
    pub tls: Arc<rustls::ClientConfig>,
    /// How many certificates `outgoing.tls.ca` added.
    pub extra_ca_certificates: usize,
    /// `tls` presents a client certificate (`outgoing.tls.cert` and `key`).
    pub presents_client_certificate: bool,
    /// `outgoing.contentType`.
    pub content_type: ContentType,
}

/// The media type outgoing requests declare (`outgoing.contentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentType {
    /// `application/ilp+octet-stream`: what ilp-plugin-http 1.6.1 sends (the default).
    #[default]
    IlpOctetStream,
    /// `application/octet-stream`: RFC 35's, sent as `Content-Type` and `Accept` (Rafiki
    /// refuses any other `Content-Type`).
    OctetStream,
}

impl ContentType {
    pub const fn media_type(self) -> &'static str {
        match self {
            ContentType::IlpOctetStream => "application/ilp+octet-stream",
            ContentType::OctetStream => "application/octet-stream",
        }
    }

    /// The content type whose media type is `value`, if it is one of the two.
    pub fn from_media_type(value: &str) -> Option<Self> {
        [ContentType::IlpOctetStream, ContentType::OctetStream]
            .into_iter()
            .find(|content_type| content_type.media_type() == value)
    }
}

#[derive(Debug, Clone)]
pub enum OutgoingCredential {
    /// HS256 JWTs with this lifetime in whole seconds (at least 1), and `sub` when a subject
    /// is given (`outgoing.jwtSubject`).
    Jwt {
        secret: Secret,
        lifetime_secs: u64,
        subject: Option<String>,
    },
    /// The whole `Authorization` value: the static token, after `Bearer ` unless `bearer` is
    /// false (marked sensitive: `Debug` hides it).
    Static(HeaderValue),
    /// No `Authorization` header: the client certificate (`outgoing.tls.cert`) authenticates.
    ClientCertificateOnly,
}

/// What a redacted secret looks like in `describe()`.
const REDACTED: &str = "[redacted]";

/// `scheme://user:password@host/...` with the password redacted.
fn without_password(url: &str) -> String {
    let (scheme, authority, rest) = split_authority(url);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{scheme}{}:{REDACTED}{}{rest}",
        &authority[..colon],
        &authority[at..]
    )
}

impl Config {
    /// The effective configuration for `getAdminInfo()`, with every secret redacted.
    pub fn describe(&self) -> serde_json::Value {
        let redacted = |secrets: &[Secret]| (!secrets.is_empty()).then_some(REDACTED);
        let credentials = &self.incoming.credentials;
        let (multi, url, ildcp) = match &self.routing {
            Routing::Bilateral { url } => (false, without_password(&url.to_string()), None),
            Routing::Multilateral {
                url_template,
                ildcp,
            } => (
                true,
                without_password(&url_template.expand("<segment>")),
                ildcp.as_ref().map(|info| {
                    serde_json::json!({
                        "clientAddress": info.client_address,
                        "assetCode": info.asset_code,
                        "assetScale": info.asset_scale,
                    })
                }),
            ),
        };
        let (auth, jwt_expiry_ms, jwt_subject) = match &self.outgoing.credential {
            OutgoingCredential::Jwt {
                lifetime_secs,
                subject,
                ..
            } => ("jwt", Some(lifetime_secs * 1000), subject.as_deref()),
            OutgoingCredential::Static(_) => ("static", None, None),
            OutgoingCredential::ClientCertificateOnly => ("client certificate", None, None),
        };
        serde_json::json!({
            "multi": multi,
            "ildcp": ildcp,
            "incoming": {
                "host": self.incoming.host.to_string(),
                "port": self.incoming.port,
                "jwtSecret": redacted(&credentials.jwt_secrets),
                "staticToken": redacted(&credentials.static_tokens),
                "jwtSecrets": credentials.jwt_secrets.len(),
                "staticTokens": credentials.static_tokens.len(),
                "jwtSubject": credentials.jwt_subject,
                "tls": self.incoming.tls.as_ref().map(|_| serde_json::json!({
                    "clientCertificates": if credentials.client_certificate_required {
                        "required"
                    } else {
                        "not requested"
                    },
                })),
                "maxConnections": self.incoming.limits.max_connections,
                "headersTimeout": self.incoming.limits.headers_timeout.as_millis() as u64,
                "bodyTimeout": self.incoming.limits.body_timeout.as_millis() as u64,
                "maxHandlerCalls": self.incoming.limits.max_handler_calls,
                "maxHandlerCallsPerConnection": self.incoming.limits.max_handler_calls_per_connection,
                "jwtMaxLifetime": self.incoming.jwt_max_lifetime.as_millis() as u64,
            },
            "outgoing": {
                "url": url,
                "auth": auth,
                "credential": (auth != "client certificate").then_some(REDACTED),
                "jwtExpiry": jwt_expiry_ms,
                "jwtSubject": jwt_subject,
                "bearer": self.outgoing.bearer,
                "name": self.outgoing.name.to_str().unwrap_or_default(),
                "sendIlpDestination": self.outgoing.send_ilp_destination,
                "http2": self.outgoing.http2,
                "http2MaxRequestsPerSession": self.outgoing.http2_max_requests_per_session,
                "maxConnections": self.outgoing.max_connections,
                "idleTimeout": self.outgoing.idle_timeout.as_millis() as u64,
                "extraCaCertificates": self.outgoing.extra_ca_certificates,
                "tls": {
                    "extraCaCertificates": self.outgoing.extra_ca_certificates,
                    "clientCertificate": self.outgoing.presents_client_certificate,
                },
                "contentType": self.outgoing.content_type.media_type(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            without_password("http://user:pa:ss@host:80/p?q=a@b"),
            "http://user:[redacted]@host:80/p?q=a@b"
        );
        assert_eq!(without_password("http://user@host/"), "http://user@host/");
        assert_eq!(without_password("http://host/x:y@z"), "http://host/x:y@z");
    }
}

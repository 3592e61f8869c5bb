//! The JS options object (as JSON) -> a validated `Config`.
//!
//! The JS wrapper passes `JSON.stringify({ multi, multiDelimiter, ildcp, incoming, outgoing })`,
//! so this module is plain Rust. Legacy names (`secret`, `secretToken`, `tokenExpiry`) are
//! resolved here with 1.6.1's precedence: a legacy value that is set wins. Every problem is an
//! `Error::InvalidOption` naming the option (its path is derived from where it is read:
//! `Options::error`); secrets are never part of a message. Everything is checked here, once:
//! `Config` holds header values, parsed URLs and built TLS configurations.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use http::{HeaderValue, Uri};
use serde_json::{Map, Value};

use crate::auth::authorization_value;
use crate::config::secret::Secret;
use crate::config::tls::{self, ClientAuth, ClientCertificate, ClientCertificateError};
use crate::config::url::{has_valid_port, split_authority, UrlTemplate};
use crate::config::{
    Config, ConnectionLimits, ContentType, IncomingConfig, IncomingCredentials, OutgoingConfig,
    OutgoingCredential, Routing, DEFAULT_JWT_EXPIRY_MS,
};
use crate::error::{Error, Result};
use crate::protocol::ildcp::IldcpInfo;
use crate::protocol::packet::is_valid_ilp_address;

/// Tokio's semaphore holds at most `usize::MAX >> 3` permits; a million is plenty.
const MAX_COUNT: u64 = 1_000_000;
/// Open connections per peer origin by default (`outgoing.maxConnections`).
const DEFAULT_OUTGOING_MAX_CONNECTIONS: usize = 256;
/// How long an unused outgoing connection stays open by default (`outgoing.idleTimeout`).
const DEFAULT_OUTGOING_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Node's largest timer delay.
const MAX_TIMEOUT_MS: f64 = 2_147_483_647.0;

/// One options object and where it sits (`incoming`, `outgoing.tls`; empty for the root), so
/// that every error names the option as `<path>.<key>`.
struct Options<'a> {
    object: &'a Map<String, Value>,
    path: String,
}

impl<'a> Options<'a> {
    /// The full name of `key` (`outgoing.url`).
    fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn error(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::invalid_option(self.name(key), reason)
    }

    /// The value of `key`; JSON `null` counts as absent (JS `undefined` is dropped by
    /// `JSON.stringify`, `null` kept).
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|value| !value.is_null())
    }

    /// True when `key` is a non-empty string.
    fn is_set(&self, key: &str) -> bool {
        matches!(self.get(key), Some(Value::String(s)) if !s.is_empty())
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.error(key, "must be a string")),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(key, "must be a boolean")),
        }
    }

    /// A nested object, named after its key.
    fn object(&self, key: &str) -> Result<Option<Options<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(Options {
                object,
                path: self.name(key),
            })),
            Some(_) => Err(self.error(key, "must be an object")),
        }
    }

    fn required_object(&self, key: &str) -> Result<Options<'a>> {
        self.object(key)?
            .ok_or_else(|| self.error(key, "is required (an object)"))
    }

    /// A secret given under a legacy or a current name; the legacy one wins when it is a
    /// non-empty string (1.6.1 reads `legacy || current`).
    fn aliased_secret(&self, legacy: &str, current: &str) -> Result<Option<Secret>> {
        let legacy_value = self.string(legacy)?;
        let current_value = self.string(current)?;
        Ok(legacy_value
            .filter(|s| !s.is_empty())
            .or(current_value.filter(|s| !s.is_empty()))
            .map(Secret::new))
    }

    /// Secrets given under a legacy or a current name, each a string or an array of strings
    /// (several, while a credential is rotated). As in 1.6.1 (`legacy || current`), the legacy
    /// name wins when set; an empty string counts as not set. Both names are validated.
    fn aliased_secrets(&self, legacy: &str, current: &str) -> Result<Vec<Secret>> {
        let legacy_secrets = self.secrets(legacy)?;
        let current_secrets = self.secrets(current)?;
        Ok(legacy_secrets.or(current_secrets).unwrap_or_default())
    }

    /// Static tokens (see `aliased_secrets`), each refused when it begins or ends with
    /// whitespace: HTTP/1.1 strips that from header values and HTTP/2 does not, so such a token
    /// would match on one protocol only.
    fn aliased_tokens(&self, legacy: &str, current: &str) -> Result<Vec<Secret>> {
        for key in [legacy, current] {
            let tokens = self.secrets(key)?.unwrap_or_default();
            let several = matches!(self.get(key), Some(Value::Array(_)));
            for (index, token) in tokens.iter().enumerate() {
                if is_padded(token.expose()) {
                    let name = if several {
                        format!("{key}[{index}]")
                    } else {
                        key.to_owned()
                    };
                    return Err(self.error(&name, "must not begin or end with whitespace"));
                }
            }
        }
        self.aliased_secrets(legacy, current)
    }

    /// A count (connections, calls): an integer from 1 to `MAX_COUNT`, or `default`.
    fn count(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(value) => value
                .as_u64()
                .filter(|n| (1..=MAX_COUNT).contains(n))
                .map(|n| n as usize)
                .ok_or_else(|| {
                    self.error(key, format!("must be an integer from 1 to {MAX_COUNT}"))
                }),
        }
    }

    /// A string, or a non-empty array of non-empty strings; `None` when absent or `""`.
    fn secrets(&self, key: &str) -> Result<Option<Vec<Secret>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(secret)) if secret.is_empty() => Ok(None),
            Some(Value::String(secret)) => Ok(Some(vec![Secret::new(secret)])),
            Some(Value::Array(secrets)) if secrets.is_empty() => {
                Err(self.error(key, "must not be an empty array (give at least one)"))
            }
            Some(Value::Array(secrets)) => secrets
                .iter()
                .enumerate()
                .map(|(index, secret)| match secret {
                    Value::String(secret) if !secret.is_empty() => Ok(Secret::new(secret)),
                    _ => Err(self.error(&format!("{key}[{index}]"), "must be a non-empty string")),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(self.error(key, "must be a string or an array of strings")),
        }
    }

    /// A JWT `sub` claim (`jwtSubject`): a non-empty string of visible ASCII (the peers use
    /// account identifiers).
    fn jwt_subject(&self) -> Result<Option<String>> {
        match self.string("jwtSubject")? {
            None => Ok(None),
            Some(subject)
                if !subject.is_empty() && subject.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Some(subject.to_owned()))
            }
            Some(_) => Err(self.error(
                "jwtSubject",
                "must be a non-empty string of visible ASCII characters",
            )),
        }
    }

    /// A PEM option (`cert`, `key`, `ca`, `clientCa`): the PEM text or a file path.
    fn pem(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.string(key)?
            .map(|value| tls::read_pem(value).map_err(|reason| self.error(key, reason)))
            .transpose()
    }

    /// A number of milliseconds; `None` when absent.
    fn millis(&self, key: &str, valid: impl Fn(f64) -> bool, reason: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .filter(|ms| ms.is_finite() && valid(*ms))
                .map(Some)
                .ok_or_else(|| self.error(key, reason)),
        }
    }
}

/// Parses and validates the options JSON.
pub fn parse_options(json: &str) -> Result<Config> {
    let value: Value = serde_json::from_str(json)
        .map_err(|_| Error::invalid_option("options", "must be a plain object"))?;
    let object = value
        .as_object()
        .ok_or_else(|| Error::invalid_option("options", "must be an object"))?;
    let root = Options {
        object,
        path: String::new(),
    };

    let incoming = parse_incoming(&root.required_object("incoming")?)?;
    let outgoing_options = root.required_object("outgoing")?;
    let outgoing = parse_outgoing(&outgoing_options, incoming.port)?;
    let url = outgoing_options
        .string("url")?
        .ok_or_else(|| outgoing_options.error("url", "is required"))?;
    let delimiter = root.string("multiDelimiter")?.unwrap_or("%");
    if delimiter.is_empty() {
        return Err(root.error("multiDelimiter", "must not be empty"));
    }
    let url_error = |reason: &str| outgoing_options.error("url", reason);
    let routing = if root.bool("multi")?.unwrap_or(false) {
        Routing::Multilateral {
            url_template: parse_url_template(url, delimiter, &url_error)?,
            ildcp: parse_ildcp(&root)?,
        }
    } else {
        Routing::Bilateral {
            url: parse_url(&percent_encode_non_ascii(url, &url_error)?, &url_error)?,
        }
    };
    Ok(Config {
        incoming,
        outgoing,
        routing,
    })
}

/// Multilateral `outgoing.url`: must make a valid URL once a segment is spliced in (a
/// number, for templates with the delimiter in the port position).
fn parse_url_template(
    url: &str,
    delimiter: &str,
    url_error: &dyn Fn(&str) -> Error,
) -> Result<UrlTemplate> {
    // Percent-encoding adds `%`, the default delimiter: mark the delimiter's place with a NUL
    // (which no valid URL holds) before encoding, and split there.
    if url.contains('\0') {
        return Err(url_error("is not a valid URL"));
    }
    let encoded = percent_encode_non_ascii(&url.replacen(delimiter, "\0", 1), url_error)?;
    let template = UrlTemplate::new(&encoded, "\0");
    parse_url(&template.expand("a"), url_error)
        .or_else(|_| parse_url(&template.expand("1"), url_error))?;
    Ok(template)
}

fn parse_ildcp(root: &Options<'_>) -> Result<Option<IldcpInfo>> {
    let Some(ildcp) = root.object("ildcp")? else {
        return Ok(None);
    };
    let client_address = ildcp
        .string("clientAddress")?
        .filter(|address| is_valid_ilp_address(address))
        .ok_or_else(|| ildcp.error("clientAddress", "must be a valid ILP address"))?;
    let asset_code = ildcp
        .string("assetCode")?
        .filter(|code| !code.is_empty() && code.len() <= 255)
        .ok_or_else(|| ildcp.error("assetCode", "must be a non-empty string"))?;
    let asset_scale = ildcp
        .get("assetScale")
        .and_then(Value::as_u64)
        .and_then(|scale| u8::try_from(scale).ok())
        .ok_or_else(|| ildcp.error("assetScale", "must be an integer from 0 to 255"))?;
    Ok(Some(IldcpInfo {
        client_address: client_address.to_owned(),
        asset_scale,
        asset_code: asset_code.to_owned(),
    }))
}

fn parse_incoming(incoming: &Options<'_>) -> Result<IncomingConfig> {
    let port = match incoming.get("port") {
        None => return Err(incoming.error("port", "is required")),
        Some(value) => value
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .ok_or_else(|| incoming.error("port", "must be an integer from 0 to 65535"))?,
    };
    let host = match incoming.string("host")? {
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        Some("localhost") => IpAddr::from([127, 0, 0, 1]),
        Some(host) => host
            .parse()
            .map_err(|_| incoming.error("host", "must be an IP address or 'localhost'"))?,
    };
    let (tls, client_certificate_required) = match incoming.object("tls")? {
        None => (None, false),
        Some(tls) => {
            let pem = |key: &str| -> Result<Vec<u8>> {
                tls.pem(key)?.ok_or_else(|| tls.error(key, "is required"))
            };
            let chain = tls::parse_certificates(&pem("cert")?)
                .map_err(|reason| tls.error("cert", reason))?;
            let key =
                tls::parse_private_key(&pem("key")?).map_err(|reason| tls.error("key", reason))?;
            let client_auth = match tls.pem("clientCa")? {
                None => ClientAuth::None,
                Some(ca) => ClientAuth::Required(
                    tls::parse_certificates(&ca)
                        .and_then(tls::client_ca_roots)
                        .map_err(|reason| tls.error("clientCa", reason))?,
                ),
            };
            let required = matches!(client_auth, ClientAuth::Required(_));
            let config = tls::server_config(chain, key, client_auth)
                .map_err(|reason| Error::invalid_option(tls.path.clone(), reason))?;
            (Some(config), required)
        }
    };
    let jwt_secrets = incoming.aliased_secrets("secret", "jwtSecret")?;
    let jwt_subject = incoming.jwt_subject()?;
    if jwt_subject.is_some() && jwt_secrets.is_empty() {
        return Err(incoming.error(
            "jwtSubject",
            "needs incoming.jwtSecret (only JWTs carry a subject)",
        ));
    }
    let credentials = IncomingCredentials {
        static_tokens: incoming.aliased_tokens("secretToken", "staticToken")?,
        jwt_secrets,
        jwt_subject,
        client_certificate_required,
    };
    if credentials.static_tokens.is_empty()
        && credentials.jwt_secrets.is_empty()
        && !credentials.client_certificate_required
    {
        return Err(Error::InvalidAuthOptions { side: "incoming" });
    }
    Ok(IncomingConfig {
        host,
        port,
        credentials,
        tls,
        jwt_max_lifetime: parse_jwt_max_lifetime(incoming)?,
        limits: parse_limits(incoming)?,
    })
}

/// `incoming.jwtMaxLifetime`: whole milliseconds, at least a second (a JWT's `exp` counts
/// seconds); one day by default.
fn parse_jwt_max_lifetime(incoming: &Options<'_>) -> Result<Duration> {
    match incoming.get("jwtMaxLifetime") {
        None => Ok(crate::auth::DEFAULT_JWT_MAX_LIFETIME),
        Some(value) => value
            .as_u64()
            .filter(|ms| (1000..=MAX_TIMEOUT_MS as u64).contains(ms))
            .map(Duration::from_millis)
            .ok_or_else(|| {
                incoming.error(
                    "jwtMaxLifetime",
                    "must be an integer number of milliseconds from 1000 to 2147483647",
                )
            }),
    }
}

/// True when `token` begins or ends with whitespace.
fn is_padded(token: &[u8]) -> bool {
    let padded = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_whitespace());
    padded(token.first()) || padded(token.last())
}

/// `incoming.maxConnections`, `incoming.headersTimeout`, `incoming.bodyTimeout` (milliseconds).
fn parse_limits(incoming: &Options<'_>) -> Result<ConnectionLimits> {
    let defaults = ConnectionLimits::default();
    let max_connections = incoming.count("maxConnections", defaults.max_connections)?;
    let timeout = |key: &str, default: Duration| -> Result<Duration> {
        let ms = incoming.millis(
            key,
            |ms| (1.0..=MAX_TIMEOUT_MS).contains(&ms),
            "must be a number of milliseconds from 1 to 2147483647",
        )?;
        Ok(ms.map_or(default, |ms| Duration::from_millis(ms as u64)))
    };
    Ok(ConnectionLimits {
        max_connections,
        headers_timeout: timeout("headersTimeout", defaults.headers_timeout)?,
        body_timeout: timeout("bodyTimeout", defaults.body_timeout)?,
        max_handler_calls: incoming.count("maxHandlerCalls", defaults.max_handler_calls)?,
        max_handler_calls_per_connection: incoming.count(
            "maxHandlerCallsPerConnection",
            defaults.max_handler_calls_per_connection,
        )?,
    })
}

fn parse_outgoing(outgoing: &Options<'_>, incoming_port: u16) -> Result<OutgoingConfig> {
    let jwt_secret = outgoing.aliased_secret("secret", "jwtSecret")?;
    let static_token = outgoing.aliased_secret("secretToken", "staticToken")?;
    let bearer = !outgoing.is_set("secret") && !outgoing.is_set("secretToken");
    let tls_options = outgoing.object("tls")?;
    let client_certificate = match &tls_options {
        None => None,
        Some(tls) => parse_client_certificate(tls)?,
    };
    let subject = outgoing.jwt_subject()?;
    if subject.is_some() && jwt_secret.is_none() {
        return Err(outgoing.error(
            "jwtSubject",
            "needs outgoing.jwtSecret (only JWTs carry a subject)",
        ));
    }
    let credential = match (jwt_secret, static_token) {
        (Some(secret), _) => OutgoingCredential::Jwt {
            secret,
            lifetime_secs: jwt_lifetime_secs(outgoing)?,
            subject,
        },
        (None, Some(token)) => {
            let key = if outgoing.is_set("secretToken") {
                "secretToken"
            } else {
                "staticToken"
            };
            if is_padded(token.expose()) {
                return Err(outgoing.error(key, "must not begin or end with whitespace"));
            }
            let printable = token.expose().iter().all(|b| (0x20..0x7f).contains(b));
            let value = authorization_value(bearer, token.expose())
                .ok()
                .filter(|_| printable)
                .ok_or_else(|| {
                    outgoing.error(
                        key,
                        "must contain printable ASCII characters only (it is sent in a header)",
                    )
                })?;
            OutgoingCredential::Static(value)
        }
        (None, None) if client_certificate.is_some() => OutgoingCredential::ClientCertificateOnly,
        (None, None) => return Err(Error::InvalidAuthOptions { side: "outgoing" }),
    };

    let name = match outgoing.string("name")? {
        None | Some("") => HeaderValue::from(incoming_port),
        Some(name) => HeaderValue::from_str(name)
            .ok()
            .filter(|_| name.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                outgoing.error(
                    "name",
                    "must contain visible ASCII characters only (it is sent in a header)",
                )
            })?,
    };
    let http2_max_requests_per_session = match outgoing.get("http2MaxRequestsPerSession") {
        None => None,
        Some(value) => Some(value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            outgoing.error("http2MaxRequestsPerSession", "must be a positive integer")
        })?),
    };
    let http2 = outgoing.bool("http2")?.unwrap_or(false);

    let extra_ca = match &tls_options {
        None => Vec::new(),
        Some(tls) => match tls.pem("ca")? {
            None => Vec::new(),
            Some(ca) => tls::parse_certificates(&ca).map_err(|reason| tls.error("ca", reason))?,
        },
    };
    let alpn: &[&[u8]] = if http2 { &[tls::ALPN_H2] } else { &[] };
    let tls = tls::client_config(&extra_ca, client_certificate.as_ref(), alpn)
        .map_err(|reason| outgoing.error("tls.ca", reason))?;
    Ok(OutgoingConfig {
        tls,
        extra_ca_certificates: extra_ca.len(),
        presents_client_certificate: client_certificate.is_some(),
        content_type: parse_content_type(outgoing)?,
        credential,
        bearer,
        name,
        send_ilp_destination: outgoing.bool("sendIlpDestination")?.unwrap_or(false),
        http2,
        http2_max_requests_per_session,
        max_connections: outgoing.count("maxConnections", DEFAULT_OUTGOING_MAX_CONNECTIONS)?,
        idle_timeout: outgoing
            .millis(
                "idleTimeout",
                |ms| (1.0..=MAX_TIMEOUT_MS).contains(&ms),
                "must be a number of milliseconds from 1 to 2147483647",
            )?
            .map_or(DEFAULT_OUTGOING_IDLE_TIMEOUT, |ms| {
                Duration::from_millis(ms as u64)
            }),
    })
}

/// `outgoing.tls.cert` and `outgoing.tls.key` (both or neither): the client certificate chain
/// and key presented for mutual TLS, checked to belong together.
fn parse_client_certificate(tls: &Options<'_>) -> Result<Option<ClientCertificate>> {
    let (cert, key) = match (tls.pem("cert")?, tls.pem("key")?) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(tls.error("key", format!("is required with {}", tls.name("cert"))))
        }
        (None, Some(_)) => {
            return Err(tls.error("cert", format!("is required with {}", tls.name("key"))))
        }
        (Some(cert), Some(key)) => (cert, key),
    };
    let chain = tls::parse_certificates(&cert).map_err(|reason| tls.error("cert", reason))?;
    let key = tls::parse_private_key(&key).map_err(|reason| tls.error("key", reason))?;
    ClientCertificate::new(chain, key)
        .map(Some)
        .map_err(|e| match e {
            ClientCertificateError::KeyMismatch => tls.error(
                "key",
                format!("does not match the certificate in {}", tls.name("cert")),
            ),
            ClientCertificateError::UnusableKey => {
                tls.error("key", "is not a private key rustls can sign with")
            }
        })
}

/// `outgoing.contentType`: exactly one of the two ILP-over-HTTP media types.
fn parse_content_type(outgoing: &Options<'_>) -> Result<ContentType> {
    match outgoing.string("contentType")? {
        None => Ok(ContentType::default()),
        Some(value) => ContentType::from_media_type(value).ok_or_else(|| {
            outgoing.error(
                "contentType",
                format!(
                    "must be '{}' (RFC 35) or '{}' (ilp-plugin-http 1.6.1, the default)",
                    ContentType::OctetStream.media_type(),
                    ContentType::IlpOctetStream.media_type()
                ),
            )
        }),
    }
}

/// Non-ASCII characters in the path and query are percent-encoded as UTF-8 (as WHATWG URLs,
/// hence node-fetch and 1.6.1, send them); a non-ASCII host must be given in punycode.
fn percent_encode_non_ascii(url: &str, url_error: &dyn Fn(&str) -> Error) -> Result<String> {
    if url.is_ascii() {
        return Ok(url.to_owned());
    }
    let (scheme, authority, rest) = split_authority(url);
    if !scheme.is_ascii() || !authority.is_ascii() {
        return Err(url_error(
            "has a non-ASCII host: use its punycode (xn--) form",
        ));
    }
    let mut encoded = String::with_capacity(url.len() * 3);
    encoded.push_str(scheme);
    encoded.push_str(authority);
    for byte in rest.bytes() {
        if byte.is_ascii() {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(encoded)
}

fn parse_url(url: &str, url_error: &dyn Fn(&str) -> Error) -> Result<Uri> {
    let uri: Uri = url.parse().map_err(|_| url_error("is not a valid URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(url_error("must be an absolute http:// or https:// URL"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(url_error("has no host"));
    }
    if !has_valid_port(&uri) {
        return Err(url_error("has an invalid port"));
    }
    Ok(uri)
}

/// `outgoing.tokenExpiry` (legacy, wins when set and non-zero) or `outgoing.jwtExpiry`, in
/// milliseconds; 0 or absent means 30 s. JWT lifetimes are whole seconds, as in 1.6.1.
fn jwt_lifetime_secs(outgoing: &Options<'_>) -> Result<u64> {
    let millis = |key: &str| -> Result<Option<u64>> {
        let ms = outgoing.millis(
            key,
            |ms| (0.0..=1e15).contains(&ms),
            "must be a non-negative number of milliseconds",
        )?;
        Ok(ms.map(|ms| ms as u64))
    };
    let (key, millis) = match (millis("tokenExpiry")?, millis("jwtExpiry")?) {
        (Some(ms), _) if ms > 0 => ("tokenExpiry", ms),
        (_, Some(ms)) if ms > 0 => ("jwtExpiry", ms),
        _ => ("jwtExpiry", DEFAULT_JWT_EXPIRY_MS),
    };
    if millis < 1000 {
        return Err(outgoing.error(
            key,
            "must be at least 1000 (milliseconds), or 0 for the default",
        ));
    }
    Ok(millis / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Config> {
        parse_options(&value.to_string())
    }

    fn base() -> Value {
        json!({
            "incoming": { "port": 4000, "staticToken": "in" },
            "outgoing": { "url": "http://127.0.0.1:4001/ilp?x=1", "staticToken": "out" }
        })
    }

    fn error_of(value: Value) -> String {
        parse(value).expect_err("should be rejected").to_string()
    }

    #[test]
    fn defaults() {
        let config = parse(base()).unwrap();
        assert_eq!(config.incoming.port, 4000);
        assert_eq!(config.incoming.host.to_string(), "::");
        assert_eq!(config.outgoing.name, "4000");
        assert!(config.outgoing.bearer);
        assert!(!config.outgoing.http2);
        assert!(!config.outgoing.send_ilp_destination);
        match config.routing {
            Routing::Bilateral { url } => {
                assert_eq!(url.path_and_query().unwrap().as_str(), "/ilp?x=1")
            }
            Routing::Multilateral { .. } => panic!("expected bilateral routing"),
        }
    }

    #[test]
    fn legacy_names_win() {
        let mut options = base();
        options["incoming"]["secretToken"] = json!("legacy");
        options["outgoing"] = json!({
            "url": "http://a.example/", "secret": "s1", "jwtSecret": "s2",
            "tokenExpiry": 60000, "jwtExpiry": 10000
        });
        let config = parse(options).unwrap();
        assert_eq!(
            config.incoming.credentials.static_tokens[0].expose(),
            b"legacy"
        );
        assert!(!config.outgoing.bearer);
        match config.outgoing.credential {
            OutgoingCredential::Jwt {
                secret,
                lifetime_secs,
                subject: None,
            } => {
                assert_eq!(secret.expose(), b"s1");
                assert_eq!(lifetime_secs, 60);
            }
            other => panic!("expected a JWT credential without subject, got {other:?}"),
        }
    }

    #[test]
    fn non_ascii_url_path_is_percent_encoded_and_host_refused() {
        let mut options = base();
        options["outgoing"]["url"] = json!("http://peer.example:8080/caf\u{e9}?q=\u{e9}");
        match parse(options).unwrap().routing {
            Routing::Bilateral { url } => {
                assert_eq!(
                    url.to_string(),
                    "http://peer.example:8080/caf%C3%A9?q=%C3%A9"
                )
            }
            Routing::Multilateral { .. } => panic!("expected bilateral routing"),
        }
        let mut options = base();
        options["outgoing"]["url"] = json!("http://b\u{fc}cher.example/ilp");
        assert!(error_of(options).contains("outgoing.url"));
    }

    #[test]
    fn non_ascii_multilateral_template_keeps_its_delimiter() {
        let mut options = base();
        options["multi"] = json!(true);
        options["outgoing"]["url"] = json!("http://peer.example/caf\u{e9}/%/x\u{e9}");
        match parse(options).unwrap().routing {
            Routing::Multilateral { url_template, .. } => assert_eq!(
                url_template.expand("bob"),
                "http://peer.example/caf%C3%A9/bob/x%C3%A9"
            ),
            Routing::Bilateral { .. } => panic!("expected multilateral routing"),
        }
        let mut options = base();
        options["multi"] = json!(true);
        options["multiDelimiter"] = json!("\u{a7}");
        options["outgoing"]["url"] = json!("http://peer.example/\u{a7}/ilp");
        match parse(options).unwrap().routing {
            Routing::Multilateral { url_template, .. } => {
                assert_eq!(url_template.expand("bob"), "http://peer.example/bob/ilp")
            }
            Routing::Bilateral { .. } => panic!("expected multilateral routing"),
        }
    }

    #[test]
    fn connection_limits_default_and_parse() {
        assert_eq!(
            parse(base()).unwrap().incoming.limits,
            ConnectionLimits::default()
        );
        let mut options = base();
        options["incoming"]["maxConnections"] = json!(20);
        options["incoming"]["headersTimeout"] = json!(1500);
        options["incoming"]["bodyTimeout"] = json!(250.7);
        let limits = parse(options).unwrap().incoming.limits;
        assert_eq!(limits.max_connections, 20);
        assert_eq!(limits.headers_timeout, Duration::from_millis(1500));
        assert_eq!(limits.body_timeout, Duration::from_millis(250));
        for (key, bad) in [
            ("maxConnections", json!(0)),
            ("maxConnections", json!(2.5)),
            ("maxConnections", json!("100")),
            ("maxConnections", json!(2_000_000)),
            ("headersTimeout", json!(0)),
            ("headersTimeout", json!(-5)),
            ("bodyTimeout", json!("10s")),
            ("bodyTimeout", json!(3e9)),
        ] {
            let mut options = base();
            options["incoming"][key] = bad.clone();
            let message = error_of(options);
            assert!(
                message.contains(&format!("incoming.{key}")),
                "{key}={bad}: {message}"
            );
        }
    }

    #[test]
    fn content_type_defaults_to_1_6_1_and_takes_rfc_35() {
        assert_eq!(
            parse(base()).unwrap().outgoing.content_type,
            ContentType::IlpOctetStream
        );
        let mut options = base();
        options["outgoing"]["contentType"] = json!("application/octet-stream");
        assert_eq!(
            parse(options).unwrap().outgoing.content_type,
            ContentType::OctetStream
        );
        for bad in [
            json!("text/plain"),
            json!("Application/Octet-Stream"),
            json!(""),
            json!(true),
        ] {
            let mut options = base();
            options["outgoing"]["contentType"] = bad.clone();
            let message = error_of(options);
            assert!(message.contains("outgoing.contentType"), "{bad}: {message}");
        }
    }

    #[test]
    fn incoming_credentials_take_arrays_and_legacy_names_win() {
        let mut options = base();
        options["incoming"] = json!({
            "port": 1, "staticToken": ["t1", "t2"], "jwtSecret": "s1",
            "secret": ["legacy-1", "legacy-2", "legacy-3"]
        });
        let credentials = parse(options).unwrap().incoming.credentials;
        let tokens: Vec<&[u8]> = credentials
            .static_tokens
            .iter()
            .map(Secret::expose)
            .collect();
        assert_eq!(tokens, vec![b"t1".as_slice(), b"t2".as_slice()]);
        assert_eq!(credentials.jwt_secrets.len(), 3);
        assert_eq!(credentials.jwt_secrets[0].expose(), b"legacy-1");
        assert_eq!(credentials.jwt_subject, None);
        assert!(!credentials.client_certificate_required);
    }

    #[test]
    fn bad_credential_arrays_name_the_option_and_never_the_secret() {
        for (key, value, option) in [
            ("staticToken", json!([]), "incoming.staticToken"),
            ("secretToken", json!([]), "incoming.secretToken"),
            ("jwtSecret", json!([]), "incoming.jwtSecret"),
            (
                "staticToken",
                json!(["s3cret", 5]),
                "incoming.staticToken[1]",
            ),
            ("staticToken", json!([""]), "incoming.staticToken[0]"),
            (
                "secret",
                json!(["s3cret", ["nested"]]),
                "incoming.secret[1]",
            ),
            ("jwtSecret", json!({ "0": "s3cret" }), "incoming.jwtSecret"),
        ] {
            let mut options = base();
            options["incoming"] = json!({ "port": 1, "staticToken": "ok" });
            options["incoming"][key] = value.clone();
            let message = error_of(options);
            assert!(message.contains(option), "{key}={value}: {message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
        let mut options = base();
        options["outgoing"]["staticToken"] = json!(["a", "b"]);
        assert!(error_of(options).contains("outgoing.staticToken"));
    }

    #[test]
    fn jwt_subjects() {
        let mut options = base();
        options["incoming"] = json!({ "port": 1, "jwtSecret": "s", "jwtSubject": "peer" });
        options["outgoing"] = json!({ "url": "http://a/", "jwtSecret": "t", "jwtSubject": "us" });
        let config = parse(options).unwrap();
        assert_eq!(
            config.incoming.credentials.jwt_subject.as_deref(),
            Some("peer")
        );
        assert!(matches!(
            config.outgoing.credential,
            OutgoingCredential::Jwt { subject: Some(ref s), .. } if s == "us"
        ));
        let cases = [
            (
                "incoming",
                json!({ "port": 1, "staticToken": "a", "jwtSubject": "x" }),
                "incoming.jwtSubject",
            ),
            (
                "incoming",
                json!({ "port": 1, "jwtSecret": "s", "jwtSubject": "" }),
                "incoming.jwtSubject",
            ),
            (
                "incoming",
                json!({ "port": 1, "jwtSecret": "s", "jwtSubject": 5 }),
                "incoming.jwtSubject",
            ),
            (
                "outgoing",
                json!({ "url": "http://a/", "staticToken": "b", "jwtSubject": "x" }),
                "outgoing.jwtSubject",
            ),
            (
                "outgoing",
                json!({ "url": "http://a/", "jwtSecret": "s", "jwtSubject": "a b" }),
                "outgoing.jwtSubject",
            ),
        ];
        for (side, patch, option) in cases {
            let mut options = base();
            options[side] = patch.clone();
            let message = error_of(options);
            assert!(message.contains(option), "{patch}: {message}");
        }
    }

    #[test]
    fn mutual_tls_options() {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert, key) = (certified.cert.pem(), certified.signing_key.serialize_pem());
        let other_key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .unwrap()
            .signing_key
            .serialize_pem();
        // A server requiring client certificates needs no token; a client presenting one either.
        let mut options = base();
        options["incoming"] =
            json!({ "port": 1, "tls": { "cert": cert, "key": key, "clientCa": cert } });
        options["outgoing"] = json!({ "url": "https://a/", "tls": { "cert": cert, "key": key } });
        let config = parse(options).unwrap();
        assert!(config.incoming.credentials.client_certificate_required);
        assert!(config.incoming.credentials.static_tokens.is_empty());
        assert!(matches!(
            config.outgoing.credential,
            OutgoingCredential::ClientCertificateOnly
        ));
        assert!(config.outgoing.presents_client_certificate);
        let cases = [
            (
                "incoming",
                json!({ "port": 1, "tls": { "cert": cert, "key": key } }),
                "invalid auth options",
            ),
            (
                "incoming",
                json!({ "port": 1, "tls": { "cert": cert, "key": key, "clientCa": "/nonexistent/ca.pem" } }),
                "incoming.tls.clientCa",
            ),
            (
                "incoming",
                json!({ "port": 1, "tls": { "clientCa": cert } }),
                "incoming.tls.cert",
            ),
            (
                "outgoing",
                json!({ "url": "https://a/" }),
                "invalid auth options",
            ),
            (
                "outgoing",
                json!({ "url": "https://a/", "tls": { "cert": cert } }),
                "outgoing.tls.key",
            ),
            (
                "outgoing",
                json!({ "url": "https://a/", "tls": { "key": key } }),
                "outgoing.tls.cert",
            ),
            (
                "outgoing",
                json!({ "url": "https://a/", "tls": { "cert": cert, "key": other_key } }),
                "outgoing.tls.key",
            ),
            (
                "outgoing",
                json!({ "url": "https://a/", "tls": { "cert": "junk.pem", "key": key } }),
                "outgoing.tls.cert",
            ),
        ];
        for (side, patch, expected) in cases {
            let mut options = base();
            options[side] = patch;
            let message = error_of(options);
            assert!(
                message.contains(expected),
                "{message} should name {expected}"
            );
            assert!(!message.contains("PRIVATE KEY"), "{message}");
        }
    }

    #[test]
    fn jwt_expiry_zero_means_default() {
        let mut options = base();
        options["outgoing"]["jwtSecret"] = json!("s");
        options["outgoing"]["jwtExpiry"] = json!(0);
        let config = parse(options).unwrap();
        assert!(matches!(
            config.outgoing.credential,
            OutgoingCredential::Jwt {
                lifetime_secs: 30,
                ..
            }
        ));
    }

    #[test]
    fn errors_name_the_option() {
        let cases: Vec<(Value, &str)> = vec![
            (json!(null), "options"),
            (json!({ "outgoing": base()["outgoing"] }), "incoming"),
            (json!({ "incoming": base()["incoming"] }), "outgoing"),
            (
                json!({ "incoming": { "staticToken": "x" }, "outgoing": base()["outgoing"] }),
                "incoming.port",
            ),
            (
                json!({ "incoming": { "port": 70000, "staticToken": "x" }, "outgoing": base()["outgoing"] }),
                "incoming.port",
            ),
            (
                json!({ "incoming": { "port": 1.5, "staticToken": "x" }, "outgoing": base()["outgoing"] }),
                "incoming.port",
            ),
            (
                json!({ "incoming": { "port": "80", "staticToken": "x" }, "outgoing": base()["outgoing"] }),
                "incoming.port",
            ),
            (
                json!({ "incoming": { "port": 1, "staticToken": 5 }, "outgoing": base()["outgoing"] }),
                "incoming.staticToken",
            ),
            (
                json!({ "incoming": { "port": 1, "staticToken": "x", "host": "nope" }, "outgoing": base()["outgoing"] }),
                "incoming.host",
            ),
            (
                json!({ "incoming": base()["incoming"], "outgoing": { "staticToken": "x" } }),
                "outgoing.url",
            ),
            (
                json!({ "incoming": base()["incoming"], "outgoing": { "url": "not a url", "staticToken": "x" } }),
                "outgoing.url",
            ),
            (
                json!({ "incoming": base()["incoming"], "outgoing": { "url": "ftp://a/", "staticToken": "x" } }),
                "outgoing.url",
            ),
            (
                json!({ "incoming": base()["incoming"], "outgoing": { "url": "http://a/", "jwtSecret": 1 } }),
                "outgoing.jwtSecret",
            ),
            (
                json!({ "incoming": base()["incoming"], "outgoing": { "url": "http://a/", "jwtSecret": "s", "jwtExpiry": -5 } }),
                "outgoing.jwtExpiry",
            ),
            (
                json!({ "incoming": base()["incoming"], "outgoing": { "url": "http://a/", "jwtSecret": "s", "jwtExpiry": 500 } }),
                "outgoing.jwtExpiry",
            ),
            (
                json!({ "incoming": base()["incoming"], "outgoing": { "url": "http://a/", "staticToken": "x", "http2": "yes" } }),
                "outgoing.http2",
            ),
            (
                json!({ "incoming": base()["incoming"], "outgoing": { "url": "http://a/", "staticToken": "x", "name": "a\nb" } }),
                "outgoing.name",
            ),
            (
                json!({ "incoming": base()["incoming"], "outgoing": { "url": "http://a/", "staticToken": "a\r\nX: y" } }),
                "outgoing.staticToken",
            ),
            (
                json!({ "multiDelimiter": "", "incoming": base()["incoming"], "outgoing": base()["outgoing"] }),
                "multiDelimiter",
            ),
        ];
        for (options, option) in cases {
            let message = error_of(options.clone());
            assert!(
                message.contains(option),
                "{options}: message {message:?} should name {option}"
            );
        }
    }

    #[test]
    fn multilateral_options() {
        let mut options = base();
        options["multi"] = json!(true);
        options["multiDelimiter"] = json!("^");
        options["outgoing"]["url"] = json!("http://localhost:^");
        options["ildcp"] =
            json!({ "clientAddress": "test.parent", "assetCode": "XRP", "assetScale": 9 });
        match parse(options).unwrap().routing {
            Routing::Multilateral {
                url_template,
                ildcp,
            } => {
                assert_eq!(url_template.expand("7001"), "http://localhost:7001");
                assert_eq!(ildcp.unwrap().client_address, "test.parent");
            }
            Routing::Bilateral { .. } => panic!("expected multilateral routing"),
        }
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({ "multi": true, "outgoing": { "url": "http://a:^/" } }),
                "outgoing.url",
            ),
            (
                json!({ "multi": true, "outgoing": { "url": "http://a/%" } , "ildcp": 5 }),
                "ildcp",
            ),
            (
                json!({ "multi": true, "outgoing": { "url": "http://a/%" }, "ildcp": { "clientAddress": "nope", "assetCode": "X", "assetScale": 1 } }),
                "ildcp.clientAddress",
            ),
            (
                json!({ "multi": true, "outgoing": { "url": "http://a/%" }, "ildcp": { "clientAddress": "g.a", "assetCode": "", "assetScale": 1 } }),
                "ildcp.assetCode",
            ),
            (
                json!({ "multi": true, "outgoing": { "url": "http://a/%" }, "ildcp": { "clientAddress": "g.a", "assetCode": "X", "assetScale": 256 } }),
                "ildcp.assetScale",
            ),
            (json!({ "multi": "yes" }), "multi"),
        ];
        for (patch, option) in cases {
            let mut options = base();
            for (key, value) in patch.as_object().unwrap() {
                if key == "outgoing" {
                    options["outgoing"]["url"] = value["url"].clone();
                } else {
                    options[key] = value.clone();
                }
            }
            let message = error_of(options.clone());
            assert!(
                message.contains(option),
                "{options}: {message:?} should name {option}"
            );
        }
    }

    #[test]
    fn missing_auth_keeps_the_original_message() {
        let mut options = base();
        options["incoming"] = json!({ "port": 1 });
        assert!(error_of(options).starts_with("invalid auth options"));
        let mut options = base();
        options["outgoing"] = json!({ "url": "http://a/", "staticToken": "" });
        assert!(error_of(options).starts_with("invalid auth options"));
    }

    #[test]
    fn secrets_never_reach_messages() {
        let mut options = base();
        options["outgoing"]["staticToken"] = json!("s3cret\n");
        assert!(!error_of(options).contains("s3cret"));
    }
}

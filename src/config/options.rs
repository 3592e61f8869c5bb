//! The JS options object (as JSON) -> a validated `Config`.
//!
//! The JS wrapper passes `JSON.stringify({ multi, multiDelimiter, ildcp, incoming, outgoing })`,
//! so this module is plain Rust. Legacy names (`secret`, `secretToken`, `tokenExpiry`) are
//! resolved here with 1.6.1's precedence: a legacy value that is set wins. Every problem is an
//! `Error::InvalidOption` naming the option; secrets are never part of a message.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use http::{HeaderValue, Uri};
use serde_json::{Map, Value};

use crate::config::secret::Secret;
use crate::config::tls;
use crate::config::url::{has_valid_port, split_authority, UrlTemplate};
use crate::config::{
    Config, ConnectionLimits, IncomingConfig, OutgoingConfig, OutgoingCredential, Routing,
    DEFAULT_JWT_EXPIRY_MS,
};
use crate::error::{Error, Result};
use crate::protocol::ildcp::IldcpInfo;
use crate::protocol::packet::is_valid_ilp_address;

type Object = Map<String, Value>;

/// Parses and validates the options JSON.
pub fn parse_options(json: &str) -> Result<Config> {
    let value: Value = serde_json::from_str(json)
        .map_err(|_| Error::invalid_option("options", "must be a plain object"))?;
    let root = value
        .as_object()
        .ok_or_else(|| Error::invalid_option("options", "must be an object"))?;

    let incoming = parse_incoming(required_object(root, "incoming")?)?;
    let outgoing_options = required_object(root, "outgoing")?;
    let outgoing = parse_outgoing(outgoing_options, incoming.port)?;
    let url = optional_string(outgoing_options, "url", "outgoing.url")?
        .ok_or_else(|| Error::invalid_option("outgoing.url", "is required"))?;
    let delimiter = optional_string(root, "multiDelimiter", "multiDelimiter")?.unwrap_or("%");
    if delimiter.is_empty() {
        return Err(Error::invalid_option("multiDelimiter", "must not be empty"));
    }
    let routing = if optional_bool(root, "multi", "multi")?.unwrap_or(false) {
        let ildcp = parse_ildcp(root)?;
        Routing::Multilateral {
            url_template: parse_url_template(url, delimiter)?,
            ildcp,
        }
    } else {
        Routing::Bilateral {
            url: parse_url(&percent_encode_non_ascii(url)?)?,
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
fn parse_url_template(url: &str, delimiter: &str) -> Result<UrlTemplate> {
    // Percent-encoding adds `%`, the default delimiter: mark the delimiter's place with a NUL
    // (which no valid URL holds) before encoding, and split there.
    if url.contains('\0') {
        return Err(Error::invalid_option("outgoing.url", "is not a valid URL"));
    }
    let encoded = percent_encode_non_ascii(&url.replacen(delimiter, "\0", 1))?;
    let template = UrlTemplate::new(&encoded, "\0");
    parse_url(&template.expand("a")).or_else(|_| parse_url(&template.expand("1")))?;
    Ok(template)
}

fn parse_ildcp(root: &Object) -> Result<Option<IldcpInfo>> {
    let ildcp = match root.get("ildcp") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(ildcp)) => ildcp,
        Some(_) => return Err(Error::invalid_option("ildcp", "must be an object")),
    };
    let client_address = optional_string(ildcp, "clientAddress", "ildcp.clientAddress")?
        .filter(|address| is_valid_ilp_address(address))
        .ok_or_else(|| {
            Error::invalid_option("ildcp.clientAddress", "must be a valid ILP address")
        })?;
    let asset_code = optional_string(ildcp, "assetCode", "ildcp.assetCode")?
        .filter(|code| !code.is_empty() && code.len() <= 255)
        .ok_or_else(|| Error::invalid_option("ildcp.assetCode", "must be a non-empty string"))?;
    let asset_scale = ildcp
        .get("assetScale")
        .and_then(Value::as_u64)
        .and_then(|scale| u8::try_from(scale).ok())
        .ok_or_else(|| {
            Error::invalid_option("ildcp.assetScale", "must be an integer from 0 to 255")
        })?;
    Ok(Some(IldcpInfo {
        client_address: client_address.to_owned(),
        asset_scale,
        asset_code: asset_code.to_owned(),
    }))
}

fn parse_incoming(incoming: &Object) -> Result<IncomingConfig> {
    let port = match incoming.get("port") {
        None | Some(Value::Null) => {
            return Err(Error::invalid_option("incoming.port", "is required"));
        }
        Some(value) => value
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .ok_or_else(|| {
                Error::invalid_option("incoming.port", "must be an integer from 0 to 65535")
            })?,
    };
    let host = match optional_string(incoming, "host", "incoming.host")? {
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        Some("localhost") => IpAddr::from([127, 0, 0, 1]),
        Some(host) => host.parse().map_err(|_| {
            Error::invalid_option("incoming.host", "must be an IP address or 'localhost'")
        })?,
    };
    let jwt_secret = aliased_secret(incoming, "secret", "jwtSecret", "incoming")?;
    let static_token = aliased_secret(incoming, "secretToken", "staticToken", "incoming")?;
    if jwt_secret.is_none() && static_token.is_none() {
        return Err(Error::InvalidAuthOptions { side: "incoming" });
    }
    let tls = match optional_object(incoming, "tls", "incoming.tls")? {
        None => None,
        Some(tls) => {
            let cert = optional_string(tls, "cert", "incoming.tls.cert")?
                .ok_or_else(|| Error::invalid_option("incoming.tls.cert", "is required"))?;
            let key = optional_string(tls, "key", "incoming.tls.key")?
                .ok_or_else(|| Error::invalid_option("incoming.tls.key", "is required"))?;
            Some(tls::server_config(
                &tls::read_pem(cert, "incoming.tls.cert")?,
                &tls::read_pem(key, "incoming.tls.key")?,
            )?)
        }
    };
    Ok(IncomingConfig {
        host,
        port,
        jwt_secret,
        static_token,
        tls,
        limits: parse_limits(incoming)?,
    })
}

/// `incoming.maxConnections`, `incoming.headersTimeout`, `incoming.bodyTimeout` (milliseconds).
fn parse_limits(incoming: &Object) -> Result<ConnectionLimits> {
    let defaults = ConnectionLimits::default();
    let max_connections = match incoming.get("maxConnections") {
        None | Some(Value::Null) => defaults.max_connections,
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=MAX_CONNECTIONS_LIMIT).contains(n))
            .map(|n| n as usize)
            .ok_or_else(|| {
                Error::invalid_option(
                    "incoming.maxConnections",
                    format!("must be an integer from 1 to {MAX_CONNECTIONS_LIMIT}"),
                )
            })?,
    };
    let timeout = |key: &'static str, default: Duration| -> Result<Duration> {
        match incoming.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => value
                .as_f64()
                .filter(|ms| ms.is_finite() && *ms >= 1.0 && *ms <= MAX_TIMEOUT_MS)
                .map(|ms| Duration::from_millis(ms as u64))
                .ok_or_else(|| {
                    Error::invalid_option(
                        format!("incoming.{key}"),
                        "must be a number of milliseconds from 1 to 2147483647",
                    )
                }),
        }
    };
    Ok(ConnectionLimits {
        max_connections,
        headers_timeout: timeout("headersTimeout", defaults.headers_timeout)?,
        body_timeout: timeout("bodyTimeout", defaults.body_timeout)?,
    })
}

/// Tokio's semaphore holds at most `usize::MAX >> 3` permits; a million is plenty.
const MAX_CONNECTIONS_LIMIT: u64 = 1_000_000;
/// Node's largest timer delay.
const MAX_TIMEOUT_MS: f64 = 2_147_483_647.0;

fn parse_outgoing(outgoing: &Object, incoming_port: u16) -> Result<OutgoingConfig> {
    let jwt_secret = aliased_secret(outgoing, "secret", "jwtSecret", "outgoing")?;
    let static_token = aliased_secret(outgoing, "secretToken", "staticToken", "outgoing")?;
    let bearer = !is_set(outgoing, "secret") && !is_set(outgoing, "secretToken");
    let credential = match (jwt_secret, static_token) {
        (Some(secret), _) => OutgoingCredential::Jwt {
            secret,
            lifetime_secs: jwt_lifetime_secs(outgoing)?,
        },
        (None, Some(token)) => {
            let option = if is_set(outgoing, "secretToken") {
                "outgoing.secretToken"
            } else {
                "outgoing.staticToken"
            };
            if HeaderValue::from_bytes(token.expose()).is_err()
                || !token.expose().iter().all(|b| (0x20..0x7f).contains(b))
            {
                return Err(Error::invalid_option(
                    option,
                    "must contain printable ASCII characters only (it is sent in a header)",
                ));
            }
            OutgoingCredential::Static(token)
        }
        (None, None) => return Err(Error::InvalidAuthOptions { side: "outgoing" }),
    };

    let name = match optional_string(outgoing, "name", "outgoing.name")? {
        None | Some("") => incoming_port.to_string(),
        Some(name) => {
            if !name.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::invalid_option(
                    "outgoing.name",
                    "must contain visible ASCII characters only (it is sent in a header)",
                ));
            }
            name.to_owned()
        }
    };
    let http2_max_requests_per_session = match outgoing.get("http2MaxRequestsPerSession") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            Error::invalid_option(
                "outgoing.http2MaxRequestsPerSession",
                "must be a positive integer",
            )
        })?),
    };

    let tls_ca = match optional_object(outgoing, "tls", "outgoing.tls")? {
        None => Vec::new(),
        Some(tls) => match optional_string(tls, "ca", "outgoing.tls.ca")? {
            None => Vec::new(),
            Some(ca) => {
                tls::parse_certificates(&tls::read_pem(ca, "outgoing.tls.ca")?, "outgoing.tls.ca")?
            }
        },
    };
    Ok(OutgoingConfig {
        tls_ca,
        credential,
        bearer,
        name,
        send_ilp_destination: optional_bool(
            outgoing,
            "sendIlpDestination",
            "outgoing.sendIlpDestination",
        )?
        .unwrap_or(false),
        http2: optional_bool(outgoing, "http2", "outgoing.http2")?.unwrap_or(false),
        http2_max_requests_per_session,
    })
}

/// Non-ASCII characters in the path and query are percent-encoded as UTF-8 (as WHATWG URLs,
/// hence node-fetch and 1.6.1, send them); a non-ASCII host must be given in punycode.
fn percent_encode_non_ascii(url: &str) -> Result<String> {
    if url.is_ascii() {
        return Ok(url.to_owned());
    }
    let (scheme, authority, rest) = split_authority(url);
    if !scheme.is_ascii() || !authority.is_ascii() {
        return Err(Error::invalid_option(
            "outgoing.url",
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

fn parse_url(url: &str) -> Result<Uri> {
    let uri: Uri = url
        .parse()
        .map_err(|_| Error::invalid_option("outgoing.url", "is not a valid URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {}
        _ => {
            return Err(Error::invalid_option(
                "outgoing.url",
                "must be an absolute http:// or https:// URL",
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(Error::invalid_option("outgoing.url", "has no host"));
    }
    if !has_valid_port(&uri) {
        return Err(Error::invalid_option("outgoing.url", "has an invalid port"));
    }
    Ok(uri)
}

/// `outgoing.tokenExpiry` (legacy, wins when set and non-zero) or `outgoing.jwtExpiry`, in
/// milliseconds; 0 or absent means 30 s. JWT lifetimes are whole seconds, as in 1.6.1.
fn jwt_lifetime_secs(outgoing: &Object) -> Result<u64> {
    let legacy = optional_millis(outgoing, "tokenExpiry")?;
    let modern = optional_millis(outgoing, "jwtExpiry")?;
    let (option, millis) = match (legacy, modern) {
        (Some(ms), _) if ms > 0 => ("outgoing.tokenExpiry", ms),
        (_, Some(ms)) if ms > 0 => ("outgoing.jwtExpiry", ms),
        _ => ("outgoing.jwtExpiry", DEFAULT_JWT_EXPIRY_MS),
    };
    if millis < 1000 {
        return Err(Error::invalid_option(
            option,
            "must be at least 1000 (milliseconds), or 0 for the default",
        ));
    }
    Ok(millis / 1000)
}

fn optional_millis(object: &Object, key: &'static str) -> Result<Option<u64>> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|ms| ms.is_finite() && *ms >= 0.0 && *ms <= 1e15)
            .map(|ms| Some(ms as u64))
            .ok_or_else(|| {
                Error::invalid_option(
                    format!("outgoing.{key}"),
                    "must be a non-negative number of milliseconds",
                )
            }),
    }
}

/// A secret given under a legacy or a current name; the legacy one wins when it is a
/// non-empty string (1.6.1 reads `legacy || current`).
fn aliased_secret(
    object: &Object,
    legacy: &'static str,
    current: &'static str,
    side: &'static str,
) -> Result<Option<Secret>> {
    let legacy_value = optional_string(object, legacy, &format!("{side}.{legacy}"))?;
    let current_value = optional_string(object, current, &format!("{side}.{current}"))?;
    Ok(legacy_value
        .filter(|s| !s.is_empty())
        .or(current_value.filter(|s| !s.is_empty()))
        .map(Secret::new))
}

fn is_set(object: &Object, key: &str) -> bool {
    matches!(object.get(key), Some(Value::String(s)) if !s.is_empty())
}

fn required_object<'a>(object: &'a Object, key: &'static str) -> Result<&'a Object> {
    match object.get(key) {
        Some(Value::Object(inner)) => Ok(inner),
        None | Some(Value::Null) => Err(Error::invalid_option(key, "is required (an object)")),
        Some(_) => Err(Error::invalid_option(key, "must be an object")),
    }
}

fn optional_object<'a>(object: &'a Object, key: &str, option: &str) -> Result<Option<&'a Object>> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(Error::invalid_option(option, "must be an object")),
    }
}

fn optional_string<'a>(object: &'a Object, key: &str, option: &str) -> Result<Option<&'a str>> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::invalid_option(option, "must be a string")),
    }
}

fn optional_bool(object: &Object, key: &str, option: &str) -> Result<Option<bool>> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Error::invalid_option(option, "must be a boolean")),
    }
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
        assert_eq!(config.incoming.static_token.unwrap().expose(), b"legacy");
        assert!(!config.outgoing.bearer);
        match config.outgoing.credential {
            OutgoingCredential::Jwt {
                secret,
                lifetime_secs,
            } => {
                assert_eq!(secret.expose(), b"s1");
                assert_eq!(lifetime_secs, 60);
            }
            OutgoingCredential::Static(_) => panic!("expected a JWT credential"),
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

//! The properties the fuzz targets check (`fuzz/fuzz_targets/*.rs` call these), kept here so
//! that `cargo test` replays the committed corpus and crash reproducers against the same code.
//! Each function takes arbitrary bytes and panics when a property does not hold.

use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey};

use crate::auth::IncomingAuth;
use crate::config::secret::Secret;
use crate::config::url::UrlTemplate;
use crate::config::IncomingCredentials;
use crate::protocol::ildcp;
use crate::protocol::packet::{
    is_valid_ilp_address, parse_prepare, parse_reply, serialize_fulfill, serialize_prepare, Reply,
    MAX_DATA_LEN, MAX_PREPARE_LEN,
};
use crate::routing::child_segment;

/// Target `packet_reader`: the Prepare, reply and ILDCP readers never panic, a Prepare they
/// accept is valid and survives being written and read again unchanged.
pub fn packet_reader(data: &[u8]) {
    if let Ok(prepare) = parse_prepare(data) {
        assert!(is_valid_ilp_address(prepare.destination));
        assert!(prepare.data.len() <= MAX_DATA_LEN);
        let condition: &[u8; 32] = prepare
            .execution_condition
            .try_into()
            .expect("the condition is 32 bytes");
        let written = serialize_prepare(
            prepare.amount,
            prepare.expires_at,
            condition,
            prepare.destination,
            prepare.data,
        );
        assert!(written.len() <= MAX_PREPARE_LEN);
        assert_eq!(parse_prepare(&written), Ok(prepare));
    }
    match parse_reply(data) {
        Ok(Reply::Fulfill { fulfillment, data }) => {
            let fulfillment: &[u8; 32] =
                fulfillment.try_into().expect("the fulfillment is 32 bytes");
            let written = serialize_fulfill(fulfillment, data);
            assert_eq!(
                parse_reply(&written),
                Ok(Reply::Fulfill { fulfillment, data })
            );
        }
        Ok(Reply::Reject { code, .. }) => assert_eq!(code.len(), 3),
        Err(_) => {}
    }
    if let Ok(info) = ildcp::parse_response(data) {
        assert!(is_valid_ilp_address(&info.client_address));
        let written = ildcp::response(&info);
        assert_eq!(ildcp::parse_response(&written), Ok(info));
    }
}

const STATIC_TOKEN: &str = "static-token-for-fuzzing";
const JWT_SECRET: &str = "jwt-secret-for-fuzzing";

/// Target `authorization_header`: with a static token only, a header is accepted exactly
/// when its value, minus an exact `Bearer ` prefix, is the token; a JWT-only side never
/// accepts the static token's bytes or unsigned input.
pub fn authorization_header(data: &[u8]) {
    let Ok(header) = HeaderValue::from_bytes(data) else {
        return;
    };
    let token = Secret::new(STATIC_TOKEN);
    let static_only = IncomingAuth::new(&IncomingCredentials {
        static_tokens: vec![token],
        ..IncomingCredentials::default()
    });
    // Written out here rather than with `token_from_header`, the function under test.
    let token_part = data.strip_prefix(b"Bearer ").unwrap_or(data);
    let expected = token_part == STATIC_TOKEN.as_bytes();
    assert_eq!(static_only.verify(Some(&header)), expected);

    let jwt_only = IncomingAuth::new(&IncomingCredentials {
        jwt_secrets: vec![Secret::new(JWT_SECRET)],
        ..IncomingCredentials::default()
    });
    assert!(!jwt_only.verify(Some(&header)) || looks_like_jwt(token_part));
}

fn looks_like_jwt(token: &[u8]) -> bool {
    token.iter().filter(|b| **b == b'.').count() == 2
}

/// Target `jwt_verification`: the input is split into a JWT header and payload (at the first
/// `0xff`), then signed with the shared secret by HS256, HS384 and HS512. Only an HS256
/// signature over a header declaring `alg` HS256 and a payload with a future `exp` may pass
/// (`none`, HS384, HS512, RS256 headers are refused although the signature comes from the
/// secret), and every plain valid HS256 token must pass.
pub fn jwt_verification(data: &[u8]) {
    let (header_json, payload_json) = match data.iter().position(|b| *b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"{}"[..]),
    };
    let secret = Secret::new(JWT_SECRET);
    let auth = IncomingAuth::new(&IncomingCredentials {
        jwt_secrets: vec![secret.clone()],
        ..IncomingCredentials::default()
    });
    let key = EncodingKey::from_secret(secret.expose());
    let signing_input = format!("{}.{}", base64url(header_json), base64url(payload_json));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let Ok(signature) = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, algorithm)
        else {
            continue;
        };
        let token = format!("Bearer {signing_input}.{signature}");
        let Ok(header) = HeaderValue::from_str(&token) else {
            continue;
        };
        let accepted = auth.verify(Some(&header));
        if accepted {
            assert_eq!(
                algorithm,
                Algorithm::HS256,
                "accepted a token signed with {algorithm:?}"
            );
            assert!(
                declares(header_json, "HS256"),
                "accepted a header without alg HS256"
            );
            assert!(
                has_future_exp(payload_json, now),
                "accepted a token without a valid exp"
            );
            assert!(
                !exp_beyond(payload_json, now + JWT_MAX_LIFETIME_SECS + 2),
                "accepted a token living longer than the maximum lifetime"
            );
        } else if algorithm == Algorithm::HS256
            && is_plain_hs256_header(header_json)
            && has_plain_valid_claims(payload_json, now)
        {
            panic!(
                "refused a valid token: header {:?}, payload {:?}",
                String::from_utf8_lossy(header_json),
                String::from_utf8_lossy(payload_json)
            );
        }
    }
    // Unsigned and truncated variants are never accepted.
    for token in [
        format!("{signing_input}."),
        signing_input.clone(),
        String::from_utf8_lossy(data).into_owned(),
    ] {
        if let Ok(header) = HeaderValue::from_str(&token) {
            assert!(!auth.verify(Some(&header)), "unsigned token accepted");
        }
    }
}

fn json_object(json: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice(json) {
        Ok(serde_json::Value::Object(object)) => Some(object),
        _ => None,
    }
}

fn declares(header_json: &[u8], algorithm: &str) -> bool {
    json_object(header_json)
        .is_some_and(|header| header.get("alg").and_then(|alg| alg.as_str()) == Some(algorithm))
}

/// `{"alg":"HS256"}`, optionally with `"typ":"JWT"`, and nothing else.
fn is_plain_hs256_header(header_json: &[u8]) -> bool {
    json_object(header_json).is_some_and(|header| {
        declares(header_json, "HS256")
            && header
                .iter()
                .all(|(key, value)| key == "alg" || (key == "typ" && value.as_str() == Some("JWT")))
    })
}

/// `exp` (accepted as any JSON number) is later than now, give or take a second of clock
/// movement between signing and verifying.
fn has_future_exp(payload_json: &[u8], now: u64) -> bool {
    json_object(payload_json).is_some_and(|claims| {
        claims
            .get("exp")
            .and_then(|exp| exp.as_f64())
            .is_some_and(|exp| exp + 1.0 >= now as f64)
    })
}

/// Integer `exp` well in the future, integer `nbf` (if any) well in the past, no other claim
/// that the verifier checks (`iat` and custom claims are fine).
/// The default `incoming.jwtMaxLifetime`, in seconds.
const JWT_MAX_LIFETIME_SECS: u64 = crate::auth::DEFAULT_JWT_MAX_LIFETIME.as_secs();

/// The payload's `exp` is a number later than `latest`.
fn exp_beyond(payload_json: &[u8], latest: u64) -> bool {
    json_object(payload_json).is_some_and(|claims| {
        claims
            .get("exp")
            .and_then(|exp| exp.as_f64())
            .is_some_and(|exp| exp > latest as f64)
    })
}

fn has_plain_valid_claims(payload_json: &[u8], now: u64) -> bool {
    json_object(payload_json).is_some_and(|claims| {
        let exp_ok = claims
            .get("exp")
            .and_then(|exp| exp.as_u64())
            .is_some_and(|exp| exp > now + 2 && exp + 2 < now + JWT_MAX_LIFETIME_SECS);
        let nbf_ok = claims
            .get("nbf")
            .is_none_or(|nbf| nbf.as_u64().is_some_and(|nbf| nbf + 2 < now));
        let checked = ["aud", "iss", "sub"];
        exp_ok && nbf_ok && !checked.iter().any(|name| claims.contains_key(*name))
    })
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Target `url_template`: the input is a URL template, a client address and a destination
/// (split at `0xff`). A destination is routed only to a valid `[A-Za-z0-9_-]+` segment under
/// the client address, and the URL is the template with that segment in the delimiter's place.
pub fn url_template(data: &[u8]) {
    let mut parts = data.split(|b| *b == 0xff);
    let (Some(url), Some(client), Some(destination)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let (Ok(url), Ok(client), Ok(destination)) = (
        std::str::from_utf8(url),
        std::str::from_utf8(client),
        std::str::from_utf8(destination),
    ) else {
        return;
    };
    let template = UrlTemplate::new(url, "%");
    let Ok(segment) = child_segment(destination, client) else {
        return;
    };
    assert!(!segment.is_empty());
    assert!(segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    let routed_to = format!("{client}.{segment}");
    assert!(destination == routed_to || destination.starts_with(&format!("{routed_to}.")));
    let expanded = template.expand(segment);
    match url.find('%') {
        Some(at) => assert_eq!(
            expanded,
            format!("{}{segment}{}", &url[..at], &url[at + 1..])
        ),
        None => assert_eq!(expanded, url),
    }
    if let Ok(uri) = template.url_for(segment) {
        // A `:` after the host (outside an IPv6 literal's brackets) must start a u16 port.
        if let Some(authority) = uri.authority() {
            let host_and_port = authority.as_str().rsplit('@').next().unwrap_or_default();
            let after_host = host_and_port
                .rsplit_once(']')
                .map_or(host_and_port, |(_, rest)| rest);
            if let Some((_, port)) = after_host.rsplit_once(':') {
                assert!(port.parse::<u16>().is_ok(), "port {port:?} in {uri}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Replays every committed corpus seed and crash reproducer (`fuzz/corpus/<target>/`,
    /// `fuzz/regressions/<target>/`) through its target's checks.
    #[test]
    fn committed_fuzz_inputs_still_pass() {
        type Check = fn(&[u8]);
        let targets: [(&str, Check); 4] = [
            ("packet_reader", super::packet_reader),
            ("authorization_header", super::authorization_header),
            ("jwt_verification", super::jwt_verification),
            ("url_template", super::url_template),
        ];
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        for (target, check) in targets {
            let mut replayed = 0;
            for folder in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let input = std::fs::read(entry.path()).expect("readable fuzz input");
                    check(&input);
                    replayed += 1;
                }
            }
            assert!(replayed > 0, "no committed inputs for fuzz target {target}");
        }
    }
}

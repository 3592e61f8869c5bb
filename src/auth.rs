//! Authentication: static tokens and HS256 JWTs, both directions.
//!
//! Incoming: the `Authorization` value with an exact `Bearer ` prefix stripped (else the whole
//! value) is the token. It is accepted when it equals the static token (constant-time) or is
//! an HS256 JWT signed with the secret that carries a valid `exp` (and `nbf`, if present).
//! Outgoing: a static token, or a JWT `{ iat, exp }` re-signed once half its lifetime passed.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::secret::Secret;
use crate::config::OutgoingCredential;
use crate::error::{Error, Result};
use crate::sync::lock;

const BEARER_PREFIX: &[u8] = b"Bearer ";

/// Compares in time that depends only on the lengths, not on where the bytes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// The token inside an `Authorization` value: an exact `Bearer ` prefix is stripped.
pub fn token_from_header(value: &[u8]) -> &[u8] {
    value.strip_prefix(BEARER_PREFIX).unwrap_or(value)
}

#[derive(Serialize, Deserialize)]
struct Claims {
    iat: u64,
    exp: u64,
}

/// Checks the `Authorization` header of incoming requests.
pub struct IncomingAuth {
    jwt: Option<(DecodingKey, Validation)>,
    static_token: Option<Secret>,
}

impl IncomingAuth {
    pub fn new(jwt_secret: Option<&Secret>, static_token: Option<&Secret>) -> Self {
        let jwt = jwt_secret.map(|secret| {
            let mut validation = Validation::new(Algorithm::HS256);
            validation.leeway = 0;
            validation.validate_exp = true;
            validation.validate_nbf = true;
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp"]);
            (DecodingKey::from_secret(secret.expose()), validation)
        });
        IncomingAuth {
            jwt,
            static_token: static_token.cloned(),
        }
    }

    /// True when the header carries an acceptable token. A missing header is never accepted.
    pub fn verify(&self, header: Option<&HeaderValue>) -> bool {
        let Some(header) = header else {
            return false;
        };
        let token = token_from_header(header.as_bytes());
        if let Some(expected) = &self.static_token {
            if constant_time_eq(token, expected.expose()) {
                return true;
            }
        }
        match (&self.jwt, std::str::from_utf8(token)) {
            (Some((key, validation)), Ok(token)) => {
                jsonwebtoken::decode::<serde_json::Value>(token, key, validation).is_ok()
            }
            _ => false,
        }
    }
}

/// Produces the `Authorization` value of outgoing requests.
pub struct OutgoingAuth {
    source: TokenSource,
    bearer: bool,
}

enum TokenSource {
    Static(HeaderValue),
    Jwt {
        key: EncodingKey,
        lifetime_secs: u64,
        cache: Mutex<Option<SignedToken>>,
    },
}

struct SignedToken {
    header: HeaderValue,
    issued_at: u64,
}

impl OutgoingAuth {
    pub fn new(credential: &OutgoingCredential, bearer: bool) -> Self {
        let source = match credential {
            OutgoingCredential::Static(value) => TokenSource::Static(value.clone()),
            OutgoingCredential::Jwt {
                secret,
                lifetime_secs,
            } => TokenSource::Jwt {
                key: EncodingKey::from_secret(secret.expose()),
                lifetime_secs: *lifetime_secs,
                cache: Mutex::new(None),
            },
        };
        OutgoingAuth { source, bearer }
    }

    /// The header value for a request sent now. JWTs are signed under a lock, so concurrent
    /// first callers all get a signed token, and re-signed once half the lifetime has passed.
    pub fn header_value(&self) -> Result<HeaderValue> {
        match &self.source {
            TokenSource::Static(value) => Ok(value.clone()),
            TokenSource::Jwt {
                key,
                lifetime_secs,
                cache,
            } => {
                let now = unix_now_secs();
                let mut cache = lock(cache);
                if let Some(token) = cache.as_ref() {
                    if now.saturating_sub(token.issued_at) < lifetime_secs / 2 {
                        return Ok(token.header.clone());
                    }
                }
                let claims = Claims {
                    iat: now,
                    exp: now + lifetime_secs,
                };
                let jwt = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
                    .map_err(|e| Error::JwtSign(e.to_string()))?;
                let header = authorization_value(self.bearer, jwt.as_bytes())
                    .map_err(|_| Error::JwtSign("the token is not a header value".to_owned()))?;
                *cache = Some(SignedToken {
                    header: header.clone(),
                    issued_at: now,
                });
                Ok(header)
            }
        }
    }
}

/// The `Authorization` value for `token`: `Bearer <token>`, or the bare token (legacy);
/// marked sensitive.
pub fn authorization_value(
    bearer: bool,
    token: &[u8],
) -> std::result::Result<HeaderValue, http::header::InvalidHeaderValue> {
    let mut value = Vec::with_capacity(BEARER_PREFIX.len() + token.len());
    if bearer {
        value.extend_from_slice(BEARER_PREFIX);
    }
    value.extend_from_slice(token);
    let mut header = HeaderValue::from_bytes(&value)?;
    header.set_sensitive(true);
    Ok(header)
}

fn unix_now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    fn sign(secret: &str, algorithm: Algorithm, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(algorithm),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn bearer_prefix_is_stripped_exactly() {
        assert_eq!(token_from_header(b"Bearer abc"), b"abc");
        assert_eq!(token_from_header(b"abc"), b"abc");
        assert_eq!(token_from_header(b"bearer abc"), b"bearer abc");
        assert_eq!(token_from_header(b"Bearer  abc"), b" abc");
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn static_tokens() {
        let auth = IncomingAuth::new(None, Some(&Secret::new("tok")));
        assert!(auth.verify(Some(&header("Bearer tok"))));
        assert!(auth.verify(Some(&header("tok"))));
        assert!(!auth.verify(Some(&header("Bearer tok2"))));
        assert!(!auth.verify(Some(&header(""))));
        assert!(!auth.verify(None));
    }

    #[test]
    fn jwt_verification_is_hs256_with_exp() {
        let secret = Secret::new("shh");
        let auth = IncomingAuth::new(Some(&secret), Some(&Secret::new("static")));
        let now = unix_now_secs();
        let good = sign(
            "shh",
            Algorithm::HS256,
            serde_json::json!({ "iat": now, "exp": now + 30 }),
        );
        assert!(auth.verify(Some(&header(&format!("Bearer {good}")))));
        assert!(auth.verify(Some(&header(&good))));
        assert!(auth.verify(Some(&header("Bearer static"))));

        let cases = [
            sign(
                "other",
                Algorithm::HS256,
                serde_json::json!({ "exp": now + 30 }),
            ),
            sign(
                "shh",
                Algorithm::HS512,
                serde_json::json!({ "exp": now + 30 }),
            ),
            sign("shh", Algorithm::HS256, serde_json::json!({ "iat": now })),
            sign(
                "shh",
                Algorithm::HS256,
                serde_json::json!({ "exp": now - 1 }),
            ),
            sign(
                "shh",
                Algorithm::HS256,
                serde_json::json!({ "exp": now + 30, "nbf": now + 20 }),
            ),
            // alg "none": header {"alg":"none","typ":"JWT"}, payload {"exp": far future}, no signature.
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJleHAiOjk5OTk5OTk5OTl9.".to_string(),
        ];
        for token in cases {
            assert!(
                !auth.verify(Some(&header(&format!("Bearer {token}")))),
                "{token}"
            );
        }
    }

    #[test]
    fn outgoing_jwt_is_cached_and_verifiable() {
        let credential = OutgoingCredential::Jwt {
            secret: Secret::new("shh"),
            lifetime_secs: 30,
        };
        let outgoing = OutgoingAuth::new(&credential, true);
        let first = outgoing.header_value().unwrap();
        let second = outgoing.header_value().unwrap();
        assert_eq!(first, second);
        let incoming = IncomingAuth::new(Some(&Secret::new("shh")), None);
        assert!(incoming.verify(Some(&first)));
        let token = token_from_header(first.as_bytes());
        let claims: Claims =
            jsonwebtoken::dangerous::insecure_decode(std::str::from_utf8(token).unwrap())
                .unwrap()
                .claims;
        assert_eq!(claims.exp - claims.iat, 30);
    }

    #[test]
    fn legacy_outgoing_tokens_are_bare() {
        assert_eq!(authorization_value(false, b"tok").unwrap(), "tok");
        assert_eq!(authorization_value(true, b"tok").unwrap(), "Bearer tok");
        assert!(authorization_value(true, b"a\r\nb").is_err());
        let value = authorization_value(true, b"tok").unwrap();
        let outgoing = OutgoingAuth::new(&OutgoingCredential::Static(value), true);
        assert_eq!(outgoing.header_value().unwrap(), "Bearer tok");
        assert!(!format!("{:?}", outgoing.header_value().unwrap()).contains("tok"));
    }
}

//! Authentication: static tokens and HS256 JWTs, both directions.
//!
//! Incoming: the `Authorization` value with an exact `Bearer ` prefix stripped (else the whole
//! value) is the token. It is accepted when it equals one of the static tokens (each compared
//! in constant time, all of them, so the time does not tell which one matched) or is an HS256
//! JWT signed with one of the secrets that carries a valid `exp` (and `nbf`, if present) no
//! further ahead than the maximum lifetime (`incoming.jwtMaxLifetime`), no `crit` header
//! (RFC 7515 §4.1.11: we understand no extension, so a token naming one is refused), and
//! the configured `sub` when there is one. Several tokens and secrets let a peer rotate its
//! credential without downtime. A server that requires TLS client certificates and has no
//! token or secret configured needs no `Authorization` at all.
//! Outgoing: a static token, or a JWT `{ sub?, iat, exp }` re-signed once half its lifetime
//! passed; nothing when a client certificate is the only credential.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::secret::Secret;
use crate::config::{IncomingCredentials, OutgoingCredential};
use crate::error::{Error, Result};
use crate::sync::lock;

const BEARER_PREFIX: &[u8] = b"Bearer ";

/// Compares `presented` with `expected` in time that depends only on `expected.len()`: not on
/// where the bytes differ, nor on the presented length (an early return on different lengths
/// would tell a client the lengths of the configured tokens).
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let lengths_differ = u8::from(presented.len() != expected.len());
    let difference = expected
        .iter()
        .enumerate()
        .fold(lengths_differ, |acc, (at, byte)| {
            acc | (byte ^ presented.get(at).copied().unwrap_or(0))
        });
    std::hint::black_box(difference) == 0
}

/// The token inside an `Authorization` value: an exact `Bearer ` prefix is stripped.
pub fn token_from_header(value: &[u8]) -> &[u8] {
    value.strip_prefix(BEARER_PREFIX).unwrap_or(value)
}

#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    iat: u64,
    exp: u64,
}

/// Checks the `Authorization` header of incoming requests.
pub struct IncomingAuth {
    client_certificate_required: bool,
    static_tokens: Vec<Secret>,
    jwt_keys: Vec<DecodingKey>,
    jwt_validation: Validation,
    /// A JWT whose `exp` lies further ahead than this is refused.
    jwt_max_lifetime: Duration,
}

/// `jwt_max_lifetime` unless `with_jwt_max_lifetime` says otherwise: one day, far above what
/// a 1.6.1 peer sends (30 s by default; its `jwtExpiry` is free-form).
pub const DEFAULT_JWT_MAX_LIFETIME: Duration = Duration::from_secs(86_400);

impl IncomingAuth {
    pub fn new(credentials: &IncomingCredentials) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        match &credentials.jwt_subject {
            Some(subject) => {
                validation.sub = Some(subject.clone());
                validation.set_required_spec_claims(&["exp", "sub"]);
            }
            None => validation.set_required_spec_claims(&["exp"]),
        }
        IncomingAuth {
            client_certificate_required: credentials.client_certificate_required,
            static_tokens: credentials.static_tokens.clone(),
            jwt_keys: credentials
                .jwt_secrets
                .iter()
                .map(|secret| DecodingKey::from_secret(secret.expose()))
                .collect(),
            jwt_validation: validation,
            jwt_max_lifetime: DEFAULT_JWT_MAX_LIFETIME,
        }
    }

    /// Refuses JWTs whose `exp` lies further ahead than `max` (default one day).
    pub fn with_jwt_max_lifetime(mut self, max: Duration) -> Self {
        self.jwt_max_lifetime = max;
        self
    }

    /// True when the header carries an acceptable token. A missing header is never accepted,
    /// except by a server whose TLS handshake required a client certificate and which has no
    /// token or secret configured.
    pub fn verify(&self, header: Option<&HeaderValue>) -> bool {
        if self.static_tokens.is_empty() && self.jwt_keys.is_empty() {
            return self.client_certificate_required;
        }
        let Some(header) = header else {
            return false;
        };
        let token = token_from_header(header.as_bytes());
        // Every static token is compared (`|`, not `||`): how long this takes does not depend
        // on which one matched.
        let static_match = self.static_tokens.iter().fold(false, |matched, expected| {
            matched | constant_time_eq(token, expected.expose())
        });
        if static_match {
            return true;
        }
        let Ok(token) = std::str::from_utf8(token) else {
            return false;
        };
        let names_an_extension =
            jsonwebtoken::decode_header(token).map_or(true, |header| header.crit.is_some());
        if names_an_extension {
            return false;
        }
        let latest = unix_now_secs().saturating_add(self.jwt_max_lifetime.as_secs());
        self.jwt_keys.iter().any(|key| {
            jsonwebtoken::decode::<serde_json::Value>(token, key, &self.jwt_validation).is_ok_and(
                |data| {
                    data.claims
                        .get("exp")
                        .and_then(serde_json::Value::as_f64)
                        .is_some_and(|exp| exp <= latest as f64)
                },
            )
        })
    }
}

/// Produces the `Authorization` value of outgoing requests.
pub struct OutgoingAuth {
    source: TokenSource,
    bearer: bool,
}

enum TokenSource {
    /// Mutual TLS without a token: no `Authorization` header.
    None,
    Static(HeaderValue),
    Jwt {
        key: EncodingKey,
        lifetime_secs: u64,
        subject: Option<String>,
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
            OutgoingCredential::ClientCertificateOnly => TokenSource::None,
            OutgoingCredential::Static(value) => TokenSource::Static(value.clone()),
            OutgoingCredential::Jwt {
                secret,
                lifetime_secs,
                subject,
            } => TokenSource::Jwt {
                key: EncodingKey::from_secret(secret.expose()),
                lifetime_secs: *lifetime_secs,
                subject: subject.clone(),
                cache: Mutex::new(None),
            },
        };
        OutgoingAuth { source, bearer }
    }

    /// The header value for a request sent now (none when a client certificate is the only
    /// credential). JWTs are signed under a lock, so concurrent first callers all get a signed
    /// token, and re-signed once half the lifetime has passed.
    pub fn header_value(&self) -> Result<Option<HeaderValue>> {
        match &self.source {
            TokenSource::None => Ok(None),
            TokenSource::Static(value) => Ok(Some(value.clone())),
            TokenSource::Jwt {
                key,
                lifetime_secs,
                subject,
                cache,
            } => {
                let now = unix_now_secs();
                let mut cache = lock(cache);
                if let Some(token) = cache.as_ref() {
                    if now.saturating_sub(token.issued_at) < lifetime_secs / 2 {
                        return Ok(Some(token.header.clone()));
                    }
                }
                let claims = Claims {
                    sub: subject.clone(),
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
                Ok(Some(header))
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

    fn secrets(values: &[&str]) -> Vec<Secret> {
        values.iter().map(|value| Secret::new(value)).collect()
    }

    fn incoming(
        static_tokens: &[&str],
        jwt_secrets: &[&str],
        subject: Option<&str>,
    ) -> IncomingAuth {
        IncomingAuth::new(&IncomingCredentials {
            static_tokens: secrets(static_tokens),
            jwt_secrets: secrets(jwt_secrets),
            jwt_subject: subject.map(str::to_owned),
            client_certificate_required: false,
        })
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
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
        assert!(!constant_time_eq(b"abc", b""));
        // A presented token that is the expected one followed by NULs is not a match.
        assert!(!constant_time_eq(b"abc\0", b"abc"));
        assert!(!constant_time_eq(b"ab", b"ab\0"));
    }

    #[test]
    fn static_tokens() {
        let auth = incoming(&["tok"], &[], None);
        assert!(auth.verify(Some(&header("Bearer tok"))));
        assert!(auth.verify(Some(&header("tok"))));
        assert!(!auth.verify(Some(&header("Bearer tok2"))));
        assert!(!auth.verify(Some(&header(""))));
        assert!(!auth.verify(None));
    }

    #[test]
    fn jwt_verification_is_hs256_with_exp() {
        let auth = incoming(&["static"], &["shh"], None);
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
            subject: None,
        };
        let outgoing = OutgoingAuth::new(&credential, true);
        let first = outgoing.header_value().unwrap().unwrap();
        let second = outgoing.header_value().unwrap().unwrap();
        assert_eq!(first, second);
        assert!(incoming(&[], &["shh"], None).verify(Some(&first)));
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
        assert_eq!(outgoing.header_value().unwrap().unwrap(), "Bearer tok");
        assert!(!format!("{:?}", outgoing.header_value().unwrap()).contains("tok"));
    }

    #[test]
    fn any_of_several_static_tokens_or_jwt_secrets_is_accepted() {
        let auth = incoming(
            &["old-token", "new-token"],
            &["old-secret", "new-secret"],
            None,
        );
        let now = unix_now_secs();
        let claims = serde_json::json!({ "iat": now, "exp": now + 30 });
        for accepted in [
            "old-token".to_string(),
            "new-token".to_string(),
            sign("old-secret", Algorithm::HS256, claims.clone()),
            sign("new-secret", Algorithm::HS256, claims.clone()),
        ] {
            assert!(auth.verify(Some(&header(&format!("Bearer {accepted}")))));
        }
        for refused in [
            "old-secret".to_string(),
            "new-tokenx".to_string(),
            "old-tokennew-token".to_string(),
            sign("old-token", Algorithm::HS256, claims),
        ] {
            assert!(!auth.verify(Some(&header(&format!("Bearer {refused}")))));
        }
    }

    #[test]
    fn jwt_subject_is_required_when_configured() {
        let now = unix_now_secs();
        let with_sub = |sub: serde_json::Value| {
            let mut claims = serde_json::json!({ "iat": now, "exp": now + 30 });
            if !sub.is_null() {
                claims["sub"] = sub;
            }
            header(&format!("Bearer {}", sign("shh", Algorithm::HS256, claims)))
        };
        let strict = incoming(&["static"], &["shh"], Some("alice"));
        assert!(strict.verify(Some(&with_sub(serde_json::json!("alice")))));
        assert!(!strict.verify(Some(&with_sub(serde_json::json!("bob")))));
        assert!(!strict.verify(Some(&with_sub(serde_json::json!("Alice")))));
        assert!(!strict.verify(Some(&with_sub(serde_json::Value::Null))));
        assert!(strict.verify(Some(&header("Bearer static"))));
        let lenient = incoming(&[], &["shh"], None);
        assert!(lenient.verify(Some(&with_sub(serde_json::json!("bob")))));
        assert!(lenient.verify(Some(&with_sub(serde_json::Value::Null))));
    }

    #[test]
    fn outgoing_jwt_carries_the_subject() {
        let credential = OutgoingCredential::Jwt {
            secret: Secret::new("shh"),
            lifetime_secs: 60,
            subject: Some("alice".into()),
        };
        let value = OutgoingAuth::new(&credential, true)
            .header_value()
            .unwrap()
            .unwrap();
        let token = std::str::from_utf8(token_from_header(value.as_bytes())).unwrap();
        let claims: Claims = jsonwebtoken::dangerous::insecure_decode(token)
            .unwrap()
            .claims;
        assert_eq!(claims.sub.as_deref(), Some("alice"));
        assert_eq!(claims.exp - claims.iat, 60);
        assert!(incoming(&[], &["shh"], Some("alice")).verify(Some(&value)));
        assert!(!incoming(&[], &["shh"], Some("bob")).verify(Some(&value)));
    }

    #[test]
    fn without_tokens_only_a_required_client_certificate_admits() {
        let certificate_only = IncomingAuth::new(&IncomingCredentials {
            client_certificate_required: true,
            ..IncomingCredentials::default()
        });
        assert!(certificate_only.verify(None));
        assert!(certificate_only.verify(Some(&header("Bearer anything"))));
        let nothing = IncomingAuth::new(&IncomingCredentials::default());
        assert!(!nothing.verify(None));
        assert!(!nothing.verify(Some(&header("Bearer anything"))));
        let both = IncomingAuth::new(&IncomingCredentials {
            static_tokens: secrets(&["tok"]),
            client_certificate_required: true,
            ..IncomingCredentials::default()
        });
        assert!(!both.verify(None));
        assert!(both.verify(Some(&header("Bearer tok"))));
        let outgoing = OutgoingAuth::new(&OutgoingCredential::ClientCertificateOnly, true);
        assert_eq!(outgoing.header_value().unwrap(), None);
    }

    fn bearer_jwt(header: Header, claims: serde_json::Value) -> HeaderValue {
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"shh")).unwrap();
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
    }

    #[test]
    fn jwts_living_longer_than_the_maximum_are_refused() {
        let now = unix_now_secs();
        let auth = incoming(&[], &["shh"], None);
        let hs256 = || Header::new(Algorithm::HS256);
        let day = 86_400;
        let accepted = |auth: &IncomingAuth, exp: u64| {
            auth.verify(Some(&bearer_jwt(
                hs256(),
                serde_json::json!({ "exp": exp }),
            )))
        };
        assert!(accepted(&auth, now + day - 60));
        assert!(!accepted(&auth, now + day + 60));
        assert!(!accepted(&auth, 32_503_680_000)); // year 3000
        let auth = auth.with_jwt_max_lifetime(Duration::from_secs(60));
        assert!(accepted(&auth, now + 50));
        assert!(!accepted(&auth, now + 120));
    }

    #[test]
    fn jwts_with_a_crit_header_are_refused() {
        let now = unix_now_secs();
        let auth = incoming(&[], &["shh"], None);
        let mut with_crit = Header::new(Algorithm::HS256);
        with_crit.crit = Some(vec!["exp".into()]);
        let claims = serde_json::json!({ "exp": now + 30 });
        assert!(!auth.verify(Some(&bearer_jwt(with_crit, claims.clone()))));
        assert!(auth.verify(Some(&bearer_jwt(Header::new(Algorithm::HS256), claims))));
    }
}

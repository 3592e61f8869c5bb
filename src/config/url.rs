//! URL helpers for `outgoing.url`: the multilateral URL template, splitting off the
//! authority, and the port check `http::Uri` lacks.

use http::Uri;

use crate::error::{Error, Result};

/// `outgoing.url` split at the first `multiDelimiter`. Without a delimiter, every child gets
/// the same URL (as in 1.6.1: e.g. a load balancer routing on `ILP-Destination`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    prefix: String,
    suffix: Option<String>,
}

impl UrlTemplate {
    pub fn new(url: &str, delimiter: &str) -> Self {
        match url.find(delimiter) {
            Some(at) => UrlTemplate {
                prefix: url[..at].to_owned(),
                suffix: Some(url[at + delimiter.len()..].to_owned()),
            },
            None => UrlTemplate {
                prefix: url.to_owned(),
                suffix: None,
            },
        }
    }

    /// The URL with `segment` in place of the delimiter, as a string.
    pub fn expand(&self, segment: &str) -> String {
        match &self.suffix {
            Some(suffix) => format!("{}{segment}{suffix}", self.prefix),
            None => self.prefix.clone(),
        }
    }

    /// The URL for a child; fails when the segment does not make a valid URL (e.g. a
    /// non-numeric segment in the port position).
    pub fn url_for(&self, segment: &str) -> Result<Uri> {
        self.expand(segment)
            .parse::<Uri>()
            .ok()
            .filter(has_valid_port)
            .ok_or_else(|| {
                Error::NoRoute(format!(
                    "address segment {segment:?} does not make a valid URL"
                ))
            })
    }
}

/// A URL as text split into `scheme://`, the authority (`user:password@host:port`) and the
/// rest (path, query, fragment). Without `://`, the first part is empty.
pub fn split_authority(url: &str) -> (&str, &str, &str) {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    let authority_end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| after_scheme + at);
    (
        &url[..after_scheme],
        &url[after_scheme..authority_end],
        &url[authority_end..],
    )
}

/// `http::Uri` accepts `host:abc`; a port, when present, must be a number.
pub fn has_valid_port(url: &Uri) -> bool {
    url.authority().is_none_or(|authority| {
        let host_and_port = authority.as_str().rsplit('@').next().unwrap_or_default();
        let after_ipv6 = host_and_port
            .rsplit_once(']')
            .map_or(host_and_port, |(_, rest)| rest);
        !after_ipv6.contains(':') || authority.port_u16().is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_delimiter_is_replaced() {
        let template = UrlTemplate::new("http://127.0.0.1:8080/children/%/ilp?x=%", "%");
        assert_eq!(
            template.expand("bob"),
            "http://127.0.0.1:8080/children/bob/ilp?x=%"
        );
        let template = UrlTemplate::new("http://localhost:^", "^");
        assert_eq!(template.url_for("7001").unwrap().port_u16(), Some(7001));
        assert!(template.url_for("bob").is_err());
        assert_eq!(
            UrlTemplate::new("http://a/", "%").expand("bob"),
            "http://a/"
        );
    }
}

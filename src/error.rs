//! The crate's one error type, and the ILP error code each kind of failure maps to.
//!
//! Messages never contain a secret: tokens and JWT secrets are never formatted into an
//! `Error`, and transport errors name the peer's host and port only.

use crate::protocol::packet::PacketError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A constructor option is missing or invalid; the message names the option.
    #[error("invalid option {option}: {reason}")]
    InvalidOption { option: String, reason: String },

    /// Neither a JWT secret nor a static token on one side (1.6.1's message, kept).
    #[error("invalid auth options: {side} needs jwtSecret (legacy: secret) or staticToken (legacy: secretToken)")]
    InvalidAuthOptions { side: &'static str },

    #[error("plugin is not connected.")]
    NotConnected,

    #[error("failed to listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },

    /// The peer answered with a non-2xx status (1.6.1's message, kept).
    #[error("failed to fetch. code={0}")]
    HttpStatus(u16),

    /// The request could not be delivered or the answer could not be read.
    #[error("failed to fetch: {0}")]
    Transport(String),

    #[error("response body too large: the peer sent more than {limit} bytes")]
    ResponseTooLarge { limit: usize },

    /// The Prepare expired before the peer answered (or before it was sent).
    #[error("prepare expired before the peer answered")]
    Expired,

    #[error("data is not a valid ILP prepare: {0}")]
    InvalidPrepare(#[from] PacketError),

    /// Multilateral mode: the destination's child segment is not `[A-Za-z0-9_-]+`.
    #[error("invalid address segment")]
    InvalidAddressSegment,

    /// Multilateral mode: no child URL for this destination.
    #[error("no route: {0}")]
    NoRoute(String),

    /// Multilateral mode: this plugin's own ILDCP info could not be had.
    #[error("could not fetch ildcp info: {0}")]
    Ildcp(String),

    #[error("could not sign the outgoing JWT: {0}")]
    JwtSign(String),
}

impl Error {
    pub fn invalid_option(option: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidOption {
            option: option.into(),
            reason: reason.into(),
        }
    }

    /// The ILP error code ilp-connector puts into the Reject it makes from this error
    /// (it would use F00 for an error without one).
    pub fn ilp_error_code(&self) -> &'static str {
        match self {
            Error::NotConnected | Error::Transport(_) | Error::ResponseTooLarge { .. } => "T01",
            Error::Bind { .. } => "T01",
            Error::HttpStatus(code) if (500..600).contains(code) => "T00",
            Error::HttpStatus(_) => "F00",
            Error::Expired => "R00",
            Error::InvalidPrepare(_) => "F01",
            Error::InvalidAddressSegment | Error::NoRoute(_) => "F02",
            Error::Ildcp(_) => "T00",
            Error::InvalidOption { .. } | Error::InvalidAuthOptions { .. } | Error::JwtSign(_) => {
                "F00"
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(feature = "node")]
/// The one conversion to a JS exception (constructor and `connect()` errors). `sendData`
/// failures travel as `plugin::SendFailure` so JS can attach `ilpErrorCode`.
impl From<Error> for napi::Error {
    fn from(error: Error) -> Self {
        napi::Error::new(napi::Status::GenericFailure, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_ilp_codes() {
        assert_eq!(Error::HttpStatus(500).ilp_error_code(), "T00");
        assert_eq!(Error::HttpStatus(503).ilp_error_code(), "T00");
        assert_eq!(Error::HttpStatus(404).ilp_error_code(), "F00");
        assert_eq!(Error::HttpStatus(301).ilp_error_code(), "F00");
        assert_eq!(Error::Transport("reset".into()).ilp_error_code(), "T01");
        assert_eq!(Error::Expired.ilp_error_code(), "R00");
        assert_eq!(Error::NotConnected.ilp_error_code(), "T01");
    }

    #[test]
    fn messages_match_the_original() {
        assert_eq!(
            Error::HttpStatus(404).to_string(),
            "failed to fetch. code=404"
        );
        assert_eq!(Error::NotConnected.to_string(), "plugin is not connected.");
        assert!(Error::InvalidAuthOptions { side: "incoming" }
            .to_string()
            .starts_with("invalid auth options"));
    }
}

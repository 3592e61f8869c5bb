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

    /// A batch `index.js` handed over is malformed (a bug in this package, never user input).
    #[error("malformed hand-over from index.js: {0}")]
    Bridge(&'static str),
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
    pub fn ilp_error_code(&self) -> IlpErrorCode {
        match self {
            Error::NotConnected | Error::Transport(_) | Error::ResponseTooLarge { .. } => {
                IlpErrorCode::T01
            }
            Error::Bind { .. } => IlpErrorCode::T01,
            Error::HttpStatus(code) if (500..600).contains(code) => IlpErrorCode::T00,
            Error::HttpStatus(_) => IlpErrorCode::F00,
            Error::Expired => IlpErrorCode::R00,
            Error::InvalidPrepare(_) => IlpErrorCode::F01,
            Error::InvalidAddressSegment | Error::NoRoute(_) => IlpErrorCode::F02,
            Error::Ildcp(_) => IlpErrorCode::T00,
            Error::InvalidOption { .. }
            | Error::InvalidAuthOptions { .. }
            | Error::JwtSign(_)
            | Error::Bridge(_) => IlpErrorCode::F00,
        }
    }
}

/// The ILP error codes an `Error` maps to (RFC 27): what `sendData` rejects with, and the
/// keys of the outgoing error counts in the stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IlpErrorCode {
    /// Temporary: the peer answered 5xx, or our ILDCP info could not be had.
    T00,
    /// Temporary: the peer is unreachable, or the plugin is not connected.
    T01,
    /// Final: the peer answered another non-2xx status.
    F00,
    /// Final: the data is not an ILP Prepare.
    F01,
    /// Final: no route to the destination (multilateral mode).
    F02,
    /// Relative: the Prepare expired first.
    R00,
}

impl IlpErrorCode {
    /// Every code, in the order `stats` lists them; `code as usize` is its index here.
    pub const ALL: [IlpErrorCode; 6] = [
        IlpErrorCode::T00,
        IlpErrorCode::T01,
        IlpErrorCode::F00,
        IlpErrorCode::F01,
        IlpErrorCode::F02,
        IlpErrorCode::R00,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IlpErrorCode::T00 => "T00",
            IlpErrorCode::T01 => "T01",
            IlpErrorCode::F00 => "F00",
            IlpErrorCode::F01 => "F01",
            IlpErrorCode::F02 => "F02",
            IlpErrorCode::R00 => "R00",
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
        let code = |error: Error| error.ilp_error_code().as_str();
        assert_eq!(code(Error::HttpStatus(500)), "T00");
        assert_eq!(code(Error::HttpStatus(503)), "T00");
        assert_eq!(code(Error::HttpStatus(404)), "F00");
        assert_eq!(code(Error::HttpStatus(301)), "F00");
        assert_eq!(code(Error::Transport("reset".into())), "T01");
        assert_eq!(code(Error::Expired), "R00");
        assert_eq!(code(Error::NotConnected), "T01");
        assert_eq!(code(Error::InvalidAddressSegment), "F02");
    }

    #[test]
    fn every_code_is_listed_at_its_index() {
        for (index, code) in IlpErrorCode::ALL.iter().enumerate() {
            assert_eq!(*code as usize, index, "{code:?}");
        }
        assert_eq!(
            IlpErrorCode::ALL.len(),
            IlpErrorCode::R00 as usize + 1,
            "a new code goes into ALL (and is then counted by stats)"
        );
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

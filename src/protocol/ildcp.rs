//! ILDCP (RFC 31): how a child learns its ILP address and asset from its parent.
//! The request is a Prepare to `peer.config`; the response is a Fulfill whose data is
//! `clientAddress` (var string), `assetScale` (u8), `assetCode` (var string).

use std::time::{Duration, SystemTime};

use crate::protocol::packet::{
    is_valid_ilp_address, parse_reply, serialize_fulfill, serialize_prepare, write_var_octets,
    PacketError, Reader, Reply,
};

pub const ILDCP_DESTINATION: &str = "peer.config";
/// Fulfillment of peer protocol packets: 32 zero bytes.
pub const PEER_PROTOCOL_FULFILLMENT: [u8; 32] = [0; 32];
/// SHA-256 of `PEER_PROTOCOL_FULFILLMENT`.
pub const PEER_PROTOCOL_CONDITION: [u8; 32] = [
    0x66, 0x68, 0x7a, 0xad, 0xf8, 0x62, 0xbd, 0x77, 0x6c, 0x8f, 0xc1, 0x8b, 0x8e, 0x9f, 0x8e, 0x20,
    0x08, 0x97, 0x14, 0x85, 0x6e, 0xe2, 0x33, 0xb3, 0x90, 0x2a, 0x59, 0x1d, 0x0d, 0x5f, 0x29, 0x25,
];
/// Expiry of the ILDCP request, as `ilp-protocol-ildcp` sets it.
pub const REQUEST_EXPIRY: Duration = Duration::from_secs(60);

/// What a parent tells a child about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IldcpInfo {
    pub client_address: String,
    pub asset_scale: u8,
    pub asset_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IldcpError {
    #[error("ILDCP request rejected: {code} {message}")]
    Rejected { code: String, message: String },
    #[error("invalid ILDCP response: {0}")]
    Invalid(#[from] PacketError),
}

/// The `peer.config` Prepare a child sends.
pub fn request(now: SystemTime) -> Vec<u8> {
    serialize_prepare(
        0,
        now + REQUEST_EXPIRY,
        &PEER_PROTOCOL_CONDITION,
        ILDCP_DESTINATION,
        &[],
    )
}

/// The Fulfill answering `peer.config` with `info`.
pub fn response(info: &IldcpInfo) -> Vec<u8> {
    let mut data = Vec::with_capacity(info.client_address.len() + info.asset_code.len() + 8);
    write_var_octets(&mut data, info.client_address.as_bytes());
    data.push(info.asset_scale);
    write_var_octets(&mut data, info.asset_code.as_bytes());
    serialize_fulfill(&PEER_PROTOCOL_FULFILLMENT, &data)
}

/// Reads the parent's answer to `peer.config`.
pub fn parse_response(reply: &[u8]) -> Result<IldcpInfo, IldcpError> {
    match parse_reply(reply)? {
        Reply::Reject { code, message, .. } => Err(IldcpError::Rejected {
            code: code.to_owned(),
            message: String::from_utf8_lossy(message).into_owned(),
        }),
        Reply::Fulfill { fulfillment, data } => {
            if fulfillment != PEER_PROTOCOL_FULFILLMENT {
                return Err(PacketError::Invalid("ILDCP fulfillment").into());
            }
            let mut reader = Reader::new(data);
            let client_address = std::str::from_utf8(reader.var_octets("clientAddress")?)
                .ok()
                .filter(|address| is_valid_ilp_address(address))
                .ok_or(PacketError::Invalid("ILDCP client address"))?
                .to_owned();
            let asset_scale = reader.u8()?;
            let asset_code = std::str::from_utf8(reader.var_octets("assetCode")?)
                .map_err(|_| PacketError::Invalid("ILDCP asset code"))?
                .to_owned();
            Ok(IldcpInfo {
                client_address,
                asset_scale,
                asset_code,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::packet::parse_prepare;

    #[test]
    fn condition_is_the_hash_of_the_fulfillment() {
        // ilp-protocol-ildcp's condition, base64 Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU=
        let hash = ring::digest::digest(&ring::digest::SHA256, &PEER_PROTOCOL_FULFILLMENT);
        assert_eq!(hash.as_ref(), &PEER_PROTOCOL_CONDITION[..]);
    }

    #[test]
    fn request_round_trips() {
        let now = SystemTime::now();
        let bytes = request(now);
        let prepare = parse_prepare(&bytes).unwrap();
        assert_eq!(prepare.destination, ILDCP_DESTINATION);
        assert_eq!(prepare.amount, 0);
        assert_eq!(prepare.execution_condition, &PEER_PROTOCOL_CONDITION[..]);
        let expiry = prepare.expires_at.duration_since(now).unwrap();
        assert!(expiry > Duration::from_secs(59) && expiry <= REQUEST_EXPIRY);
    }

    #[test]
    fn response_round_trips() {
        let info = IldcpInfo {
            client_address: "test.parent.child".into(),
            asset_scale: 9,
            asset_code: "XRP".into(),
        };
        assert_eq!(parse_response(&response(&info)), Ok(info));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_responses_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_response(&bytes);
            let mut fulfill = vec![13u8];
            fulfill.extend(&bytes);
            let _ = parse_response(&fulfill);
        }
    }
}

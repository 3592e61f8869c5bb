//! The OER reader and writer against packets made by the reference JS implementations
//! (`ilp-packet`, `ilp-protocol-ildcp`), written by `scripts/make-oer-fixtures.js`.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use crate::protocol::ildcp::{self, IldcpInfo, PEER_PROTOCOL_CONDITION};
use crate::protocol::packet::{
    parse_prepare, parse_reply, serialize_fulfill, serialize_prepare, Reply,
};

const VECTORS: &str = include_str!("../fixtures/oer-vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("fixture is JSON")
}

fn hex(value: &Value) -> Vec<u8> {
    let text = value.as_str().expect("hex string");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn text(value: &Value) -> &str {
    value.as_str().expect("string")
}

#[test]
fn prepares_read_and_write_like_ilp_packet() {
    let vectors = vectors();
    let prepares = vectors["prepares"].as_array().unwrap();
    assert!(prepares.len() >= 5);
    for vector in prepares {
        let bytes = hex(&vector["hex"]);
        let prepare = parse_prepare(&bytes).expect("valid prepare");
        assert_eq!(prepare.amount.to_string(), text(&vector["amount"]));
        assert_eq!(prepare.destination, text(&vector["destination"]));
        assert_eq!(prepare.data, hex(&vector["data"]).as_slice());
        assert_eq!(
            prepare.execution_condition,
            hex(&vector["executionCondition"]).as_slice()
        );
        let expires_at =
            UNIX_EPOCH + Duration::from_millis(vector["expiresAtMs"].as_u64().unwrap());
        assert_eq!(prepare.expires_at, expires_at);

        let condition: [u8; 32] = hex(&vector["executionCondition"]).try_into().unwrap();
        let written = serialize_prepare(
            prepare.amount,
            expires_at,
            &condition,
            prepare.destination,
            prepare.data,
        );
        assert_eq!(written, bytes, "{}", text(&vector["destination"]));
    }
}

#[test]
fn fulfills_read_and_write_like_ilp_packet() {
    for vector in vectors()["fulfills"].as_array().unwrap() {
        let bytes = hex(&vector["hex"]);
        let fulfillment: [u8; 32] = hex(&vector["fulfillment"]).try_into().unwrap();
        match parse_reply(&bytes).expect("valid fulfill") {
            Reply::Fulfill {
                fulfillment: read,
                data,
            } => {
                assert_eq!(read, fulfillment);
                assert_eq!(data, hex(&vector["data"]).as_slice());
            }
            Reply::Reject { .. } => panic!("expected a fulfill"),
        }
        assert_eq!(
            serialize_fulfill(&fulfillment, &hex(&vector["data"])),
            bytes
        );
    }
}

#[test]
fn rejects_read_like_ilp_packet() {
    for vector in vectors()["rejects"].as_array().unwrap() {
        match parse_reply(&hex(&vector["hex"])).expect("valid reject") {
            Reply::Reject {
                code,
                triggered_by,
                message,
                data,
            } => {
                assert_eq!(code, text(&vector["code"]));
                assert_eq!(triggered_by, text(&vector["triggeredBy"]));
                assert_eq!(message, text(&vector["message"]).as_bytes());
                assert_eq!(data, hex(&vector["data"]).as_slice());
            }
            Reply::Fulfill { .. } => panic!("expected a reject"),
        }
    }
}

#[test]
fn ildcp_like_ilp_protocol_ildcp() {
    let vectors = vectors();
    for vector in vectors["ildcpResponses"].as_array().unwrap() {
        let info = IldcpInfo {
            client_address: text(&vector["clientAddress"]).to_owned(),
            asset_scale: vector["assetScale"].as_u64().unwrap() as u8,
            asset_code: text(&vector["assetCode"]).to_owned(),
        };
        let bytes = hex(&vector["hex"]);
        assert_eq!(ildcp::parse_response(&bytes).as_ref(), Ok(&info));
        assert_eq!(ildcp::response(&info), bytes);
    }
    let request = &vectors["ildcpRequest"];
    assert_eq!(text(&request["destination"]), ildcp::ILDCP_DESTINATION);
    assert_eq!(text(&request["amount"]), "0");
    assert_eq!(hex(&request["executionCondition"]), PEER_PROTOCOL_CONDITION);
}

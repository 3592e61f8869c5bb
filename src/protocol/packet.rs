//! The few ILP packet reads this plugin needs (RFC 27, OER encoding), and the size limits
//! that follow from the packet format. Never panics on any input.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest ILP address (RFC 15).
pub const MAX_ADDRESS_LEN: usize = 1023;
/// Longest `data` field of a Prepare, Fulfill or Reject (RFC 27).
pub const MAX_DATA_LEN: usize = 32767;
/// Longest `message` of a Reject (RFC 27).
pub const MAX_REJECT_MESSAGE_LEN: usize = 8191;

const TYPE_PREPARE: u8 = 12;
const TIMESTAMP_LEN: usize = 17;
const CONDITION_LEN: usize = 32;

/// Bytes an OER length prefix takes for a length of `n`.
const fn length_prefix_len(n: usize) -> usize {
    if n < 0x80 {
        1
    } else if n <= 0xff {
        2
    } else if n <= 0xffff {
        3
    } else {
        4
    }
}

/// Bytes of a variable-length field holding `n` bytes.
const fn var_field_len(n: usize) -> usize {
    length_prefix_len(n) + n
}

/// Bytes of an envelope (type byte + length + contents) around `contents` bytes.
const fn envelope_len(contents: usize) -> usize {
    1 + var_field_len(contents)
}

/// The largest valid ILP Prepare: 1023-char destination, 32,767 data bytes (33,857 bytes).
/// The server accepts request bodies up to exactly this size.
pub const MAX_PREPARE_LEN: usize = envelope_len(
    8 + TIMESTAMP_LEN
        + CONDITION_LEN
        + var_field_len(MAX_ADDRESS_LEN)
        + var_field_len(MAX_DATA_LEN),
);

/// The largest valid ILP reply, a Reject with every field at its maximum (41,997 bytes).
/// The client refuses response bodies larger than this.
pub const MAX_REPLY_LEN: usize = envelope_len(
    3 + var_field_len(MAX_ADDRESS_LEN)
        + var_field_len(MAX_REJECT_MESSAGE_LEN)
        + var_field_len(MAX_DATA_LEN),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("packet is empty")]
    Empty,
    #[error("packet type is {0}, expected 12 (prepare)")]
    NotAPrepare(u8),
    #[error("packet type is {0}, expected 13 (fulfill) or 14 (reject)")]
    NotAReply(u8),
    #[error("invalid {0}")]
    Invalid(&'static str),
    #[error("packet ends early while reading the {0}")]
    Truncated(&'static str),
    #[error("invalid length prefix of the {0}")]
    BadLength(&'static str),
    #[error("invalid expiry timestamp")]
    BadTimestamp,
    #[error("destination is not a valid ILP address")]
    BadDestination,
    #[error("data is longer than 32767 bytes")]
    DataTooLong,
}

/// The fields of a Prepare, borrowed from the packet bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare<'a> {
    pub amount: u64,
    pub expires_at: SystemTime,
    pub execution_condition: &'a [u8],
    pub destination: &'a str,
    pub data: &'a [u8],
}

/// Reads an ILP Prepare. Like the `ilp-packet` npm package, bytes after the last field are
/// ignored; unlike it, the destination must be a valid ILP address.
pub fn parse_prepare(packet: &[u8]) -> Result<Prepare<'_>, PacketError> {
    let mut envelope = Reader::new(packet);
    let packet_type = envelope.u8().map_err(|_| PacketError::Empty)?;
    if packet_type != TYPE_PREPARE {
        return Err(PacketError::NotAPrepare(packet_type));
    }
    let mut reader = Reader::new(envelope.var_octets("envelope")?);
    let amount = u64::from_be_bytes(
        reader
            .take(8, "amount")?
            .try_into()
            .map_err(|_| PacketError::Truncated("amount"))?,
    );
    let expires_at = parse_timestamp(reader.take(TIMESTAMP_LEN, "expiry")?)?;
    let execution_condition = reader.take(CONDITION_LEN, "condition")?;
    let destination = std::str::from_utf8(reader.var_octets("destination")?)
        .map_err(|_| PacketError::BadDestination)?;
    if !is_valid_ilp_address(destination) {
        return Err(PacketError::BadDestination);
    }
    let data = reader.var_octets("data")?;
    if data.len() > MAX_DATA_LEN {
        return Err(PacketError::DataTooLong);
    }
    Ok(Prepare {
        amount,
        expires_at,
        execution_condition,
        destination,
        data,
    })
}

/// RFC 15: a scheme, then one or more segments of `[A-Za-z0-9_~-]`, at most 1023 chars.
pub fn is_valid_ilp_address(address: &str) -> bool {
    const SCHEMES: [&str; 9] = [
        "g", "private", "example", "peer", "self", "test", "test1", "test2", "test3",
    ];
    if address.len() > MAX_ADDRESS_LEN {
        return false;
    }
    let mut parts = address.split('.');
    let scheme_ok = parts
        .next()
        .is_some_and(|scheme| SCHEMES.contains(&scheme) || scheme == "local");
    let mut segments = 0;
    for segment in parts {
        let valid = !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'~' || b == b'-');
        if !valid {
            return false;
        }
        segments += 1;
    }
    scheme_ok && segments > 0
}

/// 10000-01-01T00:00:00Z in seconds since the Unix epoch.
const YEAR_10000_SECONDS: u64 = 253_402_300_800;

/// Parses ILP's fixed 17-digit timestamp `YYYYMMDDHHmmssSSS` (UTC).
fn parse_timestamp(digits: &[u8]) -> Result<SystemTime, PacketError> {
    if digits.len() != TIMESTAMP_LEN || !digits.iter().all(u8::is_ascii_digit) {
        return Err(PacketError::BadTimestamp);
    }
    let number = |range: std::ops::Range<usize>| {
        digits[range]
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
    };
    let (year, month, day) = (number(0..4), number(4..6), number(6..8));
    let (hour, minute, second, millis) = (
        number(8..10),
        number(10..12),
        number(12..14),
        number(14..17),
    );
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return Err(PacketError::BadTimestamp),
    };
    if year < 1970 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return Err(PacketError::BadTimestamp);
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    // A leap second on 9999-12-31 would be year 10000, which 17 digits cannot write.
    if seconds >= YEAR_10000_SECONDS {
        return Err(PacketError::BadTimestamp);
    }
    Ok(UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm),
/// for years from 1970 on.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// An ILP reply: Fulfill (type 13) or Reject (type 14), borrowed from the packet bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    Fulfill {
        fulfillment: &'a [u8],
        data: &'a [u8],
    },
    Reject {
        code: &'a str,
        triggered_by: &'a str,
        message: &'a [u8],
        data: &'a [u8],
    },
}

const TYPE_FULFILL: u8 = 13;
const TYPE_REJECT: u8 = 14;

/// Reads an ILP Fulfill or Reject.
pub fn parse_reply(packet: &[u8]) -> Result<Reply<'_>, PacketError> {
    let mut envelope = Reader::new(packet);
    let packet_type = envelope.u8().map_err(|_| PacketError::Empty)?;
    let mut reader = Reader::new(envelope.var_octets("envelope")?);
    match packet_type {
        TYPE_FULFILL => Ok(Reply::Fulfill {
            fulfillment: reader.take(32, "fulfillment")?,
            data: reader.var_octets("data")?,
        }),
        TYPE_REJECT => {
            let code = std::str::from_utf8(reader.take(3, "code")?)
                .map_err(|_| PacketError::Truncated("code"))?;
            let triggered_by = std::str::from_utf8(reader.var_octets("triggeredBy")?)
                .map_err(|_| PacketError::BadDestination)?;
            Ok(Reply::Reject {
                code,
                triggered_by,
                message: reader.var_octets("message")?,
                data: reader.var_octets("data")?,
            })
        }
        other => Err(PacketError::NotAReply(other)),
    }
}

/// Serialises an ILP Prepare.
pub fn serialize_prepare(
    amount: u64,
    expires_at: SystemTime,
    execution_condition: &[u8; CONDITION_LEN],
    destination: &str,
    data: &[u8],
) -> Vec<u8> {
    let mut contents =
        Vec::with_capacity(8 + TIMESTAMP_LEN + CONDITION_LEN + destination.len() + data.len() + 8);
    contents.extend_from_slice(&amount.to_be_bytes());
    contents.extend_from_slice(format_timestamp(expires_at).as_bytes());
    contents.extend_from_slice(execution_condition);
    write_var_octets(&mut contents, destination.as_bytes());
    write_var_octets(&mut contents, data);
    envelope(TYPE_PREPARE, &contents)
}

/// Serialises an ILP Fulfill.
pub fn serialize_fulfill(fulfillment: &[u8; 32], data: &[u8]) -> Vec<u8> {
    let mut contents = Vec::with_capacity(32 + data.len() + 4);
    contents.extend_from_slice(fulfillment);
    write_var_octets(&mut contents, data);
    envelope(TYPE_FULFILL, &contents)
}

fn envelope(packet_type: u8, contents: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(envelope_len(contents.len()));
    packet.push(packet_type);
    write_var_octets(&mut packet, contents);
    packet
}

/// Writes an OER length determinant and the bytes.
pub(crate) fn write_var_octets(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
    out.extend_from_slice(bytes);
}

/// ILP's 17-digit UTC timestamp `YYYYMMDDHHmmssSSS`.
fn format_timestamp(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let millis = since_epoch.subsec_millis();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}{millis:03}",
        second_of_day / 3_600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// The date of a day count since 1970-01-01 (inverse of `days_from_civil`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A cursor over a byte slice whose reads fail instead of panicking.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, PacketError> {
        Ok(self.take(1, "type")?[0])
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], PacketError> {
        if self.bytes.len() < n {
            return Err(PacketError::Truncated(field));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// An OER length determinant followed by that many bytes.
    pub(crate) fn var_octets(&mut self, field: &'static str) -> Result<&'a [u8], PacketError> {
        let first = self.take(1, field)?[0];
        let len = if first & 0x80 == 0 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return Err(PacketError::BadLength(field));
            }
            self.take(count, field)?
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        self.take(len, field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ilp-packet` 3.1.3: serializeIlpPrepare({ amount: '1', expiresAt: 2026-11-23T20:41:24.956Z,
    /// executionCondition: 32 zero bytes, destination: 'test.a', data: empty }).
    const PREPARE_HEX: &str = "0c4100000000000000013230323631313233323034313234393536000000000000000000000000000000000000000000000000000000000000000006746573742e6100";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn limits_follow_from_the_format() {
        assert_eq!(MAX_PREPARE_LEN, 33_857);
        assert_eq!(MAX_REPLY_LEN, 41_997);
    }

    #[test]
    fn reads_a_prepare_made_by_ilp_packet() {
        let bytes = hex(PREPARE_HEX);
        let prepare = parse_prepare(&bytes).unwrap();
        assert_eq!(prepare.amount, 1);
        assert_eq!(prepare.destination, "test.a");
        assert!(prepare.data.is_empty());
        assert_eq!(prepare.execution_condition, &[0u8; 32][..]);
        let millis = prepare
            .expires_at
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert_eq!(millis, 1_795_466_484_956); // 2026-11-23T20:41:24.956Z
    }

    #[test]
    fn rejects_broken_prepares() {
        let bytes = hex(PREPARE_HEX);
        assert_eq!(parse_prepare(&[]), Err(PacketError::Empty));
        assert_eq!(parse_prepare(&[13, 0]), Err(PacketError::NotAPrepare(13)));
        for cut in 1..bytes.len() - 1 {
            assert!(parse_prepare(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad_time = bytes.clone();
        bad_time[2 + 8 + 4] = b'1'; // month 13
        bad_time[2 + 8 + 5] = b'3';
        assert_eq!(parse_prepare(&bad_time), Err(PacketError::BadTimestamp));
        let mut bad_address = bytes.clone();
        let at = bytes.len() - 2; // the "a" of "test.a"
        bad_address[at] = b'.';
        assert_eq!(
            parse_prepare(&bad_address),
            Err(PacketError::BadDestination)
        );
    }

    #[test]
    fn ilp_addresses() {
        assert!(is_valid_ilp_address("g.alice"));
        assert!(is_valid_ilp_address("test.connector.alice~x_-1"));
        assert!(is_valid_ilp_address("peer.config"));
        assert!(!is_valid_ilp_address("g"));
        assert!(!is_valid_ilp_address("g."));
        assert!(!is_valid_ilp_address("x.alice"));
        assert!(!is_valid_ilp_address("g.al ice"));
        assert!(!is_valid_ilp_address("g.alice\r\nX: y"));
        assert!(!is_valid_ilp_address(&format!("g.{}", "a".repeat(1022))));
        assert!(is_valid_ilp_address(&format!("g.{}", "a".repeat(1021))));
    }

    #[test]
    fn timestamps() {
        let at = |s: &str| {
            parse_timestamp(s.as_bytes()).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_millis())
        };
        assert_eq!(at("19700101000000000"), Ok(0));
        assert_eq!(at("20000229235959999"), Ok(951_868_799_999));
        assert_eq!(at("20010229000000000"), Err(PacketError::BadTimestamp));
        assert_eq!(at("2000022923595999x"), Err(PacketError::BadTimestamp));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_prepare(&bytes);
        }

        #[test]
        fn arbitrary_replies_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_reply(&bytes);
        }

        #[test]
        fn arbitrary_bytes_after_a_prepare_header_never_panic(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            let mut bytes = hex(PREPARE_HEX)[..40].to_vec();
            bytes.extend(tail);
            let _ = parse_prepare(&bytes);
        }
    }
}

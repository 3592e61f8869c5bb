//! Bounds on bytes a client sends that cost the server work without being requests or their
//! data. `FloodGuard` wraps a connection's stream (above TLS) and looks at what passes through
//! it; a client beyond a bound gets a read error, so hyper drops the connection.
//!
//! - **HTTP/2 control frames** (PING, SETTINGS, PRIORITY, and empty DATA frames that do not
//!   end their stream): neither hyper nor the `h2` crate limits them, so a client that sends
//!   them as fast as it can (and reads the PING answers) keeps a core busy. Once the client's
//!   bytes start with the HTTP/2 connection preface, every frame header is looked at (payloads
//!   are skipped, not parsed) and the control frames are counted against a token bucket:
//!   `CONTROL_FRAME_BURST` at once, refilled at `CONTROL_FRAMES_PER_SECOND`. A well-behaved
//!   client sends a few SETTINGS and an occasional PING.
//! - **HTTP/1.1 framing**: hyper accepts chunk-size lines with any number of leading zeros
//!   (legal HTTP, as in Node and nginx), chunk extensions up to 16 KiB per body, and trailers;
//!   none of it counts against the body limit, so a client could make the server read and
//!   parse bytes without end for as long as `bodyTimeout` (or the 2 s a refused body is
//!   drained). Instead of parsing HTTP/1.1 a second time, every byte of an HTTP/1.1 connection
//!   is counted against a `WireAllowance`, which only what the server accepts extends: each
//!   request head lets the client send `REQUEST_ALLOWANCE` more from there (its body and
//!   framing, the next head, hyper's read-ahead), never adding to what earlier requests left
//!   unused, so cheap requests cannot be banked for an expensive one; each body frame drained
//!   from a refused request adds its bytes and at most as many again for its framing. A
//!   well-behaved client never comes near it; one that sends framing without end is cut after
//!   at most `REQUEST_ALLOWANCE` bytes from its last head (about 290 KiB), or as many framing
//!   bytes as it sent data in a drained body.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::protocol::packet::MAX_PREPARE_LEN;
use crate::stats::Stats;

/// Control frames a connection may send at once.
pub const CONTROL_FRAME_BURST: f64 = 1000.0;
/// Control frames per second a connection may send over time.
pub const CONTROL_FRAMES_PER_SECOND: f64 = 100.0;

/// Largest HTTP/1.1 read buffer, so the largest request head (a longer one gets 431).
pub const HTTP1_MAX_BUFFER: usize = 64 * 1024;
/// How far hyper's reads may run ahead of what it parsed: one read fills its buffer's spare
/// capacity, which can reach twice `HTTP1_MAX_BUFFER`.
const READ_AHEAD: u64 = 2 * HTTP1_MAX_BUFFER as u64;
/// Chunk framing (size lines, extensions, trailers) one HTTP/1.1 request may carry.
const FRAMING_ALLOWANCE: u64 = 64 * 1024;
/// What an HTTP/1.1 client may send from the head of a request on: the largest body and its
/// framing, the next head, and hyper's read-ahead.
const REQUEST_ALLOWANCE: u64 =
    MAX_PREPARE_LEN as u64 + FRAMING_ALLOWANCE + HTTP1_MAX_BUFFER as u64 + READ_AHEAD;
/// What an HTTP/1.1 client may send before its first request head: the head and hyper's
/// read-ahead.
const INITIAL_ALLOWANCE: u64 = HTTP1_MAX_BUFFER as u64 + READ_AHEAD;
/// Framing a drained body frame may carry beyond its data, at most as many bytes as its data.
const DRAINED_FRAME_FRAMING: usize = 64;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER_LEN: usize = 9;
const DATA: u8 = 0x0;
const END_STREAM: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;

/// Where the reader is in the client's byte stream.
enum Position {
    /// Matched this many bytes of the preface so far.
    Preface(usize),
    /// Not HTTP/2 with prior knowledge: nothing to look at.
    NotHttp2,
    /// Collecting a frame header.
    Header {
        bytes: [u8; FRAME_HEADER_LEN],
        filled: usize,
    },
    /// Skipping this many payload bytes.
    Payload(usize),
}

/// Counts control frames against a token bucket.
struct Budget {
    tokens: f64,
    refilled_at: Instant,
}

impl Budget {
    fn new() -> Self {
        Budget {
            tokens: CONTROL_FRAME_BURST,
            refilled_at: Instant::now(),
        }
    }

    /// Takes one token; false when there is none.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled_at).as_secs_f64() * CONTROL_FRAMES_PER_SECOND;
        self.tokens = (self.tokens + earned).min(CONTROL_FRAME_BURST);
        self.refilled_at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// How many bytes an HTTP/1.1 client has sent and may send; shared by the connection's
/// `FloodGuard` (which counts what it reads) and its requests (which extend the limit). See
/// the module note. Over HTTP/1.1 hyper reads and starts requests in one task, one request at
/// a time, so `received` is current when a request starts.
pub struct WireAllowance {
    received: AtomicU64,
    limit: AtomicU64,
}

impl WireAllowance {
    pub fn new() -> Self {
        WireAllowance {
            received: AtomicU64::new(0),
            limit: AtomicU64::new(INITIAL_ALLOWANCE),
        }
    }

    /// An HTTP/1.1 request head was accepted: the client may send `REQUEST_ALLOWANCE` bytes
    /// from what it sent so far (not on top of an earlier request's unused share).
    pub fn request_started(&self) {
        let from_here = self.received.load(Ordering::Relaxed) + REQUEST_ALLOWANCE;
        self.limit.fetch_max(from_here, Ordering::Relaxed);
    }

    /// A frame of `bytes` data was drained from a refused body: it allows its bytes and its
    /// framing (at most `DRAINED_FRAME_FRAMING`, and never more than its data).
    pub fn body_drained(&self, bytes: usize) {
        let framing = bytes.min(DRAINED_FRAME_FRAMING);
        self.limit
            .fetch_add((bytes + framing) as u64, Ordering::Relaxed);
    }

    /// Counts `bytes` more received; false once that is more than allowed.
    fn receive(&self, bytes: usize) -> bool {
        let received = self.received.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        received <= self.limit.load(Ordering::Relaxed)
    }
}

/// Why a client's bytes were refused.
type Refusal = &'static str;

const TOO_MANY_CONTROL_FRAMES: Refusal =
    "too many HTTP/2 control frames (PING, SETTINGS, PRIORITY, empty DATA)";
const OVER_WIRE_ALLOWANCE: Refusal =
    "more HTTP/1.1 bytes than the requests allow (e.g. chunk-size lines of endless leading zeros)";

/// Reads the client's bytes as they pass: HTTP/2 frame headers, or HTTP/1.1 byte counts;
/// see the module note.
struct FrameMeter {
    position: Position,
    budget: Budget,
    allowance: Arc<WireAllowance>,
}

impl FrameMeter {
    fn new(allowance: Arc<WireAllowance>) -> Self {
        FrameMeter {
            position: Position::Preface(0),
            budget: Budget::new(),
            allowance,
        }
    }

    /// Looks at bytes the client sent; refuses them once the client sent more HTTP/2 control
    /// frames, or more HTTP/1.1 bytes, than allowed.
    fn observe(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        let within_allowance = self.allowance.receive(bytes.len());
        self.follow_frames(bytes)?;
        if matches!(self.position, Position::NotHttp2) && !within_allowance {
            return Err(OVER_WIRE_ALLOWANCE);
        }
        Ok(())
    }

    /// Follows HTTP/2 frames, counting the control frames.
    fn follow_frames(&mut self, mut bytes: &[u8]) -> Result<(), Refusal> {
        while !bytes.is_empty() {
            match &mut self.position {
                Position::NotHttp2 => return Ok(()),
                Position::Preface(matched) => {
                    let wanted = &PREFACE[*matched..];
                    let n = wanted.len().min(bytes.len());
                    if bytes[..n] != wanted[..n] {
                        self.position = Position::NotHttp2;
                        return Ok(());
                    }
                    *matched += n;
                    bytes = &bytes[n..];
                    if *matched == PREFACE.len() {
                        self.position = Position::Header {
                            bytes: [0; FRAME_HEADER_LEN],
                            filled: 0,
                        };
                    }
                }
                Position::Header {
                    bytes: header,
                    filled,
                } => {
                    let n = (FRAME_HEADER_LEN - *filled).min(bytes.len());
                    header[*filled..*filled + n].copy_from_slice(&bytes[..n]);
                    *filled += n;
                    bytes = &bytes[n..];
                    if *filled == FRAME_HEADER_LEN {
                        let length = usize::from(header[0]) << 16
                            | usize::from(header[1]) << 8
                            | usize::from(header[2]);
                        let (kind, flags) = (header[3], header[4]);
                        // An empty DATA frame that does not end its stream carries nothing
                        // (the "empty frames" flood, CVE-2019-9518): counted like the others.
                        let empty_data = kind == DATA && length == 0 && flags & END_STREAM == 0;
                        let control = matches!(kind, PRIORITY | SETTINGS | PING) || empty_data;
                        if control && !self.budget.take() {
                            return Err(TOO_MANY_CONTROL_FRAMES);
                        }
                        self.position = Position::Payload(length);
                    }
                }
                Position::Payload(left) => {
                    let n = (*left).min(bytes.len());
                    *left -= n;
                    bytes = &bytes[n..];
                    if *left == 0 {
                        self.position = Position::Header {
                            bytes: [0; FRAME_HEADER_LEN],
                            filled: 0,
                        };
                    }
                }
            }
        }
        // A frame with an empty payload ends exactly at the end of the bytes read.
        if let Position::Payload(0) = self.position {
            self.position = Position::Header {
                bytes: [0; FRAME_HEADER_LEN],
                filled: 0,
            };
        }
        Ok(())
    }
}

/// A connection's stream with what its client sends bounded (see the module note). A refusal
/// is counted once in `connectionsClosedFlooding`.
pub struct FloodGuard<S> {
    stream: S,
    meter: FrameMeter,
    stats: Arc<Stats>,
    refused: bool,
}

impl<S> FloodGuard<S> {
    pub fn new(stream: S, allowance: Arc<WireAllowance>, stats: Arc<Stats>) -> Self {
        FloodGuard {
            stream,
            meter: FrameMeter::new(allowance),
            stats,
            refused: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FloodGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let this = &mut *self;
            if let Err(refusal) = this.meter.observe(&buf.filled()[before..]) {
                if !this.refused {
                    this.refused = true;
                    this.stats.connection_closed_flooding();
                }
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    refusal,
                )));
            }
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FloodGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload_len: usize) -> Vec<u8> {
        let mut bytes = vec![
            (payload_len >> 16) as u8,
            (payload_len >> 8) as u8,
            payload_len as u8,
            kind,
            0,
            0,
            0,
            0,
            0,
        ];
        bytes.resize(FRAME_HEADER_LEN + payload_len, 0xab);
        bytes
    }

    fn new_meter() -> FrameMeter {
        FrameMeter::new(Arc::new(WireAllowance::new()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_ping_flood_is_cut_at_the_burst_and_a_steady_rate_is_not() {
        let mut meter = new_meter();
        assert_eq!(meter.observe(PREFACE), Ok(()));
        assert_eq!(meter.observe(&frame(SETTINGS, 6)), Ok(()));
        // Requests and their data are never counted.
        for _ in 0..5000 {
            assert_eq!(meter.observe(&frame(0x1, 20)), Ok(()));
            assert_eq!(meter.observe(&frame(0x0, 100)), Ok(()));
        }
        let pings: Vec<u8> = (0..CONTROL_FRAME_BURST as usize - 1)
            .flat_map(|_| frame(PING, 8))
            .collect();
        // Fed in odd pieces, as reads arrive.
        for piece in pings.chunks(7) {
            assert_eq!(meter.observe(piece), Ok(()));
        }
        assert_eq!(meter.observe(&frame(PING, 8)), Err(TOO_MANY_CONTROL_FRAMES));

        let mut meter = new_meter();
        assert_eq!(meter.observe(PREFACE), Ok(()));
        for _ in 0..3000 {
            tokio::time::advance(std::time::Duration::from_millis(20)).await;
            assert_eq!(meter.observe(&frame(PRIORITY, 5)), Ok(()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn empty_data_frames_count_unless_they_end_their_stream() {
        let mut meter = new_meter();
        assert_eq!(meter.observe(PREFACE), Ok(()));
        let mut ending = frame(DATA, 0);
        ending[4] = END_STREAM;
        for _ in 0..5000 {
            assert_eq!(meter.observe(&ending), Ok(()));
        }
        for _ in 0..CONTROL_FRAME_BURST as usize {
            assert_eq!(meter.observe(&frame(DATA, 0)), Ok(()));
        }
        assert_eq!(meter.observe(&frame(DATA, 0)), Err(TOO_MANY_CONTROL_FRAMES));
    }

    #[test]
    fn http1_frames_are_not_looked_at() {
        let mut meter = new_meter();
        let ping = frame(PING, 8);
        assert_eq!(meter.observe(b"POST / HTTP/1.1\r\n"), Ok(()));
        for _ in 0..5_000 {
            assert_eq!(meter.observe(&ping), Ok(()));
        }
    }

    /// Feeds `count` bytes of `b'0'` in pieces of at most 1 KiB.
    fn feed_zeros(meter: &mut FrameMeter, count: u64) -> Result<(), Refusal> {
        let kib = [b'0'; 1024];
        let mut left = count;
        while left > 0 {
            let n = left.min(1024);
            meter.observe(&kib[..n as usize])?;
            left -= n;
        }
        Ok(())
    }

    #[test]
    fn http1_bytes_are_bounded_by_what_the_requests_allow() {
        // Before any request: one head and hyper's read-ahead.
        let mut meter = new_meter();
        assert_eq!(feed_zeros(&mut meter, INITIAL_ALLOWANCE), Ok(()));
        assert_eq!(feed_zeros(&mut meter, 1), Err(OVER_WIRE_ALLOWANCE));

        // A request allows REQUEST_ALLOWANCE from where it started.
        let allowance = Arc::new(WireAllowance::new());
        let mut meter = FrameMeter::new(allowance.clone());
        assert_eq!(feed_zeros(&mut meter, 1000), Ok(()));
        allowance.request_started();
        assert_eq!(feed_zeros(&mut meter, REQUEST_ALLOWANCE), Ok(()));
        assert_eq!(feed_zeros(&mut meter, 1), Err(OVER_WIRE_ALLOWANCE));
    }

    #[test]
    fn what_cheap_requests_leave_unused_is_not_banked() {
        let allowance = Arc::new(WireAllowance::new());
        let mut meter = FrameMeter::new(allowance.clone());
        // A thousand 20-byte requests (pipelined GETs, say)...
        for _ in 0..1000 {
            assert_eq!(feed_zeros(&mut meter, 20), Ok(()));
            allowance.request_started();
        }
        // ...leave the last one's share, not a thousand shares.
        assert_eq!(feed_zeros(&mut meter, REQUEST_ALLOWANCE), Ok(()));
        assert_eq!(feed_zeros(&mut meter, 1), Err(OVER_WIRE_ALLOWANCE));
    }

    #[test]
    fn a_drained_body_allows_its_data_and_as_much_framing_at_most() {
        let allowance = Arc::new(WireAllowance::new());
        let mut meter = FrameMeter::new(allowance.clone());
        assert_eq!(feed_zeros(&mut meter, INITIAL_ALLOWANCE), Ok(()));
        // A 4 KiB frame allows 4 KiB + 64; three 1-byte frames 2 bytes each.
        allowance.body_drained(4096);
        for _ in 0..3 {
            allowance.body_drained(1);
        }
        assert_eq!(feed_zeros(&mut meter, 4096 + 64 + 6), Ok(()));
        assert_eq!(feed_zeros(&mut meter, 1), Err(OVER_WIRE_ALLOWANCE));
    }

    #[test]
    fn http2_bytes_are_not_bounded_by_the_http1_allowance() {
        let mut meter = new_meter();
        assert_eq!(meter.observe(PREFACE), Ok(()));
        for _ in 0..100 {
            assert_eq!(meter.observe(&frame(0x0, 16_000)), Ok(()));
        }
    }
}

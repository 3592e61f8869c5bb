//! A bound on HTTP/2 control frames per connection (PING, SETTINGS, PRIORITY), which cost the
//! server work without being requests: neither hyper nor the `h2` crate limits them, so a
//! client that sends them as fast as it can (and reads the PING answers) keeps a core busy.
//!
//! `FloodGuard` wraps a connection's stream (above TLS) and reads the frame headers that pass
//! through it: once the client's bytes start with the HTTP/2 connection preface, every frame
//! header is looked at (payloads are skipped, not parsed) and the control frames are counted
//! against a token bucket: `CONTROL_FRAME_BURST` at once, refilled at
//! `CONTROL_FRAMES_PER_SECOND`. A client beyond it gets a read error, so hyper drops the
//! connection. HTTP/1.1 connections are passed through untouched. A well-behaved client sends a
//! few SETTINGS and an occasional PING.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Control frames a connection may send at once.
pub const CONTROL_FRAME_BURST: f64 = 1000.0;
/// Control frames per second a connection may send over time.
pub const CONTROL_FRAMES_PER_SECOND: f64 = 100.0;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER_LEN: usize = 9;
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

/// Reads the client's frames as they pass; see the module note.
struct FrameMeter {
    position: Position,
    budget: Budget,
}

impl FrameMeter {
    fn new() -> Self {
        FrameMeter {
            position: Position::Preface(0),
            budget: Budget::new(),
        }
    }

    /// Looks at bytes the client sent; false once it sent more control frames than allowed.
    fn observe(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match &mut self.position {
                Position::NotHttp2 => return true,
                Position::Preface(matched) => {
                    let wanted = &PREFACE[*matched..];
                    let n = wanted.len().min(bytes.len());
                    if bytes[..n] != wanted[..n] {
                        self.position = Position::NotHttp2;
                        return true;
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
                        let control = matches!(header[3], PRIORITY | SETTINGS | PING);
                        if control && !self.budget.take() {
                            return false;
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
        true
    }
}

/// A connection's stream with its control frames counted (see the module note).
pub struct FloodGuard<S> {
    stream: S,
    meter: FrameMeter,
}

impl<S> FloodGuard<S> {
    pub fn new(stream: S) -> Self {
        FloodGuard {
            stream,
            meter: FrameMeter::new(),
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
            if !this.meter.observe(&buf.filled()[before..]) {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "too many HTTP/2 control frames (PING, SETTINGS, PRIORITY)",
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

    #[tokio::test(start_paused = true)]
    async fn a_ping_flood_is_cut_at_the_burst_and_a_steady_rate_is_not() {
        let mut meter = FrameMeter::new();
        assert!(meter.observe(PREFACE));
        assert!(meter.observe(&frame(SETTINGS, 6)));
        // Requests and their data are never counted.
        for _ in 0..5000 {
            assert!(meter.observe(&frame(0x1, 20)));
            assert!(meter.observe(&frame(0x0, 100)));
        }
        let pings: Vec<u8> = (0..CONTROL_FRAME_BURST as usize - 1)
            .flat_map(|_| frame(PING, 8))
            .collect();
        // Fed in odd pieces, as reads arrive.
        for piece in pings.chunks(7) {
            assert!(meter.observe(piece));
        }
        assert!(!meter.observe(&frame(PING, 8)));

        let mut meter = FrameMeter::new();
        assert!(meter.observe(PREFACE));
        for _ in 0..3000 {
            tokio::time::advance(std::time::Duration::from_millis(20)).await;
            assert!(meter.observe(&frame(PRIORITY, 5)));
        }
    }

    #[test]
    fn http1_is_not_looked_at() {
        let mut meter = FrameMeter::new();
        let ping = frame(PING, 8);
        assert!(meter.observe(b"POST / HTTP/1.1\r\n"));
        for _ in 0..10_000 {
            assert!(meter.observe(&ping));
        }
    }
}

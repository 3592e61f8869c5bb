//! The HTTP/2 client: sessions per origin (h2c prior knowledge for `http://`, ALPN `h2` for
//! `https://`), built on the `h2` crate so the peer's stream limit is visible.
//!
//! - A request takes a session with room: fewer requests in flight than the peer's
//!   `SETTINGS_MAX_CONCURRENT_STREAMS`, and (with `http2MaxRequestsPerSession`) fewer requests
//!   started than the maximum. Otherwise one new session is opened (one opener at a time per
//!   origin; the others wait and re-check).
//! - A session that reached its request maximum leaves the pool; it closes by itself once its
//!   last stream ended (graceful retirement).
//! - A request the peer provably did not process (refused stream, above a GOAWAY's last
//!   stream id, or failing before it was sent) is retried on another session. A request
//!   that may have been processed fails with a transport error (T01).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::client::SendRequest;
use http::header::CONTENT_LENGTH;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderValue, Uri};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::tls::ALPN_H2;
use crate::error::{Error, Result};
use crate::protocol::packet::MAX_REPLY_LEN;
use crate::sync::lock;
use crate::wire::{self, read_bounded, BodyError};

/// How many times a request the peer did not process is tried on another session.
const MAX_ATTEMPTS: usize = 4;

/// HTTP/2 frames the peer may send us: one frame carries a whole reply body.
const MAX_FRAME_SIZE: u32 = 64 * 1024;
/// Receive window of each stream: a whole reply (at most `MAX_REPLY_LEN`, 41,997 bytes)
/// arrives without waiting for a WINDOW_UPDATE.
const STREAM_WINDOW: u32 = 64 * 1024;
/// Replies of the largest size that may be in flight on one session at once before the peer
/// waits for a connection-level WINDOW_UPDATE.
const REPLIES_PER_CONNECTION_WINDOW: u32 = 128;
/// Receive window of a session: 128 × 41,997 bytes (about 5.4 MB), so 64 and more streams of
/// large replies never stall on flow control (h2's default is the spec's 65,535 bytes).
const CONNECTION_WINDOW: u32 = REPLIES_PER_CONNECTION_WINDOW * MAX_REPLY_LEN as u32;
const _: () = assert!(STREAM_WINDOW as usize >= MAX_REPLY_LEN);
const _: () = assert!(MAX_FRAME_SIZE as usize >= MAX_REPLY_LEN);

#[derive(Clone, PartialEq, Eq, Hash)]
struct Origin {
    scheme: Scheme,
    authority: Authority,
}

impl Origin {
    fn of(url: &Uri) -> Result<Self> {
        match (url.scheme(), url.authority()) {
            (Some(scheme), Some(authority)) => Ok(Origin {
                scheme: scheme.clone(),
                authority: authority.clone(),
            }),
            _ => Err(Error::Transport(format!("URL {url} has no origin"))),
        }
    }

    fn port(&self) -> u16 {
        self.authority
            .port_u16()
            .unwrap_or(if self.scheme == Scheme::HTTPS {
                443
            } else {
                80
            })
    }
}

struct Session {
    sender: SendRequest<Bytes>,
    started: AtomicU64,
    in_flight: AtomicUsize,
    /// Set when the connection ended or a request learnt the session is unusable.
    closed: Arc<AtomicBool>,
}

impl Session {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn has_room(&self, max_requests: u64) -> bool {
        !self.is_closed()
            && self.started.load(Ordering::SeqCst) < max_requests
            && self.in_flight.load(Ordering::SeqCst) < self.sender.current_max_send_streams()
    }
}

/// One request's use of a session; gives its stream slot back when dropped.
struct Lease {
    session: Arc<Session>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.session.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct OriginSessions {
    sessions: Mutex<Vec<Arc<Session>>>,
    opening: tokio::sync::Mutex<()>,
}

impl OriginSessions {
    /// Takes room on an open session, retiring it from the pool when it reached its maximum.
    fn try_lease(&self, max_requests: u64) -> Option<Lease> {
        let mut sessions = lock(&self.sessions);
        sessions.retain(|session| !session.is_closed());
        let index = sessions
            .iter()
            .position(|session| session.has_room(max_requests))?;
        let session = sessions[index].clone();
        session.in_flight.fetch_add(1, Ordering::SeqCst);
        let started = session.started.fetch_add(1, Ordering::SeqCst) + 1;
        if started >= max_requests {
            sessions.remove(index);
        }
        Some(Lease { session })
    }

    fn add(&self, session: Arc<Session>) {
        lock(&self.sessions).push(session);
    }
}

/// Why one attempt failed.
enum AttemptError {
    /// The peer did not process the request: safe to try again elsewhere.
    NotProcessed(Error),
    Failed(Error),
}

pub struct Http2Pool {
    tls: TlsConnector,
    max_requests_per_session: u64,
    origins: Mutex<HashMap<Origin, Arc<OriginSessions>>>,
}

impl Http2Pool {
    pub fn new(tls: Arc<rustls::ClientConfig>, max_requests_per_session: Option<u64>) -> Self {
        Http2Pool {
            tls: TlsConnector::from(tls),
            max_requests_per_session: max_requests_per_session.unwrap_or(u64::MAX),
            origins: Mutex::new(HashMap::new()),
        }
    }

    /// POSTs `body`; a 2xx gives the reply (at most `MAX_REPLY_LEN` bytes), any other status
    /// `Error::HttpStatus`.
    pub async fn post(&self, url: &Uri, headers: &HeaderMap, body: Bytes) -> Result<Bytes> {
        let origin = Origin::of(url)?;
        let sessions = self.sessions_for(&origin);
        let mut last_error = None;
        for _ in 0..MAX_ATTEMPTS {
            let lease = self.lease(&origin, &sessions).await?;
            match attempt(&lease.session, url, headers, body.clone()).await {
                Ok(reply) => return Ok(reply),
                Err(AttemptError::Failed(error)) => return Err(error),
                Err(AttemptError::NotProcessed(error)) => {
                    lease.session.closed.store(true, Ordering::SeqCst);
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Transport("HTTP/2 request not sent".into())))
    }

    fn sessions_for(&self, origin: &Origin) -> Arc<OriginSessions> {
        lock(&self.origins)
            .entry(origin.clone())
            .or_default()
            .clone()
    }

    async fn lease(&self, origin: &Origin, sessions: &OriginSessions) -> Result<Lease> {
        if let Some(lease) = sessions.try_lease(self.max_requests_per_session) {
            return Ok(lease);
        }
        let _opening = sessions.opening.lock().await;
        if let Some(lease) = sessions.try_lease(self.max_requests_per_session) {
            return Ok(lease);
        }
        sessions.add(self.connect(origin).await?);
        sessions
            .try_lease(self.max_requests_per_session)
            .ok_or_else(|| Error::Transport("new HTTP/2 session has no room".into()))
    }

    async fn connect(&self, origin: &Origin) -> Result<Arc<Session>> {
        let host = origin
            .authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let tcp = TcpStream::connect((host, origin.port()))
            .await
            .map_err(|e| Error::Transport(format!("tcp connect error: {e}")))?;
        let _ = tcp.set_nodelay(true);
        if origin.scheme == Scheme::HTTPS {
            let name = ServerName::try_from(host.to_owned())
                .map_err(|_| Error::Transport(format!("invalid TLS server name {host}")))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| Error::Transport(format!("TLS handshake failed: {e}")))?;
            if tls.get_ref().1.alpn_protocol() != Some(ALPN_H2) {
                return Err(Error::Transport(
                    "the peer did not agree to HTTP/2 (ALPN h2)".into(),
                ));
            }
            handshake(tls).await
        } else {
            handshake(tcp).await
        }
    }
}

async fn handshake<T>(io: T) -> Result<Arc<Session>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: h2::Error| Error::Transport(format!("HTTP/2 handshake failed: {e}"));
    let (sender, mut connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME_SIZE)
        .handshake(io)
        .await
        .map_err(failed)?;
    let mut ping_pong = connection.ping_pong();
    let closed = Arc::new(AtomicBool::new(false));
    let closed_when_done = closed.clone();
    tokio::spawn(async move {
        let _ = connection.await;
        closed_when_done.store(true, Ordering::SeqCst);
    });
    // The peer's SETTINGS (its stream limit) precede its answer to our first PING: wait for
    // that answer, so the first burst of requests already sees the real limit.
    if let Some(ping_pong) = ping_pong.as_mut() {
        ping_pong.ping(h2::Ping::opaque()).await.map_err(failed)?;
    }
    Ok(Arc::new(Session {
        sender,
        started: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        closed,
    }))
}

async fn attempt(
    session: &Session,
    url: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> std::result::Result<Bytes, AttemptError> {
    let not_sent = |e: h2::Error| AttemptError::NotProcessed(transport(&e));
    let mut sender = session.sender.clone().ready().await.map_err(not_sent)?;
    let mut request = wire::post(url, headers, ());
    // hyper's HTTP/1.1 client adds `content-length`, the `h2` crate does not; strict servers
    // want it (warp's `content_length_limit`, so interledger-rs's ilp-node, refuses without).
    request
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let (response, mut stream) = sender
        .send_request(request, body.is_empty())
        .map_err(not_sent)?;
    if !body.is_empty() {
        // This fails only on a stream that is already closed: one the peer reset (refused,
        // above a GOAWAY) or answered before reading the body. The response says which.
        let _ = stream.send_data(body, true);
    }
    let response = response.await.map_err(classify)?;
    if !response.status().is_success() {
        return Err(AttemptError::Failed(Error::HttpStatus(
            response.status().as_u16(),
        )));
    }
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = H2Body {
        stream: response.into_body(),
        declared,
    };
    read_bounded(&mut body, MAX_REPLY_LEN)
        .await
        .map_err(|error| {
            AttemptError::Failed(match error {
                BodyError::TooLarge => Error::ResponseTooLarge {
                    limit: MAX_REPLY_LEN,
                },
                BodyError::Failed(error) => transport(&error),
            })
        })
}

/// An h2 response body as an `http_body::Body` (for `wire::read_bounded`), giving the
/// flow-control capacity back as it is read.
struct H2Body {
    stream: h2::RecvStream,
    /// Content-Length.
    declared: Option<u64>,
}

impl http_body::Body for H2Body {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, h2::Error>>> {
        let chunk = ready!(self.stream.poll_data(cx));
        if let Some(Ok(chunk)) = &chunk {
            let _ = self.stream.flow_control().release_capacity(chunk.len());
        }
        Poll::Ready(chunk.map(|chunk| chunk.map(http_body::Frame::data)))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.declared
            .map(http_body::SizeHint::with_exact)
            .unwrap_or_default()
    }
}

/// Refused streams, and streams above the last stream id of a graceful GOAWAY (the only
/// streams h2 fails with a remote NO_ERROR GOAWAY), were not processed.
fn classify(error: h2::Error) -> AttemptError {
    let refused = error.reason() == Some(h2::Reason::REFUSED_STREAM);
    let above_graceful_goaway =
        error.is_go_away() && error.is_remote() && error.reason() == Some(h2::Reason::NO_ERROR);
    if refused || above_graceful_goaway {
        AttemptError::NotProcessed(transport(&error))
    } else {
        AttemptError::Failed(transport(&error))
    }
}

fn transport(error: &h2::Error) -> Error {
    Error::Transport(format!("HTTP/2: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tls::client_config;
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    /// What an h2 server on 127.0.0.1:0 saw of the first request: its `content-length` and
    /// body. It answers 200 "reply".
    async fn h2_server() -> (u16, oneshot::Receiver<(Option<HeaderValue>, Vec<u8>)>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen, seen_rx) = oneshot::channel();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut connection = h2::server::handshake(socket).await.unwrap();
            let mut seen = Some(seen);
            while let Some(Ok((request, mut respond))) = connection.accept().await {
                let seen = seen.take();
                tokio::spawn(async move {
                    let length = request.headers().get(CONTENT_LENGTH).cloned();
                    let mut body = request.into_body();
                    let mut received = Vec::new();
                    while let Some(Ok(chunk)) = body.data().await {
                        let _ = body.flow_control().release_capacity(chunk.len());
                        received.extend_from_slice(&chunk);
                    }
                    let mut stream = respond
                        .send_response(http::Response::new(()), false)
                        .unwrap();
                    stream
                        .send_data(Bytes::from_static(b"reply"), true)
                        .unwrap();
                    if let Some(seen) = seen {
                        let _ = seen.send((length, received));
                    }
                });
            }
        });
        (port, seen_rx)
    }

    #[tokio::test]
    async fn requests_declare_their_content_length() {
        for body in [Bytes::from_static(b"a prepare"), Bytes::new()] {
            let (port, seen) = h2_server().await;
            let pool = Http2Pool::new(client_config(&[], None, &[ALPN_H2]).unwrap(), None);
            let url: Uri = format!("http://127.0.0.1:{port}/ilp").parse().unwrap();
            let reply = pool.post(&url, &HeaderMap::new(), body.clone()).await;
            assert_eq!(reply.unwrap(), "reply");
            let (length, received) = seen.await.unwrap();
            assert_eq!(length, Some(HeaderValue::from(body.len())));
            assert_eq!(received, body);
        }
    }
}

//! The HTTP/2 client: sessions per origin (h2c prior knowledge for `http://`, ALPN `h2` for
//! `https://`), built on the `h2` crate so the peer's stream limit is visible.
//!
//! - A request takes a session with room: fewer requests in flight than the peer's
//!   `SETTINGS_MAX_CONCURRENT_STREAMS`, and (with `http2MaxRequestsPerSession`) fewer requests
//!   started than the maximum. Otherwise one new session is opened (one opener at a time per
//!   origin; the others wait and re-check).
//! - A session that reached its request maximum leaves the pool; it closes by itself once its
//!   last stream ended (graceful retirement).
//! - At most `outgoing.maxConnections` sessions are open per origin; at the cap, a request
//!   waits for room on one (bounded by its expiry, which the caller enforces). A new session
//!   without room for a single stream (the peer's `SETTINGS_MAX_CONCURRENT_STREAMS` is 0) is
//!   closed at once and the request fails (T01). A session without requests for
//!   `outgoing.idleTimeout` is closed, and `close_all` (disconnect) closes every session once
//!   its requests in flight ended.
//! - A request the peer provably did not process (refused stream, above a GOAWAY's last
//!   stream id, or failing before it was sent) is retried on another session. A request
//!   that may have been processed fails with a transport error (T01).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::header::CONTENT_LENGTH;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderValue, Uri};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::config::tls::ALPN_H2;
use crate::error::{Error, Result};
use crate::protocol::packet::MAX_REPLY_LEN;
use crate::sync::lock;
use crate::wire::{self, read_bounded, BodyError};

/// How many times a request the peer did not process is tried on another session.
const MAX_ATTEMPTS: usize = 4;

/// Receive windows sized for whole replies (at most `MAX_REPLY_LEN`, 41,997 bytes).
const WINDOWS: wire::H2Windows = wire::H2Windows::for_bodies_up_to(MAX_REPLY_LEN);

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
    /// Shared with the task driving the connection.
    usage: Arc<Usage>,
}

/// What the task driving a session's connection needs to know about its use.
struct Usage {
    in_flight: AtomicUsize,
    /// When the last request ended (or the session opened).
    last_used: Mutex<Instant>,
    /// Set when the connection ended or a request learnt the session is unusable.
    closed: AtomicBool,
    /// Tells the connection task to end once no request is in flight.
    stop: Notify,
}

impl Usage {
    fn idle_since(&self) -> Option<Instant> {
        (self.in_flight.load(Ordering::SeqCst) == 0).then(|| *lock(&self.last_used))
    }

    /// Marks the session unusable and ends its connection once its requests ended.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.stop.notify_one();
    }
}

impl Session {
    fn is_closed(&self) -> bool {
        self.usage.closed.load(Ordering::SeqCst)
    }

    fn has_room(&self, max_requests: u64) -> bool {
        !self.is_closed()
            && self.started.load(Ordering::SeqCst) < max_requests
            && self.usage.in_flight.load(Ordering::SeqCst) < self.sender.current_max_send_streams()
    }
}

/// One request's use of a session; gives its stream slot back when dropped.
struct Lease {
    session: Arc<Session>,
    origin: Arc<OriginSessions>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        *lock(&self.session.usage.last_used) = Instant::now();
        self.session.usage.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.origin.room.notify_waiters();
    }
}

#[derive(Default)]
struct OriginSessions {
    sessions: Mutex<Vec<Arc<Session>>>,
    opening: tokio::sync::Mutex<()>,
    /// Sessions whose connection is open (in the pool or retired), under the per-origin cap.
    open: AtomicUsize,
    /// Notified when a request ended or a session closed: there may be room now.
    room: Notify,
}

impl OriginSessions {
    /// Takes room on an open session, retiring it from the pool when it reached its maximum.
    fn try_lease(self: &Arc<Self>, max_requests: u64) -> Option<Lease> {
        let mut sessions = lock(&self.sessions);
        sessions.retain(|session| !session.is_closed());
        let index = sessions
            .iter()
            .position(|session| session.has_room(max_requests))?;
        let session = sessions[index].clone();
        session.usage.in_flight.fetch_add(1, Ordering::SeqCst);
        let started = session.started.fetch_add(1, Ordering::SeqCst) + 1;
        if started >= max_requests {
            sessions.remove(index);
        }
        Some(Lease {
            session,
            origin: self.clone(),
        })
    }

    /// Closes every session (each ends once its requests ended).
    fn close_all(&self) {
        let sessions = std::mem::take(&mut *lock(&self.sessions));
        for session in sessions {
            session.usage.close();
        }
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

/// How many sessions one origin may have open, and for how long an unused one stays.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// `outgoing.http2MaxRequestsPerSession` (unlimited: `None`).
    pub max_requests_per_session: Option<u64>,
    /// `outgoing.maxConnections`.
    pub max_sessions: usize,
    /// `outgoing.idleTimeout`.
    pub idle_timeout: Duration,
}

pub struct Http2Pool {
    tls: TlsConnector,
    max_requests_per_session: u64,
    max_sessions: usize,
    idle_timeout: Duration,
    origins: Mutex<HashMap<Origin, Arc<OriginSessions>>>,
}

impl Http2Pool {
    pub fn new(tls: Arc<rustls::ClientConfig>, limits: SessionLimits) -> Self {
        Http2Pool {
            tls: TlsConnector::from(tls),
            max_requests_per_session: limits.max_requests_per_session.unwrap_or(u64::MAX),
            max_sessions: limits.max_sessions,
            idle_timeout: limits.idle_timeout,
            origins: Mutex::new(HashMap::new()),
        }
    }

    /// Closes every session: at once when idle, else once its requests in flight ended.
    pub fn close_all(&self) {
        let origins: Vec<_> = lock(&self.origins).values().cloned().collect();
        for origin in origins {
            origin.close_all();
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
                    lease.session.usage.close();
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

    /// Room on a session: an open one, a new one under the cap, or (at the cap) the first
    /// one that gets room. The caller bounds the wait (the Prepare's expiry).
    async fn lease(&self, origin: &Origin, sessions: &Arc<OriginSessions>) -> Result<Lease> {
        loop {
            let room = sessions.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if let Some(lease) = sessions.try_lease(self.max_requests_per_session) {
                return Ok(lease);
            }
            let opening = sessions.opening.lock().await;
            if let Some(lease) = sessions.try_lease(self.max_requests_per_session) {
                return Ok(lease);
            }
            if sessions.open.load(Ordering::SeqCst) < self.max_sessions {
                let session = self.connect(origin, sessions).await?;
                if session.sender.current_max_send_streams() == 0 {
                    // Never keep a session nobody can use.
                    session.usage.close();
                    return Err(Error::Transport(
                        "new HTTP/2 session has no room (the peer allows no streams)".into(),
                    ));
                }
                sessions.add(session);
                drop(opening);
                // Others may have taken its room first: look again.
                continue;
            }
            drop(opening);
            room.await;
        }
    }

    async fn connect(
        &self,
        origin: &Origin,
        sessions: &Arc<OriginSessions>,
    ) -> Result<Arc<Session>> {
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
            self.handshake(tls, sessions).await
        } else {
            self.handshake(tcp, sessions).await
        }
    }

    /// The HTTP/2 handshake, and a task driving the connection until it ends, it was asked to
    /// close (and its requests ended), or it has been idle for `idle_timeout`.
    async fn handshake<T>(&self, io: T, sessions: &Arc<OriginSessions>) -> Result<Arc<Session>>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let failed = |e: h2::Error| Error::Transport(format!("HTTP/2 handshake failed: {e}"));
        let (sender, mut connection) = h2::client::Builder::new()
            .initial_window_size(WINDOWS.stream_window)
            .initial_connection_window_size(WINDOWS.connection_window)
            .max_frame_size(WINDOWS.max_frame_size)
            .handshake(io)
            .await
            .map_err(failed)?;
        let mut ping_pong = connection.ping_pong();
        let usage = Arc::new(Usage {
            in_flight: AtomicUsize::new(0),
            last_used: Mutex::new(Instant::now()),
            closed: AtomicBool::new(false),
            stop: Notify::new(),
        });
        let open = OpenSession::new(sessions.clone());
        let idle_timeout = self.idle_timeout;
        let driven = usage.clone();
        tokio::spawn(async move {
            let _open = open;
            tokio::select! {
                _ = &mut connection => {}
                _ = until_unused(&driven, idle_timeout) => {}
            }
            driven.closed.store(true, Ordering::SeqCst);
        });
        // The peer's SETTINGS (its stream limit) precede its answer to our first PING: wait
        // for that answer, so the first burst of requests already sees the real limit.
        if let Some(ping_pong) = ping_pong.as_mut() {
            if let Err(error) = ping_pong.ping(h2::Ping::opaque()).await {
                usage.close();
                return Err(failed(error));
            }
        }
        Ok(Arc::new(Session {
            sender,
            started: AtomicU64::new(0),
            usage,
        }))
    }
}

/// Counts a session as open under its origin's cap while it lives (its connection task).
struct OpenSession(Arc<OriginSessions>);

impl OpenSession {
    fn new(origin: Arc<OriginSessions>) -> Self {
        origin.open.fetch_add(1, Ordering::SeqCst);
        OpenSession(origin)
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.room.notify_waiters();
    }
}

/// Resolves once the session has had no request in flight for `idle_timeout`, or was asked
/// to close and has no request in flight.
async fn until_unused(usage: &Usage, idle_timeout: Duration) {
    let mut stopping = false;
    loop {
        let idle_since = usage.idle_since();
        if stopping && idle_since.is_some() {
            return;
        }
        let check_at = match idle_since {
            Some(since) if since.elapsed() >= idle_timeout => return,
            Some(since) => since + idle_timeout,
            // Busy: look again later (a request ending updates `last_used`).
            None => Instant::now() + idle_timeout.min(CHECK_BUSY_EVERY),
        };
        let check_at = if stopping {
            check_at.min(Instant::now() + CHECK_BUSY_EVERY)
        } else {
            check_at
        };
        tokio::select! {
            _ = tokio::time::sleep_until(check_at) => {}
            _ = usage.stop.notified() => stopping = true,
        }
    }
}

/// How often a busy session that was asked to close checks whether its requests ended.
const CHECK_BUSY_EVERY: Duration = Duration::from_millis(50);

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
            let limits = SessionLimits {
                max_requests_per_session: None,
                max_sessions: 256,
                idle_timeout: Duration::from_secs(30),
            };
            let pool = Http2Pool::new(client_config(&[], None, &[ALPN_H2]).unwrap(), limits);
            let url: Uri = format!("http://127.0.0.1:{port}/ilp").parse().unwrap();
            let reply = pool.post(&url, &HeaderMap::new(), body.clone()).await;
            assert_eq!(reply.unwrap(), "reply");
            let (length, received) = seen.await.unwrap();
            assert_eq!(length, Some(HeaderValue::from(body.len())));
            assert_eq!(received, body);
        }
    }
}

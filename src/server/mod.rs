//! The incoming HTTP server: accept loop, graceful shutdown, and the status table.
//!
//! HTTP/1.1 and h2c (prior knowledge) are served on the same port, detected per connection;
//! with `incoming.tls`, HTTPS with ALPN `h2` and `http/1.1` instead.
//! The order of checks is that of docs/contract.md: method -> auth -> connected -> body size
//! -> handler.
//!
//! | request                                   | answer                                   |
//! |-------------------------------------------|------------------------------------------|
//! | GET / HEAD, any path, no auth             | 200 `OK` text/plain (health check)       |
//! | other method than GET/HEAD/POST           | 405, `Allow: GET, HEAD, POST`            |
//! | missing or bad `Authorization`            | 401 `invalid authorization` (body not used)|
//! | `maxHandlerCalls` or `…PerConnection` data-handler calls in flight | 503 (HTTP/2: RST_STREAM REFUSED_STREAM) |
//! | plugin disconnecting (old keep-alive)     | 502                                      |
//! | body over `MAX_PREPARE_LEN`               | 413                                      |
//! | body not complete within `bodyTimeout`    | 408 (HTTP/1.1: connection closed)        |
//! | multilateral: body not a valid Prepare    | 400                                      |
//! | multilateral: `peer.config`               | 200 ILDCP Fulfill; 400 for a bad peer name |
//! | no data handler                           | 502                                      |
//! | handler failed / returned a non-Buffer    | 500                                      |
//! | handler still busy when the Prepare expires | 504                                    |
//! | handler answered                          | 200 application/octet-stream, its bytes  |
//!
//! Refusals (401, 405, 502, 413 by Content-Length) are answered at once; over HTTP/1.1 what is
//! left of the body is read and dropped afterwards (bounded), while the connection counts as
//! idle. An error status is counted in the stats once its answer was handed to hyper for
//! writing, so requests whose client went away are not counted.
//!
//! A data-handler call holds a place under `maxHandlerCalls` and under its connection's
//! `maxHandlerCallsPerConnection` until the handler answered or the Prepare expired, also when
//! its request was cancelled meanwhile: a client resetting streams cannot make the handler
//! work on more than that.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, CONNECTION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

mod connections;
mod flood;

use crate::auth::IncomingAuth;
use crate::config::ConnectionLimits;
use crate::error::{Error, Result};
use crate::handler::{CallSlots, DataHandler, HandlerCall, HandlerOutcome};
use crate::log::{Level, SharedLogger};
use crate::protocol::ildcp::ILDCP_DESTINATION;
use crate::protocol::packet::{parse_prepare, MAX_PREPARE_LEN};
use crate::routing::{PeerConfigError, Router};
use crate::stats::Stats;
use crate::wire::{read_bounded, BodyError, H2Windows, ILP_PEER_NAME};
use connections::{supervise, Activity, Gate, Slot, Timeouts, WriteGuard};
use flood::{FloodGuard, WireAllowance, HTTP1_MAX_BUFFER};

/// How long `disconnect()` lets in-flight requests finish before closing their connections.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Streams one HTTP/2 connection may have open (enough for 1000 Prepares in flight).
const MAX_CONCURRENT_STREAMS: u32 = 1024;
/// HTTP/2 receive windows sized for whole request bodies (at most `MAX_PREPARE_LEN`, 33,857 bytes).
const H2_WINDOWS: H2Windows = H2Windows::for_bodies_up_to(MAX_PREPARE_LEN);
/// Connections the kernel queues for us before refusing SYNs (capped by `net.core.somaxconn`).
const LISTEN_BACKLOG: i32 = 1024;
/// How much later than `headersTimeout` hyper's HTTP/1.1 head timer fires.
const HYPER_HEAD_TIMER_DELAY: Duration = Duration::from_millis(50);
/// How long the handler may take when the body is not a Prepare with an expiry.
const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(30);
/// After a 413, how much of the rest of the body is read (and dropped) so the client can
/// read the answer before the connection is closed.
const DISCARD_LIMIT: usize = 4 << 20;
const DISCARD_TIME: Duration = Duration::from_secs(2);

/// What every request needs.
pub struct ServerState {
    pub auth: IncomingAuth,
    pub handler: Arc<dyn DataHandler>,
    /// Where Prepares go; in multilateral mode the server answers `peer.config` and requires
    /// valid Prepares.
    pub router: Arc<Router>,
    pub logger: SharedLogger,
    pub stats: Arc<Stats>,
    pub limits: ConnectionLimits,
    gate: Gate,
    /// Places for data-handler calls in flight, plugin-wide (`maxHandlerCalls`).
    handler_calls: Arc<Semaphore>,
    /// False once `disconnect()` started: requests on old keep-alive connections get 502.
    accepting: AtomicBool,
}

impl ServerState {
    pub fn new(
        auth: IncomingAuth,
        handler: Arc<dyn DataHandler>,
        router: Arc<Router>,
        logger: SharedLogger,
        stats: Arc<Stats>,
        limits: ConnectionLimits,
    ) -> Self {
        ServerState {
            auth,
            handler,
            router,
            logger,
            stats,
            limits,
            gate: Gate::new(limits.max_connections),
            handler_calls: Arc::new(Semaphore::new(limits.max_handler_calls)),
            accepting: AtomicBool::new(true),
        }
    }
}

/// Binds the port synchronously (port in use -> error now, port 0 -> the real port).
/// `::` listens on IPv4 and IPv6, falling back to `0.0.0.0` on machines without IPv6.
pub fn bind(host: IpAddr, port: u16) -> Result<std::net::TcpListener> {
    let address = SocketAddr::new(host, port);
    let listener = match listen(address) {
        Err(e)
            if host.is_unspecified()
                && host.is_ipv6()
                && e.kind() == std::io::ErrorKind::AddrNotAvailable =>
        {
            listen(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port))
        }
        other => other,
    };
    listener.map_err(|source| Error::Bind {
        address: address.to_string(),
        source,
    })
}

/// A non-blocking listening socket with a backlog of `LISTEN_BACKLOG` (std's is 128, which a
/// burst of connections overflows while the accept loop waits for room under the cap).
fn listen(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A server running on the tokio runtime.
pub struct RunningServer {
    pub port: u16,
    state: Arc<ServerState>,
    stop: oneshot::Sender<()>,
    stopped: oneshot::Receiver<()>,
}

impl RunningServer {
    /// Starts serving on a listener from `bind`. Must be called within the tokio runtime.
    pub fn start(
        listener: std::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        state: Arc<ServerState>,
    ) -> Result<Self> {
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let listener = TcpListener::from_std(listener).map_err(|source| Error::Bind {
            address: format!("port {port}"),
            source,
        })?;
        let (stop, stop_signal) = oneshot::channel();
        let (stopped_signal, stopped) = oneshot::channel();
        let tls = tls.map(TlsAcceptor::from);
        let serving = serve(listener, tls, state.clone(), stop_signal);
        tokio::spawn(async move {
            serving.await;
            let _ = stopped_signal.send(());
        });
        Ok(RunningServer {
            port,
            state,
            stop,
            stopped,
        })
    }

    /// Stops accepting at once, lets in-flight requests finish for up to `DRAIN_TIMEOUT`,
    /// then closes every connection.
    pub async fn shutdown(self) {
        self.state.accepting.store(false, Ordering::SeqCst);
        let _ = self.stop.send(());
        let _ = self.stopped.await;
    }
}

async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ServerState>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // hyper's own head timer is the backstop for half-sent heads (which a graceful close
        // does not end); it runs a little after ours, so idle connections are closed (and
        // counted) by `connections::supervise` first.
        .header_read_timeout(state.limits.headers_timeout + HYPER_HEAD_TIMER_DELAY)
        .max_buf_size(HTTP1_MAX_BUFFER);
    builder
        .http2()
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_frame_size(H2_WINDOWS.max_frame_size)
        .initial_stream_window_size(H2_WINDOWS.stream_window)
        .initial_connection_window_size(H2_WINDOWS.connection_window);
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    loop {
        let (stream, slot) = tokio::select! {
            _ = &mut stop => break,
            next = next_connection(&listener, &state) => next,
        };
        // Reap the tasks of connections that ended since the last accept.
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(
            builder.clone(),
            tls.clone(),
            stream,
            slot,
            state.clone(),
        ));
    }
    drop(listener);
    state.gate.drain();
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        state.logger.log(
            Level::Warn,
            format!(
                "closing {} connection(s) still busy {} s after disconnect()",
                connections.len(),
                DRAIN_TIMEOUT.as_secs()
            ),
        );
    }
    connections.shutdown().await;
}

/// The next client, once there is room for it under `maxConnections`.
async fn next_connection(listener: &TcpListener, state: &ServerState) -> (TcpStream, Slot) {
    let mut wanting_room = None;
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                drop(wanting_room);
                let slot = state.gate.slot().await;
                return (stream, slot);
            }
            Err(error) if is_out_of_file_descriptors(&error) => {
                // Make room, and wait a little instead of spinning. Logged once per streak.
                if wanting_room.is_none() {
                    state.logger.log(
                        Level::Warn,
                        format!("accepting a connection failed: {error}"),
                    );
                    wanting_room = Some(state.gate.want_room());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // A client that gave up during the handshake (ECONNABORTED) and the like.
            Err(error) => state.logger.log(
                Level::Debug,
                format!("accepting a connection failed: {error}"),
            ),
        }
    }
}

/// EMFILE (this process) or ENFILE (the system): the same numbers on Linux, macOS and BSDs.
fn is_out_of_file_descriptors(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(23 | 24))
}

/// One accepted connection: the TLS handshake if configured, then HTTP/1.1 or h2.
async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    tls: Option<TlsAcceptor>,
    stream: TcpStream,
    _slot: Slot,
    state: Arc<ServerState>,
) {
    state.stats.connection_opened();
    let _closed = ConnectionClosed(state.stats.clone());
    let Some(acceptor) = tls else {
        return serve_io(&builder, stream, state).await;
    };
    let handshake_timeout = TLS_HANDSHAKE_TIMEOUT.min(state.limits.headers_timeout);
    let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(stream));
    match state.gate.unless_room_wanted(handshake, &state.stats).await {
        Some(Ok(Ok(stream))) => serve_io(&builder, stream, state).await,
        Some(Ok(Err(error))) => state
            .logger
            .log(Level::Debug, format!("TLS handshake failed: {error}")),
        Some(Err(_)) => state
            .logger
            .log(Level::Debug, "TLS handshake timed out".to_string()),
        None => state.logger.log(
            Level::Debug,
            "TLS handshake abandoned to make room".to_string(),
        ),
    }
}

/// Counts the connection as closed when its task ends (also when aborted).
struct ConnectionClosed(Arc<Stats>);

impl Drop for ConnectionClosed {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

/// Serves HTTP/1.1 or h2 on `stream` (TLS already done), its bytes watched by `FloodGuard`.
async fn serve_io<S>(builder: &auto::Builder<TokioExecutor>, stream: S, state: Arc<ServerState>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = Arc::new(ConnectionState {
        activity: Arc::new(Activity::default()),
        wire: Arc::new(WireAllowance::new()),
        handler_calls: Arc::new(Semaphore::new(
            state.limits.max_handler_calls_per_connection,
        )),
    });
    let guard = FloodGuard::new(stream, connection.wire.clone(), state.stats.clone());
    let io = TokioIo::new(guard);
    let activity = connection.activity.clone();
    let service = {
        let state = state.clone();
        service_fn(move |request: Request<Incoming>| {
            let (state, connection) = (state.clone(), connection.clone());
            let in_flight = connection.activity.request_started();
            let http2 = request.version() == http::Version::HTTP_2;
            if !http2 {
                connection.wire.request_started();
            }
            async move {
                let response = answer(&state, &connection, request).await;
                drop(in_flight);
                if http2 && response.extensions().get::<TooBusy>().is_some() {
                    // The client may retry the stream elsewhere (RFC 9113 §8.7).
                    return Err(h2::Error::from(h2::Reason::REFUSED_STREAM));
                }
                let status = response.status();
                let error_status = (!status.is_success()
                    && response.extensions().get::<NotCounted>().is_none())
                .then(|| ErrorStatus {
                    stats: state.stats.clone(),
                    status: status.as_u16(),
                });
                let writing = connection.activity.write_started();
                Ok(response.map(|body| AnswerBody {
                    bytes: Some(body),
                    error_status,
                    _writing: writing,
                }))
            }
        })
    };
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    supervise(
        connection,
        |connection| connection.graceful_shutdown(),
        &activity,
        &state.gate,
        &state.stats,
        Timeouts {
            headers: state.limits.headers_timeout,
            write: state.limits.body_timeout,
        },
    )
    .await;
}

/// What the requests of one connection share.
struct ConnectionState {
    activity: Arc<Activity>,
    /// What its HTTP/1.1 client may send (see `flood`).
    wire: Arc<WireAllowance>,
    /// Places for data-handler calls in flight on this connection
    /// (`maxHandlerCallsPerConnection`).
    handler_calls: Arc<Semaphore>,
}

/// Marks the 503 for too many handler calls in flight (HTTP/2: REFUSED_STREAM instead).
#[derive(Clone, Copy)]
struct TooBusy;

/// Marks an error answer nobody will read (the client went away while sending its body): not
/// counted in the stats.
#[derive(Clone, Copy)]
struct NotCounted;

/// An answer's body as hyper writes it. While hyper holds it, the answer counts as waiting
/// to be written (`WriteGuard`): over HTTP/1.1 hyper drops it once it took the bytes, over
/// HTTP/2 once they fit the client's flow-control window. An error status is counted in the
/// stats when hyper takes the bytes (an answer to a client that went away is never taken).
pub struct AnswerBody {
    bytes: Option<Bytes>,
    /// Counted once the bytes were taken.
    error_status: Option<ErrorStatus>,
    _writing: WriteGuard,
}

struct ErrorStatus {
    stats: Arc<Stats>,
    status: u16,
}

impl http_body::Body for AnswerBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<http_body::Frame<Bytes>, Infallible>>> {
        let bytes = self.bytes.take();
        if let Some(error) = self.error_status.take() {
            error.stats.error_status(error.status);
        }
        std::task::Poll::Ready(bytes.map(|bytes| Ok(http_body::Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.bytes.as_ref().map_or(0, |b| b.len() as u64))
    }
}

/// An answer before it becomes an `AnswerBody` response (all answers are small and whole).
type HttpResponse = Response<Bytes>;

async fn answer(
    state: &ServerState,
    connection: &ConnectionState,
    request: Request<Incoming>,
) -> HttpResponse {
    match *request.method() {
        Method::GET | Method::HEAD => text(StatusCode::OK, "OK"),
        Method::POST => answer_post(state, connection, request).await,
        _ => {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response
                .headers_mut()
                .insert(ALLOW, http::HeaderValue::from_static("GET, HEAD, POST"));
            refuse(request, connection, response)
        }
    }
}

async fn answer_post(
    state: &ServerState,
    connection: &ConnectionState,
    request: Request<Incoming>,
) -> HttpResponse {
    if !state.auth.verify(request.headers().get(AUTHORIZATION)) {
        let response = text(StatusCode::UNAUTHORIZED, "invalid authorization");
        return refuse(request, connection, response);
    }
    if !state.accepting.load(Ordering::SeqCst) {
        let response = text(StatusCode::BAD_GATEWAY, "server is closed");
        return refuse(request, connection, response);
    }
    let body_timeout = state.limits.body_timeout;
    let (parts, packet) = match read_body(request, connection, body_timeout).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let timer = state.stats.request_started(packet.len());
    let answer = answer_packet(state, connection, parts.headers.get(ILP_PEER_NAME), packet).await;
    match answer {
        Ok(reply) => {
            state.stats.request_finished(timer, Some(&reply));
            octets(reply)
        }
        Err(response) => {
            state.stats.request_finished(timer, None);
            response
        }
    }
}

/// The reply to one packet, or the error response.
async fn answer_packet(
    state: &ServerState,
    connection: &ConnectionState,
    peer_name: Option<&http::HeaderValue>,
    packet: Bytes,
) -> std::result::Result<Bytes, HttpResponse> {
    let prepare = parse_prepare(&packet);
    if state.router.is_multilateral() {
        match &prepare {
            Err(_) => return Err(text(StatusCode::BAD_REQUEST, "invalid ILP prepare")),
            Ok(prepare) if prepare.destination == ILDCP_DESTINATION => {
                return answer_peer_config(state, peer_name).await;
            }
            Ok(_) => {}
        }
    }
    // The handler's answer is useless once the Prepare expired. Bilateral bodies are not
    // required to be Prepares (1.6.1 passes anything on); those get a fixed timeout.
    let timeout = match prepare {
        Ok(prepare) => prepare
            .expires_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
        Err(_) => DEFAULT_HANDLER_TIMEOUT,
    };
    let Some(slots) = handler_call_slots(state, connection) else {
        state.stats.handler_call_refused();
        let mut response = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests in flight",
        );
        response.extensions_mut().insert(TooBusy);
        return Err(response);
    };
    let call = HandlerCall {
        deadline: tokio::time::Instant::now() + timeout,
        slots,
    };
    match tokio::time::timeout(timeout, state.handler.handle(packet, call)).await {
        Ok(HandlerOutcome::Reply(reply)) => Ok(reply),
        Ok(HandlerOutcome::Failed(reason)) => {
            state
                .logger
                .log(Level::Error, format!("data handler failed: {reason}"));
            Err(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "data handler failed",
            ))
        }
        Ok(HandlerOutcome::NoHandler) => {
            Err(text(StatusCode::BAD_GATEWAY, "no handler registered."))
        }
        Ok(HandlerOutcome::Unavailable) => {
            Err(text(StatusCode::BAD_GATEWAY, "data handler unavailable"))
        }
        Err(_) => {
            state.logger.log(
                Level::Warn,
                "data handler did not answer before the prepare expired".to_string(),
            );
            Err(text(
                StatusCode::GATEWAY_TIMEOUT,
                "data handler did not answer before the prepare expired",
            ))
        }
    }
}

/// A place under `maxHandlerCalls` and one under this connection's
/// `maxHandlerCallsPerConnection`, or `None` when either is full.
fn handler_call_slots(state: &ServerState, connection: &ConnectionState) -> Option<CallSlots> {
    let plugin = state.handler_calls.clone().try_acquire_owned().ok()?;
    let connection = connection.handler_calls.clone().try_acquire_owned().ok()?;
    Some(CallSlots::new(vec![plugin, connection]))
}

/// `peer.config` from a child: its address is ours + `.` + its `ILP-Peer-Name`.
async fn answer_peer_config(
    state: &ServerState,
    peer_name: Option<&http::HeaderValue>,
) -> std::result::Result<Bytes, HttpResponse> {
    match state.router.answer_peer_config(peer_name).await {
        Ok(fulfill) => Ok(Bytes::from(fulfill)),
        Err(PeerConfigError::BadPeerName) => Err(text(
            StatusCode::BAD_REQUEST,
            "missing or invalid ILP-Peer-Name: it must make a valid ILP address",
        )),
        Err(PeerConfigError::Unavailable(error)) => {
            state.logger.log(Level::Error, error.to_string());
            Err(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not fetch ildcp info",
            ))
        }
    }
}

/// Reads the body up to `MAX_PREPARE_LEN` bytes within `timeout` (`bodyTimeout`, else 408); a
/// larger one is refused with 413 (before reading, when Content-Length says so).
async fn read_body(
    request: Request<Incoming>,
    connection: &ConnectionState,
    timeout: Duration,
) -> std::result::Result<(http::request::Parts, Bytes), HttpResponse> {
    let too_large = || text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    let declared = request.body().size_hint().exact();
    if declared.is_some_and(|len| len > MAX_PREPARE_LEN as u64) {
        return Err(refuse(request, connection, too_large()));
    }
    let http2 = request.version() == http::Version::HTTP_2;
    let (parts, mut body) = request.into_parts();
    match tokio::time::timeout(timeout, read_bounded(&mut body, MAX_PREPARE_LEN)).await {
        Ok(Ok(packet)) => Ok((parts, packet)),
        Ok(Err(BodyError::TooLarge)) => {
            discard_later(body, http2, connection);
            Err(too_large())
        }
        Ok(Err(BodyError::Failed(_))) => {
            // The client went away (HTTP/1.1: the connection closed; HTTP/2: the stream was
            // reset) or sent a broken body.
            let mut response = text(StatusCode::BAD_REQUEST, "could not read the request body");
            response.extensions_mut().insert(NotCounted);
            Err(response)
        }
        Err(_) => Err(body_timed_out()),
    }
}

/// 408; over HTTP/1.1 the connection is closed too (over HTTP/2 the stream ends: hyper drops
/// connection-level headers there).
fn body_timed_out() -> HttpResponse {
    let mut response = text(StatusCode::REQUEST_TIMEOUT, "request body timeout");
    response
        .headers_mut()
        .insert(CONNECTION, http::HeaderValue::from_static("close"));
    response
}

/// Answers at once without using the body; see `discard_later` for what happens to it.
fn refuse(
    request: Request<Incoming>,
    connection: &ConnectionState,
    response: HttpResponse,
) -> HttpResponse {
    let http2 = request.version() == http::Version::HTTP_2;
    discard_later(request.into_body(), http2, connection);
    response
}

/// What is left of a body we refuse. HTTP/2: dropped (hyper resets the stream after the
/// answer). HTTP/1.1: read and dropped after the answer, bounded in size and time and until
/// the connection is asked to close, so that a client still sending can read the answer
/// instead of hitting a reset connection; the request no longer counts as in flight meanwhile.
/// A body declared larger than `DISCARD_LIMIT` is not read (the connection closes). The bytes
/// drained are added to the connection's `WireAllowance`.
fn discard_later(body: Incoming, http2: bool, connection: &ConnectionState) {
    let small = body
        .size_hint()
        .exact()
        .is_none_or(|len| len <= DISCARD_LIMIT as u64);
    if http2 || body.is_end_stream() || !small {
        return;
    }
    let (activity, wire) = (connection.activity.clone(), connection.wire.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = discard(body, &wire) => {}
            _ = activity.closing() => {}
        }
    });
}

/// Reads and drops what is left of a body we refuse, bounded in size and time.
async fn discard(mut body: Incoming, wire: &WireAllowance) {
    let started = Instant::now();
    let mut seen = 0usize;
    while seen < DISCARD_LIMIT {
        let left = DISCARD_TIME.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len());
                wire.body_drained(len);
                seen += len;
            }
            _ => return,
        }
    }
}

fn octets(body: Bytes) -> HttpResponse {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    response
}

fn text(status: StatusCode, body: &'static str) -> HttpResponse {
    let mut response = Response::new(Bytes::from_static(body.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

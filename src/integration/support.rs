//! What the integration tests share: plugins built from options JSON, data handlers written
//! in Rust, ILP packets, and a raw HTTP/1.1 client. Everything listens on 127.0.0.1 with
//! port 0; every wait is bounded.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::options::parse_options;
use crate::core::Plugin;
use crate::handler::{DataHandler, HandlerCall, HandlerFuture, HandlerOutcome};
use crate::log::NullLogger;
use crate::protocol::packet::{serialize_fulfill, serialize_prepare};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const TOKEN: &str = "integration-token";
/// An outgoing URL for plugins that only receive (nothing listens on port 9, discard).
pub const UNUSED_OUTGOING_URL: &str = "http://127.0.0.1:9/";
/// The upper bound of every wait in these tests.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Options with a static token both ways, listening on 127.0.0.1:0, sending to `url`;
/// `extra` is merged in (`{ "outgoing": { "http2": true } }` adds to `outgoing`).
pub fn options(url: &str, extra: Value) -> Value {
    let mut options = json!({
        "incoming": { "port": 0, "host": "127.0.0.1", "staticToken": TOKEN },
        "outgoing": { "url": url, "staticToken": TOKEN },
    });
    merge(&mut options, extra);
    options
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, from) => *into = from,
    }
}

/// A connected plugin built from `options` with `handler`.
pub fn plugin(options: &Value, handler: impl DataHandler) -> Plugin {
    let config = parse_options(&options.to_string()).expect("valid options");
    let plugin = Plugin::new(config, Arc::new(handler), Arc::new(NullLogger));
    plugin.connect().expect("connect");
    plugin
}

/// A plugin that only sends (its handler is never called).
pub fn sender(url: &str, extra: Value) -> Plugin {
    plugin(&options(url, extra), replying(fulfill()))
}

/// A data handler from a closure.
pub struct Handler<F>(pub F);

impl<F, Fut> DataHandler for Handler<F>
where
    F: Fn(Bytes) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerOutcome> + Send + 'static,
{
    fn handle(&self, packet: Bytes, _call: HandlerCall) -> HandlerFuture {
        Box::pin((self.0)(packet))
    }
}

/// Answers every packet with `reply`.
pub fn replying(reply: Bytes) -> impl DataHandler {
    Handler(move |_| std::future::ready(HandlerOutcome::Reply(reply.clone())))
}

/// A Prepare to `test.peer.bob` expiring `expires_in` from now.
pub fn prepare(expires_in: Duration) -> Bytes {
    prepare_to("test.peer.bob", expires_in, b"")
}

pub fn prepare_to(destination: &str, expires_in: Duration, data: &[u8]) -> Bytes {
    Bytes::from(serialize_prepare(
        7,
        SystemTime::now() + expires_in,
        &[3; 32],
        destination,
        data,
    ))
}

pub fn fulfill() -> Bytes {
    Bytes::from(serialize_fulfill(&[0; 32], b"fulfilled"))
}

/// Counts calls; shared between a test and the peer it runs.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    pub fn bump(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    pub fn drop_one(&self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One HTTP/1.1 response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The head, lowercased, for `contains` checks.
    pub head: String,
    pub body: Vec<u8>,
}

/// Sends `request` (bytes as given) on a new connection and reads one response: up to
/// Content-Length, or to the end of the connection.
pub async fn raw_request(port: u16, request: &[u8]) -> RawResponse {
    let mut socket = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    socket.write_all(request).await.expect("write");
    read_response(&mut socket).await
}

pub async fn read_response(socket: &mut TcpStream) -> RawResponse {
    let mut buffer = Vec::new();
    let read = async {
        loop {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(response) = parse_response(&buffer) {
                return Some(response);
            }
        }
        parse_response_to_end(&buffer)
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("a response in time")
        .expect("a complete HTTP response")
}

/// A response whose body is complete by its Content-Length.
fn parse_response(buffer: &[u8]) -> Option<RawResponse> {
    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))?
        .trim()
        .parse()
        .ok()?;
    let body = buffer.get(end + 4..end + 4 + length)?.to_vec();
    Some(RawResponse {
        status: head.get(9..12)?.parse().ok()?,
        head,
        body,
    })
}

/// A response without Content-Length: the body runs to the end of the connection.
fn parse_response_to_end(buffer: &[u8]) -> Option<RawResponse> {
    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
    Some(RawResponse {
        status: head.get(9..12)?.parse().ok()?,
        head,
        body: buffer[end + 4..].to_vec(),
    })
}

/// A `POST /` with the static token and `body`, closing the connection after.
pub fn post_request(body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// The plugin's admin info, as JSON.
pub fn stats(plugin: &Plugin) -> Value {
    plugin.admin_info()["stats"].clone()
}

/// A running test peer; stops accepting when dropped.
pub struct Peer {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    pub fn from_task(port: u16, task: tokio::task::JoinHandle<()>) -> Self {
        Peer { port, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/ilp", self.port)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a scripted peer does with one request: the status and body, after `delay`.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub delay: Duration,
}

impl Answer {
    pub fn ok(body: Bytes) -> Self {
        Answer {
            status: 200,
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16) -> Self {
        Answer {
            status,
            body: Bytes::from_static(b"no"),
            delay: Duration::ZERO,
        }
    }
}

/// An HTTP/1.1 peer (hyper, keep-alive) answering each request (head and body) with
/// `answer`.
pub async fn http1_peer<F>(answer: F) -> Peer
where
    F: Fn(&http::request::Parts, &Bytes) -> Answer + Send + Sync + 'static,
{
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let answer = Arc::new(answer);
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            let service =
                hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let answer = answer.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let Answer {
                            status,
                            body,
                            delay,
                        } = answer(&parts, &body);
                        tokio::time::sleep(delay).await;
                        let mut response = http::Response::new(Full::new(body));
                        *response.status_mut() =
                            http::StatusCode::from_u16(status).expect("a status");
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
            connections.spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Peer { port, task }
}

/// The `ilpErrorCode` and message a send failed with.
pub fn failure(result: crate::error::Result<Bytes>) -> (&'static str, String) {
    let error = result.expect_err("the send should fail");
    (error.ilp_error_code().as_str(), error.to_string())
}

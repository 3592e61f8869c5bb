//! The HTTP/1.1 client: hyper-util's keep-alive pool (`http://` and `https://`), with one
//! addition: a request that fails on a pooled connection which had already served a response,
//! before any byte of the answer arrived, is sent again on another connection.
//!
//! That failure is the keep-alive race: the peer closed the idle connection (its keep-alive
//! timeout, or a restart) while we were writing the request, so the peer never read it.
//! hyper-util retries only requests it had not started writing; without this, every such race
//! would lose a packet. A request that fails on a fresh connection is never retried, and
//! neither is one whose answer had started. The same rule as browsers use for reused
//! connections; the remaining risk is a peer that crashes after reading a request but before
//! answering it on a reused connection, which then sees the request again.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// Idle pooled connections are closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Tries of one request: the first, then one per stale pooled connection met. After a peer
/// restart every pooled connection is stale, but the pool drops each as soon as its close is
/// read, so a retry rarely meets more than one; the bound only rules out a loop.
const MAX_ATTEMPTS: usize = 8;

pub struct Http1Client {
    pool: HyperClient<MarkingConnector, Full<Bytes>>,
}

impl Http1Client {
    pub fn new(tls: rustls::ClientConfig) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        // hyper-rustls sets ALPN (http/1.1) itself.
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Http1Client {
            pool: HyperClient::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .build(MarkingConnector(connector)),
        }
    }

    /// POSTs `body`; resolves at the response head. Retries on stale pooled connections.
    pub async fn post(
        &self,
        url: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        let mut attempt = 1;
        loop {
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = Method::POST;
            *request.uri_mut() = url.clone();
            *request.headers_mut() = headers.clone();
            match self.pool.request(request).await {
                Ok(response) => {
                    if let Some(served) = response.extensions().get::<ServedBefore>() {
                        served.0.store(true, Ordering::Relaxed);
                    }
                    return Ok(response);
                }
                Err(error) if attempt < MAX_ATTEMPTS && failed_on_reused_connection(&error) => {
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// True when the connection the request failed on had served a response before (so it
/// came from the pool). Connect errors happen on new connections only.
fn failed_on_reused_connection(error: &hyper_util::client::legacy::Error) -> bool {
    let Some(connected) = error.connect_info() else {
        return false;
    };
    let mut extensions = http::Extensions::new();
    connected.get_extras(&mut extensions);
    let reused = extensions
        .get::<ServedBefore>()
        .is_some_and(|served| served.0.load(Ordering::Relaxed));
    reused && !error.is_connect()
}

/// Set once the connection delivered a response head; travels with the connection's
/// `Connected` info into responses and errors.
#[derive(Clone, Default)]
struct ServedBefore(Arc<AtomicBool>);

/// The HTTPS-or-HTTP connector, tagging each new connection with a fresh `ServedBefore`.
#[derive(Clone)]
struct MarkingConnector(HttpsConnector<HttpConnector>);

type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for MarkingConnector {
    type Response = Marked;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Marked, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            Ok(Marked {
                stream: connecting.await?,
                served: ServedBefore::default(),
            })
        })
    }
}

/// A connection and its `ServedBefore` mark; reads and writes go straight through.
struct Marked {
    stream: Stream,
    served: ServedBefore,
}

impl Connection for Marked {
    fn connected(&self) -> Connected {
        self.stream.connected().extra(self.served.clone())
    }
}

impl hyper::rt::Read for Marked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Marked {
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

//! The HTTP/1.1 client: hyper-util's keep-alive pool (`http://` and `https://`), with one
//! addition: a request that fails on a pooled connection which had already served a response,
//! with not one byte of an answer read after the request was written, is sent once more, on a
//! new connection (never a pooled one: after a peer restart all of them may be stale).
//!
//! That failure is the keep-alive race: the peer closed the idle connection (its keep-alive
//! timeout, or a restart) while we were writing the request, so the peer never read it.
//! hyper-util retries only requests it had not started writing; without this, every such race
//! would lose a packet. A request that fails on a fresh connection is never retried, and
//! neither is one whose answer had started (bytes counted as plaintext, above TLS: see
//! `Marked`). The same rule as browsers use for reused connections; the remaining risk
//! is a peer that crashes after reading a request but before answering it on a reused
//! connection, which then sees the request again.
//!
//! At most `outgoing.maxConnections` connections are open to one origin (`scheme://host:port`):
//! each holds a place from its connect until it closes, and a request that needs a new
//! connection at the cap waits for a pooled one to become free or a place to open up (bounded
//! by the Prepare's expiry, which the caller enforces). Unused connections close after
//! `outgoing.idleTimeout`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::wire;

type Pool = HyperClient<MarkingConnector, Full<Bytes>>;

pub struct Http1Client {
    pool: Pool,
    /// The same connector without idle connections: a resent request always gets a new
    /// connection (after a peer restart, every pooled connection may be stale).
    fresh: Pool,
}

impl Http1Client {
    /// `max_connections` per origin; idle connections close after `idle_timeout`.
    pub fn new(tls: rustls::ClientConfig, max_connections: usize, idle_timeout: Duration) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        // hyper-rustls sets ALPN (http/1.1) itself.
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let connector = MarkingConnector {
            inner: connector,
            places: Arc::new(OriginPlaces {
                per_origin: max_connections,
                origins: Mutex::default(),
            }),
        };
        Http1Client {
            pool: HyperClient::builder(TokioExecutor::new())
                .pool_idle_timeout(idle_timeout)
                .build(connector.clone()),
            fresh: HyperClient::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(connector),
        }
    }

    /// POSTs `body`; resolves at the response head. A request that met a stale pooled
    /// connection is sent once more, on a new connection.
    pub async fn post(
        &self,
        url: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        let request = || wire::post(&url, &headers, Full::new(body.clone()));
        let response = match self.pool.request(request()).await {
            Err(error) if unanswered_on_reused_connection(&error) => {
                self.fresh.request(request()).await?
            }
            other => other?,
        };
        if let Some(marks) = response.extensions().get::<Marks>() {
            marks.0.served.store(true, Ordering::Relaxed);
        }
        Ok(response)
    }
}

/// True when the connection the request failed on had served a response before (so it came
/// from the pool) and nothing of an answer was read since the request was written.
fn unanswered_on_reused_connection(error: &hyper_util::client::legacy::Error) -> bool {
    let Some(connected) = error.connect_info() else {
        return false;
    };
    let mut extensions = http::Extensions::new();
    connected.get_extras(&mut extensions);
    extensions.get::<Marks>().is_some_and(|marks| {
        marks.0.served.load(Ordering::Relaxed) && !marks.0.read_since_write.load(Ordering::Relaxed)
    })
}

/// What one connection did; travels with its `Connected` info into responses and errors.
#[derive(Clone, Default)]
struct Marks(Arc<ConnectionMarks>);

#[derive(Default)]
struct ConnectionMarks {
    /// A response head arrived on this connection.
    served: AtomicBool,
    /// Bytes were read after the last bytes were written (HTTP/1.1 is one request at a time,
    /// so: the current request's answer has started).
    read_since_write: AtomicBool,
}

/// The HTTPS-or-HTTP connector, tagging each new connection with fresh `Marks`, and opening
/// one only when its origin has a place for it.
#[derive(Clone)]
struct MarkingConnector {
    inner: HttpsConnector<HttpConnector>,
    places: Arc<OriginPlaces>,
}

/// Places for open connections, `per_origin` for each origin.
struct OriginPlaces {
    per_origin: usize,
    origins: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl OriginPlaces {
    /// Waits for a place for one more connection to the origin of `uri`.
    async fn take(&self, uri: &Uri) -> OwnedSemaphorePermit {
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map_or("", |a| a.as_str())
        );
        let places = self
            .origins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(origin)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_origin)))
            .clone();
        match places.acquire_owned().await {
            Ok(permit) => permit,
            // Only a closed semaphore fails, and these are never closed.
            Err(_) => std::future::pending().await,
        }
    }
}

type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for MarkingConnector {
    type Response = Marked;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Marked, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut inner = self.inner.clone();
        let places = self.places.clone();
        Box::pin(async move {
            let place = places.take(&uri).await;
            Ok(Marked {
                stream: inner.call(uri).await?,
                marks: Marks::default(),
                _place: place,
            })
        })
    }
}

/// A connection and its `Marks`. Reads and writes go to the stream (plaintext, above TLS, so
/// TLS records such as a peer's close_notify do not count as an answer).
struct Marked {
    stream: Stream,
    marks: Marks,
    /// Its origin's place, given back when the connection closes.
    _place: OwnedSemaphorePermit,
}

impl Connection for Marked {
    fn connected(&self) -> Connected {
        self.stream.connected().extra(self.marks.clone())
    }
}

impl hyper::rt::Read for Marked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        // Read through a ReadBuf of our own over the unfilled part, to see how many bytes came
        // (hyper-util's `TokioIo` reads the same way).
        // SAFETY: the inner read only writes initialized bytes into the slice and counts them
        // in `filled`; exactly that many are then marked filled in `buf`.
        let read = unsafe {
            let mut inner = hyper::rt::ReadBuf::uninit(buf.as_mut());
            match Pin::new(&mut self.stream).poll_read(cx, inner.unfilled()) {
                Poll::Ready(Ok(())) => inner.filled().len(),
                other => return other,
            }
        };
        if read > 0 {
            self.marks.0.read_since_write.store(true, Ordering::Relaxed);
        }
        // SAFETY: see above.
        unsafe { buf.advance(read) };
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for Marked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wrote(&result);
        result
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
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(&result);
        result
    }
}

impl Marked {
    /// Bytes of a request went out: whatever is read next belongs to its answer.
    fn wrote(&self, result: &Poll<std::io::Result<usize>>) {
        if matches!(result, Poll::Ready(Ok(written)) if *written > 0) {
            self.marks
                .0
                .read_since_write
                .store(false, Ordering::Relaxed);
        }
    }
}

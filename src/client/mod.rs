//! Outgoing HTTP: the request headers, the status -> result table, the response size bound
//! and the Prepare's expiry as the deadline, over `http1` (keep-alive pool) or `http2`.
//!
//! | outcome                                   | result                                 |
//! |-------------------------------------------|----------------------------------------|
//! | data is not a Prepare                     | `InvalidPrepare` (F01), nothing sent   |
//! | multilateral: no child for the destination| `InvalidAddressSegment`/`NoRoute` (F02)|
//! | Prepare already expired                   | `Expired` (R00), nothing sent          |
//! | connect / send / read failed              | `Transport` (T01)                      |
//! | 2xx, body <= `MAX_REPLY_LEN`              | the body, byte for byte                |
//! | 2xx, body larger                          | `ResponseTooLarge` (T01)               |
//! | 5xx                                       | `HttpStatus` (T00)                     |
//! | other status                              | `HttpStatus` (F00)                     |
//! | no answer when the Prepare expires        | `Expired` (R00), the request is dropped|
//! | 504 received after the Prepare expired    | `Expired` (R00)                        |

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Uri};
use hyper::body::Incoming;

mod http1;
mod http2;

use crate::auth::OutgoingAuth;
use crate::config::{ContentType, OutgoingConfig};
use crate::error::{Error, Result};
use crate::protocol::packet::{parse_prepare, PacketError, MAX_REPLY_LEN};
use crate::routing::Router;
use crate::stats::Stats;
use crate::wire::{read_bounded, BodyError, ILP_DESTINATION, ILP_PEER_NAME};
use http1::Http1Client;
use http2::{Http2Pool, SessionLimits};

/// HTTP/1.1 with a keep-alive pool (`http://` and `https://`), or HTTP/2 sessions.
enum Transport {
    Http1(Box<Http1Client>),
    Http2(Http2Pool),
}

pub struct Client {
    stats: Arc<Stats>,
    transport: Transport,
    router: Arc<Router>,
    peer_name: HeaderValue,
    content_type: HeaderValue,
    /// RFC 35: `Accept` names the same media type (sent only with `application/octet-stream`,
    /// so the default stays 1.6.1's wire format).
    accept: Option<HeaderValue>,
    send_ilp_destination: bool,
    auth: OutgoingAuth,
}

impl Client {
    pub fn new(config: &OutgoingConfig, router: Arc<Router>, stats: Arc<Stats>) -> Self {
        let transport = if config.http2 {
            Transport::Http2(Http2Pool::new(
                config.tls.clone(),
                SessionLimits {
                    max_requests_per_session: config.http2_max_requests_per_session,
                    max_sessions: config.max_connections,
                    idle_timeout: config.idle_timeout,
                },
            ))
        } else {
            Transport::Http1(Box::new(Http1Client::new(
                config.tls.as_ref().clone(),
                config.max_connections,
                config.idle_timeout,
            )))
        };
        Client {
            stats,
            transport,
            router,
            peer_name: config.name.clone(),
            content_type: HeaderValue::from_static(config.content_type.media_type()),
            accept: (config.content_type == ContentType::OctetStream)
                .then(|| HeaderValue::from_static(config.content_type.media_type())),
            send_ilp_destination: config.send_ilp_destination,
            auth: OutgoingAuth::new(&config.credential, config.bearer),
        }
    }

    /// Closes the HTTP/2 sessions (on `disconnect()`; each once its requests ended). Unused
    /// HTTP/1.1 connections close after `outgoing.idleTimeout`.
    pub fn close_connections(&self) {
        if let Transport::Http2(pool) = &self.transport {
            pool.close_all();
        }
    }

    /// POSTs the Prepare and returns the peer's reply bytes.
    pub async fn send(&self, packet: Bytes) -> Result<Bytes> {
        let timer = self.stats.send_started(packet.len());
        let result = self.send_uncounted(packet).await;
        let outcome = match &result {
            Ok(reply) => Ok(&reply[..]),
            Err(error) => Err(error.ilp_error_code()),
        };
        self.stats.send_finished(timer, outcome);
        result
    }

    async fn send_uncounted(&self, packet: Bytes) -> Result<Bytes> {
        let prepare = parse_prepare(&packet)?;
        let time_left = prepare
            .expires_at
            .duration_since(SystemTime::now())
            .map_err(|_| Error::Expired)?;
        let destination = self
            .send_ilp_destination
            // A valid ILP address is plain ASCII without spaces: always a safe header value.
            .then(|| HeaderValue::from_str(prepare.destination))
            .transpose()
            .map_err(|_| Error::InvalidPrepare(PacketError::BadDestination))?;
        let authorization = self.auth.header_value()?;
        let send = async {
            let url = self.router.url_for(prepare.destination).await?;
            let mut headers = HeaderMap::with_capacity(5);
            if let Some(authorization) = authorization {
                headers.insert(AUTHORIZATION, authorization);
            }
            headers.insert(CONTENT_TYPE, self.content_type.clone());
            if let Some(accept) = &self.accept {
                headers.insert(ACCEPT, accept.clone());
            }
            headers.insert(ILP_PEER_NAME, self.peer_name.clone());
            if let Some(destination) = destination {
                headers.insert(ILP_DESTINATION, destination);
            }
            match &self.transport {
                Transport::Http1(http) => post_http1(http, url, headers, packet.clone()).await,
                Transport::Http2(pool) => pool.post(&url, &headers, packet.clone()).await,
            }
        };
        match tokio::time::timeout(time_left, send).await {
            Err(_) => Err(Error::Expired),
            // The peer gave up because the Prepare expired (our server answers 504 then): the
            // same outcome as our own deadline, whichever timer fired first.
            Ok(Err(Error::HttpStatus(504))) if SystemTime::now() >= prepare.expires_at => {
                Err(Error::Expired)
            }
            Ok(result) => result,
        }
    }
}

async fn post_http1(
    http: &Http1Client,
    url: Uri,
    headers: HeaderMap,
    packet: Bytes,
) -> Result<Bytes> {
    let response = http.post(url, headers, packet).await.map_err(|e| {
        let prefix = if is_tls_error(&e) {
            "TLS handshake failed: "
        } else {
            ""
        };
        Error::Transport(format!("{prefix}{}", describe(&e)))
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::HttpStatus(status.as_u16()));
    }
    read_reply(response.into_body()).await
}

/// Reads a reply body of at most `MAX_REPLY_LEN` bytes.
async fn read_reply(mut body: Incoming) -> Result<Bytes> {
    read_bounded(&mut body, MAX_REPLY_LEN)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => Error::ResponseTooLarge {
                limit: MAX_REPLY_LEN,
            },
            BodyError::Failed(error) => Error::Transport(describe(&error)),
        })
}

/// True when a rustls error is among the causes. hyper-rustls nests it in `io::Error`s,
/// whose `source()` skips the wrapped error, so those are unwrapped by hand.
fn is_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if current.is::<rustls::Error>() {
            return true;
        }
        cause = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    false
}

/// The error and its causes on one line ("client error (Connect): tcp connect error:
/// Connection refused (os error 111)"). These never contain header values.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

//! Where Prepares go (`Router`): to `outgoing.url`, or in multilateral mode, where one plugin
//! serves many children addressed `<clientAddress>.<segment>…`, to the child's URL: its
//! segment spliced into the URL template. Incoming, `peer.config` is answered by the plugin
//! with the child's address `<clientAddress>.<ILP-Peer-Name>`. The ILDCP info
//! (`clientAddress`, asset) is the `ildcp` option or fetched once through the data handler;
//! concurrent first callers share that fetch, a failed fetch is retried later.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use http::{HeaderValue, Uri};

use crate::config::Routing;
use crate::error::{Error, Result};
use crate::handler::{DataHandler, HandlerCall, HandlerOutcome};
use crate::protocol::ildcp::{self, IldcpInfo};
use crate::protocol::packet::is_valid_ilp_address;
use crate::sync::lock;

/// The child segment of `destination`: the part after `client_address + '.'` up to the next
/// dot. It must match `[A-Za-z0-9_-]+`.
pub fn child_segment<'a>(destination: &'a str, client_address: &str) -> Result<&'a str> {
    let rest = destination
        .strip_prefix(client_address)
        .and_then(|rest| rest.strip_prefix('.'))
        .ok_or_else(|| {
            Error::NoRoute(format!(
                "destination {destination} is not under this plugin's address {client_address}"
            ))
        })?;
    let segment = rest.split('.').next().unwrap_or_default();
    let valid = !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(segment)
    } else {
        Err(Error::InvalidAddressSegment)
    }
}

type SharedFetch = Shared<BoxFuture<'static, std::result::Result<Arc<IldcpInfo>, String>>>;

enum Slot {
    Empty,
    Fetching(SharedFetch),
    Ready(Arc<IldcpInfo>),
}

/// Where the ILDCP info comes from, and its cache.
struct IldcpSource {
    handler: Arc<dyn DataHandler>,
    slot: Mutex<Slot>,
}

impl IldcpSource {
    fn new(preset: Option<IldcpInfo>, handler: Arc<dyn DataHandler>) -> Self {
        let slot = match preset {
            Some(info) => Slot::Ready(Arc::new(info)),
            None => Slot::Empty,
        };
        IldcpSource {
            handler,
            slot: Mutex::new(slot),
        }
    }

    /// The ILDCP info: cached, or fetched through the data handler (one fetch at a time).
    async fn get(&self) -> Result<Arc<IldcpInfo>> {
        let fetch = {
            let mut slot = self.lock();
            match &*slot {
                Slot::Ready(info) => return Ok(info.clone()),
                Slot::Fetching(fetch) => fetch.clone(),
                Slot::Empty => {
                    let fetch = fetch_ildcp(self.handler.clone()).boxed().shared();
                    *slot = Slot::Fetching(fetch.clone());
                    fetch
                }
            }
        };
        let result = fetch.await;
        let mut slot = self.lock();
        match &result {
            Ok(info) => *slot = Slot::Ready(info.clone()),
            // Forget the failed fetch so the next call tries again.
            Err(_) => {
                if matches!(&*slot, Slot::Fetching(current) if current.peek().is_some()) {
                    *slot = Slot::Empty;
                }
            }
        }
        result.map_err(Error::Ildcp)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        lock(&self.slot)
    }
}

/// How long the data handler may take to answer the ILDCP request. A fetch that takes longer
/// fails (and is tried again by the next caller) instead of keeping every `peer.config` and
/// child route waiting.
pub const ILDCP_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

async fn fetch_ildcp(handler: Arc<dyn DataHandler>) -> std::result::Result<Arc<IldcpInfo>, String> {
    let request = ildcp::request(SystemTime::now());
    let call = HandlerCall::unbounded(tokio::time::Instant::now() + ILDCP_FETCH_TIMEOUT);
    let Ok(outcome) =
        tokio::time::timeout(ILDCP_FETCH_TIMEOUT, handler.handle(request.into(), call)).await
    else {
        return Err(format!(
            "the data handler did not answer within {} s",
            ILDCP_FETCH_TIMEOUT.as_secs()
        ));
    };
    match outcome {
        HandlerOutcome::Reply(reply) => ildcp::parse_response(&reply)
            .map(Arc::new)
            .map_err(|e| e.to_string()),
        HandlerOutcome::NoHandler | HandlerOutcome::Unavailable => {
            Err("a data handler must be registered to fetch it".to_owned())
        }
        HandlerOutcome::Failed(reason) => Err(format!("the data handler failed: {reason}")),
    }
}

/// Why `peer.config` could not be answered.
#[derive(Debug)]
pub enum PeerConfigError {
    /// Missing `ILP-Peer-Name`, or one that does not make a valid ILP address (400).
    BadPeerName,
    /// Our own ILDCP info is not available (500).
    Unavailable(Error),
}

/// Where Prepares go, shared by the client and the server of one plugin: the one place that
/// acts on `config::Routing`.
pub struct Router {
    routing: Routing,
    /// Multilateral mode: our ILDCP info (unused in bilateral mode).
    ildcp: IldcpSource,
}

impl Router {
    pub fn new(routing: Routing, handler: Arc<dyn DataHandler>) -> Self {
        let preset = match &routing {
            Routing::Bilateral { .. } => None,
            Routing::Multilateral { ildcp, .. } => ildcp.clone(),
        };
        Router {
            routing,
            ildcp: IldcpSource::new(preset, handler),
        }
    }

    /// Multilateral mode: the server answers `peer.config` and requires valid Prepares.
    pub fn is_multilateral(&self) -> bool {
        matches!(self.routing, Routing::Multilateral { .. })
    }

    /// The URL a Prepare to `destination` is POSTed to: `outgoing.url`, or (multilateral) the
    /// URL of the child `destination` belongs to.
    pub async fn url_for(&self, destination: &str) -> Result<Uri> {
        match &self.routing {
            Routing::Bilateral { url } => Ok(url.clone()),
            Routing::Multilateral { url_template, .. } => {
                let info = self.ildcp.get().await?;
                let segment = child_segment(destination, &info.client_address)?;
                url_template.url_for(segment)
            }
        }
    }

    /// The Fulfill answering a child's `peer.config` request.
    pub async fn answer_peer_config(
        &self,
        peer_name: Option<&HeaderValue>,
    ) -> std::result::Result<Vec<u8>, PeerConfigError> {
        let name = peer_name
            .and_then(|name| name.to_str().ok())
            .ok_or(PeerConfigError::BadPeerName)?;
        let info = self
            .ildcp
            .get()
            .await
            .map_err(PeerConfigError::Unavailable)?;
        let client_address = format!("{}.{name}", info.client_address);
        if !is_valid_ilp_address(&client_address) {
            return Err(PeerConfigError::BadPeerName);
        }
        Ok(ildcp::response(&IldcpInfo {
            client_address,
            asset_scale: info.asset_scale,
            asset_code: info.asset_code.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::HandlerFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn child_segments() {
        assert_eq!(
            child_segment("test.parent.bob.x.y", "test.parent").unwrap(),
            "bob"
        );
        assert_eq!(
            child_segment("test.parent.bob", "test.parent").unwrap(),
            "bob"
        );
        assert!(matches!(
            child_segment("test.parent.a~b.c", "test.parent"),
            Err(Error::InvalidAddressSegment)
        ));
        assert!(matches!(
            child_segment("test.other.bob", "test.parent"),
            Err(Error::NoRoute(_))
        ));
        assert!(matches!(
            child_segment("test.parentx.bob", "test.parent"),
            Err(Error::NoRoute(_))
        ));
        assert!(matches!(
            child_segment("test.parent", "test.parent"),
            Err(Error::NoRoute(_))
        ));
    }

    /// Answers `peer.config` after a short delay, failing the first `failures` times (never
    /// answering instead with `hangs`).
    struct FakeParent {
        calls: AtomicUsize,
        failures: usize,
        hangs: bool,
    }

    impl DataHandler for FakeParent {
        fn handle(&self, _packet: bytes::Bytes, _call: HandlerCall) -> HandlerFuture {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let fail = call < self.failures;
            let hang = fail && self.hangs;
            Box::pin(async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if fail {
                    HandlerOutcome::Failed("boom".into())
                } else {
                    HandlerOutcome::Reply(
                        ildcp::response(&IldcpInfo {
                            client_address: "test.parent".into(),
                            asset_scale: 9,
                            asset_code: "XRP".into(),
                        })
                        .into(),
                    )
                }
            })
        }
    }

    #[tokio::test]
    async fn concurrent_first_callers_share_one_fetch_and_failures_are_retried() {
        let parent = Arc::new(FakeParent {
            calls: AtomicUsize::new(0),
            failures: 1,
            hangs: false,
        });
        let source = Arc::new(IldcpSource::new(None, parent.clone()));
        let first: Vec<_> = (0..10)
            .map(|_| {
                let source = source.clone();
                tokio::spawn(async move { source.get().await })
            })
            .collect();
        for call in first {
            let error = call.await.unwrap().unwrap_err();
            assert!(error.to_string().contains("ildcp"), "{error}");
        }
        assert_eq!(parent.calls.load(Ordering::SeqCst), 1);

        let second: Vec<_> = (0..10)
            .map(|_| {
                let source = source.clone();
                tokio::spawn(async move { source.get().await })
            })
            .collect();
        for call in second {
            assert_eq!(call.await.unwrap().unwrap().client_address, "test.parent");
        }
        assert_eq!(parent.calls.load(Ordering::SeqCst), 2);
        source.get().await.unwrap();
        assert_eq!(parent.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fetch_that_never_settles_fails_at_its_deadline_and_the_next_call_retries() {
        let parent = Arc::new(FakeParent {
            calls: AtomicUsize::new(0),
            failures: 1,
            hangs: true,
        });
        let source = Arc::new(IldcpSource::new(None, parent.clone()));
        let started = tokio::time::Instant::now();
        let error = source.get().await.unwrap_err();
        assert_eq!(started.elapsed(), ILDCP_FETCH_TIMEOUT);
        assert!(error.to_string().contains("did not answer"), "{error}");
        assert_eq!(source.get().await.unwrap().client_address, "test.parent");
        assert_eq!(parent.calls.load(Ordering::SeqCst), 2);
    }
}

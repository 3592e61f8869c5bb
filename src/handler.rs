//! The connector's data handler as the rest of the crate sees it: the server calls it for each
//! incoming packet, multilateral routing for the ILDCP fetch. `node::bridge` implements it by
//! calling JS; tests and `examples/bench_pair.rs` implement it in Rust.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;

/// What the data handler made of one packet.
#[derive(Debug, PartialEq)]
pub enum HandlerOutcome {
    Reply(Bytes),
    /// Threw, rejected or returned something that is not bytes; the text says which.
    Failed(String),
    NoHandler,
    /// The handler could not be reached (the JS side is going away).
    Unavailable,
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerOutcome> + Send>>;

/// Places one handler call takes under the server's bounds (`maxHandlerCalls`,
/// `maxHandlerCallsPerConnection`); they are given back when this is dropped.
#[derive(Default)]
pub struct CallSlots {
    _permits: Vec<OwnedSemaphorePermit>,
}

impl CallSlots {
    pub fn new(permits: Vec<OwnedSemaphorePermit>) -> Self {
        CallSlots { _permits: permits }
    }
}

/// What comes with one handler call besides the packet.
pub struct HandlerCall {
    /// After this the answer is useless (the Prepare expired).
    pub deadline: tokio::time::Instant,
    /// Held until the handler answered or `deadline` passed, also when the request that made
    /// the call is gone before: the handler is still working on it.
    pub slots: CallSlots,
}

impl HandlerCall {
    /// A call outside the server's bounds (the ILDCP fetch).
    pub fn unbounded(deadline: tokio::time::Instant) -> Self {
        HandlerCall {
            deadline,
            slots: CallSlots::default(),
        }
    }
}

/// The connector's data handler, as seen from the server.
pub trait DataHandler: Send + Sync + 'static {
    fn handle(&self, packet: Bytes, call: HandlerCall) -> HandlerFuture;
}

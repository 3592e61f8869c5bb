//! The connector's data handler as the rest of the crate sees it: the server calls it for each
//! incoming packet, multilateral routing for the ILDCP fetch. `node::bridge` implements it by
//! calling JS; tests and `examples/bench_pair.rs` implement it in Rust.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

/// What the data handler made of one packet.
#[derive(Debug)]
pub enum HandlerOutcome {
    Reply(Bytes),
    /// Threw, rejected or returned something that is not bytes; the text says which.
    Failed(String),
    NoHandler,
    /// The handler could not be reached (the JS side is going away).
    Unavailable,
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerOutcome> + Send>>;

/// The connector's data handler, as seen from the server.
pub trait DataHandler: Send + Sync + 'static {
    fn handle(&self, packet: Bytes) -> HandlerFuture;
}

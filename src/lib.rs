//! ILP-over-HTTP plugin for ilp-connector: a Rust core behind a Node.js addon, a drop-in
//! replacement for the npm package `ilp-plugin-http` 1.6.1.
//!
//! The layers, lowest first (the module graph is one-way):
//! - Small modules beneath everything else: `protocol` (ILP packets: OER reads, writes, size
//!   limits; ILDCP, RFC 31), `error` (one error type and its ILP error codes), `log` (the
//!   logging seam), `sync` (the lock helper), `stats` (live figures for admin/Prometheus),
//!   `handler` (the data-handler trait) and `wire` (ILP header names, the POST request, bounded
//!   body reads).
//! - `config` — the validated `Config`, built once from the JS options by `config::options`;
//!   with `Secret`, the URL helpers (`config::url`) and the rustls configuration
//!   (`config::tls`).
//! - `auth` (static tokens, JWTs) and `routing` (`Router`: where a Prepare goes, multilateral
//!   child URLs, the ILDCP info the server answers `peer.config` with).
//! - `server` — the incoming hyper server (HTTP/1.1 + h2c, TLS) and its status table, with
//!   `server::connections` (connection cap, idle and slow-header timeouts).
//! - `client` — outgoing POSTs: status -> error, deadlines, response bound; `client::http1` is
//!   the keep-alive pool with its stale-connection resend, `client::http2` the session pool.
//! - `core` — `core::Plugin`: config -> client + server, connect/disconnect, send, stats; no
//!   napi. `examples/bench_pair.rs` and the integration tests use it directly.
//! - `node` (feature `node`) — the napi class `index.js` holds, wrapping `core::Plugin`, and
//!   the bridge that calls the JS data handler from tokio threads.
//!
//! Only `node` and the edge of `error` name napi types; everything else is plain Rust, tested
//! by `cargo test`: unit tests in the modules, and `integration` (`#[cfg(test)]`): a
//! `core::Plugin` against peers and clients written in Rust over 127.0.0.1 (the server's
//! status table, the client's error codes and deadlines, the HTTP/1.1 resend rules, the HTTP/2
//! session pool). `tests/module_graph.rs` fails if a module imports one that imports it back.
//! Behaviour the code keeps from ilp-plugin-http 1.6.1: docs/contract.md; napi facts it relies
//! on: docs/napi-notes.md.

mod auth;
mod client;
mod config;
mod core;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_checks;
mod handler;
#[cfg(test)]
mod integration;
mod log;
#[cfg(feature = "node")]
mod node;
mod protocol;
mod routing;
mod server;
mod stats;
mod sync;
mod wire;

/// The addon's Rust allocations use mimalloc, as napi-rs/node-rs ship: 10–20% less CPU per
/// packet in the plugin's threads (`npm run bench`), for 15–27 MB more RSS per process at the
/// same soak (docs/soak-perf-mimalloc.json vs docs/soak-perf-system-malloc.json). Node's own
/// allocations (the JS thread's Buffers) are untouched.
#[cfg(feature = "node")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use crate::config::options::parse_options;
pub use crate::config::Config;
pub use crate::core::Plugin;
pub use crate::error::{Error, Result};
pub use crate::handler::{DataHandler, HandlerCall, HandlerFuture, HandlerOutcome};
pub use crate::log::{Level, Logger, NullLogger, SharedLogger};
pub use crate::protocol::packet::{serialize_fulfill, serialize_prepare};

//! ILP-over-HTTP plugin for ilp-connector: a Rust core behind a Node.js addon, a drop-in
//! replacement for the npm package `ilp-plugin-http` 1.6.1.
//!
//! How the pieces fit:
//! - `index.js` (JS) is the public `PluginHttp` EventEmitter; it holds a `plugin::NativePlugin`
//!   and calls the user's data handler.
//! - `options` turns the JS options (as JSON) into a validated `config::Config`, once.
//! - `server` is the incoming hyper server (HTTP/1.1 + h2c); it asks a `server::DataHandler`
//!   for each packet. `bridge` implements that handler by calling JS from tokio threads.
//! - `client` sends Prepares to the peer (keep-alive pool, Prepare expiry as deadline);
//!   `http2` is its HTTP/2 session pool and `tls` the rustls configuration of both sides.
//! - `routing` is multilateral mode: child URL from the address segment, and the ILDCP info
//!   (`ildcp` encodes RFC 31) that the server answers `peer.config` with.
//! - `auth` (tokens, JWT), `packet` (OER reads and size limits), `error` (one error type and
//!   its ILP error codes), `log` (the logging seam), `stats` (live figures for admin/Prometheus).
//!
//! Only `plugin`, `bridge` and the edge of `error` name napi types; the rest is plain Rust
//! tested by `cargo test`.

pub mod auth;
#[cfg(feature = "node")]
pub mod bridge;
pub mod client;
pub mod config;
pub mod connections;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_checks;
pub mod http1;
pub mod http2;
pub mod ildcp;
pub mod log;
pub mod options;
pub mod packet;
#[cfg(feature = "node")]
pub mod plugin;
pub mod routing;
pub mod server;
pub mod stats;
pub mod tls;

#[cfg(test)]
mod vectors;

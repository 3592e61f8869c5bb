//! Integration tests without Node: a `core::Plugin` (data handlers written in Rust) against
//! peers and clients written here with raw sockets, hyper and h2, all on 127.0.0.1 port 0.
//! They live inside the crate (`#[cfg(test)]`) because a test binary outside it would link
//! the napi addon's registration code, whose symbols only Node provides.

mod client_errors;
mod http1_framing;
mod http1_resend;
mod http2_pool;
mod server_status;
mod support;

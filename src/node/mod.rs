//! The Node.js addon: the only code that names napi types. `addon` is the `#[napi]` class
//! `index.js` holds (a thin wrapper of `core::Plugin`); `bridge` carries packets, outcomes
//! and log lines between tokio threads and the JS thread.

pub mod addon;
mod bridge;

//! The Node.js addon: the only code that names napi types. `addon` is the `#[napi]` class
//! `index.js` holds (a thin wrapper of `core::Plugin`); `bridge` carries packets, outcomes
//! and log lines between tokio threads and the JS thread; `runtime` sizes the tokio runtime
//! when the addon loads.

pub mod addon;
mod bridge;
mod runtime;

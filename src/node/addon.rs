//! The `#[napi]` class behind `index.js`: lifecycle and the JS surface, nothing else.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use napi::bindgen_prelude::{BufferSlice, FnArgs, Function, FunctionRef, PromiseRaw};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, Status};
use napi_derive::napi;

use crate::config::options::parse_options;
use crate::core::Plugin;
use crate::handler::HandlerOutcome;
use crate::log::SharedLogger;
use crate::node::bridge::{Batch, JsDataHandler, JsLogger, PendingCalls, SendSettler};
use crate::sync::lock;

/// A strong reference to the dispatcher: holding it keeps Node alive while we listen.
type KeepAlive = ThreadsafeFunction<Batch, (), Batch, Status, false, false>;

#[napi]
pub struct NativePlugin {
    plugin: Plugin,
    settle_send: Arc<SendSettler>,
    pending: Arc<PendingCalls>,
    dispatch: FunctionRef<Batch, ()>,
    /// Set while listening.
    keep_alive: Mutex<Option<KeepAlive>>,
}

#[napi]
impl NativePlugin {
    /// `options_json`: `JSON.stringify` of the plugin options; throws naming a bad option.
    /// `dispatch(batch)` is called with incoming packets and `settle_send(batch)` with the
    /// outcomes of `send_data` calls, each a `Buffer` of records (see `bridge`);
    /// `log(level, message)` for log lines.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        options_json: String,
        dispatch: Function<'_, Batch, ()>,
        settle_send: Function<'_, Batch, ()>,
        log: Function<'_, FnArgs<(String, String)>, ()>,
    ) -> napi::Result<Self> {
        let config = parse_options(&options_json)?;
        let settle_send = Arc::new(SendSettler::new(
            settle_send
                .build_threadsafe_function()
                .callee_handled::<false>()
                .weak::<true>()
                .build()?,
        ));
        let logger: SharedLogger = Arc::new(JsLogger::new(
            log.build_threadsafe_function()
                .callee_handled::<false>()
                .weak::<true>()
                .build()?,
        ));
        let pending = Arc::new(PendingCalls::default());
        let handler = Arc::new(JsDataHandler::new(
            dispatch
                .build_threadsafe_function()
                .callee_handled::<false>()
                .weak::<true>()
                .build()?,
            pending.clone(),
        ));
        Ok(NativePlugin {
            plugin: Plugin::new(config, handler, logger),
            settle_send,
            pending,
            dispatch: dispatch.create_ref()?,
            keep_alive: Mutex::new(None),
        })
    }

    /// Binds the port and starts serving; returns the bound port. Throws on bind errors.
    #[napi(catch_unwind)]
    pub fn connect(&self, env: &Env) -> napi::Result<u32> {
        let mut keep_alive = self.lock_keep_alive();
        if keep_alive.is_none() {
            *keep_alive = Some(
                self.dispatch
                    .borrow_back(env)?
                    .build_threadsafe_function()
                    .callee_handled::<false>()
                    .weak::<false>()
                    .build()?,
            );
        }
        let connected =
            napi::bindgen_prelude::within_runtime_if_available(|| self.plugin.connect());
        match connected {
            Ok(port) => Ok(u32::from(port)),
            Err(error) => {
                *keep_alive = None;
                Err(error.into())
            }
        }
    }

    /// Stops the server: refuses new connections at once, drains in-flight requests
    /// (bounded), then releases what kept Node alive.
    #[napi(catch_unwind)]
    pub fn disconnect<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let stopped = self.plugin.disconnect();
        let keep_alive = self.lock_keep_alive().take();
        env.spawn_future(async move {
            stopped.await;
            drop(keep_alive);
            Ok(())
        })
    }

    /// Sends packet `id`; the outcome comes back through `settle_send` (a record `id`).
    /// (One long-lived thread-safe function instead of a promise per call: see
    /// docs/napi-notes.md.)
    #[napi(catch_unwind)]
    pub fn send_data(&self, id: u32, data: BufferSlice) {
        let sent = self.plugin.send(Bytes::copy_from_slice(&data));
        let settle = self.settle_send.clone();
        napi::bindgen_prelude::spawn(async move {
            settle.settle(id, sent.await);
        });
    }

    /// The handler's answer for request `id`; false if that request is gone.
    #[napi(catch_unwind)]
    pub fn respond(&self, id: u32, data: BufferSlice) -> bool {
        self.settle(id, HandlerOutcome::Reply(Bytes::copy_from_slice(&data)))
    }

    /// The handler failed for request `id` (-> 500); `message` is logged.
    #[napi(catch_unwind)]
    pub fn respond_error(&self, id: u32, message: String) -> bool {
        self.settle(id, HandlerOutcome::Failed(message))
    }

    /// No data handler was registered for request `id` (-> 502).
    #[napi(catch_unwind)]
    pub fn respond_no_handler(&self, id: u32) -> bool {
        self.settle(id, HandlerOutcome::NoHandler)
    }

    /// Live figures and the effective configuration (secrets redacted), as JSON.
    #[napi(catch_unwind)]
    pub fn admin_info(&self) -> String {
        self.plugin.admin_info().to_string()
    }

    /// The same figures in the Prometheus text format, metric names prefixed with `prefix`.
    #[napi(catch_unwind)]
    pub fn metrics(&self, prefix: String) -> String {
        self.plugin.metrics(&prefix)
    }

    /// The bound port while listening.
    #[napi(catch_unwind)]
    pub fn port(&self) -> Option<u32> {
        self.plugin.port().map(u32::from)
    }
}

impl NativePlugin {
    /// Delivers a handler answer; one whose request is gone is dropped and counted.
    fn settle(&self, id: u32, outcome: HandlerOutcome) -> bool {
        let delivered = self.pending.settle(id, outcome);
        if !delivered {
            self.plugin.stats().handler_answer_dropped();
        }
        delivered
    }

    fn lock_keep_alive(&self) -> std::sync::MutexGuard<'_, Option<KeepAlive>> {
        lock(&self.keep_alive)
    }
}

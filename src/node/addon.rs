//! The `#[napi]` class behind `index.js`: lifecycle and the JS surface, nothing else.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{BufferSlice, FnArgs, Function, FunctionRef, PromiseRaw};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, Status};
use napi_derive::napi;

use crate::config::options::parse_options;
use crate::core::Plugin;
use crate::log::SharedLogger;
use crate::node::bridge::{
    read_outbox, Batch, FromJs, JsDataHandler, JsLogger, PendingCalls, SendSettler,
};
use crate::node::runtime::{runtime_in_use, LIFO_SLOT_DISABLED};
use crate::stats::write_metric;
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
    /// outcomes of sends (`flush`), each a `Buffer` of records (see `bridge`);
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

    /// Everything one JS turn asked for (`Outbox` in `index.js`; records in `bridge`): each
    /// `sendData` packet is sent, its outcome coming back through `settle_send` with its id;
    /// each data-handler answer is delivered (one whose request is gone is dropped and
    /// counted). Throws, acting on nothing, if the batch is malformed.
    /// The JS thread only checks the batch and copies out its records; one task on tokio
    /// delivers the answers and starts the sends, so their wake-ups stay on the worker instead
    /// of each one waking it from the JS thread.
    /// (One call per turn and one long-lived thread-safe function for the outcomes, instead of
    /// a call and a promise per packet: see docs/napi-notes.md.)
    #[napi(catch_unwind)]
    pub fn flush(&self, batch: BufferSlice) -> napi::Result<()> {
        let mut sends = Vec::new();
        let mut answers = Vec::new();
        for record in read_outbox(&batch)? {
            match record {
                FromJs::Send { id, packet } => sends.push((id, packet)),
                FromJs::Answer { id, outcome } => answers.push((id, outcome)),
            }
        }
        // Connected or not is decided now, for the whole turn, as if each send had started
        // here; each send's future is made and boxed inside its own task, on the tokio thread
        // (it is several KiB; moved by value into its task it cost memcpys that showed in
        // profiles, and made here it cost the JS thread the allocation and the copy).
        let sender = self.plugin.sender();
        let pending = self.pending.clone();
        let stats = self.plugin.stats().clone();
        let settle = self.settle_send.clone();
        napi::bindgen_prelude::spawn(async move {
            for (id, outcome) in answers {
                if !pending.settle(id, outcome) {
                    stats.handler_answer_dropped();
                }
            }
            for (id, packet) in sends {
                let (settle, sender) = (settle.clone(), sender.clone());
                tokio::spawn(async move {
                    let sent = Box::pin(sender.send(packet)).await;
                    settle.settle(id, sent)
                });
            }
        });
        Ok(())
    }

    /// Live figures, the effective configuration (secrets redacted) and how the process's
    /// tokio runtime was built, as JSON.
    #[napi(catch_unwind)]
    pub fn admin_info(&self) -> String {
        let mut info = self.plugin.admin_info();
        info["runtime"] = match runtime_in_use() {
            Some(runtime) => serde_json::json!({
                "workerThreads": runtime.worker_threads,
                "lifoSlot": !LIFO_SLOT_DISABLED,
                "aliveTasks": runtime.alive_tasks,
            }),
            None => serde_json::Value::Null,
        };
        info.to_string()
    }

    /// The same figures in the Prometheus text format, metric names prefixed with `prefix`,
    /// and the runtime's alive tasks (process-wide).
    #[napi(catch_unwind)]
    pub fn metrics(&self, prefix: String) -> String {
        let mut text = self.plugin.metrics(&prefix);
        if let Some(runtime) = runtime_in_use() {
            write_metric(
                &mut text,
                &prefix,
                "runtime_alive_tasks",
                "gauge",
                "Tasks alive on the process's tokio runtime (shared by every plugin of the process).",
                &[(String::new(), runtime.alive_tasks as f64)],
            );
        }
        text
    }

    /// The bound port while listening.
    #[napi(catch_unwind)]
    pub fn port(&self) -> Option<u32> {
        self.plugin.port().map(u32::from)
    }
}

impl NativePlugin {
    fn lock_keep_alive(&self) -> std::sync::MutexGuard<'_, Option<KeepAlive>> {
        lock(&self.keep_alive)
    }
}

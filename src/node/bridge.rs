//! Calling the JS data handler from tokio threads: the only thread-safe-function code.
//!
//! `sendData` works the same way in the other direction: JS keeps `id -> promise`, Rust
//! reports each outcome through one long-lived thread-safe function (`SendSettler`).
//!
//! The measured fastest bridge (see docs/napi-notes.md): each request gets an id and a oneshot
//! channel; the JS dispatcher is called fire-and-forget with `(id, bytes)`; JS normalises
//! whatever the handler does and answers through the synchronous `respond*` methods, which
//! settle the channel. Requests that are dropped (client gone, timeout) forget their id, and
//! late answers to forgotten ids are ignored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use napi::bindgen_prelude::{BufferSlice, Either, FnArgs, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, Status};
use tokio::sync::oneshot;

use crate::handler::{DataHandler, HandlerFuture, HandlerOutcome};
use crate::log::{Level, Logger};
use crate::sync::lock;

/// Bytes that become a new JS `Buffer` (a copy, made on the JS thread).
pub struct JsBytes(pub Bytes);

impl ToNapiValue for JsBytes {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        let buffer = BufferSlice::copy_from(&Env::from_raw(env), &value.0)?;
        // SAFETY: `env` is the live env this conversion was called with.
        unsafe { ToNapiValue::to_napi_value(env, &buffer) }
    }
}

/// `(id, packet) => void` in JS; weak, so it never keeps Node alive by itself.
pub type DispatchFn =
    ThreadsafeFunction<FnArgs<(u32, JsBytes)>, (), FnArgs<(u32, JsBytes)>, Status, false, true>;

/// Why `sendData` failed, for `index.js` to turn into an `Error` with `ilpErrorCode`.
#[napi_derive::napi(object)]
pub struct SendFailure {
    pub message: String,
    pub ilp_error_code: String,
}

/// `(id, reply Buffer | SendFailure) => void` in JS.
pub type SettleArgs = FnArgs<(u32, Either<JsBytes, SendFailure>)>;
type SettleFn = ThreadsafeFunction<SettleArgs, (), SettleArgs, Status, false, true>;

/// Delivers `sendData` outcomes to JS, fire-and-forget, in the order they complete.
pub struct SendSettler {
    settle: SettleFn,
}

impl SendSettler {
    pub fn new(settle: SettleFn) -> Self {
        SendSettler { settle }
    }

    pub fn settle(&self, id: u32, result: crate::error::Result<Bytes>) {
        let outcome = match result {
            Ok(reply) => Either::A(JsBytes(reply)),
            Err(error) => Either::B(SendFailure {
                ilp_error_code: error.ilp_error_code().as_str().to_owned(),
                message: error.to_string(),
            }),
        };
        self.settle.call(
            FnArgs::from((id, outcome)),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    }
}

/// `(level, message) => void` in JS; weak.
pub type LogFn =
    ThreadsafeFunction<FnArgs<(String, String)>, (), FnArgs<(String, String)>, Status, false, true>;

/// Calls in flight, by id.
#[derive(Default)]
pub struct PendingCalls {
    next_id: AtomicU32,
    waiting: Mutex<HashMap<u32, oneshot::Sender<HandlerOutcome>>>,
}

impl PendingCalls {
    fn register(&self) -> (u32, oneshot::Receiver<HandlerOutcome>) {
        let (sender, receiver) = oneshot::channel();
        let mut waiting = self.lock();
        let mut id = self.next_id.fetch_add(1, Ordering::Relaxed);
        while waiting.contains_key(&id) {
            id = self.next_id.fetch_add(1, Ordering::Relaxed);
        }
        waiting.insert(id, sender);
        (id, receiver)
    }

    /// Delivers the answer for `id`; false when nobody waits for it any more.
    pub fn settle(&self, id: u32, outcome: HandlerOutcome) -> bool {
        let sender = self.lock().remove(&id);
        sender.is_some_and(|sender| sender.send(outcome).is_ok())
    }

    fn forget(&self, id: u32) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, oneshot::Sender<HandlerOutcome>>> {
        lock(&self.waiting)
    }
}

/// Removes the id when the request is dropped before JS answered.
struct ForgetOnDrop {
    pending: Arc<PendingCalls>,
    id: u32,
}

impl Drop for ForgetOnDrop {
    fn drop(&mut self) {
        self.pending.forget(self.id);
    }
}

/// The JS data handler as the server sees it.
pub struct JsDataHandler {
    dispatch: DispatchFn,
    pending: Arc<PendingCalls>,
}

impl JsDataHandler {
    pub fn new(dispatch: DispatchFn, pending: Arc<PendingCalls>) -> Self {
        JsDataHandler { dispatch, pending }
    }
}

impl DataHandler for JsDataHandler {
    fn handle(&self, packet: Bytes) -> HandlerFuture {
        let (id, answer) = self.pending.register();
        let guard = ForgetOnDrop {
            pending: self.pending.clone(),
            id,
        };
        let status = self.dispatch.call(
            FnArgs::from((id, JsBytes(packet))),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
        Box::pin(async move {
            let _guard = guard;
            if status != Status::Ok {
                return HandlerOutcome::Unavailable;
            }
            answer.await.unwrap_or(HandlerOutcome::Unavailable)
        })
    }
}

/// Forwards log lines to the JS logger.
pub struct JsLogger {
    log: LogFn,
}

impl JsLogger {
    pub fn new(log: LogFn) -> Self {
        JsLogger { log }
    }
}

impl Logger for JsLogger {
    fn log(&self, level: Level, message: String) {
        self.log.call(
            FnArgs::from((level.as_str().to_owned(), message)),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    }
}

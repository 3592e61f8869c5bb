//! Calling the JS data handler from tokio threads: the only thread-safe-function code.
//!
//! `sendData` works the same way in the other direction: JS keeps `id -> promise`, Rust
//! reports the outcomes through one long-lived thread-safe function.
//!
//! The measured fastest bridge (see docs/napi-notes.md): each request gets an id and a oneshot
//! channel; the JS dispatcher is called fire-and-forget; JS normalises whatever the handler
//! does and answers with a record in its outbox (below), which settles the channel.
//! A request that is dropped before JS answered (client gone, Prepare expired) leaves its id
//! waiting until JS answers or the Prepare's deadline passed, holding the call's places under
//! the server's bounds (the handler is still working on it); the late answer is then dropped
//! (`settle` returns false, the caller counts it).
//!
//! Both directions hand over in batches of records (`id: u32 LE | kind: u8 | length: u32 LE |
//! bytes`). Towards JS ([`Mailbox`]): the first item put into an empty mailbox calls the JS
//! function, and the call carries every item put before the JS thread runs it, packed into one
//! `Buffer` (read by `forEachRecord` in `index.js`); JS copies each packet out, so no packet is
//! a view of another's memory. From JS ([`read_outbox`]): `index.js`'s `Outbox` collects the
//! `sendData` calls and the data handler's answers of one JS turn and hands them over in one
//! `flush` call at the end of the turn. Under load the JS thread is entered (and woken) once
//! per batch instead of once per packet, and tokio is woken once per turn instead of once per
//! call.

use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use napi::bindgen_prelude::{FnArgs, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{check_status, sys, Status};
use tokio::sync::oneshot;

use crate::error::Error;
use crate::handler::{CallSlots, DataHandler, HandlerCall, HandlerFuture, HandlerOutcome};
use crate::log::{Level, Logger};
use crate::sync::lock;

/// Record kinds towards JS. An incoming packet and a `sendData` reply carry the packet's
/// bytes; a failed `sendData` carries `code length: u8 | ILP error code | UTF-8 message`.
const KIND_PACKET: u8 = 0;
const KIND_FAILURE: u8 = 1;

/// Record kinds from JS (`OUTBOX_*` in `index.js`): a `sendData` Prepare; the data handler's
/// reply; its failure (UTF-8 message); no data handler registered (empty).
const OUTBOX_SEND: u8 = 0;
const OUTBOX_REPLY: u8 = 1;
const OUTBOX_HANDLER_FAILED: u8 = 2;
const OUTBOX_NO_HANDLER: u8 = 3;

/// One record of an outbox batch.
#[derive(Debug, PartialEq)]
pub enum FromJs {
    /// `sendData(packet)`; its outcome goes back with `id`.
    Send { id: u32, packet: Bytes },
    /// The data handler's answer to incoming request `id`.
    Answer { id: u32, outcome: HandlerOutcome },
}

/// Reads a whole outbox batch; nothing of it is acted on unless all of it is well-formed.
/// Each packet and reply is copied into a `Bytes` of its own, not a view of one copy of the
/// batch: a send may wait until its Prepare expires and must not keep the whole batch alive.
pub fn read_outbox(batch: &[u8]) -> Result<Vec<FromJs>, Error> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < batch.len() {
        let head = batch
            .get(at..at + 9)
            .ok_or(Error::Bridge("a record header is cut short"))?;
        let id = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let length = u32::from_le_bytes([head[5], head[6], head[7], head[8]]) as usize;
        let kind = head[4];
        let start = at + 9;
        let end = start
            .checked_add(length)
            .filter(|end| *end <= batch.len())
            .ok_or(Error::Bridge("a record is longer than the batch"))?;
        let bytes = &batch[start..end];
        records.push(match kind {
            OUTBOX_SEND => FromJs::Send {
                id,
                packet: Bytes::copy_from_slice(bytes),
            },
            OUTBOX_REPLY => FromJs::Answer {
                id,
                outcome: HandlerOutcome::Reply(Bytes::copy_from_slice(bytes)),
            },
            OUTBOX_HANDLER_FAILED => FromJs::Answer {
                id,
                outcome: HandlerOutcome::Failed(String::from_utf8_lossy(bytes).into_owned()),
            },
            OUTBOX_NO_HANDLER => FromJs::Answer {
                id,
                outcome: HandlerOutcome::NoHandler,
            },
            _ => return Err(Error::Bridge("unknown record kind")),
        });
        at = end;
    }
    Ok(records)
}

/// One item for JS: an id and what belongs to it.
pub struct Record {
    id: u32,
    kind: u8,
    bytes: Bytes,
}

impl Record {
    const HEADER: usize = 9;

    /// Bytes this record takes in a batch.
    fn len(&self) -> usize {
        Self::HEADER + self.bytes.len()
    }

    /// `id: u32 LE | kind: u8 | length: u32 LE`.
    fn header(&self) -> [u8; Self::HEADER] {
        let mut header = [0; Self::HEADER];
        header[..4].copy_from_slice(&self.id.to_le_bytes());
        header[4] = self.kind;
        // Packets are at most a few tens of KB (the body limits), far below u32::MAX.
        header[5..].copy_from_slice(&(self.bytes.len() as u32).to_le_bytes());
        header
    }
}

/// Writes `records` one after another from `out` on. Raw writes, not a slice: the memory of a
/// new Buffer is uninitialized, and a `&mut [u8]` over it would claim otherwise.
///
/// # Safety
/// `out` must be valid for writes of the records' total length ([`Record::len`] each).
unsafe fn pack(records: &[Record], out: *mut u8) {
    let mut at = out;
    for record in records {
        // SAFETY: each record's header and bytes fit in what is left of the room the caller
        // guarantees, and neither overlaps the Buffer.
        unsafe {
            ptr::copy_nonoverlapping(record.header().as_ptr(), at, Record::HEADER);
            at = at.add(Record::HEADER);
            ptr::copy_nonoverlapping(record.bytes.as_ptr(), at, record.bytes.len());
            at = at.add(record.bytes.len());
        }
    }
}

/// Records waiting for the JS thread, and the function that wakes it to take them.
pub struct Mailbox {
    records: Mutex<Vec<Record>>,
}

impl Mailbox {
    fn new() -> Arc<Self> {
        Arc::new(Mailbox {
            records: Mutex::new(Vec::new()),
        })
    }

    /// Puts `record` in; true when the mailbox was empty (the caller then calls JS).
    fn put(&self, record: Record) -> bool {
        let mut records = lock(&self.records);
        records.push(record);
        records.len() == 1
    }

    fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *lock(&self.records))
    }
}

/// The argument of a batch call: converted on the JS thread, it takes every record in the
/// mailbox at that moment and becomes one `Buffer`.
pub struct Batch(Arc<Mailbox>);

impl ToNapiValue for Batch {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        let records = value.0.take();
        let length = records.iter().map(Record::len).sum();
        // The records are written straight into the Buffer's memory (Node's allocator, counted
        // by V8 as external memory), not packed into a Vec first and copied: a batch can be
        // megabytes, and a short-lived allocation of that size per batch cost a copy on the JS
        // thread and kept the allocator's large pages busy.
        let mut buffer = ptr::null_mut();
        let mut data = ptr::null_mut();
        // SAFETY: `env` is the live env this conversion was called with; both out-params are
        // valid pointers.
        check_status!(unsafe { sys::napi_create_buffer(env, length, &mut data, &mut buffer) })?;
        if length > 0 {
            // As napi-rs's `buffer_data_ptr` notes, the pointer `napi_create_buffer` returns is
            // not the Buffer's memory on every target; `napi_get_buffer_info`'s always is.
            let mut reported = 0;
            // SAFETY: `buffer` is the Buffer just created in this env.
            check_status!(unsafe {
                sys::napi_get_buffer_info(env, buffer, &mut data, &mut reported)
            })?;
            if data.is_null() || reported != length {
                return Err(napi::Error::from_reason(
                    "a new Buffer has no memory of its size",
                ));
            }
            // SAFETY: `data` points at the `length` bytes of the Buffer just created, which
            // nothing else references yet, and `length` is the records' total length.
            unsafe { pack(&records, data.cast::<u8>()) };
        }
        Ok(buffer)
    }
}

/// `(batch: Buffer) => void` in JS; weak, so it never keeps Node alive by itself.
pub type BatchFn = ThreadsafeFunction<Batch, (), Batch, Status, false, true>;

/// Puts `record` into `mailbox` and, if it was empty, calls `js` to take the batch. If JS
/// cannot be called (the environment is closing), the batch is taken back and returned,
/// so nothing waits for a call that will never come.
fn hand_over(js: &BatchFn, mailbox: &Arc<Mailbox>, record: Record) -> Vec<Record> {
    if !mailbox.put(record) {
        return Vec::new();
    }
    match js.call(
        Batch(mailbox.clone()),
        ThreadsafeFunctionCallMode::NonBlocking,
    ) {
        Status::Ok => Vec::new(),
        _ => mailbox.take(),
    }
}

/// Delivers `sendData` outcomes to JS, fire-and-forget, in the order they complete.
pub struct SendSettler {
    settle: BatchFn,
    mailbox: Arc<Mailbox>,
}

impl SendSettler {
    pub fn new(settle: BatchFn) -> Self {
        SendSettler {
            settle,
            mailbox: Mailbox::new(),
        }
    }

    pub fn settle(&self, id: u32, result: crate::error::Result<Bytes>) {
        let record = match result {
            Ok(reply) => Record {
                id,
                kind: KIND_PACKET,
                bytes: reply,
            },
            Err(error) => {
                let code = error.ilp_error_code().as_str();
                let message = error.to_string();
                let mut bytes = Vec::with_capacity(1 + code.len() + message.len());
                bytes.push(code.len() as u8);
                bytes.extend_from_slice(code.as_bytes());
                bytes.extend_from_slice(message.as_bytes());
                Record {
                    id,
                    kind: KIND_FAILURE,
                    bytes: Bytes::from(bytes),
                }
            }
        };
        // Outcomes JS can no longer receive are dropped: its promises are gone with it.
        drop(hand_over(&self.settle, &self.mailbox, record));
    }
}

/// `(level, message) => void` in JS; weak.
pub type LogFn =
    ThreadsafeFunction<FnArgs<(String, String)>, (), FnArgs<(String, String)>, Status, false, true>;

/// One call JS has not answered yet.
struct PendingCall {
    answer: oneshot::Sender<HandlerOutcome>,
    /// Given back when the call is settled or forgotten.
    _slots: CallSlots,
}

/// Calls in flight, by id.
#[derive(Default)]
pub struct PendingCalls {
    next_id: AtomicU32,
    waiting: Mutex<HashMap<u32, PendingCall>>,
}

impl PendingCalls {
    fn register(&self, slots: CallSlots) -> (u32, oneshot::Receiver<HandlerOutcome>) {
        let (answer, receiver) = oneshot::channel();
        let mut waiting = self.lock();
        let mut id = self.next_id.fetch_add(1, Ordering::Relaxed);
        while waiting.contains_key(&id) {
            id = self.next_id.fetch_add(1, Ordering::Relaxed);
        }
        waiting.insert(
            id,
            PendingCall {
                answer,
                _slots: slots,
            },
        );
        (id, receiver)
    }

    /// Delivers the answer for `id`; false when nobody waits for it any more (its request
    /// is gone: the answer is dropped).
    pub fn settle(&self, id: u32, outcome: HandlerOutcome) -> bool {
        let call = self.lock().remove(&id);
        call.is_some_and(|call| call.answer.send(outcome).is_ok())
    }

    fn forget(&self, id: u32) {
        self.lock().remove(&id);
    }

    /// The request for `id` is gone: keep the call (and its places) until JS answers or
    /// `deadline` passed, whichever comes first. Nothing to do if JS answered already.
    fn abandon(self: &Arc<Self>, id: u32, deadline: tokio::time::Instant) {
        if !self.lock().contains_key(&id) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if deadline > tokio::time::Instant::now() => {
                let pending = self.clone();
                runtime.spawn(async move {
                    tokio::time::sleep_until(deadline).await;
                    pending.forget(id);
                });
            }
            _ => self.forget(id),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, PendingCall>> {
        lock(&self.waiting)
    }
}

/// One call's wait for JS's answer. Made when the call is registered, so that a request
/// dropped before JS answered abandons the call even if it never waited.
struct AnswerWait {
    pending: Arc<PendingCalls>,
    id: u32,
    deadline: tokio::time::Instant,
    /// Set once the answer came (or the call was forgotten): the call has left `waiting`,
    /// there is nothing to abandon.
    answered: bool,
}

impl AnswerWait {
    async fn until_answered(mut self, answer: oneshot::Receiver<HandlerOutcome>) -> HandlerOutcome {
        let outcome = answer.await;
        self.answered = true;
        outcome.unwrap_or(HandlerOutcome::Unavailable)
    }
}

impl Drop for AnswerWait {
    fn drop(&mut self) {
        if !self.answered {
            self.pending.abandon(self.id, self.deadline);
        }
    }
}

/// The JS data handler as the server sees it.
pub struct JsDataHandler {
    dispatch: BatchFn,
    mailbox: Arc<Mailbox>,
    pending: Arc<PendingCalls>,
}

impl JsDataHandler {
    pub fn new(dispatch: BatchFn, pending: Arc<PendingCalls>) -> Self {
        JsDataHandler {
            dispatch,
            mailbox: Mailbox::new(),
            pending,
        }
    }
}

impl DataHandler for JsDataHandler {
    fn handle(&self, packet: Bytes, call: HandlerCall) -> HandlerFuture {
        let (id, answer) = self.pending.register(call.slots);
        let wait = AnswerWait {
            pending: self.pending.clone(),
            id,
            deadline: call.deadline,
            answered: false,
        };
        let record = Record {
            id,
            kind: KIND_PACKET,
            bytes: packet,
        };
        // Requests JS cannot be called for are forgotten: each one's `answer` then ends
        // (this one's included) and it is answered as unavailable.
        for undelivered in hand_over(&self.dispatch, &self.mailbox, record) {
            self.pending.forget(undelivered.id);
        }
        Box::pin(wait.until_answered(answer))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u32, kind: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = id.to_le_bytes().to_vec();
        out.push(kind);
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
        out
    }

    use std::time::Duration;
    use tokio::sync::Semaphore;
    use tokio::time::Instant;

    /// Registers a call holding one place of `places`, as the server's handler calls do.
    fn call(
        pending: &Arc<PendingCalls>,
        places: &Arc<Semaphore>,
        deadline: Instant,
    ) -> (u32, AnswerWait, oneshot::Receiver<HandlerOutcome>) {
        let place = places.clone().try_acquire_owned().unwrap();
        let (id, answer) = pending.register(CallSlots::new(vec![place]));
        let wait = AnswerWait {
            pending: pending.clone(),
            id,
            deadline,
            answered: false,
        };
        (id, wait, answer)
    }

    /// No calls yet, `places` places for them, and a deadline 30 s ahead.
    fn calls_with_places(places: usize) -> (Arc<PendingCalls>, Arc<Semaphore>, Instant) {
        let deadline = Instant::now() + Duration::from_secs(30);
        (
            Arc::new(PendingCalls::default()),
            Arc::new(Semaphore::new(places)),
            deadline,
        )
    }

    /// Lets (paused) time run past `deadline` and the tasks woken by it run.
    async fn pass(deadline: Instant) {
        tokio::time::sleep_until(deadline + Duration::from_millis(1)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    fn alive_tasks() -> usize {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    }

    #[tokio::test(start_paused = true)]
    async fn an_answered_call_leaves_nothing_waiting_for_its_deadline() {
        let (pending, places, deadline) = calls_with_places(2);

        let (id, wait, answer) = call(&pending, &places, deadline);
        let fulfill = || HandlerOutcome::Reply(Bytes::from_static(b"fulfill"));
        assert!(pending.settle(id, fulfill()));
        assert_eq!(wait.until_answered(answer).await, fulfill());

        let (id, wait, answer) = call(&pending, &places, deadline);
        pending.forget(id);
        assert_eq!(
            wait.until_answered(answer).await,
            HandlerOutcome::Unavailable
        );

        assert_eq!(
            alive_tasks(),
            0,
            "a task sleeps until the deadline of an answered call"
        );
        assert_eq!(places.available_permits(), 2);
        assert!(pending.lock().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_answered_just_before_its_request_went_away_leaves_nothing_either() {
        let (pending, places, deadline) = calls_with_places(1);
        // JS answered, but the request was dropped before it looked at the answer.
        let (id, wait, answer) = call(&pending, &places, deadline);
        assert!(pending.settle(id, HandlerOutcome::NoHandler));
        drop(wait.until_answered(answer));
        assert_eq!(alive_tasks(), 0);
        assert_eq!(places.available_permits(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_gave_up_waiting_leaves_its_places_held_until_the_deadline() {
        let (pending, places, deadline) = calls_with_places(1);
        let (id, wait, answer) = call(&pending, &places, deadline);
        // Waited, then gave up (the server's own timeout, or the client went away).
        let gave_up = tokio::time::timeout(Duration::from_secs(1), wait.until_answered(answer));
        assert!(gave_up.await.is_err());
        assert_eq!(places.available_permits(), 0);
        assert_eq!(
            alive_tasks(),
            1,
            "one task keeps the call until its deadline"
        );
        pass(deadline).await;
        assert_eq!(places.available_permits(), 1);
        assert!(
            !pending.settle(id, HandlerOutcome::NoHandler),
            "too late: dropped"
        );
        assert_eq!(alive_tasks(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_whose_request_is_gone_keeps_its_places_until_the_deadline() {
        let (pending, places, deadline) = calls_with_places(2);

        // Never polled, then dropped: the request went away before JS answered.
        let (_, wait, answer) = call(&pending, &places, deadline);
        drop(wait.until_answered(answer));
        assert_eq!(
            places.available_permits(),
            1,
            "the handler is still working on it"
        );
        pass(deadline).await;
        assert_eq!(places.available_permits(), 2, "given back at the deadline");
        assert!(pending.lock().is_empty());
        assert_eq!(alive_tasks(), 0);

        // Answered after its request is gone: the answer is dropped, the places given back.
        let (id, wait, answer) = call(&pending, &places, deadline + Duration::from_secs(60));
        drop(wait.until_answered(answer));
        assert!(!pending.settle(id, HandlerOutcome::NoHandler));
        assert_eq!(places.available_permits(), 2);
    }

    #[test]
    fn records_towards_js_are_packed_back_to_back() {
        let records = [
            Record {
                id: 1,
                kind: KIND_PACKET,
                bytes: Bytes::from_static(b"fulfill"),
            },
            Record {
                id: u32::MAX,
                kind: KIND_FAILURE,
                bytes: Bytes::new(),
            },
            Record {
                id: 0x0102_0304,
                kind: KIND_PACKET,
                bytes: Bytes::from(vec![0xab; 40_000]),
            },
        ];
        let length = records.iter().map(Record::len).sum();
        let mut out = Vec::with_capacity(length);
        // SAFETY: `out` has room for `length` bytes, all of which `pack` writes.
        unsafe {
            pack(&records, out.as_mut_ptr());
            out.set_len(length);
        }
        let expected = [
            record(1, KIND_PACKET, b"fulfill"),
            record(u32::MAX, KIND_FAILURE, b""),
            record(0x0102_0304, KIND_PACKET, &[0xab; 40_000]),
        ]
        .concat();
        assert_eq!(out, expected);
    }

    #[test]
    fn an_outbox_batch_reads_back_in_order() {
        let batch = [
            record(7, OUTBOX_SEND, b"prepare"),
            record(u32::MAX, OUTBOX_REPLY, b"fulfill"),
            record(0, OUTBOX_HANDLER_FAILED, "boom \u{1F4A5}".as_bytes()),
            record(3, OUTBOX_NO_HANDLER, b""),
            record(8, OUTBOX_SEND, b""),
        ]
        .concat();
        assert_eq!(
            read_outbox(&batch).unwrap(),
            vec![
                FromJs::Send {
                    id: 7,
                    packet: Bytes::from_static(b"prepare")
                },
                FromJs::Answer {
                    id: u32::MAX,
                    outcome: HandlerOutcome::Reply(Bytes::from_static(b"fulfill"))
                },
                FromJs::Answer {
                    id: 0,
                    outcome: HandlerOutcome::Failed("boom \u{1F4A5}".into())
                },
                FromJs::Answer {
                    id: 3,
                    outcome: HandlerOutcome::NoHandler
                },
                FromJs::Send {
                    id: 8,
                    packet: Bytes::new()
                },
            ]
        );
        assert_eq!(read_outbox(&[]).unwrap(), vec![]);
    }

    #[test]
    fn a_malformed_outbox_batch_is_refused_whole() {
        let good = record(1, OUTBOX_SEND, b"abc");
        for bad in [
            [good.clone(), good[..5].to_vec()].concat(),
            [good.clone(), good[..good.len() - 1].to_vec()].concat(),
            [good.clone(), record(2, 9, b"")].concat(),
        ] {
            assert!(
                matches!(read_outbox(&bad), Err(Error::Bridge(_))),
                "{bad:?}"
            );
        }
    }
}

//! How the incoming server holds its connections: the cap on open connections, closing the
//! idle ones, and asking all of them to finish on shutdown.
//!
//! - At most `maxConnections` are open, counted from the accept (a TLS handshake holds its
//!   slot). While an accepted client waits for a slot (or the process is out of file
//!   descriptors), room is wanted: every connection that has had no request in flight for
//!   `SHED_MIN_IDLE` closes (HTTP/1.1: closed; HTTP/2: GOAWAY), and so does every TLS handshake
//!   older than `SHED_MIN_IDLE` (`unless_room_wanted`). Later clients wait in the kernel's
//!   accept backlog. Busy connections are never cut to make room, and a just-opened one gets
//!   `SHED_MIN_IDLE` to send its request. A refused request (401, 405, …) is answered at once
//!   and does not count as in flight while what is left of its body is dropped.
//! - A connection without a request in flight for `headersTimeout` is closed: an idle
//!   keep-alive connection, a client that never completes its request head (slow headers,
//!   silent sockets, unfinished protocol detection), an HTTP/2 connection without streams.
//! - Asked to close, a connection finishes the requests it has in flight (HTTP/1.1 then
//!   closes, HTTP/2 sends GOAWAY). One that still has no request in flight after
//!   `CLOSE_GRACE` (a client ignoring GOAWAY, a half-sent head) is dropped.
//! - An answer counts as being written from the moment it is ready until hyper is done with
//!   its body (`WriteGuard`); over HTTP/2 that waits for the client's flow-control window. A
//!   connection with answers waiting to be written and none taken for `write_timeout`
//!   (`bodyTimeout`) is dropped with all of them: a client that never opens its window (or
//!   never reads) cannot keep answers in memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, Instant};

use crate::stats::Stats;

/// How long a connection asked to close may stay open without a request in flight.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How long a connection must have been without a request in flight before it is closed to
/// make room (so a client that just connected, or just got an answer, can send its request).
const SHED_MIN_IDLE: Duration = Duration::from_millis(250);
/// A deadline that is never reached in practice (`Instant` has no "never").
const FAR_AWAY: Duration = Duration::from_secs(86_400 * 365);

/// The server's side of every connection: slots under the cap, and the signals that ask
/// connections to close.
pub struct Gate {
    slots: Arc<Semaphore>,
    /// How many wait for room (a client for a slot, the accept loop for file descriptors);
    /// while any does, idle connections close.
    room_wanted: watch::Sender<usize>,
    /// Turns true when the server shuts down.
    draining: watch::Sender<bool>,
}

/// Room is wanted while this lives.
pub struct WantingRoom<'a>(&'a watch::Sender<usize>);

impl Drop for WantingRoom<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|wanting| *wanting -= 1);
    }
}

/// One connection's place under the cap; dropping it frees the place.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Gate {
    pub fn new(max_connections: usize) -> Self {
        Gate {
            slots: Arc::new(Semaphore::new(max_connections)),
            room_wanted: watch::Sender::new(0),
            draining: watch::Sender::new(false),
        }
    }

    /// A place for one more connection. At the cap, wants room until one is free.
    pub async fn slot(&self) -> Slot {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Slot { _permit: permit };
        }
        let _wanting = self.want_room();
        match self.slots.clone().acquire_owned().await {
            Ok(permit) => Slot { _permit: permit },
            // Only a closed semaphore fails, and this one is never closed.
            Err(_) => std::future::pending().await,
        }
    }

    /// Runs `work` (a connection's TLS handshake) to its end, unless room is wanted once it
    /// has run for `SHED_MIN_IDLE`, or the server shuts down: then `None` (closed for room,
    /// counted). A handshake has no request in flight, so it is shed like an idle connection.
    pub async fn unless_room_wanted<F: Future>(&self, work: F, stats: &Stats) -> Option<F::Output> {
        let shed_from = Instant::now() + SHED_MIN_IDLE;
        let mut room_wanted = self.room_wanted.subscribe();
        let mut draining = self.draining.subscribe();
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                output = &mut work => return Some(output),
                _ = draining.wait_for(|draining| *draining) => return None,
                _ = room_wanted.wait_for(|wanting| *wanting > 0) => {}
            }
            tokio::select! {
                biased;
                output = &mut work => return Some(output),
                _ = tokio::time::sleep_until(shed_from) => {}
            }
            if *self.room_wanted.borrow() > 0 {
                stats.connection_closed_for_room();
                return None;
            }
        }
    }

    /// Asks connections without a request in flight to close, until the guard is dropped.
    pub fn want_room(&self) -> WantingRoom<'_> {
        self.room_wanted.send_modify(|wanting| *wanting += 1);
        WantingRoom(&self.room_wanted)
    }

    /// Asks every connection to finish its requests and close (server shutdown).
    pub fn drain(&self) {
        self.draining.send_replace(true);
    }
}

/// How many requests one connection has in flight, and answers waiting to be written.
pub struct Activity {
    in_flight: AtomicUsize,
    /// Notified when `in_flight` drops to 0.
    became_idle: Notify,
    /// Answers ready but not yet written by hyper (see `WriteGuard`).
    writing: AtomicUsize,
    /// Notified when the first answer starts waiting to be written, and when one was taken.
    write_progress: Notify,
    /// Turns true once the connection was asked to close.
    closing: watch::Sender<bool>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            became_idle: Notify::new(),
            writing: AtomicUsize::new(0),
            write_progress: Notify::new(),
            closing: watch::Sender::new(false),
        }
    }
}

/// Counts one request in flight until dropped.
pub struct RequestGuard(Arc<Activity>);

/// Counts one answer waiting to be written until dropped.
pub struct WriteGuard(Arc<Activity>);

impl Activity {
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestGuard(self.clone())
    }

    /// Counts an answer as waiting to be written. The write deadline starts when the first
    /// one starts waiting; later ones do not move it (only a finished write does).
    pub fn write_started(self: &Arc<Self>) -> WriteGuard {
        if self.writing.fetch_add(1, Ordering::AcqRel) == 0 {
            self.write_progress.notify_one();
        }
        WriteGuard(self.clone())
    }

    /// Resolves once the connection is asked to close (for work that outlives its request,
    /// such as dropping the rest of a refused body).
    pub async fn closing(&self) {
        let _ = self.closing.subscribe().wait_for(|closing| *closing).await;
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    fn is_writing(&self) -> bool {
        self.writing.load(Ordering::Acquire) > 0
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        self.0.writing.fetch_sub(1, Ordering::AcqRel);
        self.0.write_progress.notify_one();
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.became_idle.notify_one();
        }
    }
}

/// Why a connection was asked to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseReason {
    Idle,
    Room,
    Shutdown,
}

/// The limits `supervise` applies to one connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Without a request in flight for this long, the connection is closed.
    pub headers: Duration,
    /// With answers waiting to be written and none taken for this long, it is dropped.
    pub write: Duration,
}

/// Drives `connection` until it ends, applying the rules at the top of this module.
/// `close` asks the connection to finish gracefully (hyper's `graceful_shutdown`).
pub async fn supervise<C: Future>(
    mut connection: Pin<&mut C>,
    close: impl Fn(Pin<&mut C>),
    activity: &Activity,
    gate: &Gate,
    stats: &Stats,
    timeouts: Timeouts,
) {
    let headers_timeout = timeouts.headers;
    let mut draining = gate.draining.subscribe();
    let mut room_wanted = gate.room_wanted.subscribe();
    let mut idle_since = Instant::now();
    let idle_deadline = sleep(headers_timeout);
    let room_check = sleep(FAR_AWAY);
    let grace_deadline = sleep(FAR_AWAY);
    let write_deadline = sleep(FAR_AWAY);
    tokio::pin!(idle_deadline, room_check, grace_deadline, write_deadline);
    let mut room_check_armed = false;
    let mut closing: Option<CloseReason> = None;
    loop {
        let open_and_idle = closing.is_none() && activity.is_idle();
        let reason = tokio::select! {
            biased;
            _ = connection.as_mut() => return,
            _ = draining.wait_for(|draining| *draining), if closing != Some(CloseReason::Shutdown) => {
                CloseReason::Shutdown
            }
            _ = activity.became_idle.notified() => {
                idle_since = Instant::now();
                idle_deadline.as_mut().reset(idle_since + headers_timeout);
                if closing.is_some() {
                    // The answer just produced still has to be written: a full grace for it.
                    grace_deadline.as_mut().reset(idle_since + CLOSE_GRACE);
                }
                continue;
            }
            _ = activity.write_progress.notified() => {
                write_deadline.as_mut().reset(Instant::now() + timeouts.write);
                continue;
            }
            _ = &mut write_deadline, if activity.is_writing() => {
                stats.connection_closed_stalled();
                return;
            }
            _ = &mut idle_deadline, if closing.is_none() => {
                if !activity.is_idle() {
                    idle_deadline.as_mut().reset(Instant::now() + FAR_AWAY);
                    continue;
                }
                CloseReason::Idle
            }
            _ = room_wanted.wait_for(|wanting| *wanting > 0), if open_and_idle && !room_check_armed => {
                room_check.as_mut().reset(idle_since + SHED_MIN_IDLE);
                room_check_armed = true;
                continue;
            }
            _ = &mut room_check, if room_check_armed => {
                room_check_armed = false;
                let still_wanted = *gate.room_wanted.borrow() > 0;
                if !(still_wanted && closing.is_none() && activity.is_idle()
                    && idle_since.elapsed() >= SHED_MIN_IDLE)
                {
                    continue;
                }
                CloseReason::Room
            }
            _ = &mut grace_deadline, if closing.is_some() => {
                if activity.is_idle() {
                    return;
                }
                grace_deadline.as_mut().reset(Instant::now() + CLOSE_GRACE);
                continue;
            }
        };
        match reason {
            CloseReason::Idle => stats.connection_closed_idle(),
            CloseReason::Room => stats.connection_closed_for_room(),
            CloseReason::Shutdown => {}
        }
        if closing.is_none() {
            activity.closing.send_replace(true);
            close(connection.as_mut());
            grace_deadline.as_mut().reset(Instant::now() + CLOSE_GRACE);
        }
        closing = Some(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection that ends only when asked to close and `finishes_on_close` is set.
    struct FakeConnection {
        asked_to_close: bool,
        finishes_on_close: bool,
    }

    impl Future for FakeConnection {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            if self.asked_to_close && self.finishes_on_close {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        }
    }

    fn close(mut connection: Pin<&mut FakeConnection>) {
        connection.asked_to_close = true;
    }

    async fn run(
        finishes_on_close: bool,
        activity: Arc<Activity>,
        gate: &Gate,
        stats: &Stats,
        timeout: Duration,
    ) -> bool {
        let connection = FakeConnection {
            asked_to_close: false,
            finishes_on_close,
        };
        tokio::pin!(connection);
        let timeouts = Timeouts {
            headers: timeout,
            write: timeout,
        };
        supervise(connection.as_mut(), close, &activity, gate, stats, timeouts).await;
        connection.asked_to_close
    }

    /// `run` on its own task (a connection that ends when asked to close), holding `slot`.
    fn spawn_connection(
        gate: &Arc<Gate>,
        stats: &Arc<Stats>,
        activity: Arc<Activity>,
        slot: Option<Slot>,
        timeout: Duration,
    ) -> tokio::task::JoinHandle<bool> {
        let (gate, stats) = (gate.clone(), stats.clone());
        tokio::spawn(async move {
            let _slot = slot;
            run(true, activity, &gate, &stats, timeout).await
        })
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connection_is_closed_after_the_headers_timeout() {
        let (gate, stats) = (Gate::new(4), Stats::default());
        let started = Instant::now();
        let asked = run(true, Arc::default(), &gate, &stats, Duration::from_secs(5)).await;
        assert!(asked);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(stats.snapshot().connections_closed_idle, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn connection_ignoring_the_close_is_dropped_after_the_grace() {
        let (gate, stats) = (Gate::new(4), Stats::default());
        let started = Instant::now();
        run(false, Arc::default(), &gate, &stats, Duration::from_secs(5)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5) + CLOSE_GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn busy_connection_is_neither_timed_out_nor_shed() {
        let (gate, stats) = (Arc::new(Gate::new(1)), Arc::new(Stats::default()));
        let activity = Arc::new(Activity::default());
        let request = activity.request_started();
        let supervised = spawn_connection(
            &gate,
            &stats,
            activity.clone(),
            None,
            Duration::from_secs(5),
        );
        {
            let _wanting = gate.want_room();
            tokio::time::sleep(Duration::from_secs(60)).await;
            assert!(!supervised.is_finished(), "a busy connection was closed");
        }
        // Once idle, the headers timeout starts again from the end of the request.
        let idle_at = Instant::now();
        drop(request);
        assert!(supervised.await.expect("supervisor task"));
        assert_eq!(idle_at.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_idle_connections_make_room() {
        let (gate, stats) = (Arc::new(Gate::new(1)), Arc::new(Stats::default()));
        let first = gate.slot().await;
        let supervised = spawn_connection(
            &gate,
            &stats,
            Arc::default(),
            Some(first),
            Duration::from_secs(600),
        );
        tokio::task::yield_now().await;
        let started = Instant::now();
        let _second = gate.slot().await;
        // The connection had just opened: it gets SHED_MIN_IDLE to send a request first.
        assert_eq!(started.elapsed(), SHED_MIN_IDLE);
        assert!(supervised.await.expect("supervisor task"));
        assert_eq!(stats.snapshot().connections_closed_for_room, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_idle_after_room_was_asked_for_still_makes_room() {
        let (gate, stats) = (Arc::new(Gate::new(1)), Arc::new(Stats::default()));
        let first = gate.slot().await;
        let activity = Arc::new(Activity::default());
        let request = activity.request_started();
        let supervised = spawn_connection(
            &gate,
            &stats,
            activity.clone(),
            Some(first),
            Duration::from_secs(600),
        );
        let waiting = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _slot = gate.slot().await;
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(
            !waiting.is_finished(),
            "room was made while the connection was busy"
        );
        let idle_at = Instant::now();
        drop(request);
        let served_at = waiting.await.expect("waiting task");
        assert_eq!(served_at - idle_at, SHED_MIN_IDLE);
        assert!(supervised.await.expect("supervisor task"));
    }

    #[tokio::test(start_paused = true)]
    async fn below_the_cap_nothing_is_closed() {
        let (gate, stats) = (Arc::new(Gate::new(2)), Arc::new(Stats::default()));
        let first = gate.slot().await;
        let supervised = spawn_connection(
            &gate,
            &stats,
            Arc::default(),
            Some(first),
            Duration::from_secs(600),
        );
        let _second = gate.slot().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!supervised.is_finished());
        assert_eq!(stats.snapshot().connections_closed_for_room, 0);
        supervised.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_asks_every_connection_to_close() {
        let (gate, stats) = (Arc::new(Gate::new(4)), Arc::new(Stats::default()));
        let activity = Arc::new(Activity::default());
        let request = activity.request_started();
        let supervised = spawn_connection(
            &gate,
            &stats,
            activity.clone(),
            None,
            Duration::from_secs(600),
        );
        tokio::task::yield_now().await;
        gate.drain();
        assert!(supervised.await.expect("supervisor task"));
        drop(request);
    }
}

//! How the incoming server holds its connections: the cap on open connections, closing the
//! idle ones, and asking all of them to finish on shutdown.
//!
//! - At most `maxConnections` are open. A new connection that finds the cap reached first asks
//!   every connection without a request in flight to close (HTTP/1.1: closed; HTTP/2: GOAWAY),
//!   then waits for a free slot; meanwhile the client waits in the kernel's accept backlog.
//!   Busy connections are never cut to make room.
//! - A connection without a request in flight for `headersTimeout` is closed: an idle
//!   keep-alive connection, a client that never completes its request head (slow headers,
//!   silent sockets, unfinished protocol detection), an HTTP/2 connection without streams.
//! - Asked to close, a connection finishes the requests it has in flight (HTTP/1.1 then
//!   closes, HTTP/2 sends GOAWAY). One that still has no request in flight after
//!   `CLOSE_GRACE` (a client ignoring GOAWAY, a half-sent head) is dropped.

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
/// A deadline that is never reached in practice (`Instant` has no "never").
const FAR_AWAY: Duration = Duration::from_secs(86_400 * 365);

/// The server's side of every connection: slots under the cap, and the signals that ask
/// connections to close.
pub struct Gate {
    slots: Arc<Semaphore>,
    /// Asks connections without a request in flight to close (to make room).
    shed: Notify,
    /// Turns true when the server shuts down.
    draining: watch::Sender<bool>,
}

/// One connection's place under the cap; dropping it frees the place.
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Gate {
    pub fn new(max_connections: usize) -> Self {
        Gate {
            slots: Arc::new(Semaphore::new(max_connections)),
            shed: Notify::new(),
            draining: watch::Sender::new(false),
        }
    }

    /// A place for one more connection. At the cap, asks idle connections to close, then
    /// waits until one has.
    pub async fn slot(&self) -> Slot {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Slot(permit);
        }
        self.shed_idle();
        let permit = self.slots.clone().acquire_owned().await;
        // The semaphore is never closed, so acquiring cannot fail; keep waiting if it did.
        match permit {
            Ok(permit) => Slot(permit),
            Err(_) => std::future::pending().await,
        }
    }

    /// Asks every connection without a request in flight to close.
    pub fn shed_idle(&self) {
        self.shed.notify_waiters();
    }

    /// Asks every connection to finish its requests and close (server shutdown).
    pub fn drain(&self) {
        self.draining.send_replace(true);
    }
}

/// How many requests one connection has in flight.
#[derive(Default)]
pub struct Activity {
    in_flight: AtomicUsize,
    /// Notified when `in_flight` drops to 0.
    became_idle: Notify,
}

/// Counts one request in flight until dropped.
pub struct RequestGuard(Arc<Activity>);

impl Activity {
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestGuard(self.clone())
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
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

/// Drives `connection` until it ends, applying the rules at the top of this module.
/// `close` asks the connection to finish gracefully (hyper's `graceful_shutdown`).
pub async fn supervise<C: Future>(
    mut connection: Pin<&mut C>,
    close: impl Fn(Pin<&mut C>),
    activity: &Activity,
    gate: &Gate,
    stats: &Stats,
    headers_timeout: Duration,
) {
    let mut draining = gate.draining.subscribe();
    let idle_deadline = sleep(headers_timeout);
    let grace_deadline = sleep(FAR_AWAY);
    tokio::pin!(idle_deadline, grace_deadline);
    let mut closing: Option<CloseReason> = None;
    loop {
        let reason = tokio::select! {
            biased;
            _ = connection.as_mut() => return,
            _ = draining.wait_for(|draining| *draining), if closing != Some(CloseReason::Shutdown) => {
                CloseReason::Shutdown
            }
            _ = activity.became_idle.notified() => {
                idle_deadline.as_mut().reset(Instant::now() + headers_timeout);
                continue;
            }
            _ = &mut idle_deadline, if closing.is_none() => {
                if !activity.is_idle() {
                    idle_deadline.as_mut().reset(Instant::now() + FAR_AWAY);
                    continue;
                }
                CloseReason::Idle
            }
            _ = gate.shed.notified(), if closing.is_none() && activity.is_idle() => CloseReason::Room,
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
        supervise(connection.as_mut(), close, &activity, gate, stats, timeout).await;
        connection.asked_to_close
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
        let supervised = {
            let (gate, stats, activity) = (gate.clone(), stats.clone(), activity.clone());
            tokio::spawn(
                async move { run(true, activity, &gate, &stats, Duration::from_secs(5)).await },
            )
        };
        tokio::time::sleep(Duration::from_secs(60)).await;
        gate.shed_idle();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!supervised.is_finished(), "a busy connection was closed");
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
        let supervised = {
            let (gate, stats) = (gate.clone(), stats.clone());
            tokio::spawn(async move {
                let _slot = first;
                run(
                    true,
                    Arc::default(),
                    &gate,
                    &stats,
                    Duration::from_secs(600),
                )
                .await
            })
        };
        tokio::task::yield_now().await;
        let started = Instant::now();
        let _second = gate.slot().await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(supervised.await.expect("supervisor task"));
        assert_eq!(stats.snapshot().connections_closed_for_room, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_asks_every_connection_to_close() {
        let (gate, stats) = (Arc::new(Gate::new(4)), Arc::new(Stats::default()));
        let activity = Arc::new(Activity::default());
        let request = activity.request_started();
        let supervised = {
            let (gate, stats, activity) = (gate.clone(), stats.clone(), activity.clone());
            tokio::spawn(async move {
                run(true, activity, &gate, &stats, Duration::from_secs(600)).await
            })
        };
        tokio::task::yield_now().await;
        gate.drain();
        assert!(supervised.await.expect("supervisor task"));
        drop(request);
    }
}

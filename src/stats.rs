//! Live figures for `getAdminInfo()` and Prometheus: counters updated with relaxed atomics on
//! the packet path (a few increments per packet, no locks), read as a snapshot.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::IlpErrorCode;

/// HTTP statuses the server answers with when a request does not reach a reply.
const SERVER_ERROR_STATUSES: [u16; 9] = [400, 401, 405, 408, 413, 500, 502, 503, 504];
/// Latency histogram: bucket `i` counts latencies below `2^(i/2)` microseconds (√2 steps),
/// up to about 2^31 µs (36 minutes).
const LATENCY_BUCKETS: usize = 64;

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A latency histogram with √2-wide buckets (percentiles within about 41%).
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS],
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn bucket_of(micros: u64) -> usize {
        if micros <= 1 {
            return 0;
        }
        // floor(2 * log2(micros)), refined by comparing with the half step.
        let log2 = 63 - micros.leading_zeros() as usize;
        let half_step = (micros as f64) >= (1u64 << log2) as f64 * std::f64::consts::SQRT_2;
        (2 * log2 + usize::from(half_step) + 1).min(LATENCY_BUCKETS - 1)
    }

    /// The upper bound of a bucket, in microseconds.
    fn upper_bound(bucket: usize) -> f64 {
        2f64.powf(bucket as f64 / 2.0)
    }

    fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        add(&self.buckets[Self::bucket_of(micros)], 1);
    }

    fn percentiles(&self) -> LatencyPercentiles {
        let counts: Vec<u64> = self.buckets.iter().map(read).collect();
        let total: u64 = counts.iter().sum();
        let at = |p: f64| {
            if total == 0 {
                return None;
            }
            let rank = ((total as f64) * p).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (bucket, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return Some(Self::upper_bound(bucket) / 1000.0);
                }
            }
            None
        };
        LatencyPercentiles {
            count: total,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: counts
                .iter()
                .rposition(|count| *count > 0)
                .map(|bucket| Self::upper_bound(bucket) / 1000.0),
        }
    }
}

/// Figures of one direction (outgoing `sendData`, or incoming requests).
struct Direction {
    packets: AtomicU64,
    fulfills: AtomicU64,
    rejects: AtomicU64,
    bytes_out: AtomicU64,
    bytes_in: AtomicU64,
    in_flight: AtomicI64,
    latency: Histogram,
}

impl Direction {
    fn new() -> Self {
        Direction {
            packets: AtomicU64::new(0),
            fulfills: AtomicU64::new(0),
            rejects: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            latency: Histogram::new(),
        }
    }

    fn start(&self, bytes_out: usize) -> Timer<'_> {
        add(&self.packets, 1);
        add(&self.bytes_out, bytes_out as u64);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Timer {
            direction: self,
            started: Instant::now(),
        }
    }

    /// A reply came back: counted as Fulfill or Reject by its type byte.
    fn reply(&self, timer: Timer<'_>, reply: &[u8]) {
        add(&self.bytes_in, reply.len() as u64);
        match reply.first() {
            Some(13) => add(&self.fulfills, 1),
            Some(14) => add(&self.rejects, 1),
            _ => {}
        }
        self.finish(timer);
    }

    /// Records the latency; the in-flight count drops when the timer does.
    fn finish(&self, timer: Timer<'_>) {
        self.latency.record(timer.started.elapsed());
    }
}

/// One packet in flight. Dropping it counts the packet out of `in_flight`, also when the
/// request is abandoned unfinished (its connection closed, `disconnect()` cut it).
pub struct Timer<'a> {
    direction: &'a Direction,
    started: Instant,
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.direction.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything one plugin counts.
pub struct Stats {
    started: Instant,
    outgoing: Direction,
    incoming: Direction,
    send_errors: [AtomicU64; IlpErrorCode::ALL.len()],
    server_errors: [AtomicU64; SERVER_ERROR_STATUSES.len()],
    open_connections: AtomicI64,
    closed_idle: AtomicU64,
    closed_for_room: AtomicU64,
    closed_stalled: AtomicU64,
    closed_flooding: AtomicU64,
    handler_calls_refused: AtomicU64,
    handler_answers_dropped: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            outgoing: Direction::new(),
            incoming: Direction::new(),
            send_errors: std::array::from_fn(|_| AtomicU64::new(0)),
            server_errors: std::array::from_fn(|_| AtomicU64::new(0)),
            open_connections: AtomicI64::new(0),
            closed_idle: AtomicU64::new(0),
            closed_for_room: AtomicU64::new(0),
            closed_stalled: AtomicU64::new(0),
            closed_flooding: AtomicU64::new(0),
            handler_calls_refused: AtomicU64::new(0),
            handler_answers_dropped: AtomicU64::new(0),
        }
    }
}

impl Stats {
    pub fn send_started(&self, prepare_len: usize) -> Timer<'_> {
        self.outgoing.start(prepare_len)
    }

    /// `sendData` settled: a reply, or an error with its ILP error code.
    pub fn send_finished(
        &self,
        timer: Timer<'_>,
        result: std::result::Result<&[u8], IlpErrorCode>,
    ) {
        match result {
            Ok(reply) => self.outgoing.reply(timer, reply),
            Err(code) => {
                add(&self.send_errors[code as usize], 1);
                self.outgoing.finish(timer);
            }
        }
    }

    /// An incoming packet (a request body that passed auth and the size limit).
    pub fn request_started(&self, prepare_len: usize) -> Timer<'_> {
        self.incoming.start(prepare_len)
    }

    /// The packet got the handler's reply, or (`None`) an error status.
    pub fn request_finished(&self, timer: Timer<'_>, reply: Option<&[u8]>) {
        match reply {
            Some(reply) => self.incoming.reply(timer, reply),
            None => self.incoming.finish(timer),
        }
    }

    /// The server answered with an error status (401, 413, 500, …).
    pub fn error_status(&self, status: u16) {
        if let Some(index) = SERVER_ERROR_STATUSES.iter().position(|s| *s == status) {
            add(&self.server_errors[index], 1);
        }
    }

    pub fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection was closed because it sent no request for `headersTimeout`.
    pub fn connection_closed_idle(&self) {
        add(&self.closed_idle, 1);
    }

    /// A connection without a request in flight was closed to stay under `maxConnections`.
    pub fn connection_closed_for_room(&self) {
        add(&self.closed_for_room, 1);
    }

    /// A connection was dropped because its answers waited for the client (a closed HTTP/2
    /// flow-control window) longer than `bodyTimeout`.
    pub fn connection_closed_stalled(&self) {
        add(&self.closed_stalled, 1);
    }

    /// A connection was dropped for sending more than it may: HTTP/2 control frames beyond
    /// their budget, or HTTP/1.1 bytes beyond what its requests allow (`server::flood`).
    pub fn connection_closed_flooding(&self) {
        add(&self.closed_flooding, 1);
    }

    /// A request was refused (503 / REFUSED_STREAM) because too many data-handler calls were
    /// in flight.
    pub fn handler_call_refused(&self) {
        add(&self.handler_calls_refused, 1);
    }

    /// The data handler answered a request that was gone (cancelled by the client, or its
    /// Prepare expired): the answer was dropped.
    pub fn handler_answer_dropped(&self) {
        add(&self.handler_answers_dropped, 1);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let direction = |d: &Direction| DirectionSnapshot {
            packets: read(&d.packets),
            fulfills: read(&d.fulfills),
            rejects: read(&d.rejects),
            errors: Default::default(),
            bytes_sent: read(&d.bytes_out),
            bytes_received: read(&d.bytes_in),
            in_flight: d.in_flight.load(Ordering::Relaxed).max(0),
            latency: d.latency.percentiles(),
        };
        let (mut outgoing, mut incoming) = (direction(&self.outgoing), direction(&self.incoming));
        // Incoming: the request is what we received, the reply what we sent.
        std::mem::swap(&mut incoming.bytes_sent, &mut incoming.bytes_received);
        outgoing.errors = IlpErrorCode::ALL
            .iter()
            .zip(&self.send_errors)
            .map(|(code, count)| (code.as_str().to_owned(), read(count)))
            .collect();
        incoming.errors = SERVER_ERROR_STATUSES
            .iter()
            .zip(&self.server_errors)
            .map(|(status, count)| (status.to_string(), read(count)))
            .collect();
        StatsSnapshot {
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            open_connections: self.open_connections.load(Ordering::Relaxed).max(0),
            connections_closed_idle: read(&self.closed_idle),
            connections_closed_for_room: read(&self.closed_for_room),
            connections_closed_stalled: read(&self.closed_stalled),
            connections_closed_flooding: read(&self.closed_flooding),
            handler_calls_refused: read(&self.handler_calls_refused),
            handler_answers_dropped: read(&self.handler_answers_dropped),
            outgoing,
            incoming,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    pub uptime_seconds: f64,
    /// Incoming connections currently open.
    pub open_connections: i64,
    /// Incoming connections closed for sending no request within `headersTimeout`.
    pub connections_closed_idle: u64,
    /// Idle incoming connections (and TLS handshakes) closed to make room under `maxConnections`.
    pub connections_closed_for_room: u64,
    /// Incoming connections dropped because their answers waited longer than `bodyTimeout` for
    /// the client to take them.
    pub connections_closed_stalled: u64,
    /// Incoming connections dropped for sending more than they may (HTTP/2 control frames
    /// beyond their budget, HTTP/1.1 bytes beyond what their requests allow).
    pub connections_closed_flooding: u64,
    /// Incoming requests refused (503 / REFUSED_STREAM) at `maxHandlerCalls` or
    /// `maxHandlerCallsPerConnection`.
    pub handler_calls_refused: u64,
    /// Data-handler answers dropped because their request was gone (cancelled or expired).
    pub handler_answers_dropped: u64,
    /// `sendData`: errors by ILP error code.
    pub outgoing: DirectionSnapshot,
    /// Requests to our server: errors by HTTP status.
    pub incoming: DirectionSnapshot,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectionSnapshot {
    pub packets: u64,
    pub fulfills: u64,
    pub rejects: u64,
    pub errors: std::collections::BTreeMap<String, u64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub in_flight: i64,
    pub latency: LatencyPercentiles,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyPercentiles {
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// Appends one metric in the Prometheus text format: its HELP and TYPE lines, then one line per
/// sample (`labels` is `{...}` or empty).
pub fn write_metric(
    out: &mut String,
    prefix: &str,
    name: &str,
    kind: &str,
    help: &str,
    samples: &[(String, f64)],
) {
    out.push_str(&format!(
        "# HELP {prefix}_{name} {help}\n# TYPE {prefix}_{name} {kind}\n"
    ));
    for (labels, value) in samples {
        out.push_str(&format!("{prefix}_{name}{labels} {value}\n"));
    }
}

impl StatsSnapshot {
    /// The Prometheus text exposition format (version 0.0.4).
    pub fn to_prometheus(&self, prefix: &str) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
            write_metric(&mut out, prefix, name, kind, help, &samples);
        };
        let both = |f: &dyn Fn(&DirectionSnapshot) -> f64| {
            vec![
                ("{direction=\"outgoing\"}".to_owned(), f(&self.outgoing)),
                ("{direction=\"incoming\"}".to_owned(), f(&self.incoming)),
            ]
        };
        metric(
            "uptime_seconds",
            "gauge",
            "Seconds since the plugin was created.",
            vec![(String::new(), self.uptime_seconds)],
        );
        metric(
            "open_connections",
            "gauge",
            "Incoming HTTP connections open now.",
            vec![(String::new(), self.open_connections as f64)],
        );
        metric(
            "connections_closed_total",
            "counter",
            "Incoming connections we closed: idle past headersTimeout, to stay under maxConnections, stalled writing answers, or flooding (HTTP/2 control frames or HTTP/1.1 bytes beyond their bounds).",
            vec![
                (
                    "{reason=\"idle\"}".to_owned(),
                    self.connections_closed_idle as f64,
                ),
                (
                    "{reason=\"room\"}".to_owned(),
                    self.connections_closed_for_room as f64,
                ),
                (
                    "{reason=\"stalled\"}".to_owned(),
                    self.connections_closed_stalled as f64,
                ),
                (
                    "{reason=\"flooding\"}".to_owned(),
                    self.connections_closed_flooding as f64,
                ),
            ],
        );
        metric(
            "handler_calls_refused_total",
            "counter",
            "Incoming requests refused because too many data-handler calls were in flight.",
            vec![(String::new(), self.handler_calls_refused as f64)],
        );
        metric(
            "handler_answers_dropped_total",
            "counter",
            "Data-handler answers dropped because their request was gone.",
            vec![(String::new(), self.handler_answers_dropped as f64)],
        );
        metric(
            "packets_total",
            "counter",
            "ILP Prepares sent (outgoing) or received (incoming).",
            both(&|d| d.packets as f64),
        );
        metric(
            "fulfills_total",
            "counter",
            "Fulfills among the replies.",
            both(&|d| d.fulfills as f64),
        );
        metric(
            "rejects_total",
            "counter",
            "Rejects among the replies.",
            both(&|d| d.rejects as f64),
        );
        metric(
            "bytes_sent_total",
            "counter",
            "Bytes of packets sent.",
            both(&|d| d.bytes_sent as f64),
        );
        metric(
            "bytes_received_total",
            "counter",
            "Bytes of packets received.",
            both(&|d| d.bytes_received as f64),
        );
        metric(
            "in_flight",
            "gauge",
            "Packets waiting for their reply.",
            both(&|d| d.in_flight as f64),
        );
        let mut errors: Vec<(String, f64)> = self
            .outgoing
            .errors
            .iter()
            .map(|(code, n)| {
                (
                    format!("{{direction=\"outgoing\",code=\"{code}\"}}"),
                    *n as f64,
                )
            })
            .collect();
        errors.extend(self.incoming.errors.iter().map(|(status, n)| {
            (
                format!("{{direction=\"incoming\",code=\"{status}\"}}"),
                *n as f64,
            )
        }));
        metric(
            "errors_total",
            "counter",
            "Failures: ILP error code (outgoing) or HTTP status (incoming).",
            errors,
        );
        let mut latency = Vec::new();
        for (direction, d) in [("outgoing", &self.outgoing), ("incoming", &self.incoming)] {
            for (quantile, value) in [
                ("0.5", d.latency.p50_ms),
                ("0.9", d.latency.p90_ms),
                ("0.99", d.latency.p99_ms),
            ] {
                if let Some(ms) = value {
                    latency.push((
                        format!("{{direction=\"{direction}\",quantile=\"{quantile}\"}}"),
                        ms / 1000.0,
                    ));
                }
            }
        }
        metric(
            "latency_seconds",
            "gauge",
            "Latency percentiles from packet to reply (within 41%).",
            latency,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_monotonic_and_bounded() {
        let mut last = 0;
        for micros in [0, 1, 2, 3, 5, 10, 100, 1_000, 10_000, 1_000_000, u64::MAX] {
            let bucket = Histogram::bucket_of(micros);
            assert!(bucket >= last, "{micros}");
            assert!(bucket < LATENCY_BUCKETS);
            if micros > 1 && micros < (1 << 30) {
                assert!(Histogram::upper_bound(bucket) >= micros as f64, "{micros}");
                assert!(
                    Histogram::upper_bound(bucket) <= micros as f64 * 1.5,
                    "{micros}"
                );
            }
            last = bucket;
        }
    }

    #[test]
    fn abandoned_requests_leave_the_in_flight_count() {
        let stats = Stats::default();
        let abandoned = stats.request_started(10);
        let finished = stats.request_started(10);
        assert_eq!(stats.snapshot().incoming.in_flight, 2);
        stats.request_finished(finished, None);
        drop(abandoned);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.incoming.in_flight, 0);
        assert_eq!(snapshot.incoming.packets, 2);
        assert_eq!(snapshot.incoming.latency.count, 1);
    }

    #[test]
    fn counts_and_percentiles() {
        let stats = Stats::default();
        for _ in 0..99 {
            let timer = stats.send_started(100);
            stats.send_finished(timer, Ok(&[13, 1, 0]));
        }
        let timer = stats.send_started(100);
        stats.send_finished(timer, Err(IlpErrorCode::T01));
        let timer = stats.request_started(50);
        stats.request_finished(timer, Some(&[14, 0]));
        stats.error_status(401);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.outgoing.packets, 100);
        assert_eq!(snapshot.outgoing.fulfills, 99);
        assert_eq!(snapshot.outgoing.errors["T01"], 1);
        assert_eq!(snapshot.outgoing.bytes_sent, 10_000);
        assert_eq!(snapshot.outgoing.bytes_received, 99 * 3);
        assert_eq!(snapshot.outgoing.in_flight, 0);
        assert_eq!(snapshot.outgoing.latency.count, 100);
        assert!(snapshot.outgoing.latency.p99_ms.is_some());
        assert_eq!(snapshot.incoming.rejects, 1);
        assert_eq!(snapshot.incoming.bytes_received, 50);
        assert_eq!(snapshot.incoming.bytes_sent, 2);
        assert_eq!(snapshot.incoming.errors["401"], 1);
        let text = snapshot.to_prometheus("ilp_plugin_http");
        assert!(text.contains("ilp_plugin_http_packets_total{direction=\"outgoing\"} 100\n"));
        assert!(
            text.contains("ilp_plugin_http_errors_total{direction=\"incoming\",code=\"401\"} 1\n")
        );
        assert!(text.contains("# TYPE ilp_plugin_http_latency_seconds gauge\n"));
    }
}

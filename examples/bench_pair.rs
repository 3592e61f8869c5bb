//! The transport ceiling for `npm run bench`: our Rust server and client with no JavaScript.
//! Same stdout protocol as bench/receiver.js and bench/sender.js:
//!
//!   bench_pair receiver --auth static|jwt
//!       prints `ready <port>`, serves until killed; its data handler returns one pre-built
//!       Fulfill.
//!   bench_pair sender --url URL --auth static|jwt [--http2] --in-flight N --data-bytes B
//!       --warmup-ms W --duration-ms D
//!       keeps N Prepares in flight, prints `start`, measures D ms, prints `end <json>`.
//!
//! Both roles take `--workers N`: the tokio worker threads of the process (default 1).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use ilp_plugin_http_rs::{
    parse_options, serialize_fulfill, serialize_prepare, DataHandler, HandlerCall, HandlerFuture,
    HandlerOutcome, NullLogger, Plugin,
};

const STATIC_TOKEN: &str = "bench-static-token";
const JWT_SECRET: &str = "bench-jwt-secret";

struct FixedReply(Bytes);

impl DataHandler for FixedReply {
    fn handle(&self, _packet: Bytes, _call: HandlerCall) -> HandlerFuture {
        let reply = self.0.clone();
        Box::pin(async move { HandlerOutcome::Reply(reply) })
    }
}

fn args() -> (String, HashMap<String, String>) {
    let mut argv = std::env::args().skip(1);
    let role = argv.next().unwrap_or_default();
    let mut flags = HashMap::new();
    let rest: Vec<String> = argv.collect();
    let mut i = 0;
    while i < rest.len() {
        let key = rest[i].trim_start_matches("--").to_owned();
        match rest.get(i + 1).filter(|value| !value.starts_with("--")) {
            Some(value) => {
                flags.insert(key, value.clone());
                i += 2;
            }
            None => {
                flags.insert(key, "true".to_owned());
                i += 1;
            }
        }
    }
    (role, flags)
}

fn options_json(auth: &str, url: &str, http2: bool) -> String {
    let credentials = if auth == "jwt" {
        format!(r#""jwtSecret":"{JWT_SECRET}""#)
    } else {
        format!(r#""staticToken":"{STATIC_TOKEN}""#)
    };
    format!(
        r#"{{"incoming":{{"port":0,"host":"127.0.0.1",{credentials}}},"outgoing":{{"url":"{url}","http2":{http2},{credentials}}}}}"#
    )
}

fn number(flags: &HashMap<String, String>, key: &str, default: u64) -> u64 {
    flags
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (role, flags) = args();
    // `--workers N`, default one, as the addon's runtime has by default (src/node/runtime.rs):
    // on the 2-core bench machine the pair ran 79,581 packets/s at 23.7 µs of CPU per packet
    // with one worker per process against 59,500 and 32.9 µs with one per core (4 interleaved
    // rounds, 64 in flight, 1 KiB), so one worker is the higher ceiling.
    let workers = number(&flags, "workers", 1).clamp(1, 64) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let auth = flags
        .get("auth")
        .cloned()
        .unwrap_or_else(|| "static".into());
    match role.as_str() {
        "receiver" => runtime.block_on(receiver(&auth)),
        "sender" => runtime.block_on(sender(&auth, &flags)),
        _ => {
            eprintln!("usage: bench_pair receiver|sender [flags]");
            std::process::exit(2);
        }
    }
}

async fn receiver(auth: &str) {
    let config = parse_options(&options_json(auth, "http://127.0.0.1:1/", false)).expect("options");
    let fulfill = Bytes::from(serialize_fulfill(&[0; 32], &[]));
    let plugin = Plugin::new(config, Arc::new(FixedReply(fulfill)), Arc::new(NullLogger));
    let port = plugin.connect().expect("connect");
    println!("ready {port}");
    std::future::pending::<()>().await;
}

async fn sender(auth: &str, flags: &HashMap<String, String>) {
    let url = flags.get("url").cloned().expect("--url");
    let http2 = flags.contains_key("http2");
    let in_flight = number(flags, "in-flight", 1) as usize;
    let data = vec![7u8; number(flags, "data-bytes", 0) as usize];
    let warmup = Duration::from_millis(number(flags, "warmup-ms", 1000));
    let duration = Duration::from_millis(number(flags, "duration-ms", 3000));

    let config = parse_options(&options_json(auth, &url, http2)).expect("options");
    // Like the JS sender, a connected plugin (whose server nobody calls).
    let fulfill = Bytes::from(serialize_fulfill(&[0; 32], &[]));
    let plugin = Plugin::new(config, Arc::new(FixedReply(fulfill)), Arc::new(NullLogger));
    plugin.connect().expect("connect");
    let plugin = Arc::new(plugin);
    let prepare = Bytes::from(serialize_prepare(
        1,
        SystemTime::now() + Duration::from_secs(120),
        &[1; 32],
        "test.bench.receiver",
        &data,
    ));

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<u64>::with_capacity(1 << 20)));
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (plugin, prepare) = (plugin.clone(), prepare.clone());
            let (measuring, stop, errors, latencies) = (
                measuring.clone(),
                stop.clone(),
                errors.clone(),
                latencies.clone(),
            );
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let ok = plugin.send(prepare.clone()).await.is_ok();
                    if measuring.load(Ordering::Relaxed) {
                        if ok {
                            mine.push(started.elapsed().as_micros() as u64);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies.lock().expect("latencies").extend(mine);
            })
        })
        .collect();

    tokio::time::sleep(warmup).await;
    println!("start");
    measuring.store(true, Ordering::SeqCst);
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    measuring.store(false, Ordering::SeqCst);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        let _ = worker.await;
    }
    let mut latencies = latencies.lock().expect("latencies").clone();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            0
        } else {
            latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)]
        }
    };
    println!(
        r#"end {{"packets":{},"seconds":{seconds:.4},"p50Us":{},"p99Us":{},"maxUs":{},"errors":{}}}"#,
        latencies.len(),
        percentile(0.5),
        percentile(0.99),
        latencies.last().copied().unwrap_or(0),
        errors.load(Ordering::Relaxed)
    );
    // The runner reads this process's CPU time and peak memory after `end`, then kills it.
    std::future::pending::<()>().await;
}

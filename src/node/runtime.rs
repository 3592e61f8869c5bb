//! The size of the tokio runtime the addon runs on, chosen once when the addon loads.
//!
//! napi-rs would build a multi-thread runtime with one worker per CPU. Inside ilp-connector
//! the work per packet is small and arrives from one JavaScript thread, so more workers mostly
//! add wake-ups: an idle worker is woken to steal a task that the worker already running would
//! have run a moment later (futex calls per forwarded packet on the connector's tokio threads:
//! 0.95 with 2 workers, 0.09 with 1; `npm run bench -- --through-trace`). The default is
//! therefore [`DEFAULT_WORKER_THREADS`]; `ILP_PLUGIN_HTTP_RS_WORKER_THREADS` overrides it for
//! the whole process (`index.js` refuses a bad value before the addon loads; the README's
//! "Performance" section says what to choose).
//!
//! The runtime also runs without tokio's LIFO slot. With it, a task woken by the running task
//! runs next, ahead of every task already waiting: an HTTP/2 session woken by one stream's
//! answer writes that answer alone before the turn's other answers are even taken, and the
//! connector pays a `writev` (and the tasks' ping-pong) per packet. Without it, woken tasks
//! queue in order. Through ilp-connector, 64 in flight, h2c between the processes: `writev`
//! per packet on the connector's tokio thread 1.9 -> 1.1 (`--through-trace`), and in an
//! interleaved A/B of 4 rounds connector CPU per packet 0.96x (0.83-0.96) and packets/s 1.06x
//! (1.02-1.20); over HTTP/1.1 (one request per connection) no measurable change (README,
//! "Performance"). `Builder::disable_lifo_slot` is one of tokio's unstable APIs:
//! `.cargo/config.toml` builds with `--cfg tokio_unstable` (scripts/build.js and `npm run
//! package` add it to a RUSTFLAGS that would replace the config's flags); a build without it
//! works the same, only slower, and says so in `getAdminInfo().runtime.lifoSlot`.

use std::sync::OnceLock;

/// Environment variable overriding the number of tokio worker threads.
pub const WORKER_THREADS_ENV: &str = "ILP_PLUGIN_HTTP_RS_WORKER_THREADS";

/// Worker threads when the variable is unset or empty.
pub const DEFAULT_WORKER_THREADS: usize = 1;

/// The largest value accepted (`MAX_WORKER_THREADS` in `index.js`).
pub const MAX_WORKER_THREADS: usize = 64;

/// Whether this build runs tokio without its LIFO slot (built with `--cfg tokio_unstable`).
pub const LIFO_SLOT_DISABLED: bool = cfg!(tokio_unstable);

/// The runtime the addon built when it loaded, as its figures are read.
struct Built {
    worker_threads: usize,
    handle: tokio::runtime::Handle,
}

static BUILT: OnceLock<Built> = OnceLock::new();

/// What `getAdminInfo().runtime` shows.
pub struct RuntimeFigures {
    pub worker_threads: usize,
    /// Tasks spawned and not yet finished, in the whole process: connections, requests in
    /// flight, handler calls whose request gave up (kept until their Prepare expires). Flat
    /// under steady traffic; a count that climbs with the packets answered is a leak (as the
    /// task per answered packet was before 05a3959). Read from the runtime the addon built;
    /// should napi-rs ever replace it (after every environment closed), it reads 0.
    pub alive_tasks: usize,
}

/// The figures of the addon's runtime; `None` if it had to fall back to napi-rs's default one.
pub fn runtime_in_use() -> Option<RuntimeFigures> {
    BUILT.get().map(|built| RuntimeFigures {
        worker_threads: built.worker_threads,
        alive_tasks: built.handle.metrics().num_alive_tasks(),
    })
}

/// The worker count for the variable's value: the default when unset or empty, the number
/// when it is an integer from 1 to [`MAX_WORKER_THREADS`] (digits only), else an error.
pub fn worker_threads(value: Option<&str>) -> Result<usize, String> {
    match value {
        None | Some("") => Ok(DEFAULT_WORKER_THREADS),
        Some(text) => text
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| text.parse::<usize>().ok())
            .flatten()
            .filter(|n| (1..=MAX_WORKER_THREADS).contains(n))
            .ok_or_else(|| {
                format!(
                    "{WORKER_THREADS_ENV} must be an integer from 1 to {MAX_WORKER_THREADS}, not {text:?}"
                )
            }),
    }
}

/// Runs when the addon is loaded (before any JS calls it): hands napi-rs the runtime it will
/// use for everything. A value `index.js` would have refused cannot reach here through the
/// package; loaded directly, the addon then uses the default. If the runtime cannot be built,
/// napi-rs builds its own default one.
#[napi_derive::module_init]
fn init() {
    let workers = worker_threads(std::env::var(WORKER_THREADS_ENV).ok().as_deref())
        .unwrap_or(DEFAULT_WORKER_THREADS);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(workers).enable_all();
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    if let Ok(runtime) = builder.build() {
        let handle = runtime.handle().clone();
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
        let _ = BUILT.set(Built {
            worker_threads: workers,
            handle,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_empty_is_the_default() {
        assert_eq!(worker_threads(None), Ok(DEFAULT_WORKER_THREADS));
        assert_eq!(worker_threads(Some("")), Ok(DEFAULT_WORKER_THREADS));
    }

    #[test]
    fn integers_in_range_are_taken() {
        assert_eq!(worker_threads(Some("1")), Ok(1));
        assert_eq!(worker_threads(Some("16")), Ok(16));
        assert_eq!(worker_threads(Some("64")), Ok(64));
    }

    #[test]
    fn anything_else_is_refused_with_the_variable_named() {
        for bad in [
            "0",
            "65",
            "-1",
            "+2",
            " 2",
            "2 ",
            "1.5",
            "two",
            "1e1",
            "99999999999999999999",
        ] {
            let error = worker_threads(Some(bad)).unwrap_err();
            assert!(error.starts_with(WORKER_THREADS_ENV), "{bad}: {error}");
            assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
        }
    }
}

//! A tiny logging seam: the core logs through `Logger`; the napi side forwards to the
//! connector's `api.log` (or the `debug` package). Nothing per packet is logged above debug.

use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

pub trait Logger: Send + Sync {
    fn log(&self, level: Level, message: String);
}

pub type SharedLogger = Arc<dyn Logger>;

/// Discards everything (for tests and tools).
pub struct NullLogger;

impl Logger for NullLogger {
    fn log(&self, _level: Level, _message: String) {}
}

//! The `#[napi]` class behind `index.js`: lifecycle and the JS surface, nothing else.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use napi::bindgen_prelude::{BufferSlice, FnArgs, Function, FunctionRef, PromiseRaw};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, Status};
use napi_derive::napi;

use crate::auth::IncomingAuth;
use crate::bridge::{JsBytes, JsDataHandler, JsLogger, PendingCalls, SendSettler, SettleArgs};
use crate::client::{Client, Target};
use crate::config::{Config, Routing};
use crate::error::Error;
use crate::log::SharedLogger;
use crate::options::parse_options;
use crate::routing::{IldcpSource, Multilateral};
use crate::server::{self, HandlerOutcome, RunningServer, ServerState};
use crate::stats::Stats;

type DispatchArgs = FnArgs<(u32, JsBytes)>;

/// A strong reference to the dispatcher: holding it keeps Node alive while we listen.
type KeepAlive = ThreadsafeFunction<DispatchArgs, (), DispatchArgs, Status, false, false>;

struct Listening {
    server: RunningServer,
    keep_alive: KeepAlive,
}

#[napi]
pub struct NativePlugin {
    settle_send: Arc<SendSettler>,
    stats: Arc<Stats>,
    config: Config,
    client: Arc<Client>,
    handler: Arc<JsDataHandler>,
    multilateral: Option<Arc<Multilateral>>,
    pending: Arc<PendingCalls>,
    logger: SharedLogger,
    dispatch: FunctionRef<DispatchArgs, ()>,
    connected: Arc<AtomicBool>,
    listening: Mutex<Option<Listening>>,
}

#[napi]
impl NativePlugin {
    /// `options_json`: `JSON.stringify` of the plugin options; throws naming a bad option.
    /// `dispatch(id, packet)` is called for each incoming packet, `settle_send(id, result)`
    /// with the outcome of each `send_data`, `log(level, message)` for log lines.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        options_json: String,
        dispatch: Function<'_, DispatchArgs, ()>,
        settle_send: Function<'_, SettleArgs, ()>,
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
        let (target, multilateral) = match &config.routing {
            Routing::Bilateral { url } => (Target::Peer(url.clone()), None),
            Routing::Multilateral {
                url_template,
                ildcp,
            } => {
                let multilateral = Arc::new(Multilateral::new(
                    url_template.clone(),
                    IldcpSource::new(ildcp.clone(), handler.clone()),
                ));
                (Target::Child(multilateral.clone()), Some(multilateral))
            }
        };
        let stats = Arc::new(Stats::default());
        let client = Arc::new(Client::new(&config.outgoing, target, stats.clone())?);
        Ok(NativePlugin {
            settle_send,
            stats,
            config,
            client,
            handler,
            multilateral,
            pending,
            logger,
            dispatch: dispatch.create_ref()?,
            connected: Arc::new(AtomicBool::new(false)),
            listening: Mutex::new(None),
        })
    }

    /// Binds the port and starts serving; returns the bound port. Throws on bind errors.
    #[napi(catch_unwind)]
    pub fn connect(&self, env: &Env) -> napi::Result<u32> {
        let mut listening = self.lock_listening();
        if let Some(listening) = listening.as_ref() {
            return Ok(u32::from(listening.server.port));
        }
        let incoming = &self.config.incoming;
        let listener = server::bind(incoming.host, incoming.port)?;
        let keep_alive: KeepAlive = self
            .dispatch
            .borrow_back(env)?
            .build_threadsafe_function()
            .callee_handled::<false>()
            .weak::<false>()
            .build()?;
        let state = Arc::new(ServerState::new(
            IncomingAuth::new(incoming.jwt_secret.as_ref(), incoming.static_token.as_ref()),
            self.handler.clone(),
            self.multilateral.clone(),
            self.logger.clone(),
            self.stats.clone(),
            incoming.limits,
        ));
        let server = napi::bindgen_prelude::within_runtime_if_available(|| {
            RunningServer::start(listener, incoming.tls.clone(), state)
        })?;
        let port = server.port;
        self.logger
            .log(crate::log::Level::Info, format!("listening on port {port}"));
        *listening = Some(Listening { server, keep_alive });
        self.connected.store(true, Ordering::SeqCst);
        Ok(u32::from(port))
    }

    /// Stops the server: refuses new connections at once, drains in-flight requests
    /// (bounded), then releases what kept Node alive.
    #[napi(catch_unwind)]
    pub fn disconnect<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        self.connected.store(false, Ordering::SeqCst);
        let listening = self.lock_listening().take();
        env.spawn_future(async move {
            if let Some(Listening { server, keep_alive }) = listening {
                server.shutdown().await;
                drop(keep_alive);
            }
            Ok(())
        })
    }

    /// Sends packet `id`; the outcome comes back through `settle_send(id, result)`.
    /// (One long-lived thread-safe function instead of a promise per call: see NAPI-NOTES.)
    #[napi(catch_unwind)]
    pub fn send_data(&self, id: u32, data: BufferSlice) {
        let packet = Bytes::copy_from_slice(&data);
        let client = self.client.clone();
        let settle = self.settle_send.clone();
        if !self.connected.load(Ordering::SeqCst) {
            settle.settle(id, Err(Error::NotConnected));
            return;
        }
        napi::bindgen_prelude::spawn(async move {
            settle.settle(id, client.send(packet).await);
        });
    }

    /// The handler's answer for request `id`; false if that request is gone.
    #[napi(catch_unwind)]
    pub fn respond(&self, id: u32, data: BufferSlice) -> bool {
        self.pending
            .settle(id, HandlerOutcome::Reply(Bytes::copy_from_slice(&data)))
    }

    /// The handler failed for request `id` (-> 500); `message` is logged.
    #[napi(catch_unwind)]
    pub fn respond_error(&self, id: u32, message: String) -> bool {
        self.pending.settle(id, HandlerOutcome::Failed(message))
    }

    /// No data handler was registered for request `id` (-> 502).
    #[napi(catch_unwind)]
    pub fn respond_no_handler(&self, id: u32) -> bool {
        self.pending.settle(id, HandlerOutcome::NoHandler)
    }

    /// Live figures and the effective configuration (secrets redacted), as JSON.
    #[napi(catch_unwind)]
    pub fn admin_info(&self) -> String {
        serde_json::json!({
            "connected": self.connected.load(Ordering::SeqCst),
            "port": self.port(),
            "stats": self.stats.snapshot(),
            "config": self.config.describe(),
        })
        .to_string()
    }

    /// The same figures in the Prometheus text format, metric names prefixed with `prefix`.
    #[napi(catch_unwind)]
    pub fn metrics(&self, prefix: String) -> String {
        self.stats.snapshot().to_prometheus(&prefix)
    }

    /// The bound port while listening.
    #[napi(catch_unwind)]
    pub fn port(&self) -> Option<u32> {
        self.lock_listening()
            .as_ref()
            .map(|listening| u32::from(listening.server.port))
    }
}

impl NativePlugin {
    fn lock_listening(&self) -> std::sync::MutexGuard<'_, Option<Listening>> {
        self.listening
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

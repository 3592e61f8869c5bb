//! `Plugin`: one ILP-over-HTTP plugin assembled from a validated `Config`, without napi.
//! The addon (`node::addon`) wraps it for JavaScript; `examples/bench_pair.rs` and the Rust
//! integration tests (`tests/`) use it directly with a data handler written in Rust.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::auth::IncomingAuth;
use crate::client::Client;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::handler::DataHandler;
use crate::log::{Level, SharedLogger};
use crate::routing::Router;
use crate::server::{self, RunningServer, ServerState};
use crate::stats::Stats;
use crate::sync::lock;

/// The client as it was when the sends were asked for (`Plugin::sender`).
#[derive(Clone)]
pub struct Sender(Option<Arc<Client>>);

impl Sender {
    /// Sends a Prepare; `Error::NotConnected` if the plugin was not connected when this was
    /// taken.
    pub async fn send(self, packet: Bytes) -> Result<Bytes> {
        match self.0 {
            Some(client) => client.send(packet).await,
            None => Err(Error::NotConnected),
        }
    }
}

pub struct Plugin {
    config: Config,
    stats: Arc<Stats>,
    client: Arc<Client>,
    handler: Arc<dyn DataHandler>,
    router: Arc<Router>,
    logger: SharedLogger,
    connected: AtomicBool,
    server: Mutex<Option<RunningServer>>,
}

impl Plugin {
    /// Assembles the plugin (client side ready, server started by `connect`). `handler`
    /// answers incoming packets and, in multilateral mode, the ILDCP fetch.
    pub fn new(config: Config, handler: Arc<dyn DataHandler>, logger: SharedLogger) -> Self {
        let stats = Arc::new(Stats::default());
        let router = Arc::new(Router::new(config.routing.clone(), handler.clone()));
        let client = Arc::new(Client::new(&config.outgoing, router.clone(), stats.clone()));
        Plugin {
            config,
            stats,
            client,
            handler,
            router,
            logger,
            connected: AtomicBool::new(false),
            server: Mutex::new(None),
        }
    }

    /// Binds the port and starts serving; returns the bound port (again, when already
    /// listening). Must be called within a tokio runtime. A bind error (port in use) is
    /// returned and leaves the plugin disconnected.
    pub fn connect(&self) -> Result<u16> {
        let mut server = self.lock_server();
        if let Some(running) = server.as_ref() {
            return Ok(running.port);
        }
        let incoming = &self.config.incoming;
        let listener = server::bind(incoming.host, incoming.port)?;
        let state = Arc::new(ServerState::new(
            IncomingAuth::new(&incoming.credentials)
                .with_jwt_max_lifetime(incoming.jwt_max_lifetime),
            self.handler.clone(),
            self.router.clone(),
            self.logger.clone(),
            self.stats.clone(),
            incoming.limits,
        ));
        let running = RunningServer::start(listener, incoming.tls.clone(), state)?;
        let port = running.port;
        self.logger
            .log(Level::Info, format!("listening on port {port}"));
        *server = Some(running);
        self.connected.store(true, Ordering::SeqCst);
        Ok(port)
    }

    /// Marks the plugin disconnected at once (`send` fails from now on); the returned future
    /// stops the server: refuses new connections at once, lets requests in flight finish
    /// (bounded by `server::DRAIN_TIMEOUT`), then closes every connection.
    pub fn disconnect(&self) -> impl Future<Output = ()> + Send + 'static {
        self.connected.store(false, Ordering::SeqCst);
        let server = self.lock_server().take();
        self.client.close_connections();
        async move {
            if let Some(server) = server {
                server.shutdown().await;
            }
        }
    }

    /// Sends a Prepare to the peer; resolves with the peer's reply bytes. Fails with
    /// `Error::NotConnected` when called while not connected.
    pub fn send(&self, packet: Bytes) -> impl Future<Output = Result<Bytes>> + Send + 'static {
        self.sender().send(packet)
    }

    /// What sends made now go through: the client while connected. Taken once for many sends
    /// (a JS turn's), it lets each send's future be made where it runs, in its own task.
    pub fn sender(&self) -> Sender {
        Sender(self.is_connected().then(|| self.client.clone()))
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// The bound port while listening.
    pub fn port(&self) -> Option<u16> {
        self.lock_server().as_ref().map(|running| running.port)
    }

    /// The plugin's counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Live figures and the effective configuration (secrets redacted): `getAdminInfo()`.
    pub fn admin_info(&self) -> serde_json::Value {
        serde_json::json!({
            "connected": self.is_connected(),
            "port": self.port(),
            "stats": self.stats.snapshot(),
            "config": self.config.describe(),
        })
    }

    /// The same figures in the Prometheus text format, metric names prefixed with `prefix`.
    pub fn metrics(&self, prefix: &str) -> String {
        self.stats.snapshot().to_prometheus(prefix)
    }

    fn lock_server(&self) -> std::sync::MutexGuard<'_, Option<RunningServer>> {
        lock(&self.server)
    }
}

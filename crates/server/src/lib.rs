//! The TuiTalk chat server: a WebSocket endpoint (`/ws`, protocol in `tuitalk-protocol`),
//! health endpoints, a store that sequences and keeps messages, and a broker that carries
//! room events between backends.
//!
//! With no configuration it is one self-contained process: SQLite in `./data`, an
//! in-process broker, listening on 127.0.0.1:8080. [`run`] is the entry point used by the
//! binary and by the integration tests.
//!
//! # Layout
//! - [`config`]: the typed configuration, its layering and its documented defaults.
//! - [`connection`]: one WebSocket: framing, limits, ping/idle, the command loop.
//! - [`session`]: identity and rooms of one connection; the delivery rule.
//! - [`identity`]: session tokens (HMAC) and the token key.
//! - [`hub`]: this backend's connections per room and the fan-out of events.
//! - [`broker`]: the `Broker` trait, its in-process and Redis Cluster implementations;
//!   presence.
//! - [`watcher`]: the room watcher, which delivers from the store what the broker missed.
//! - [`store`]: the `Store` trait, SQLite, PostgreSQL, and the group committer.
//! - [`api`]: `/healthz`, `/readyz`; [`metrics`]: `/metrics`; [`web`]: the web client at
//!   `/` and `/assets/`.
//! - [`rest`]: the REST API under `/api/`; [`ops`]: the operations it shares with
//!   [`connection`] (token, guest, post checks, rate refusal, history page).
//! - [`shutdown`]: signals → cancellation; [`error`]: boundary error types.

pub mod api;
pub mod broker;
pub mod config;
pub mod connection;
pub mod error;
pub mod hub;
pub mod identity;
pub mod metrics;
pub mod ops;
pub mod rest;
pub mod session;
pub mod shutdown;
pub mod store;
pub mod watcher;
pub mod web;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use axum::serve::ListenerExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use error::ServerError;

use broker::Broker;
use broker::embedded::EmbeddedBroker;
use broker::redis::RedisBroker;
use hub::Hub;
use identity::TokenSigner;
use metrics::{Metrics, StateCollector};
use store::Store;
use store::commit::Committer;
use store::postgres::PgStore;
use store::sqlite::SqliteStore;
use watcher::{RoomWatcher, WatchIntervals};

/// Everything a request handler or connection needs, shared by reference count.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The shared state behind [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The configuration in force.
    pub config: Config,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The broker.
    pub broker: Arc<dyn Broker>,
    /// This backend's connections.
    pub hub: Arc<Hub>,
    /// The group committer.
    pub committer: Committer,
    /// Token signing and verification.
    pub tokens: TokenSigner,
    /// Fired at shutdown.
    pub shutdown: CancellationToken,
    /// Tracks connection tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Open WebSocket connections (for `limits.max_connections`).
    pub connections: AtomicUsize,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Admission control: new WebSocket connections per second (`limits.accepts_per_second`).
    pub admission: DefaultDirectRateLimiter,
    /// The web client's files, served at `/`.
    pub web: web::WebAssets,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl std::fmt::Debug for dyn Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Broker")
    }
}

/// Holds one slot of `limits.max_connections`; frees it when dropped.
#[derive(Debug)]
pub struct ConnectionSlot(AppState);

impl AppState {
    /// Whether a new WebSocket connection may be accepted now (`limits.accepts_per_second`);
    /// counts the refusal when not.
    pub fn admit(&self) -> bool {
        let admitted = self.admission.check().is_ok();
        if !admitted {
            self.metrics.connections_throttled.inc();
        }
        admitted
    }

    /// Takes a connection slot, or `None` when the server is at its connection limit.
    pub fn try_connection_slot(&self) -> Option<ConnectionSlot> {
        let max = self.config.limits.max_connections;
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| {
                self.metrics.connections_opened.inc();
                ConnectionSlot(self.clone())
            })
            .or_else(|| {
                self.metrics.connections_refused.inc();
                None
            })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The HTTP routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/assets/{file}", get(web::asset))
        .route("/ws", get(connection::upgrade))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(metrics::handler))
        .nest("/api", rest::router(state.clone()))
        .with_state(state)
}

/// Opens the configured store: PostgreSQL when `store.database_url` is set, else the
/// embedded SQLite file. Either way the migrations are applied.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>, ServerError> {
    let store: Arc<dyn Store> = match &config.store.database_url {
        Some(url) => {
            tracing::info!("store: PostgreSQL");
            Arc::new(
                PgStore::connect(
                    url.expose(),
                    config.store.pool_size,
                    Duration::from_millis(config.store.acquire_timeout_ms),
                    Duration::from_millis(config.store.statement_timeout_ms),
                )
                .await?,
            )
        }
        None => {
            let path = config.sqlite_path();
            tracing::info!(path = %path.display(), "store: SQLite");
            Arc::new(SqliteStore::open(&path).await?)
        }
    };
    Ok(store)
}

/// The broker of the configuration: the Redis Cluster broker with its room watcher when
/// `broker.redis_nodes` is set, else the in-process one. Returns the room watcher (if
/// any) and the background tasks, which end once `shutdown` fires.
async fn start_broker(
    config: &Config,
    hub: &Arc<Hub>,
    store: &Arc<dyn Store>,
    shutdown: &CancellationToken,
) -> (
    Arc<dyn Broker>,
    Option<Arc<RoomWatcher>>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    if config.broker.redis_nodes.is_none() {
        return (Arc::new(EmbeddedBroker::new(hub.clone())), None, Vec::new());
    }
    let settings = &config.broker;
    let watcher = Arc::new(RoomWatcher::new(
        hub.clone(),
        store.clone(),
        settings.watch_max_dispatch,
    ));
    let started =
        RedisBroker::start(settings, hub.clone(), watcher.clone(), shutdown.clone()).await;
    let mut tasks = started.tasks;
    tasks.push(tokio::spawn(watcher.clone().run(
        started.broker.state_changes(),
        WatchIntervals {
            normal: Duration::from_millis(settings.watch_interval_ms),
            degraded: Duration::from_millis(settings.degraded_watch_interval_ms),
            reorder_wait: Duration::from_millis(settings.reorder_wait_ms),
        },
        shutdown.clone(),
    )));
    (started.broker, Some(watcher), tasks)
}

/// Runs the server on `listener` until `shutdown` is cancelled, then shuts down
/// gracefully: stops accepting, lets connections finish in-flight posts and close with
/// 1012, drains the committer, and returns — after `server.shutdown_timeout_ms` at the
/// latest.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    config.validate()?;
    let web = web::WebAssets::load(config.web.assets_dir.as_deref())?;
    match web.source() {
        web::Source::Embedded => tracing::info!("web client: embedded"),
        web::Source::Directory(dir) => tracing::info!(dir = %dir.display(), "web client"),
        web::Source::NotBuilt => {
            tracing::warn!("web client not built: / explains how (scripts/build-web.sh)");
        }
    }
    let store = open_store(&config).await?;
    let tokens = TokenSigner::from_config(&config).map_err(ServerError::Secret)?;
    let hub = Arc::new(Hub::new());
    let (broker, watcher, broker_tasks) = start_broker(&config, &hub, &store, &shutdown).await;
    let metrics = Arc::new(Metrics::new(StateCollector {
        hub: hub.clone(),
        broker: broker.clone(),
        watcher,
    }));
    let (committer, committer_task) = Committer::start(
        store.clone(),
        broker.clone(),
        metrics.clone(),
        config.store.commit_queue,
        config.store.max_batch,
    );
    let shutdown_timeout = Duration::from_millis(config.server.shutdown_timeout_ms);
    let tracker = TaskTracker::new();
    let accepts = NonZeroU32::new(config.limits.accepts_per_second).unwrap_or(NonZeroU32::MIN);
    let admission = RateLimiter::direct(Quota::per_second(accepts));
    let state = AppState(Arc::new(Shared {
        config,
        store: store.clone(),
        broker,
        hub,
        committer,
        tokens,
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
        connections: AtomicUsize::new(0),
        metrics,
        admission,
        web,
    }));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    let app = router(state);
    // Small frames must leave at once: without TCP_NODELAY an ack can wait ~40 ms for the
    // peer's delayed ACK (Nagle).
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let serve =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    serve.await.map_err(ServerError::Serve)?;

    // Accepting has stopped; connections saw the token and are closing with 1012 after
    // their in-flight posts are acknowledged. The committer ends when the last handle
    // (held by the connections and the router state) is gone.
    let drain = async {
        tracker.close();
        tracker.wait().await;
        let _ = committer_task.await;
        for task in broker_tasks {
            let _ = task.await;
        }
    };
    if tokio::time::timeout(shutdown_timeout, drain).await.is_err() {
        tracing::warn!(
            timeout_ms = shutdown_timeout.as_millis() as u64,
            "shutdown timeout: exiting with connections still open"
        );
    } else {
        tracing::info!("shut down cleanly");
    }
    store.close().await;
    Ok(())
}

//! The TuiTalk chat server: a WebSocket endpoint (`/ws`, protocol in `tuitalk-protocol`),
//! the REST API, health endpoints, a store that sequences and keeps messages, and a
//! broker that carries room events between backends.
//!
//! With no configuration it is one self-contained process: SQLite in `./data`, an
//! in-process broker, listening on 127.0.0.1:8080. [`run`] is the entry point used by the
//! binary and by the integration tests. docs/architecture.md draws the modules and the
//! path of one post through them.
//!
//! # Layout
//! - [`transport`]: `/ws` — WebSocket framing, limits, ping/idle, the bounded queues;
//!   [`peer`]: one connection as the commands see it.
//! - [`commands`]: one module per command family (identity, rooms, posts, history,
//!   presence, ping), each with its validation and effect, behind one interface;
//!   [`rest`]: the REST API under `/api/`, calling the same commands.
//! - [`session`]: identity and rooms of one connection; the delivery rule.
//! - [`hub`]: this backend's connections per room and the fan-out of events;
//!   [`watcher`]: orders messages and repairs what the broker missed from the store;
//!   [`subscriptions`]: a connection entering and leaving rooms.
//! - [`broker`]: the `Broker` trait, its in-process and Redis Cluster transports,
//!   presence.
//! - [`store`]: the `Store` trait, SQLite, PostgreSQL, and the group committer.
//! - [`admin`]: `tuitalk-server user …`, accounts from the operator's shell;
//!   [`auth`]: accounts, sessions, tokens (HMAC, keys by id), passwords (argon2id), the
//!   revocation check; [`mail`]: mail for resets and verification (SMTP).
//! - [`health`]: `/healthz`, `/readyz`; [`metrics`]: `/metrics`; [`web`]: the web client
//!   at `/` and `/assets/`; [`origin`]: which browser pages may use `/ws` and `/api/`.
//! - [`config`]: the typed configuration; [`state`]: the shared state; [`shutdown`]:
//!   signals → cancellation; [`error`]: boundary error types.

pub mod admin;
pub mod auth;
pub mod broker;
pub mod commands;
pub mod config;
pub mod edge;
pub mod error;
pub mod health;
pub mod hub;
pub mod mail;
pub mod metrics;
pub mod occupancy;
pub mod origin;
pub mod peer;
pub mod rest;
pub mod session;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod subscriptions;
pub mod throttle;
pub mod transport;
pub mod watcher;
pub mod web;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use governor::{Quota, RateLimiter};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use error::ServerError;
pub use state::{AppState, ConnectionSlot, Shared};

use broker::Broker;
use broker::embedded::EmbeddedBroker;
use broker::redis::RedisBroker;
use hub::Hub;
use metrics::{Metrics, StateCollector};
use store::Store;
use store::commit::Committer;
use store::postgres::PgStore;
use store::sqlite::SqliteStore;
use subscriptions::Subscriptions;
use watcher::{RoomWatcher, WatchIntervals};

/// The HTTP routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/assets/{file}", get(web::asset))
        .route("/ws", get(transport::upgrade))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::handler))
        .nest("/api", rest::router(state.clone()))
        .with_state(state)
}

/// Opens the configured store: PostgreSQL when `store.database_url` is set, else the
/// embedded SQLite file. Either way the migrations are applied.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, ServerError> {
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

/// The delivery path of the configuration: the room watcher and the broker whose one
/// output it is — the Redis Cluster broker when `broker.redis_nodes` is set, else the
/// in-process one — and the background tasks (the watcher's checks, the Redis broker's
/// tasks), which end once `shutdown` fires.
async fn start_delivery(
    config: &Config,
    hub: &Arc<Hub>,
    store: &Arc<dyn Store>,
    shutdown: &CancellationToken,
) -> (
    Arc<RoomWatcher>,
    Arc<dyn Broker>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let settings = &config.broker;
    let watcher = Arc::new(RoomWatcher::new(
        hub.clone(),
        store.clone(),
        settings.watch_max_dispatch,
    ));
    let (broker, mut tasks): (Arc<dyn Broker>, _) = if config.broker.redis_nodes.is_some() {
        let started = RedisBroker::start(settings, watcher.clone(), shutdown.clone()).await;
        (started.broker, started.tasks)
    } else {
        (Arc::new(EmbeddedBroker::new(watcher.clone())), Vec::new())
    };
    tasks.push(tokio::spawn(watcher.clone().run(
        broker.state_changes(),
        WatchIntervals {
            normal: Duration::from_millis(settings.watch_interval_ms),
            degraded: Duration::from_millis(settings.degraded_watch_interval_ms),
            reorder_wait: Duration::from_millis(settings.reorder_wait_ms),
        },
        shutdown.clone(),
    )));
    (watcher, broker, tasks)
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
    run_with_clock(listener, config, shutdown, auth::Clock::system()).await
}

/// [`run`] with sessions judged by `clock` (tests move a manual clock to expire them).
pub async fn run_with_clock(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
    clock: auth::Clock,
) -> Result<(), ServerError> {
    config.validate()?;
    let web = web::WebAssets::load(&config.web)?;
    match web.source() {
        web::Source::Embedded => tracing::info!("web client: embedded"),
        web::Source::Directory(dir) => tracing::info!(dir = %dir.display(), "web client"),
        web::Source::NotBuilt => {
            tracing::warn!("web client not built: / explains how (scripts/build-web.sh)");
        }
    }
    store::files::prepare_data_dir(&config.store.data_dir).map_err(store::StoreError::from)?;
    let store = open_store(&config).await?;
    let auth = auth::Auth::new(&config, clock).map_err(ServerError::Secret)?;
    let hub = Arc::new(Hub::new());
    let (watcher, broker, broker_tasks) = start_delivery(&config, &hub, &store, &shutdown).await;
    let subscriptions = Subscriptions::new(hub.clone(), watcher.clone(), broker.clone());
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
    let mut store_tasks = vec![store::size::start(
        store.clone(),
        metrics.clone(),
        Duration::from_millis(config.store.size_interval_ms),
        config.store.size_alarm_bytes,
        shutdown.clone(),
    )];
    store_tasks.extend(store::retention::start(
        store.clone(),
        metrics.clone(),
        &config.store,
        shutdown.clone(),
    ));
    let shutdown_timeout = Duration::from_millis(config.server.shutdown_timeout_ms);
    let tracker = TaskTracker::new();
    let accepts = NonZeroU32::new(config.limits.accepts_per_second).unwrap_or(NonZeroU32::MIN);
    let admission = RateLimiter::direct(Quota::per_second(accepts));
    let throttles = throttle::Throttles::new(&config, metrics.clone());
    let origins = origin::OriginPolicy::from_config(&config.web);
    let (mail, mail_task) =
        match mail::Mailer::start(&config.smtp, metrics.clone(), shutdown.clone()) {
            Ok(Some((mailer, task))) => (Some(mailer), Some(task)),
            Ok(None) => (None, None),
            Err(err) => return Err(ServerError::Mail(err)),
        };
    store_tasks.extend(mail_task);
    let state = AppState(Arc::new(Shared {
        config,
        store: store.clone(),
        broker,
        hub,
        subscriptions,
        committer,
        auth,
        mail,
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
        connections: AtomicUsize::new(0),
        metrics,
        admission,
        throttles,
        web,
        origins,
    }));
    store_tasks.push(auth::revocation::start(state.clone()));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    let edge = edge::Edge::new(&state.config, state.metrics.clone());
    let app = edge::Edge::layer(router(state.clone()), &state.config);
    drop(state);
    let http = TaskTracker::new();
    let hard_stop = CancellationToken::new();
    edge.serve(
        listener,
        app,
        http.clone(),
        shutdown.clone(),
        hard_stop.clone(),
    )
    .await;

    // Accepting has stopped; HTTP connections finish their request in flight, WebSocket
    // connections saw the token and close with 1012 after their in-flight posts are
    // acknowledged. The committer ends when the last handle (held by the connections and
    // the router state) is gone. All of it within the shutdown timeout, whatever clients
    // do: what is still open then is dropped.
    let drain = async {
        http.close();
        http.wait().await;
        tracker.close();
        tracker.wait().await;
        let _ = committer_task.await;
        for task in broker_tasks.into_iter().chain(store_tasks) {
            let _ = task.await;
        }
    };
    if tokio::time::timeout(shutdown_timeout, drain).await.is_err() {
        hard_stop.cancel();
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

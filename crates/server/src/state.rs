//! The state every request handler and connection shares ([`AppState`]), and the two
//! admission checks on it: new connections per second and the connection limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use governor::DefaultDirectRateLimiter;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Config;
use crate::auth::Auth;
use crate::broker::Broker;
use crate::hub::Hub;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;
use crate::store::Store;
use crate::store::commit::Committer;
use crate::subscriptions::Subscriptions;
use crate::throttle::Throttles;
use crate::web::WebAssets;

/// Everything a request handler or connection needs, shared by reference count.
#[derive(Clone, Debug)]
pub struct AppState(pub(crate) Arc<Shared>);

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
    /// Connections entering and leaving rooms: hub, broker subscription, watcher, presence.
    pub subscriptions: Subscriptions,
    /// The group committer.
    pub committer: Committer,
    /// Sessions, tokens and passwords.
    pub auth: Auth,
    /// The mail sender, when an `smtp` section is configured.
    pub mail: Option<Mailer>,
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
    /// The limits per client address and per identity.
    pub throttles: Throttles,
    /// The web client's files, served at `/`.
    pub web: WebAssets,
    /// The browser origins allowed on `/ws` and for REST POSTs.
    pub origins: OriginPolicy,
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

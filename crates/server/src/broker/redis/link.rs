//! The link to the Redis Cluster: the connection, this backend's ONE set of
//! subscriptions, the broker state, and the supervisor that resubscribes.
//!
//! What we verified about redis-rs 1.8.1 under failover (DESIGN.md): after the master
//! owning a slot dies, a subscription never comes back by itself and SPUBLISH returns 0
//! without an error; after the Disconnection push a resubscription works; a stale slot map
//! can subscribe twice. So the link never trusts the library's own resubscription: on a
//! Disconnection push, a failed command, a server-side `sunsubscribe` of a wanted channel
//! or a message published to nobody, the state turns [`BrokerState::Degraded`] and the
//! supervisor builds a NEW connection (a new "generation"), subscribes the names channel
//! and every wanted room on it, installs it, and turns the state back to
//! [`BrokerState::Connected`]. Attempts are spaced by exponential backoff with jitter
//! (`backon`). Pushes carry the generation of the connection they came from; control
//! pushes of older generations are ignored, so dropping an old connection does not start
//! another round.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{ProtocolVersion, PushInfo};
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::broker::BrokerState;
use crate::config::Secret;

/// The classic (cluster-wide) pub/sub channel of name changes; every backend subscribes.
pub const NAMES_CHANNEL: &str = "tuitalk:names";

/// How many SSUBSCRIBE calls run at once during a resubscription.
const SUBSCRIBE_CONCURRENCY: usize = 32;

/// The sharded channel of a room's events; the hash tag puts it in the room's slot.
pub fn room_channel(room: &str) -> String {
    format!("tuitalk:{{{room}}}:events")
}

/// The room of a sharded channel name, if it is one of ours.
pub fn channel_room(channel: &str) -> Option<&str> {
    channel.strip_prefix("tuitalk:{")?.strip_suffix("}:events")
}

/// A push from Redis with the generation of the connection it came from.
pub type TaggedPush = (u64, PushInfo);

/// The settings of the link.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Seed node URLs (they may carry the password).
    pub nodes: Vec<Secret>,
    /// Bound of every connect and command.
    pub timeout: Duration,
    /// The first delay between resubscription attempts.
    pub backoff_min: Duration,
    /// The longest delay between resubscription attempts.
    pub backoff_max: Duration,
}

/// The connection, the wanted subscriptions and the state.
pub struct Link {
    settings: LinkSettings,
    /// The installed connection (`None` before the first success).
    conn: Mutex<Option<ClusterConnection>>,
    /// The generation of the newest connection built.
    latest: AtomicU64,
    /// Where every connection's pushes go (bounded; the sender never blocks).
    pushes: mpsc::Sender<TaggedPush>,
    /// Pushes dropped because the queue was full.
    dropped_pushes: Arc<AtomicU64>,
    /// The rooms this backend wants to receive.
    wanted: Mutex<HashSet<String>>,
    /// Serialises subscription changes with the installation of a new connection.
    subscribing: tokio::sync::Mutex<()>,
    state: watch::Sender<BrokerState>,
    kick: Notify,
    /// Completed resubscriptions.
    resubscribes: AtomicU64,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

/// Why a Redis operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No connection is installed (Redis was never reached, or is being replaced).
    #[error("no Redis connection")]
    NotConnected,
    /// The operation did not finish within `broker.redis_timeout_ms`.
    #[error("Redis timed out")]
    Timeout,
    /// Redis answered with an error or the connection failed.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl Link {
    /// A link with no connection yet, in the degraded state; pushes go to `pushes`.
    pub fn new(settings: LinkSettings, pushes: mpsc::Sender<TaggedPush>) -> Self {
        Self {
            settings,
            conn: Mutex::new(None),
            latest: AtomicU64::new(0),
            pushes,
            dropped_pushes: Arc::new(AtomicU64::new(0)),
            wanted: Mutex::new(HashSet::new()),
            subscribing: tokio::sync::Mutex::new(()),
            state: watch::channel(BrokerState::Degraded).0,
            kick: Notify::new(),
            resubscribes: AtomicU64::new(0),
        }
    }

    fn conn_slot(&self) -> MutexGuard<'_, Option<ClusterConnection>> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wanted_set(&self) -> MutexGuard<'_, HashSet<String>> {
        self.wanted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state now.
    pub fn state(&self) -> BrokerState {
        *self.state.borrow()
    }

    /// Follows the state (for the room watcher).
    pub fn subscribe_state(&self) -> watch::Receiver<BrokerState> {
        self.state.subscribe()
    }

    /// Completed resubscriptions so far.
    pub fn resubscribes(&self) -> u64 {
        self.resubscribes.load(Ordering::Relaxed)
    }

    /// Pushes dropped because the receive queue was full.
    pub fn dropped_pushes(&self) -> u64 {
        self.dropped_pushes.load(Ordering::Relaxed)
    }

    /// Whether pushes of `generation` still matter for control decisions.
    pub fn is_current(&self, generation: u64) -> bool {
        generation >= self.latest.load(Ordering::Acquire)
    }

    /// Whether this backend wants the room's events.
    pub fn wants(&self, room: &str) -> bool {
        self.wanted_set().contains(room)
    }

    /// The installed connection, when the link is connected. While degraded, callers
    /// fall back at once instead of waiting for a timeout.
    pub fn connected(&self) -> Option<ClusterConnection> {
        if self.state() == BrokerState::Degraded {
            return None;
        }
        self.conn_slot().clone()
    }

    /// The installed connection in any state (publishing still reaches healthy shards
    /// while another one fails over).
    pub fn any(&self) -> Option<ClusterConnection> {
        self.conn_slot().clone()
    }

    /// Marks the link degraded and asks the supervisor to resubscribe.
    pub fn degrade(&self, why: &str) {
        let changed = self.state.send_if_modified(|state| {
            let was = *state;
            *state = BrokerState::Degraded;
            was != BrokerState::Degraded
        });
        if changed {
            tracing::warn!(
                why,
                "Redis broker degraded: events between backends go through the store"
            );
        }
        self.kick.notify_one();
    }

    /// Runs `f` on a connection within the timeout; a failure degrades the link.
    pub async fn run<T, F, Fut>(&self, conn: ClusterConnection, f: F) -> Result<T, LinkError>
    where
        F: FnOnce(ClusterConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let result = match tokio::time::timeout(self.settings.timeout, f(conn)).await {
            Err(_) => Err(LinkError::Timeout),
            Ok(result) => result.map_err(LinkError::from),
        };
        if let Err(err) = &result {
            self.degrade(&err.to_string());
        }
        result
    }

    /// Adds a room to the wanted set and subscribes to it on the installed connection when
    /// connected (otherwise the supervisor subscribes it). Never fails: a failed
    /// SSUBSCRIBE degrades the link, and the room watcher covers the room meanwhile.
    /// Returns whether the room was new.
    pub async fn want(&self, room: &str) -> bool {
        let _serial = self.subscribing.lock().await;
        if !self.wanted_set().insert(room.to_owned()) {
            return false;
        }
        if let Some(conn) = self.connected() {
            let channel = room_channel(room);
            let _ = self
                .run(
                    conn,
                    |mut conn| async move { conn.ssubscribe(&channel).await },
                )
                .await;
        }
        true
    }

    /// Removes a room from the wanted set (unless `still_needed` says a local connection
    /// joined it again meanwhile) and unsubscribes; returns whether it was removed.
    pub async fn unwant(&self, room: &str, still_needed: impl FnOnce() -> bool) -> bool {
        let _serial = self.subscribing.lock().await;
        if still_needed() || !self.wanted_set().remove(room) {
            return false;
        }
        if let Some(conn) = self.connected() {
            let channel = room_channel(room);
            // A failure leaves a subscription whose events the hub drops; not worth a
            // resubscription.
            let _ = tokio::time::timeout(self.settings.timeout, async move {
                let mut conn = conn;
                conn.sunsubscribe(&channel).await
            })
            .await;
        }
        true
    }

    /// Builds a new connection (a new generation) whose pushes are tagged with it.
    async fn connect(&self) -> Result<ClusterConnection, LinkError> {
        let generation = self.latest.fetch_add(1, Ordering::AcqRel) + 1;
        let pushes = self.pushes.clone();
        let dropped = self.dropped_pushes.clone();
        let sender = move |info: PushInfo| -> Result<(), redis::aio::SendError> {
            // Never block the connection: a full queue drops the push (a lost message is
            // repaired by the sessions and the room watcher).
            if let Err(mpsc::error::TrySendError::Full(_)) = pushes.try_send((generation, info)) {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        };
        let nodes: Vec<String> = self
            .settings
            .nodes
            .iter()
            .map(|node| node.expose().to_owned())
            .collect();
        let client = ClusterClientBuilder::new(nodes)
            .use_protocol(ProtocolVersion::RESP3)
            .push_sender(sender)
            .connection_timeout(self.settings.timeout)
            .response_timeout(self.settings.timeout)
            .build()?;
        match tokio::time::timeout(self.settings.timeout, client.get_async_connection()).await {
            Err(_) => Err(LinkError::Timeout),
            Ok(conn) => Ok(conn?),
        }
    }

    /// One resubscription: a new connection with the names channel and every wanted
    /// room subscribed, installed in place of the old one.
    async fn resubscribe(&self) -> Result<(), LinkError> {
        let conn = self.connect().await.inspect_err(|err| {
            tracing::debug!(error = %err, "resubscribe: connecting failed");
        })?;
        let timeout = self.settings.timeout;
        let mut names = conn.clone();
        match tokio::time::timeout(timeout, names.subscribe(NAMES_CHANNEL)).await {
            Err(_) => {
                tracing::debug!("resubscribe: subscribing the names channel timed out");
                return Err(LinkError::Timeout);
            }
            Ok(result) => result?,
        }
        let mut done: HashSet<String> = HashSet::new();
        loop {
            let todo: Vec<String> = self
                .wanted_set()
                .iter()
                .filter(|room| !done.contains(*room))
                .cloned()
                .collect();
            let results: Vec<(String, Result<(), LinkError>)> = futures_util::stream::iter(todo)
                .map(|room| {
                    let mut conn = conn.clone();
                    async move {
                        let channel = room_channel(&room);
                        let result =
                            match tokio::time::timeout(timeout, conn.ssubscribe(&channel)).await {
                                Err(_) => Err(LinkError::Timeout),
                                Ok(result) => result.map_err(LinkError::from),
                            };
                        (room, result)
                    }
                })
                .buffer_unordered(SUBSCRIBE_CONCURRENCY)
                .collect()
                .await;
            for (room, result) in results {
                result.inspect_err(|err| {
                    tracing::debug!(error = %err, room, "resubscribe: SSUBSCRIBE failed");
                })?;
                done.insert(room);
            }
            // Install only when nothing was added meanwhile; `want` holds the same lock,
            // so rooms added after this point are subscribed by `want` itself.
            let _serial = self.subscribing.lock().await;
            if self.wanted_set().iter().all(|room| done.contains(room)) {
                *self.conn_slot() = Some(conn);
                self.state.send_replace(BrokerState::Connected);
                return Ok(());
            }
        }
    }

    /// Tries once to connect and subscribe (at startup, so that the first joins use
    /// Redis); on failure the supervisor keeps trying.
    pub async fn start(&self) {
        if let Err(err) = self.resubscribe().await {
            tracing::warn!(error = %err, "Redis Cluster not reachable at startup; degraded");
            self.kick.notify_one();
        } else {
            tracing::info!("connected to the Redis Cluster");
        }
    }

    /// The supervisor: after every kick, resubscribes with backoff until it succeeds.
    pub async fn supervise(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.kick.notified() => {}
            }
            let mut delays = ExponentialBuilder::new()
                .with_min_delay(self.settings.backoff_min)
                .with_max_delay(self.settings.backoff_max)
                .with_jitter()
                .without_max_times()
                .build();
            let mut failures = 0u32;
            loop {
                // Space attempts even after a success, so a flapping node cannot make the
                // link spin.
                let delay = delays.next().unwrap_or(self.settings.backoff_max);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                match self.resubscribe().await {
                    Ok(()) => {
                        self.resubscribes.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(failures, "Redis broker connected: resubscribed");
                        break;
                    }
                    Err(err) => {
                        if failures == 0 {
                            tracing::warn!(error = %err, "resubscribing to Redis failed; retrying");
                        } else {
                            tracing::debug!(error = %err, failures, "resubscribing failed");
                        }
                        failures += 1;
                        self.state.send_replace(BrokerState::Degraded);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_channels_round_trip() {
        assert_eq!(room_channel("a.b"), "tuitalk:{a.b}:events");
        assert_eq!(channel_room("tuitalk:{a.b}:events"), Some("a.b"));
        assert_eq!(channel_room("tuitalk:names"), None);
    }
}

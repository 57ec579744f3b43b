//! The Redis Cluster broker: room events between backends over sharded pub/sub, and
//! presence in Redis with expiring entries. Best effort by design; see
//! docs/architecture.md for the whole picture.
//!
//! - Events: each room has one sharded channel `tuitalk:{ROOM}:events` (SPUBLISH /
//!   SSUBSCRIBE); name changes go to the classic channel `tuitalk:names`, which Redis
//!   Cluster broadcasts to every node and every backend subscribes. The backend
//!   subscribes to a room when its first local connection joins and unsubscribes when the
//!   last one leaves: one subscription set per backend ([`link`]).
//! - Publishing hands the event to this backend's [`Inbound`] at once (local clients
//!   never wait for Redis) and queues it for Redis (`broker.publish_queue`, never blocking the committer); a
//!   publisher task sends queued events concurrently. Receivers drop their own events, and
//!   duplicates by origin and number ([`dedup`]).
//! - A failed publish, a message published to nobody although this backend subscribes to
//!   the room, or a Disconnection push makes the broker [`BrokerState::Degraded`]: the
//!   room watcher then polls the store fast, so messages still flow between backends, and
//!   the link resubscribes with backoff until it is connected again.
//! - Presence ([`presence`]) falls back to this backend's local view
//!   ([`LocalPresence`]) while degraded; it never blocks or fails chat.

pub mod codec;
pub mod dedup;
pub mod link;
pub mod presence;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redis::{PushKind, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tuitalk_protocol::{Member, ServerEvent};

use self::dedup::RecentIds;
use self::link::{Link, LinkSettings, NAMES_CHANNEL, TaggedPush, channel_room, room_channel};
use self::presence::SharedPresence;
use super::presence::LocalPresence;
use super::{Broker, BrokerState, BrokerStats, Inbound, Route};
use crate::config::BrokerConfig;
use crate::hub::ConnId;

/// The most queued events one publisher round sends at once.
const PUBLISH_BATCH: usize = 256;

/// One event waiting to go to Redis.
#[derive(Debug)]
struct Outgoing {
    /// The sharded room channel, or `None` for the names channel.
    room: Option<String>,
    /// Whether it is a chat message (a message published to nobody is suspicious).
    message: bool,
    payload: String,
}

/// Counters of the broker (read by [`Broker::stats`] for `/metrics`).
#[derive(Debug, Default)]
pub struct BrokerCounters {
    /// Events sent to Redis.
    pub published: AtomicU64,
    /// Events that could not be sent (failed, timed out, queue full or no connection).
    pub publish_failures: AtomicU64,
    /// Events received from other backends and handed on.
    pub received: AtomicU64,
    /// Received events dropped as duplicates.
    pub duplicates: AtomicU64,
    /// Users this backend found expired and announced as gone.
    pub presence_pruned: AtomicU64,
}

/// The Redis Cluster [`Broker`].
pub struct RedisBroker {
    /// This process's backend id (random, per start).
    backend: String,
    next_event: AtomicU64,
    inbound: Arc<dyn Inbound>,
    link: Arc<Link>,
    /// This backend's own presence view.
    local: LocalPresence,
    /// Presence across backends, in Redis.
    shared: SharedPresence,
    outgoing: mpsc::Sender<Outgoing>,
    counters: BrokerCounters,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("backend", &self.backend)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

/// The broker and its background tasks.
#[derive(Debug)]
pub struct Started {
    /// The broker.
    pub broker: Arc<RedisBroker>,
    /// The supervisor, receiver, publisher and presence refresher; they end at shutdown.
    pub tasks: Vec<JoinHandle<()>>,
}

impl RedisBroker {
    /// Connects to the cluster of `config.redis_nodes` (once, with the timeout; if that
    /// fails the broker starts degraded and keeps trying), and starts its tasks. Every
    /// event, published here or received, goes to `inbound`.
    pub async fn start(
        config: &BrokerConfig,
        inbound: Arc<dyn Inbound>,
        shutdown: CancellationToken,
    ) -> Started {
        let nodes = config.redis_node_list();
        let (pushes_tx, pushes_rx) = mpsc::channel(config.receive_queue.max(1));
        let link = Arc::new(Link::new(
            LinkSettings {
                nodes,
                timeout: Duration::from_millis(config.redis_timeout_ms),
                backoff_min: Duration::from_millis(config.resubscribe_min_backoff_ms),
                backoff_max: Duration::from_millis(config.resubscribe_max_backoff_ms),
            },
            pushes_tx,
        ));
        let (outgoing_tx, outgoing_rx) = mpsc::channel(config.publish_queue.max(1));
        let backend = uuid::Uuid::new_v4().simple().to_string();
        tracing::info!(backend, "Redis broker starting");
        let broker = Arc::new(Self {
            shared: SharedPresence::new(&backend, config.presence_expiry_ms),
            local: LocalPresence::new(),
            backend,
            next_event: AtomicU64::new(0),
            inbound,
            link: link.clone(),
            outgoing: outgoing_tx,
            counters: BrokerCounters::default(),
        });
        link.start().await;
        let tasks = vec![
            tokio::spawn(link.clone().supervise(shutdown.clone())),
            tokio::spawn(
                broker
                    .clone()
                    .receive(pushes_rx, config.dedup_window, shutdown.clone()),
            ),
            tokio::spawn(broker.clone().send_out(outgoing_rx, shutdown.clone())),
            tokio::spawn(
                broker
                    .clone()
                    .refresh_presence(Duration::from_millis(config.presence_refresh_ms), shutdown),
            ),
        ];
        Started { broker, tasks }
    }

    /// The broker's counters.
    pub fn counters(&self) -> &BrokerCounters {
        &self.counters
    }

    /// Completed resubscriptions.
    pub fn resubscribes(&self) -> u64 {
        self.link.resubscribes()
    }

    /// Received pushes dropped because the receive queue was full.
    pub fn dropped_pushes(&self) -> u64 {
        self.link.dropped_pushes()
    }

    /// Queues an event for the other backends along its `route` (never waits).
    fn send_remote(&self, event: &ServerEvent, route: Route<'_>) {
        let room = match route {
            Route::Room(room) => Some(room.to_owned()),
            Route::Everyone => None,
        };
        let message = matches!(event, ServerEvent::Message(_));
        let n = self.next_event.fetch_add(1, Ordering::Relaxed) + 1;
        let payload = codec::encode(&self.backend, n, event);
        if self
            .outgoing
            .try_send(Outgoing {
                room,
                message,
                payload,
            })
            .is_err()
        {
            // The store still has every message; the watchers of other backends find it.
            self.counters
                .publish_failures
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The publisher task: sends queued events, many at once.
    async fn send_out(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<Outgoing>,
        stop: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        loop {
            let got = tokio::select! {
                () = stop.cancelled() => 0,
                got = queue.recv_many(&mut batch, PUBLISH_BATCH) => got,
            };
            if got == 0 {
                return;
            }
            let Some(conn) = self.link.any() else {
                self.counters
                    .publish_failures
                    .fetch_add(got as u64, Ordering::Relaxed);
                batch.clear();
                continue;
            };
            // Polled in order, the commands enter the connection in order: one room's
            // events stay in sequence order on its shard.
            let sends = batch.drain(..).map(|out| {
                let conn = conn.clone();
                let link = self.link.clone();
                async move {
                    let command = match &out.room {
                        Some(room) => redis::cmd("SPUBLISH")
                            .arg(room_channel(room))
                            .arg(&out.payload)
                            .clone(),
                        None => redis::cmd("PUBLISH")
                            .arg(NAMES_CHANNEL)
                            .arg(&out.payload)
                            .clone(),
                    };
                    let result = link
                        .run(conn, |mut conn| async move {
                            command.query_async::<i64>(&mut conn).await
                        })
                        .await;
                    (out, result)
                }
            });
            for (out, result) in futures_util::future::join_all(sends).await {
                match result {
                    Ok(receivers) => {
                        self.counters.published.fetch_add(1, Ordering::Relaxed);
                        // This backend subscribes to the room, so at least its own
                        // subscription should have counted: zero means it was lost.
                        if receivers == 0
                            && out.message
                            && out
                                .room
                                .as_deref()
                                .is_some_and(|room| self.link.wants(room))
                        {
                            self.link.degrade("a message reached no subscriber");
                        }
                    }
                    Err(_) => {
                        self.counters
                            .publish_failures
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// The receiver task: decodes pushes and hands events on; reacts to disconnections.
    async fn receive(
        self: Arc<Self>,
        mut pushes: mpsc::Receiver<TaggedPush>,
        dedup_window: usize,
        stop: CancellationToken,
    ) {
        let mut recent = RecentIds::new(dedup_window);
        loop {
            let (generation, push) = tokio::select! {
                () = stop.cancelled() => return,
                push = pushes.recv() => match push {
                    Some(push) => push,
                    None => return,
                },
            };
            match push.kind {
                PushKind::SMessage | PushKind::Message => {
                    let Some(Value::BulkString(payload)) = push.data.get(1) else {
                        continue;
                    };
                    let envelope = match codec::decode(payload) {
                        Ok(envelope) => envelope,
                        Err(err) => {
                            tracing::warn!(error = %err, "dropping a broker payload");
                            continue;
                        }
                    };
                    if envelope.origin == self.backend {
                        continue;
                    }
                    if !recent.first_time(&envelope.origin, envelope.n) {
                        self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    self.counters.received.fetch_add(1, Ordering::Relaxed);
                    self.inbound.deliver(&envelope.event);
                }
                PushKind::Disconnection if self.link.is_current(generation) => {
                    self.link.degrade("a Redis connection closed");
                }
                PushKind::SUnsubscribe if self.link.is_current(generation) => {
                    // Redis drops a shard subscription when its slot moves.
                    let channel = match push.data.first() {
                        Some(Value::BulkString(bytes)) => {
                            String::from_utf8_lossy(bytes).into_owned()
                        }
                        _ => continue,
                    };
                    if channel_room(&channel).is_some_and(|room| self.link.wants(room)) {
                        self.link.degrade("Redis dropped a wanted subscription");
                    }
                }
                _ => {}
            }
        }
    }

    /// The presence refresher: extends this backend's entries and prunes expired users
    /// of its rooms, announcing them as gone.
    async fn refresh_presence(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            for (room, members) in self.local.snapshot() {
                let Some(conn) = self.link.connected() else {
                    break;
                };
                let refreshed = self
                    .link
                    .run(conn.clone(), |mut conn| {
                        let presence = &self.shared;
                        let room = room.as_str();
                        let members = members.as_slice();
                        async move { presence.refresh(&mut conn, room, members).await }
                    })
                    .await;
                if let Ok(back) = refreshed {
                    // Pruned while this backend could not refresh: present again. Local
                    // clients never saw them leave.
                    for user_id in back {
                        if let Some(member) = members.iter().find(|m| m.user_id == user_id) {
                            let back = ServerEvent::UserJoined {
                                room: room.clone(),
                                user_id,
                                name: member.name.clone(),
                                handle: member.handle.clone(),
                            };
                            self.send_remote(&back, Route::Room(&room));
                        }
                    }
                }
                let pruned = self
                    .link
                    .run(conn, |mut conn| {
                        let presence = &self.shared;
                        let room = room.as_str();
                        async move { presence.prune(&mut conn, room).await }
                    })
                    .await;
                for gone in pruned.unwrap_or_default() {
                    tracing::info!(room, user_id = gone.user_id, "presence expired");
                    self.counters
                        .presence_pruned
                        .fetch_add(1, Ordering::Relaxed);
                    self.publish(ServerEvent::UserLeft {
                        room: room.clone(),
                        user_id: gone.user_id,
                        name: gone.name,
                    });
                }
            }
        }
    }
}

#[async_trait]
impl Broker for RedisBroker {
    fn state_changes(&self) -> watch::Receiver<BrokerState> {
        self.link.subscribe_state()
    }

    fn state(&self) -> BrokerState {
        self.link.state()
    }

    fn stats(&self) -> BrokerStats {
        let c = &self.counters;
        BrokerStats {
            published: c.published.load(Ordering::Relaxed),
            publish_failures: c.publish_failures.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            resubscribes: self.resubscribes(),
            dropped_pushes: self.dropped_pushes(),
            presence_pruned: c.presence_pruned.load(Ordering::Relaxed),
        }
    }

    fn publish(&self, event: ServerEvent) {
        let Some(route) = Route::of(&event) else {
            return;
        };
        // Local connections get it at once, whatever Redis does.
        self.inbound.deliver(&event);
        self.send_remote(&event, route);
    }

    async fn subscribe(&self, room: &str) {
        self.link.want(room).await;
    }

    async fn unsubscribe(&self, room: &str, still_needed: &(dyn Fn() -> bool + Send + Sync)) {
        self.link.unwant(room, still_needed).await;
    }

    async fn presence_add(&self, room: &str, member: &Member, conn: ConnId) -> bool {
        if !self.local.add(room, member, conn) {
            return false;
        }
        let Some(redis) = self.link.connected() else {
            // Degraded: this backend's view decides.
            return true;
        };
        let shared = &self.shared;
        let added = self
            .link
            .run(redis, |mut redis| async move {
                shared.add(&mut redis, room, member).await
            })
            .await;
        added.unwrap_or(true)
    }

    async fn presence_remove(&self, room: &str, user_id: &str, conn: ConnId) -> Option<Member> {
        let local = self.local.remove(room, user_id, conn)?;
        let Some(redis) = self.link.connected() else {
            return Some(local);
        };
        let shared = &self.shared;
        let removed = self
            .link
            .run(redis, |mut redis| async move {
                shared.remove(&mut redis, room, user_id).await
            })
            .await;
        match removed {
            Ok(None) => None,
            Ok(Some(entry)) if !entry.is_empty() => {
                Some(presence::member_of(user_id.to_owned(), &entry))
            }
            Ok(Some(_)) | Err(_) => Some(local),
        }
    }

    async fn presence_rename(&self, member: &Member) {
        for room in self.local.rename(member) {
            let Some(redis) = self.link.connected() else {
                break;
            };
            let shared = &self.shared;
            let room = room.as_str();
            let _ = self
                .link
                .run(redis, |mut redis| async move {
                    shared.rename(&mut redis, room, member).await
                })
                .await;
        }
    }

    async fn presence(&self, room: &str) -> Vec<Member> {
        if let Some(redis) = self.link.connected() {
            let shared = &self.shared;
            let members = self
                .link
                .run(redis, |mut redis| async move {
                    shared.members(&mut redis, room).await
                })
                .await;
            if let Ok(members) = members {
                return members;
            }
        }
        self.local.members(room)
    }
}

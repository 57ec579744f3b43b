//! The broker: carries room events between the backends of a cluster and keeps presence.
//!
//! Every event a broker carries — published on this backend or received from another —
//! leaves it through one output, the [`Inbound`] it was built with. The server wires that
//! output once to the room watcher ([`crate::watcher`]), which puts messages in sequence
//! order and hands them to the [`Hub`](crate::hub::Hub). The two implementations differ
//! only in how events travel: [`embedded`] hands a published event straight to the
//! output (one process, nothing else to reach); [`redis`] also sends it over Redis
//! Cluster sharded pub/sub and feeds what other backends sent into the same output. A
//! network broker is best effort — duplicates and gaps are possible — which is why the
//! watcher and the sessions drop duplicates by sequence and repair gaps from the store.
//!
//! A backend subscribes to a room once (not per client) when its first local connection
//! joins it ([`crate::subscriptions`]). Presence — who is in a room — is kept by the
//! broker: this backend's own view in [`presence::LocalPresence`], shared across backends
//! by the Redis broker.
//!
//! Broker operations never fail: while Redis is unreachable the Redis broker is
//! [`BrokerState::Degraded`], events between backends flow through the store (the
//! watcher polls it faster) and presence falls back to the local view.

pub mod embedded;
pub mod presence;
pub mod redis;

use async_trait::async_trait;
use tokio::sync::watch;
use tuitalk_protocol::{Member, ServerEvent};

use crate::hub::ConnId;

/// Where a broker hands every event it carries, local and remote alike (the room
/// watcher). Called on the publisher's or the receiver's task; never blocks.
pub trait Inbound: Send + Sync + 'static {
    /// Takes one event for this backend's connections.
    fn deliver(&self, event: &ServerEvent);
}

/// Where an event goes between backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// To the backends subscribed to this room (`message`, `user_joined`, `user_left`).
    Room(&'a str),
    /// To every backend (`name_changed`: the hub finds the connections that share a room
    /// with the user).
    Everyone,
}

impl<'a> Route<'a> {
    /// The route of an event, `None` for events that answer one connection (`welcome`,
    /// `ack`, ...) and are never published.
    pub fn of(event: &'a ServerEvent) -> Option<Self> {
        match event {
            ServerEvent::Message(message) => Some(Self::Room(&message.room)),
            ServerEvent::UserJoined { room, .. } | ServerEvent::UserLeft { room, .. } => {
                Some(Self::Room(room))
            }
            ServerEvent::NameChanged { .. } => Some(Self::Everyone),
            _ => None,
        }
    }
}

/// Whether the broker carries events between backends right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    /// Events flow through the broker (the embedded broker always is).
    Connected,
    /// The broker cannot publish or lost subscriptions: events of other backends arrive
    /// only through the room watcher's store polling (see [`crate::watcher`]), which then
    /// polls faster. Chat goes on; `/readyz` stays ready.
    Degraded,
}

impl BrokerState {
    /// The state's name, for logs, `/readyz` and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Degraded => "degraded",
        }
    }
}

/// A snapshot of a broker's counters, for metrics. The embedded broker has none (all
/// zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Events sent to the other backends.
    pub published: u64,
    /// Events that could not be sent.
    pub publish_failures: u64,
    /// Events received from other backends and handed on.
    pub received: u64,
    /// Received events dropped as duplicates.
    pub duplicates: u64,
    /// Completed resubscriptions after a disconnection.
    pub resubscribes: u64,
    /// Received events dropped because the receive queue was full.
    pub dropped_pushes: u64,
    /// Users found expired (their backend died) and announced as gone.
    pub presence_pruned: u64,
}

/// Moves room events between backends and tracks who is present where. Shared as
/// `Arc<dyn Broker>`. Every operation is best effort and infallible (see the module
/// documentation); `subscribe` and `unsubscribe` are idempotent.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Follows whether events flow through the broker (for `/readyz`, metrics and the
    /// room watcher's polling interval).
    fn state_changes(&self) -> watch::Receiver<BrokerState>;

    /// Whether events currently flow through the broker.
    fn state(&self) -> BrokerState {
        *self.state_changes().borrow()
    }

    /// The broker's counters (for `/metrics`).
    fn stats(&self) -> BrokerStats {
        BrokerStats::default()
    }

    /// Publishes an event along its [`Route`]: hands it to this backend's [`Inbound`] at
    /// once and carries it to the other backends. Never waits; events without a route
    /// are not published.
    fn publish(&self, event: ServerEvent);

    /// Starts receiving the room's events from other backends.
    async fn subscribe(&self, room: &str);

    /// Stops receiving the room's events, unless `still_needed` (asked while
    /// subscriptions cannot change) says a local connection joined it again meanwhile.
    async fn unsubscribe(&self, room: &str, still_needed: &(dyn Fn() -> bool + Send + Sync));

    /// Records that connection `conn` of `member` joined `room`; returns whether the user
    /// just became present (this is their first connection in the room).
    async fn presence_add(&self, room: &str, member: &Member, conn: ConnId) -> bool;

    /// Records that connection `conn` of the user left `room`; returns the member (with
    /// their current name) when this was their last connection there.
    async fn presence_remove(&self, room: &str, user_id: &str, conn: ConnId) -> Option<Member>;

    /// Updates the user's name (and handle: a guest that registered) in every room they
    /// are present in.
    async fn presence_rename(&self, member: &Member);

    /// The users present in the room, ordered by name (then id).
    async fn presence(&self, room: &str) -> Vec<Member>;
}

//! The broker: carries room events between the backends of a cluster and keeps presence.
//!
//! A backend subscribes to a room once (not per client) when its first local connection
//! joins it, and the broker hands every event of its subscribed rooms to the backend's
//! [`Hub`](crate::hub::Hub), which fans it out to local connections. The embedded
//! implementation ([`embedded`]) does this in process. A network implementation (Redis)
//! is best effort — duplicates and gaps are possible — which is why sessions drop
//! duplicates by sequence and repair gaps from the store ([`crate::session`]).

pub mod embedded;
pub mod redis;

use async_trait::async_trait;
use tuitalk_protocol::{ChatMessage, Member};

use crate::hub::ConnId;

/// An event published to a room (or, for a name change, to every backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerEvent {
    /// A newly stored message.
    Message(ChatMessage),
    /// A user became present in a room.
    UserJoined {
        /// The room.
        room: String,
        /// The user's id.
        user_id: String,
        /// The user's display name.
        name: String,
    },
    /// A user is no longer present in a room.
    UserLeft {
        /// The room.
        room: String,
        /// The user's id.
        user_id: String,
        /// The user's display name.
        name: String,
    },
    /// A user changed their display name; goes to every backend, which tells each
    /// connection sharing one of `rooms` with the user, and the user's own connections.
    NameChanged {
        /// The user's id.
        user_id: String,
        /// The name before.
        old_name: String,
        /// The name now.
        name: String,
        /// The user's rooms.
        rooms: Vec<String>,
    },
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

/// Why a broker operation failed (clients see `unavailable`).
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker cannot be reached.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

/// Moves room events between backends and tracks who is present where. Shared as
/// `Arc<dyn Broker>`. `subscribe` and `unsubscribe` must be idempotent.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Checks that the broker is usable (for `/readyz`).
    async fn ping(&self) -> Result<(), BrokerError>;

    /// Whether events currently flow through the broker (for `/readyz`, metrics and the
    /// room watcher's polling interval).
    fn state(&self) -> BrokerState {
        BrokerState::Connected
    }

    /// The broker's counters (for `/metrics`).
    fn stats(&self) -> BrokerStats {
        BrokerStats::default()
    }

    /// Publishes an event to every backend subscribed to its room (all backends for a
    /// name change).
    async fn publish(&self, event: BrokerEvent) -> Result<(), BrokerError>;

    /// Starts receiving the room's events on this backend.
    async fn subscribe(&self, room: &str) -> Result<(), BrokerError>;

    /// Stops receiving the room's events on this backend.
    async fn unsubscribe(&self, room: &str) -> Result<(), BrokerError>;

    /// Records that connection `conn` of `member` joined `room`; returns whether the user
    /// just became present (this is their first connection in the room).
    async fn presence_add(
        &self,
        room: &str,
        member: &Member,
        conn: ConnId,
    ) -> Result<bool, BrokerError>;

    /// Records that connection `conn` of the user left `room`; returns the member (with
    /// their current name) when this was their last connection there.
    async fn presence_remove(
        &self,
        room: &str,
        user_id: &str,
        conn: ConnId,
    ) -> Result<Option<Member>, BrokerError>;

    /// Updates the user's name in every room they are present in.
    async fn presence_rename(&self, user_id: &str, name: &str) -> Result<(), BrokerError>;

    /// The users present in the room, ordered by name (then id).
    async fn presence(&self, room: &str) -> Result<Vec<Member>, BrokerError>;
}

//! The in-process broker of the single-server default: there are no other backends, so a
//! published event goes straight to this backend's [`Inbound`] (the same room watcher and
//! hub the cluster uses), and presence is the local view alone.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;
use tuitalk_protocol::{Member, ServerEvent};

use super::presence::LocalPresence;
use super::{Broker, BrokerState, Inbound, Route};
use crate::hub::ConnId;

/// The in-process [`Broker`].
pub struct EmbeddedBroker {
    inbound: Arc<dyn Inbound>,
    presence: LocalPresence,
    /// Always connected.
    state: watch::Sender<BrokerState>,
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker").finish_non_exhaustive()
    }
}

impl EmbeddedBroker {
    /// A broker handing every published event to `inbound`.
    pub fn new(inbound: Arc<dyn Inbound>) -> Self {
        Self {
            inbound,
            presence: LocalPresence::new(),
            state: watch::channel(BrokerState::Connected).0,
        }
    }
}

#[async_trait]
impl Broker for EmbeddedBroker {
    fn state_changes(&self) -> watch::Receiver<BrokerState> {
        self.state.subscribe()
    }

    fn publish(&self, event: ServerEvent) {
        if Route::of(&event).is_some() {
            self.inbound.deliver(&event);
        }
    }

    async fn subscribe(&self, _room: &str) {}

    async fn unsubscribe(&self, _room: &str, _still_needed: &(dyn Fn() -> bool + Send + Sync)) {}

    async fn presence_add(&self, room: &str, member: &Member, conn: ConnId) -> bool {
        self.presence.add(room, member, conn)
    }

    async fn presence_remove(&self, room: &str, user_id: &str, conn: ConnId) -> Option<Member> {
        self.presence.remove(room, user_id, conn)
    }

    async fn presence_rename(&self, member: &Member) {
        self.presence.rename(member);
    }

    async fn presence(&self, room: &str) -> Vec<Member> {
        self.presence.members(room)
    }
}

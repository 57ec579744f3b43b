//! A connection in a room, on this backend: the hub's registry, the backend's broker
//! subscription and the room watcher's watch, and the room's presence.
//!
//! The first local connection to enter a room subscribes the backend at the broker and
//! starts the watcher on it — before that connection reads the room's head, so a message
//! stored after the head is surely delivered (live, or by the watcher's check). The last
//! one to leave unsubscribes; both the broker and the watcher keep the room when a local
//! connection entered it again meanwhile. The same code runs for the embedded broker and
//! the Redis one.

use std::sync::Arc;

use tuitalk_protocol::{Member, ServerEvent};

use crate::broker::Broker;
use crate::hub::{ConnId, Hub};
use crate::watcher::RoomWatcher;

/// This backend's subscriptions and presence announcements.
#[derive(Debug)]
pub struct Subscriptions {
    hub: Arc<Hub>,
    watcher: Arc<RoomWatcher>,
    broker: Arc<dyn Broker>,
}

impl Subscriptions {
    /// Subscriptions over `hub`, `watcher` and `broker`.
    pub fn new(hub: Arc<Hub>, watcher: Arc<RoomWatcher>, broker: Arc<dyn Broker>) -> Self {
        Self {
            hub,
            watcher,
            broker,
        }
    }

    /// Adds connection `conn` to the room's local connections (it receives the room's
    /// events from now on), subscribing the backend when it is the first.
    pub async fn enter(&self, conn: ConnId, room: &str) {
        if self.hub.join(conn, room) {
            self.broker.subscribe(room).await;
            self.watcher.watch(room).await;
        }
    }

    /// Records the connection's user as present in the room and announces `user_joined`
    /// when this is the user's first connection there.
    pub async fn announce(&self, conn: ConnId, member: Member, room: &str) {
        if self.broker.presence_add(room, &member, conn).await {
            self.broker.publish(ServerEvent::UserJoined {
                room: room.to_owned(),
                user_id: member.user_id,
                name: member.name,
                handle: member.handle,
            });
        }
    }

    /// Takes connection `conn` of `user_id` out of the room: no more events, unsubscribed
    /// when it was the last local one, and `user_left` when it was the user's last
    /// connection there.
    pub async fn exit(&self, conn: ConnId, user_id: &str, room: &str) {
        if self.hub.leave(conn, room) {
            self.unsubscribe(room).await;
        }
        if let Some(member) = self.broker.presence_remove(room, user_id, conn).await {
            self.broker.publish(ServerEvent::UserLeft {
                room: room.to_owned(),
                user_id: member.user_id,
                name: member.name,
            });
        }
    }

    /// Forgets a connection that ended (after [`exit`](Self::exit) from its rooms):
    /// unsubscribes the rooms it was the last local connection of.
    pub async fn forget(&self, conn: ConnId) {
        for room in self.hub.unregister(conn) {
            self.unsubscribe(&room).await;
        }
    }

    async fn unsubscribe(&self, room: &str) {
        let hub = &self.hub;
        self.broker.unsubscribe(room, &|| hub.has_room(room)).await;
        self.watcher.unwatch(room);
    }
}

//! The hub: this backend's registry of local connections and the rooms they joined, and
//! the fan-out of room events to them (the last step of the one delivery path: broker ->
//! room watcher -> hub -> connection queues).
//!
//! Each event is serialised once into a shared frame and handed to every subscribed
//! connection's bounded queue with `try_send`. A full queue means the connection reads
//! too slowly: it is marked dead and its slow-consumer token fires, which closes it with
//! 4000; the hub never waits for a connection and never buffers more than the queue.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tuitalk_protocol::{Seq, ServerEvent, encode_event};

/// A connection's id, unique within this process.
pub type ConnId = u64;

/// One event for one connection, serialised once and shared between all receivers.
#[derive(Debug)]
pub enum Delivery {
    /// A chat message: subject to the session's sequence rule.
    Message {
        /// The room.
        room: String,
        /// The message's sequence.
        seq: Seq,
        /// The encoded `message` event.
        frame: Utf8Bytes,
    },
    /// Another event of a room (`user_joined`, `user_left`): sent if the room is joined.
    Room {
        /// The room.
        room: String,
        /// The encoded event.
        frame: Utf8Bytes,
    },
    /// An event for this connection regardless of rooms (`name_changed`).
    Direct {
        /// The encoded event.
        frame: Utf8Bytes,
    },
}

/// The sending half of a connection's event queue, held by the hub.
pub type EventSender = mpsc::Sender<Arc<Delivery>>;

/// The receiving half of a connection's event queue, read by the connection's task.
pub type EventReceiver = mpsc::Receiver<Arc<Delivery>>;

/// A connection's event queue holding at most `capacity` events (`limits.send_queue`).
///
/// A `tokio::sync::mpsc` channel: about 800 bytes per connection even when idle (its
/// state is cache-padded and its first block of slots is allocated up front). A `flume`
/// channel, which allocates lazily, saved about 1 KiB per idle connection but cost 5-10 %
/// more backend CPU per delivery in the fan-out benchmark (two mutex operations per
/// event); measured 2026-12-01 (docs/benchmarks.md), not adopted.
pub fn event_queue(capacity: usize) -> (EventSender, EventReceiver) {
    mpsc::channel(capacity.max(1))
}

/// Ends a connection's session from outside its task: the revocation check fires it, the
/// connection closes with 4004 and the reason.
#[derive(Debug, Default)]
pub struct SessionEnd {
    token: CancellationToken,
    reason: std::sync::OnceLock<&'static str>,
}

impl SessionEnd {
    /// A session end that has not fired.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Fires with `reason` (`session_revoked`, `session_expired`); later calls keep the
    /// first reason.
    pub fn fire(&self, reason: &'static str) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Resolves when fired.
    pub async fn fired(&self) {
        self.token.cancelled().await;
    }

    /// Whether it fired.
    pub fn has_fired(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The reason it fired with.
    pub fn reason(&self) -> &'static str {
        self.reason.get().copied().unwrap_or("session_revoked")
    }
}

/// The session a connection is signed in with, as the hub keeps it for the revocation
/// check.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The session's id.
    pub session_id: String,
    /// Its absolute end, in ms since the Unix epoch.
    pub expires_at: i64,
    /// Fired to end the connection.
    pub end: Arc<SessionEnd>,
}

/// What the hub keeps per connection.
#[derive(Debug)]
struct Conn {
    user_id: String,
    session: LiveSession,
    rooms: HashSet<String>,
    queue: EventSender,
    slow: CancellationToken,
    dead: bool,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: HashMap<String, HashSet<ConnId>>,
    conns: HashMap<ConnId, Conn>,
}

/// The per-backend registry of connections and their rooms.
#[derive(Debug, Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
}

fn frame(event: &ServerEvent) -> Utf8Bytes {
    Utf8Bytes::from(encode_event(event))
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh connection id.
    pub fn next_id(&self) -> ConnId {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers an authenticated connection of `user_id` signed in with `session`.
    /// Events go to `queue`; when it overflows, `slow` is cancelled.
    pub fn register(
        &self,
        id: ConnId,
        user_id: &str,
        session: LiveSession,
        queue: EventSender,
        slow: CancellationToken,
    ) {
        self.lock().conns.insert(
            id,
            Conn {
                user_id: user_id.to_owned(),
                session,
                rooms: HashSet::new(),
                queue,
                slow,
                dead: false,
            },
        );
    }

    /// Ends every connection whose session is in `session_ids`, with `reason`; how many.
    pub fn end_sessions(&self, session_ids: &HashSet<String>, reason: &'static str) -> usize {
        let inner = self.lock();
        let mut ended = 0;
        for conn in inner.conns.values() {
            if session_ids.contains(&conn.session.session_id) && !conn.session.end.has_fired() {
                conn.session.end.fire(reason);
                ended += 1;
            }
        }
        ended
    }

    /// Ends every connection whose session's absolute end is at or before `now` (with
    /// `session_expired`); how many.
    pub fn end_expired(&self, now: i64) -> usize {
        let inner = self.lock();
        let mut ended = 0;
        for conn in inner.conns.values() {
            if conn.session.expires_at <= now && !conn.session.end.has_fired() {
                conn.session.end.fire("session_expired");
                ended += 1;
            }
        }
        ended
    }

    /// The ids of the sessions of live connections (each once), to mark them in use.
    pub fn live_sessions(&self) -> Vec<String> {
        let inner = self.lock();
        let ids: HashSet<&String> = inner
            .conns
            .values()
            .filter(|conn| !conn.session.end.has_fired())
            .map(|conn| &conn.session.session_id)
            .collect();
        ids.into_iter().cloned().collect()
    }

    /// Forgets a connection and its rooms; returns the rooms that no local connection has
    /// joined any more (to unsubscribe from the broker).
    pub fn unregister(&self, id: ConnId) -> Vec<String> {
        let mut inner = self.lock();
        let Some(conn) = inner.conns.remove(&id) else {
            return Vec::new();
        };
        let mut emptied = Vec::new();
        for room in conn.rooms {
            if Self::remove_from_room(&mut inner, id, &room) {
                emptied.push(room);
            }
        }
        emptied
    }

    fn remove_from_room(inner: &mut Inner, id: ConnId, room: &str) -> bool {
        if let Some(conns) = inner.rooms.get_mut(room) {
            conns.remove(&id);
            if conns.is_empty() {
                inner.rooms.remove(room);
                return true;
            }
        }
        false
    }

    /// Subscribes a connection to a room; returns whether it is the room's first local
    /// connection (the backend should then subscribe to the room at the broker).
    pub fn join(&self, id: ConnId, room: &str) -> bool {
        let mut inner = self.lock();
        let Some(conn) = inner.conns.get_mut(&id) else {
            return false;
        };
        conn.rooms.insert(room.to_owned());
        let conns = inner.rooms.entry(room.to_owned()).or_default();
        let first = conns.is_empty();
        conns.insert(id);
        first
    }

    /// Unsubscribes a connection from a room; returns whether no local connection is left
    /// in it.
    pub fn leave(&self, id: ConnId, room: &str) -> bool {
        let mut inner = self.lock();
        if let Some(conn) = inner.conns.get_mut(&id) {
            conn.rooms.remove(room);
        }
        Self::remove_from_room(&mut inner, id, room)
    }

    /// Whether any local connection has joined `room`.
    pub fn has_room(&self, room: &str) -> bool {
        self.lock().rooms.contains_key(room)
    }

    /// How many connections are registered.
    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    /// How many rooms have at least one local connection.
    pub fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }

    /// Fans a room event out to the local connections it concerns: a `message`,
    /// `user_joined` or `user_left` to the room's connections; a `name_changed` (whose
    /// `rooms` are all the user's rooms) to each connection sharing one of them with the
    /// user, with only the shared ones, and to the user's own connections. Other events
    /// concern no room and are ignored. Never blocks: a connection whose queue is full is
    /// closed as a slow consumer.
    pub fn dispatch(&self, event: &ServerEvent) {
        let mut inner = self.lock();
        match event {
            ServerEvent::Message(message) => {
                let delivery = Delivery::Message {
                    room: message.room.clone(),
                    seq: message.seq,
                    frame: frame(event),
                };
                Self::to_room(&mut inner, &message.room, delivery);
            }
            ServerEvent::UserJoined { room, .. } | ServerEvent::UserLeft { room, .. } => {
                let delivery = Delivery::Room {
                    room: room.clone(),
                    frame: frame(event),
                };
                Self::to_room(&mut inner, room, delivery);
            }
            ServerEvent::NameChanged {
                user_id,
                old_name,
                name,
                rooms,
            } => {
                // One frame per distinct set of shared rooms, not per connection.
                let mut frames: BTreeMap<Vec<String>, Arc<Delivery>> = BTreeMap::new();
                for conn in inner.conns.values_mut() {
                    let mut shared: Vec<String> = rooms
                        .iter()
                        .filter(|room| conn.rooms.contains(*room))
                        .cloned()
                        .collect();
                    if shared.is_empty() && conn.user_id != *user_id {
                        continue;
                    }
                    shared.sort();
                    shared.dedup();
                    let delivery = frames
                        .entry(shared.clone())
                        .or_insert_with(|| {
                            Arc::new(Delivery::Direct {
                                frame: frame(&ServerEvent::NameChanged {
                                    user_id: user_id.clone(),
                                    old_name: old_name.clone(),
                                    name: name.clone(),
                                    rooms: shared,
                                }),
                            })
                        })
                        .clone();
                    Self::offer(conn, delivery);
                }
            }
            _ => tracing::debug!(kind = event.kind(), "not a room event: not dispatched"),
        }
    }

    fn to_room(inner: &mut Inner, room: &str, delivery: Delivery) {
        let Some(ids) = inner.rooms.get(room) else {
            return;
        };
        let delivery = Arc::new(delivery);
        for id in ids {
            if let Some(conn) = inner.conns.get_mut(id) {
                Self::offer(conn, delivery.clone());
            }
        }
    }

    fn offer(conn: &mut Conn, delivery: Arc<Delivery>) {
        if conn.dead {
            return;
        }
        match conn.queue.try_send(delivery) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(user_id = %conn.user_id, "slow consumer: queue full, closing");
                conn.dead = true;
                conn.slow.cancel();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => conn.dead = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(session_id: &str) -> LiveSession {
        LiveSession {
            session_id: session_id.to_owned(),
            expires_at: 1_000,
            end: SessionEnd::new(),
        }
    }

    #[test]
    fn sessions_end_by_id_and_by_expiry() {
        let hub = Hub::new();
        let (one, two, three) = (
            live("s-1"),
            live("s-2"),
            LiveSession {
                expires_at: 5_000,
                ..live("s-3")
            },
        );
        for (id, session) in [(1, &one), (2, &two), (3, &three)] {
            let (tx, _rx) = event_queue(4);
            hub.register(id, "u", session.clone(), tx, CancellationToken::new());
        }
        let mut live_ids = hub.live_sessions();
        live_ids.sort();
        assert_eq!(live_ids, ["s-1", "s-2", "s-3"]);
        assert_eq!(
            hub.end_sessions(&HashSet::from(["s-2".to_owned()]), "session_revoked"),
            1
        );
        assert!(two.end.has_fired() && !one.end.has_fired());
        assert_eq!(two.end.reason(), "session_revoked");
        // Already ended: not counted again.
        assert_eq!(
            hub.end_sessions(&HashSet::from(["s-2".to_owned()]), "session_revoked"),
            0
        );
        assert_eq!(hub.end_expired(1_000), 1);
        assert_eq!(one.end.reason(), "session_expired");
        assert!(!three.end.has_fired());
        assert_eq!(hub.live_sessions(), ["s-3"]);
    }

    fn message(room: &str, seq: Seq) -> ServerEvent {
        ServerEvent::Message(crate::session::tests::message(room, seq))
    }

    #[test]
    fn full_queue_marks_slow_consumer_and_stops_offering() {
        let hub = Hub::new();
        let (tx, mut rx) = event_queue(2);
        let slow = CancellationToken::new();
        hub.register(1, "u", live("s-1"), tx, slow.clone());
        assert!(hub.join(1, "r"));
        hub.dispatch(&message("r", 1));
        hub.dispatch(&message("other", 1));
        hub.dispatch(&message("r", 2));
        assert!(!slow.is_cancelled());
        hub.dispatch(&message("r", 3));
        assert!(slow.is_cancelled());
        let mut seqs = Vec::new();
        while let Ok(d) = rx.try_recv() {
            if let Delivery::Message { seq, .. } = &*d {
                seqs.push(*seq);
            }
        }
        assert_eq!(seqs, vec![1, 2]);
        hub.dispatch(&message("r", 4));
        assert!(rx.try_recv().is_err());
        assert_eq!(hub.unregister(1), vec!["r".to_owned()]);
    }

    #[test]
    fn name_change_reaches_shared_rooms_and_own_connections() {
        let hub = Hub::new();
        let mut rxs = Vec::new();
        for (id, user, rooms) in [
            (1, "a", vec!["x"]),
            (2, "b", vec!["x", "y"]),
            (3, "c", vec!["z"]),
            (4, "a", vec![]),
        ] {
            let (tx, rx) = event_queue(8);
            hub.register(id, user, live(user), tx, CancellationToken::new());
            for room in rooms {
                hub.join(id, room);
            }
            rxs.push(rx);
        }
        hub.dispatch(&ServerEvent::NameChanged {
            user_id: "a".into(),
            old_name: "ada".into(),
            name: "grace".into(),
            rooms: vec!["x".into(), "y".into()],
        });
        let got: Vec<Option<String>> = rxs
            .iter_mut()
            .map(|rx| {
                rx.try_recv().ok().map(|d| match &*d {
                    Delivery::Direct { frame } => frame.as_str().to_owned(),
                    _ => String::new(),
                })
            })
            .collect();
        assert!(
            got[0]
                .as_deref()
                .is_some_and(|f| f.contains(r#""rooms":["x"]"#))
        );
        assert!(
            got[1]
                .as_deref()
                .is_some_and(|f| f.contains(r#""rooms":["x","y"]"#))
        );
        assert!(got[2].is_none());
        assert!(
            got[3]
                .as_deref()
                .is_some_and(|f| f.contains(r#""rooms":[]"#))
        );
    }
}

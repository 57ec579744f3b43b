//! The room watcher: the ordering step of the one delivery path (broker -> watcher ->
//! hub), and the safety net under a best-effort broker. It is the broker's [`Inbound`]
//! in every configuration: the embedded broker hands it what this process publishes, the
//! Redis broker also what other backends publish.
//!
//! For every room this backend is subscribed to, the watcher remembers the highest
//! message sequence handed to the [`Hub`]. Every message on its way to the hub passes
//! through [`RoomWatcher::deliver`], which drops what was handed over already (a broker may
//! duplicate). Periodically ([`RoomWatcher::run`]) it reads the head sequence of all those
//! rooms with ONE [`Store::heads`] query; where the store is ahead, it reads the newest
//! missing messages (at most `broker.watch_max_dispatch` per room) and hands them to the
//! hub. Sessions drop duplicates and repair any older gap from the store themselves
//! ([`crate::session`]), so a message lost on the bus with no successor still arrives
//! within one interval.
//!
//! Messages of a room reach this backend from several backends over the broker, so they
//! may arrive out of order (seq 11 from one backend before seq 10 from another). The
//! watcher puts them back in order once for the whole backend: a message that skips a
//! sequence is held back (at most `broker.watch_max_dispatch` per room) until its
//! predecessor arrives, and if it does not arrive within `broker.reorder_wait_ms` a check
//! reads the missing ones from the store — one read per room, instead of one per session.
//!
//! The interval is `broker.watch_interval_ms` while the broker is connected and
//! `broker.degraded_watch_interval_ms` while it is degraded: then the store is the only
//! path between backends (and, with the embedded broker, the only path between servers
//! that share one SQLite file). The watcher knows nothing about the broker beyond its
//! state.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tuitalk_protocol::{Seq, ServerEvent};

use crate::broker::{BrokerState, Inbound};
use crate::hub::Hub;
use crate::store::{Store, StoreError};

/// The watcher of the rooms this backend is subscribed to.
pub struct RoomWatcher {
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    /// The watched rooms.
    rooms: Mutex<HashMap<String, Watched>>,
    /// Woken when a message is held back waiting for its predecessor.
    gap: Notify,
    /// Messages handed to the hub by [`RoomWatcher::check`] (missed by the broker).
    repairs: AtomicU64,
    /// The most messages handed over per room and check.
    max_dispatch: u32,
}

impl std::fmt::Debug for RoomWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomWatcher")
            .field("repairs", &self.repairs())
            .finish_non_exhaustive()
    }
}

/// What the watcher keeps per room.
#[derive(Debug, Default)]
struct Watched {
    /// The highest sequence handed to the hub, all before it handed over too (`None`
    /// until the baseline is known).
    seen: Option<Seq>,
    /// Messages that arrived before their predecessor, by sequence.
    held: BTreeMap<Seq, ServerEvent>,
}

impl Watched {
    /// Hands `event` (a message of sequence `seq`, the next one) and every held message
    /// that now follows on to the hub.
    fn hand_over(&mut self, hub: &Hub, seq: Seq, event: &ServerEvent) {
        self.seen = Some(seq);
        hub.dispatch(event);
        let mut next = seq + 1;
        while let Some(held) = self.held.remove(&next) {
            hub.dispatch(&held);
            self.seen = Some(next);
            next += 1;
        }
    }

    /// Gives up waiting: hands every held message over in order (sessions repair what is
    /// missing between them from the store).
    fn release_held(&mut self, hub: &Hub) {
        for (seq, held) in std::mem::take(&mut self.held) {
            if self.seen.is_none_or(|seen| seq > seen) {
                hub.dispatch(&held);
                self.seen = Some(seq);
            }
        }
    }
}

impl Inbound for RoomWatcher {
    fn deliver(&self, event: &ServerEvent) {
        RoomWatcher::deliver(self, event);
    }
}

/// The intervals of [`RoomWatcher::run`].
#[derive(Debug, Clone, Copy)]
pub struct WatchIntervals {
    /// Between checks while the broker is connected.
    pub normal: Duration,
    /// Between checks while the broker is degraded.
    pub degraded: Duration,
    /// How long a message waits for a missing predecessor before the store is read.
    pub reorder_wait: Duration,
}

impl RoomWatcher {
    /// A watcher handing messages to `hub`, reading heads from `store`, repairing at most
    /// `max_dispatch` messages per room and check.
    pub fn new(hub: Arc<Hub>, store: Arc<dyn Store>, max_dispatch: u32) -> Self {
        Self {
            hub,
            store,
            rooms: Mutex::new(HashMap::new()),
            gap: Notify::new(),
            repairs: AtomicU64::new(0),
            max_dispatch: max_dispatch.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Watched>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many messages the watcher handed to the hub because the broker had not.
    pub fn repairs(&self) -> u64 {
        self.repairs.load(Ordering::Relaxed)
    }

    /// How many rooms are watched.
    pub fn room_count(&self) -> usize {
        self.lock().len()
    }

    /// Starts watching `room` (idempotent). Call it when the backend subscribes to the
    /// room, before any session reads the room's head: the head read here is the baseline,
    /// so a message stored after it is surely handed over. If the store cannot be read the
    /// baseline is taken at the next check.
    pub async fn watch(&self, room: &str) {
        {
            let mut rooms = self.lock();
            if rooms.contains_key(room) {
                return;
            }
            rooms.insert(room.to_owned(), Watched::default());
        }
        match self.store.head(room).await {
            Ok(head) => {
                if let Some(entry) = self.lock().get_mut(room) {
                    entry.seen = Some(entry.seen.map_or(head, |seen| seen.max(head)));
                    entry.held.retain(|seq, _| *seq > head);
                }
            }
            Err(err) => tracing::warn!(error = %err, room, "watcher: cannot read the head"),
        }
    }

    /// Stops watching `room`, unless a local connection joined it again meanwhile (then
    /// the backend stays subscribed and the room stays watched).
    pub fn unwatch(&self, room: &str) {
        let mut rooms = self.lock();
        if !self.hub.has_room(room) {
            rooms.remove(room);
        }
    }

    /// Hands an event to the hub, in sequence order per room. A message at or below the
    /// room's highest handed-over sequence is dropped (returns `false`); one that skips a
    /// sequence is held back until its predecessor arrives or a check reads it from the
    /// store (returns `true`, as does every event handed over).
    pub fn deliver(&self, event: &ServerEvent) -> bool {
        // Dispatching under the lock keeps the hub's order equal to the check's order.
        let mut rooms = self.lock();
        let ServerEvent::Message(message) = event else {
            self.hub.dispatch(event);
            return true;
        };
        let Some(entry) = rooms.get_mut(&message.room) else {
            self.hub.dispatch(event);
            return true;
        };
        match entry.seen {
            Some(seen) if message.seq <= seen => false,
            Some(seen) if message.seq > seen + 1 => {
                if entry.held.contains_key(&message.seq) {
                    return false;
                }
                if entry.held.len() >= self.max_dispatch as usize {
                    // Too far behind to wait: hand everything over in order; sessions
                    // repair the gaps from the store.
                    entry.release_held(&self.hub);
                    entry.hand_over(&self.hub, message.seq, event);
                } else {
                    entry.held.insert(message.seq, event.clone());
                    self.gap.notify_one();
                }
                true
            }
            _ => {
                entry.hand_over(&self.hub, message.seq, event);
                true
            }
        }
    }

    /// One check: reads the heads of all watched rooms in one query and hands the
    /// missing messages to the hub. Returns how many were handed over.
    pub async fn check(&self) -> Result<u64, StoreError> {
        let rooms: Vec<String> = self.lock().keys().cloned().collect();
        if rooms.is_empty() {
            return Ok(0);
        }
        let heads = self.store.heads(&rooms).await?;
        let mut repaired = 0;
        for (room, head) in heads {
            let (seen, from) = {
                let mut rooms = self.lock();
                let Some(entry) = rooms.get_mut(&room) else {
                    continue;
                };
                let Some(seen) = entry.seen else {
                    // No baseline yet (the store failed at `watch`): start here.
                    entry.seen = Some(head);
                    entry.held.clear();
                    continue;
                };
                let from = seen.max(head.saturating_sub(Seq::from(self.max_dispatch)));
                if from > seen {
                    // Too far behind: only the newest are handed over; what lies below
                    // them sessions repair from the store.
                    entry.held.retain(|seq, _| *seq > from);
                    entry.seen = Some(from);
                }
                (seen, from)
            };
            if head <= seen {
                continue;
            }
            let messages = self
                .store
                .messages_after(&room, from, head, self.max_dispatch)
                .await?;
            for message in messages {
                if self.deliver(&ServerEvent::Message(message)) {
                    repaired += 1;
                }
            }
            // Whatever is still held waits for nothing the store has: hand it over.
            if let Some(entry) = self.lock().get_mut(&room) {
                entry.release_held(&self.hub);
            }
        }
        if repaired > 0 {
            self.repairs.fetch_add(repaired, Ordering::Relaxed);
            tracing::debug!(repaired, "watcher handed over messages the broker missed");
        }
        Ok(repaired)
    }

    /// Checks the watched rooms every `intervals.normal`, or `intervals.degraded` while
    /// `state` says the broker is degraded, until `shutdown` fires.
    pub async fn run(
        self: Arc<Self>,
        mut state: watch::Receiver<BrokerState>,
        intervals: WatchIntervals,
        shutdown: CancellationToken,
    ) {
        let mut failing = false;
        let mut broker_alive = true;
        loop {
            let interval = match *state.borrow_and_update() {
                BrokerState::Connected => intervals.normal,
                BrokerState::Degraded => intervals.degraded,
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.gap.notified() => {
                    // A message waits for its predecessor: give the broker a moment to
                    // bring it, then read what is still missing from the store.
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(intervals.reorder_wait) => {}
                    }
                }
                changed = state.changed(), if broker_alive => {
                    // When the broker is gone, keep the last interval.
                    broker_alive = changed.is_ok();
                    continue;
                }
                () = tokio::time::sleep(interval) => {}
            }
            match self.check().await {
                Ok(_) => {
                    if failing {
                        tracing::info!("watcher: store readable again");
                    }
                    failing = false;
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "watcher: cannot read heads");
                    }
                    failing = true;
                }
            }
        }
        tracing::debug!("watcher stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{Delivery, EventReceiver, event_queue};
    use crate::store::NewPost;
    use crate::store::sqlite::SqliteStore;

    fn message(room: &str, seq: Seq) -> ServerEvent {
        ServerEvent::Message(crate::session::tests::message(room, seq))
    }

    fn seqs(rx: &mut EventReceiver) -> Vec<Seq> {
        let mut out = Vec::new();
        while let Ok(d) = rx.try_recv() {
            if let Delivery::Message { seq, .. } = &*d {
                out.push(*seq);
            }
        }
        out
    }

    /// A store with one guest, and a hub with one connection in room `r`.
    struct Fixture {
        _dir: tempfile::TempDir,
        store: Arc<dyn Store>,
        author: String,
        hub: Arc<Hub>,
        rx: EventReceiver,
    }

    impl Fixture {
        async fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let store: Arc<dyn Store> = Arc::new(
                SqliteStore::open(&dir.path().join("t.db"))
                    .await
                    .expect("open"),
            );
            let author = store.create_guest("ada").await.expect("guest").user_id;
            let hub = Arc::new(Hub::new());
            let (tx, rx) = event_queue(64);
            hub.register(
                1,
                "u",
                crate::hub::LiveSession {
                    session_id: "s".into(),
                    expires_at: i64::MAX,
                    end: crate::hub::SessionEnd::new(),
                },
                tx,
                CancellationToken::new(),
            );
            hub.join(1, "r");
            Self {
                _dir: dir,
                store,
                author,
                hub,
                rx,
            }
        }

        fn post(&self, i: u64) -> NewPost {
            NewPost {
                room: "r".into(),
                post_id: format!("p{i}"),
                author_id: self.author.clone(),
                text: format!("t{i}"),
                ts: 1,
            }
        }
    }

    #[tokio::test]
    async fn drops_duplicates_and_repairs_from_the_store() {
        let mut f = Fixture::new().await;
        let store = f.store.clone();
        store.append_batch(vec![f.post(1)]).await.expect("append");
        let watcher = RoomWatcher::new(f.hub.clone(), store.clone(), 2);
        watcher.watch("r").await;
        // The baseline is the head at watch time: nothing to repair yet.
        assert_eq!(watcher.check().await.expect("check"), 0);

        assert!(watcher.deliver(&message("r", 2)));
        assert!(!watcher.deliver(&message("r", 2)));
        assert!(!watcher.deliver(&message("r", 1)));
        assert_eq!(seqs(&mut f.rx), vec![2]);

        // Three messages stored that the broker never carried: the newest two (the
        // dispatch bound) are handed over; sessions repair seq 3 themselves.
        store
            .append_batch((2..=5).map(|i| f.post(i)).collect())
            .await
            .expect("append");
        assert_eq!(watcher.check().await.expect("check"), 2);
        assert_eq!(seqs(&mut f.rx), vec![4, 5]);
        assert_eq!(watcher.repairs(), 2);
        assert_eq!(watcher.check().await.expect("check"), 0);

        // A local connection is still in the room: it stays watched.
        watcher.unwatch("r");
        assert_eq!(watcher.room_count(), 1);
        assert!(f.hub.leave(1, "r"));
        watcher.unwatch("r");
        assert_eq!(watcher.room_count(), 0);
    }

    #[tokio::test]
    async fn puts_messages_back_in_order_and_reads_a_missing_one_once() {
        let mut f = Fixture::new().await;
        let store = f.store.clone();
        let watcher = RoomWatcher::new(f.hub.clone(), store.clone(), 8);
        watcher.watch("r").await;
        let posts: Vec<NewPost> = (1..=5).map(|i| f.post(i)).collect();
        let rx = &mut f.rx;

        // 2 and 3 arrive before 1: held, then handed over in order when 1 comes.
        assert!(watcher.deliver(&message("r", 2)));
        assert!(watcher.deliver(&message("r", 3)));
        assert!(!watcher.deliver(&message("r", 3)));
        assert_eq!(seqs(rx), Vec::<Seq>::new());
        assert!(watcher.deliver(&message("r", 1)));
        assert_eq!(seqs(rx), vec![1, 2, 3]);

        // 5 arrives, 4 never does on the bus: a check reads 4 from the store and hands
        // over 4 then the held 5.
        store.append_batch(posts).await.expect("append");
        assert!(watcher.deliver(&message("r", 5)));
        assert_eq!(seqs(rx), Vec::<Seq>::new());
        assert_eq!(watcher.check().await.expect("check"), 1);
        assert_eq!(seqs(rx), vec![4, 5]);

        // More held than the bound: everything goes out in order, gaps left to sessions.
        for seq in 7..=15 {
            watcher.deliver(&message("r", seq));
        }
        assert_eq!(seqs(rx), (7..=15).collect::<Vec<_>>());
    }
}

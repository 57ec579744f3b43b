//! A session: the identity of one connection, the rooms it joined, and per room where
//! delivery stands — the delivery rule that makes delivery exactly once and in order (G2,
//! G3) even over a broker that duplicates or loses events, without ever waiting for the
//! store on the connection's delivery path.
//!
//! Per room a [`Cursor`]:
//! - **joining**: the join's work is in flight; live messages only raise `seen`;
//! - **live**: `last` was delivered; `last + 1` is sent, anything at or below `last` is a
//!   duplicate, anything above `last + 1` means a gap;
//! - **filling**: messages `last + 1 ..= up_to` are read from the store a page at a time
//!   (a resume, or a gap). Live messages that follow `up_to` without a hole are held (at
//!   most `limits.send_queue`, shared frames) and sent once the pages caught up, as before
//!   a gap repair; any other live message only raises `up_to` (and drops what was held) —
//!   every published message is already stored (G1), so a page brings it, in order.
//!   Retention deletes a prefix of a room's log, so a page from below the oldest kept
//!   message starts at it, and an empty page (all of `last + 1 ..= up_to` deleted) ends
//!   the fill: a resume or gap repair over a pruned range gets what is left, never loops.
//!
//! The connection asks [`Session::next_fill`] which page to read, reads it off its
//! delivery path, and hands the page to [`Session::filled`].

use std::collections::HashMap;

use axum::extract::ws::Utf8Bytes;
use tuitalk_protocol::{ChatMessage, Seq};

use crate::store::User;

/// Where delivery stands in one joined room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// The join is in flight; `seen` is the highest live sequence that arrived meanwhile.
    Joining {
        /// The highest sequence seen live.
        seen: Seq,
    },
    /// Everything up to `last` was delivered.
    Live {
        /// The last sequence delivered.
        last: Seq,
    },
    /// `last + 1 ..= up_to` are read from the store before anything newer.
    Filling {
        /// The last sequence delivered.
        last: Seq,
        /// The last sequence to read.
        up_to: Seq,
        /// Whether a page read is in flight.
        reading: bool,
    },
}

/// A page to read from the store for a filling room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillRead {
    /// The room.
    pub room: String,
    /// Read sequences above this one (the room's last delivered when the read started).
    pub after: Seq,
    /// ... up to this one.
    pub up_to: Seq,
}

/// What a filled page sends: a message read from the store, or a held live frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filled {
    /// Read from the store (to encode).
    Stored(ChatMessage),
    /// A live message's frame, held while the gap before it was read.
    Live(Utf8Bytes),
}

/// The state of one authenticated connection.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who this connection is; the author of every post it makes.
    pub user: User,
    /// The joined rooms and where delivery stands in each.
    rooms: HashMap<String, Cursor>,
    /// Filling rooms whose next page is to be read, oldest need first.
    to_fill: Vec<String>,
    /// Per filling room, the live frames `up_to + 1, up_to + 2, ...` that arrived.
    held: HashMap<String, Vec<(Seq, Utf8Bytes)>>,
    /// The most frames held per room.
    max_held: usize,
}

impl Session {
    /// A session for `user` with no rooms joined, holding at most `max_held` live frames
    /// per filling room.
    pub fn new(user: User, max_held: usize) -> Self {
        Self {
            user,
            rooms: HashMap::new(),
            to_fill: Vec::new(),
            held: HashMap::new(),
            max_held,
        }
    }

    /// Whether the room is joined (or being joined) on this connection.
    pub fn has_joined(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    /// How many rooms are joined (or being joined).
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The joined rooms, in no order.
    pub fn rooms(&self) -> impl Iterator<Item = &String> {
        self.rooms.keys()
    }

    /// The room's cursor, if joined.
    pub fn cursor(&self, room: &str) -> Option<Cursor> {
        self.rooms.get(room).copied()
    }

    /// Starts joining a room that is not joined yet; returns whether it was new.
    pub fn begin_join(&mut self, room: &str) -> bool {
        if self.rooms.contains_key(room) {
            return false;
        }
        self.rooms
            .insert(room.to_owned(), Cursor::Joining { seen: 0 });
        true
    }

    /// The join failed: forgets the room if it was still joining.
    pub fn abandon_join(&mut self, room: &str) {
        if matches!(self.rooms.get(room), Some(Cursor::Joining { .. })) {
            self.rooms.remove(room);
        }
    }

    /// The join's store work is done, with the room's `head` read after subscribing.
    /// Delivery continues from `since` (a resume; at most the head), else from the head
    /// for a new join, else where it stood for a repeated join.
    pub fn joined(&mut self, room: &str, since: Option<Seq>, head: Seq) {
        let Some(cursor) = self.rooms.get_mut(room) else {
            return;
        };
        // Held frames are read from the store with the rest.
        let held = self
            .held
            .remove(room)
            .and_then(|held| held.last().map(|(seq, _)| *seq))
            .unwrap_or(0);
        let (start, up_to, reading) = match *cursor {
            Cursor::Joining { seen } => (since.map_or(head, |s| s.min(head)), seen, false),
            Cursor::Live { last } => (since.map_or(last, |s| s.min(head)), last, false),
            Cursor::Filling {
                last,
                up_to,
                reading,
            } => (since.map_or(last, |s| s.min(head)), up_to, reading),
        };
        let up_to = up_to.max(head).max(held);
        *cursor = if start < up_to {
            if !reading {
                self.to_fill.push(room.to_owned());
            }
            Cursor::Filling {
                last: start,
                up_to,
                reading,
            }
        } else {
            Cursor::Live { last: start }
        };
    }

    /// Forgets a room (left).
    pub fn remove(&mut self, room: &str) {
        self.rooms.remove(room);
        self.held.remove(room);
    }

    /// A live message of sequence `seq` in `room`, encoded as `frame`: returns whether to
    /// send it now (else it is a duplicate, held, or to be read from the store).
    pub fn on_message(&mut self, room: &str, seq: Seq, frame: &Utf8Bytes) -> bool {
        let Some(cursor) = self.rooms.get_mut(room) else {
            return false;
        };
        match cursor {
            Cursor::Joining { seen } => {
                *seen = (*seen).max(seq);
                false
            }
            Cursor::Live { last } if seq <= *last => false,
            Cursor::Live { last } if seq == *last + 1 => {
                *last = seq;
                true
            }
            Cursor::Live { last } => {
                // A gap: read the missing ones from the store, then send this one.
                *cursor = Cursor::Filling {
                    last: *last,
                    up_to: seq - 1,
                    reading: false,
                };
                self.to_fill.push(room.to_owned());
                self.held
                    .insert(room.to_owned(), vec![(seq, frame.clone())]);
                false
            }
            Cursor::Filling { up_to, .. } => {
                if seq <= *up_to {
                    return false;
                }
                let held = self.held.entry(room.to_owned()).or_default();
                let next = *up_to + held.len() as Seq + 1;
                if seq < next {
                    // Held already.
                } else if seq == next && held.len() < self.max_held {
                    held.push((seq, frame.clone()));
                } else {
                    // Another gap, or too many held: the store brings all of it.
                    *up_to = seq;
                    held.clear();
                }
                false
            }
        }
    }

    /// Whether the room's other events (`user_joined`, `user_left`) are sent: once the
    /// join has been answered.
    pub fn shows_room_events(&self, room: &str) -> bool {
        matches!(
            self.rooms.get(room),
            Some(Cursor::Live { .. } | Cursor::Filling { .. })
        )
    }

    /// Whether a filling room may wait for its next page read ([`next_fill`](Self::next_fill)).
    pub fn awaits_fill(&self) -> bool {
        !self.to_fill.is_empty()
    }

    /// The next page to read from the store, if a filling room waits for one; marks the
    /// read as in flight (one per room at a time).
    pub fn next_fill(&mut self) -> Option<FillRead> {
        while let Some(room) = self.to_fill.pop() {
            if let Some(Cursor::Filling {
                last,
                up_to,
                reading,
            }) = self.rooms.get_mut(&room)
                && !*reading
            {
                *reading = true;
                return Some(FillRead {
                    after: *last,
                    up_to: *up_to,
                    room,
                });
            }
        }
        None
    }

    /// A page read for `read` arrived: returns what to send, in order, and moves the
    /// cursor (live once `up_to` is reached, with the held frames sent after the page;
    /// else another page is due).
    pub fn filled(&mut self, read: &FillRead, page: Vec<ChatMessage>) -> Vec<Filled> {
        let Some(cursor) = self.rooms.get_mut(&read.room) else {
            return Vec::new();
        };
        let Cursor::Filling { last, up_to, .. } = *cursor else {
            return Vec::new();
        };
        let mut last = last;
        let mut send = Vec::with_capacity(page.len());
        if read.after == last {
            if page.is_empty() {
                // Retention deleted them (a resume from below the oldest kept message
                // of a room whose every message up to `up_to` is gone): nothing to send,
                // and nothing to wait for. Debug only: any client can cause it.
                tracing::debug!(
                    room = read.room,
                    after = last,
                    up_to,
                    "store has fewer messages than announced (deleted by retention?)"
                );
                last = up_to;
            }
            for message in page {
                if message.seq > last {
                    last = message.seq;
                    send.push(Filled::Stored(message));
                }
            }
        } else {
            // The cursor moved while the page was read (a rejoin with `since`): take only
            // what continues it without a hole; the next page brings the rest.
            for message in page {
                if message.seq <= last {
                    continue;
                }
                if message.seq != last + 1 {
                    break;
                }
                last = message.seq;
                send.push(Filled::Stored(message));
            }
        }
        *cursor = if last >= up_to {
            for (seq, frame) in self.held.remove(&read.room).unwrap_or_default() {
                if seq > last {
                    last = seq;
                    send.push(Filled::Live(frame));
                }
            }
            Cursor::Live { last }
        } else {
            self.to_fill.push(read.room.clone());
            Cursor::Filling {
                last,
                up_to,
                reading: false,
            }
        };
        send
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn session() -> Session {
        let user = User {
            user_id: "u".into(),
            name: "ada".into(),
            handle: None,
        };
        Session::new(user, 3)
    }

    /// A message of `room` with sequence `seq` (also for the hub's and watcher's tests).
    pub(crate) fn message(room: &str, seq: Seq) -> ChatMessage {
        ChatMessage {
            room: room.into(),
            seq,
            id: format!("p{seq}"),
            author_id: "u".into(),
            author: "ada".into(),
            author_handle: None,
            text: "hi".into(),
            ts: 0,
        }
    }

    fn page(seqs: impl IntoIterator<Item = Seq>) -> Vec<ChatMessage> {
        seqs.into_iter().map(|seq| message("r", seq)).collect()
    }

    /// A live frame whose text is its sequence.
    fn frame(seq: Seq) -> Utf8Bytes {
        Utf8Bytes::from(seq.to_string())
    }

    /// The sequences sent, `L` marking held live frames.
    fn seqs(sent: &[Filled]) -> Vec<String> {
        sent.iter()
            .map(|f| match f {
                Filled::Stored(m) => m.seq.to_string(),
                Filled::Live(frame) => format!("L{}", frame.as_str()),
            })
            .collect()
    }

    fn stored(seqs: impl IntoIterator<Item = Seq>) -> Vec<String> {
        seqs.into_iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn live_delivery_rule() {
        let mut s = session();
        assert!(s.begin_join("r"));
        assert!(!s.begin_join("r"));
        s.joined("r", None, 5);
        assert_eq!(s.cursor("r"), Some(Cursor::Live { last: 5 }));
        assert!(!s.on_message("r", 3, &frame(3)));
        assert!(!s.on_message("r", 5, &frame(5)));
        assert!(s.on_message("r", 6, &frame(6)));
        assert!(!s.on_message("other", 1, &frame(1)));
        assert!(!s.awaits_fill());
        assert_eq!(s.next_fill(), None);
        // A gap: 7 and 8 are read from the store, 9 and 10 (live meanwhile) are held and
        // follow them.
        assert!(!s.on_message("r", 9, &frame(9)));
        assert!(!s.on_message("r", 10, &frame(10)));
        assert!(!s.on_message("r", 9, &frame(9)));
        assert!(s.awaits_fill());
        let read = s.next_fill().expect("a page to read");
        assert_eq!((read.after, read.up_to), (6, 8));
        assert_eq!(s.next_fill(), None, "one read per room at a time");
        assert_eq!(s.filled(&read, page(7..=8)), {
            let mut want: Vec<Filled> = page(7..=8).into_iter().map(Filled::Stored).collect();
            want.extend([Filled::Live(frame(9)), Filled::Live(frame(10))]);
            want
        });
        assert_eq!(s.cursor("r"), Some(Cursor::Live { last: 10 }));
        assert!(s.on_message("r", 11, &frame(11)));
        // More live ones than can be held (3): the store brings them all.
        for seq in 13..=16 {
            assert!(!s.on_message("r", seq, &frame(seq)));
        }
        let read = s.next_fill().expect("read");
        assert_eq!((read.after, read.up_to), (11, 16));
        assert_eq!(seqs(&s.filled(&read, page(12..=16))), stored(12..=16));
        assert!(s.on_message("r", 17, &frame(17)));
        // A second gap behind the held ones: the store brings everything up to it.
        assert!(!s.on_message("r", 19, &frame(19)));
        assert!(!s.on_message("r", 21, &frame(21)));
        let read = s.next_fill().expect("read");
        assert_eq!((read.after, read.up_to), (17, 21));
        // A short page: the rest comes with the next one.
        assert_eq!(seqs(&s.filled(&read, page(18..=19))), stored(18..=19));
        assert!(!s.on_message("r", 22, &frame(22)));
        let read = s.next_fill().expect("the rest");
        assert_eq!((read.after, read.up_to), (19, 21));
        assert_eq!(
            seqs(&s.filled(&read, page(20..=21))),
            vec!["20", "21", "L22"]
        );
        assert_eq!(s.cursor("r"), Some(Cursor::Live { last: 22 }));
    }

    #[test]
    fn a_join_in_flight_counts_live_messages_and_fills_them() {
        let mut s = session();
        s.begin_join("r");
        assert!(!s.shows_room_events("r"));
        assert!(!s.on_message("r", 8, &frame(8)));
        assert!(!s.on_message("r", 7, &frame(7)));
        // Head 6 read after subscribing; 7 and 8 came live meanwhile.
        s.joined("r", None, 6);
        assert!(s.shows_room_events("r"));
        let read = s.next_fill().expect("read");
        assert_eq!((read.after, read.up_to), (6, 8));
        assert_eq!(seqs(&s.filled(&read, page(7..=8))), stored(7..=8));
        assert_eq!(s.cursor("r"), Some(Cursor::Live { last: 8 }));
    }

    #[test]
    fn resume_fills_from_since_and_rejoin_resets_it() {
        let mut s = session();
        s.begin_join("r");
        s.joined("r", Some(2), 5);
        let read = s.next_fill().expect("read");
        assert_eq!((read.after, read.up_to), (2, 5));
        // Rejoined with an older `since` while the page is read: the stale page only
        // counts where it continues the cursor.
        s.joined("r", Some(1), 5);
        assert_eq!(s.next_fill(), None, "the read in flight is still awaited");
        assert!(s.filled(&read, page(3..=5)).is_empty());
        let read = s.next_fill().expect("read again");
        assert_eq!((read.after, read.up_to), (1, 5));
        assert_eq!(seqs(&s.filled(&read, page(2..=4))), stored(2..=4));
        let read = s.next_fill().expect("last page");
        assert_eq!(seqs(&s.filled(&read, page([5]))), stored([5]));
        // `since` above the head is capped; a repeated join without it changes nothing.
        s.joined("r", Some(99), 5);
        assert_eq!(s.cursor("r"), Some(Cursor::Live { last: 5 }));
        s.joined("r", None, 5);
        assert_eq!(s.cursor("r"), Some(Cursor::Live { last: 5 }));
    }

    #[test]
    fn a_store_with_fewer_messages_does_not_stall_delivery() {
        let mut s = session();
        s.begin_join("r");
        s.joined("r", Some(0), 3);
        let read = s.next_fill().expect("read");
        // A hole in the store: what is there is sent.
        assert_eq!(seqs(&s.filled(&read, page([1, 3]))), stored([1, 3]));
        assert_eq!(s.cursor("r"), Some(Cursor::Live { last: 3 }));
        assert!(!s.on_message("r", 6, &frame(6)));
        let read = s.next_fill().expect("read");
        // 4 and 5 missing from the store: the held 6 still goes out.
        assert_eq!(seqs(&s.filled(&read, Vec::new())), vec!["L6"]);
        assert_eq!(s.cursor("r"), Some(Cursor::Live { last: 6 }));
        assert!(s.on_message("r", 7, &frame(7)));
    }

    #[test]
    fn abandoned_and_removed_rooms() {
        let mut s = session();
        s.begin_join("r");
        s.abandon_join("r");
        assert!(!s.has_joined("r"));
        s.begin_join("r");
        s.joined("r", None, 0);
        s.abandon_join("r");
        assert!(s.has_joined("r"), "only a join in flight is abandoned");
        s.remove("r");
        assert_eq!(s.room_count(), 0);
    }
}

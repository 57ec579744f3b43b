//! A session: the identity of one connection, the rooms it joined, and per room the last
//! sequence delivered to it, with the delivery rule that makes delivery exactly once and
//! in order (G2, G3) even over a broker that duplicates or loses events.

use std::collections::HashMap;

use tuitalk_protocol::Seq;

use crate::hub::ConnId;
use crate::store::User;

/// What to do with a live message of sequence `seq` when `last` was delivered last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Already delivered (or older than the join point): drop it.
    Duplicate,
    /// The next one: send it.
    Deliver,
    /// Messages are missing: send `after + 1 ..= up_to` from the store first, then it.
    Gap {
        /// The last sequence delivered.
        after: Seq,
        /// The last missing sequence (`seq - 1`).
        up_to: Seq,
    },
}

/// The delivery rule: `seq <= last` is a duplicate, `last + 1` is delivered, anything
/// above means a gap to repair from the store first.
pub fn decide(last: Seq, seq: Seq) -> Decision {
    if seq <= last {
        Decision::Duplicate
    } else if seq == last + 1 {
        Decision::Deliver
    } else {
        Decision::Gap {
            after: last,
            up_to: seq - 1,
        }
    }
}

/// The state of one authenticated connection.
#[derive(Debug, Clone)]
pub struct Session {
    /// The connection's id in the hub.
    pub conn_id: ConnId,
    /// Who this connection is; the author of every post it makes.
    pub user: User,
    /// The joined rooms, each with the last sequence delivered to this connection.
    pub rooms: HashMap<String, Seq>,
}

impl Session {
    /// A session for `user` with no rooms joined.
    pub fn new(conn_id: ConnId, user: User) -> Self {
        Self {
            conn_id,
            user,
            rooms: HashMap::new(),
        }
    }

    /// Whether the room is joined on this connection.
    pub fn has_joined(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    /// The last sequence delivered in `room`, if joined.
    pub fn last(&self, room: &str) -> Option<Seq> {
        self.rooms.get(room).copied()
    }

    /// Records that `seq` was delivered in `room` (never moves backwards).
    pub fn delivered(&mut self, room: &str, seq: Seq) {
        if let Some(last) = self.rooms.get_mut(room)
            && seq > *last
        {
            *last = seq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_rule() {
        assert_eq!(decide(5, 3), Decision::Duplicate);
        assert_eq!(decide(5, 5), Decision::Duplicate);
        assert_eq!(decide(5, 6), Decision::Deliver);
        assert_eq!(decide(0, 1), Decision::Deliver);
        assert_eq!(decide(5, 9), Decision::Gap { after: 5, up_to: 8 });
        assert_eq!(decide(0, 2), Decision::Gap { after: 0, up_to: 1 });
    }

    #[test]
    fn delivered_never_moves_backwards() {
        let mut session = Session::new(
            1,
            User {
                user_id: "u".into(),
                name: "ada".into(),
            },
        );
        session.rooms.insert("r".into(), 4);
        session.delivered("r", 3);
        assert_eq!(session.last("r"), Some(4));
        session.delivered("r", 7);
        assert_eq!(session.last("r"), Some(7));
        session.delivered("other", 1);
        assert!(!session.has_joined("other"));
    }
}

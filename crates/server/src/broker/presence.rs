//! This backend's view of presence: per room, the users with a local connection there
//! and their connections. The embedded broker answers from it alone; the Redis broker
//! keeps it as the local half of the shared presence (and answers from it alone while
//! Redis is unreachable).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tuitalk_protocol::Member;

use crate::hub::ConnId;

/// One user's presence in one room on this backend.
#[derive(Debug)]
struct Present {
    name: String,
    handle: Option<String>,
    conns: HashSet<ConnId>,
}

/// room → user id → presence.
type Rooms = HashMap<String, BTreeMap<String, Present>>;

/// The local presence view.
#[derive(Debug, Default)]
pub struct LocalPresence {
    rooms: Mutex<Rooms>,
}

impl LocalPresence {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Rooms> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds the connection; returns whether it is the user's first local connection in
    /// the room.
    pub fn add(&self, room: &str, member: &Member, conn: ConnId) -> bool {
        let mut rooms = self.lock();
        let present = rooms
            .entry(room.to_owned())
            .or_default()
            .entry(member.user_id.clone())
            .or_insert_with(|| Present {
                name: member.name.clone(),
                handle: member.handle.clone(),
                conns: HashSet::new(),
            });
        let first = present.conns.is_empty();
        present.conns.insert(conn);
        first
    }

    /// Removes the connection; returns the member (with their current name) when it was
    /// the user's last local connection in the room.
    pub fn remove(&self, room: &str, user_id: &str, conn: ConnId) -> Option<Member> {
        let mut rooms = self.lock();
        let users = rooms.get_mut(room)?;
        let present = users.get_mut(user_id)?;
        if !present.conns.remove(&conn) || !present.conns.is_empty() {
            return None;
        }
        let member = Member {
            user_id: user_id.to_owned(),
            name: present.name.clone(),
            handle: present.handle.clone(),
        };
        users.remove(user_id);
        if users.is_empty() {
            rooms.remove(room);
        }
        Some(member)
    }

    /// Renames the user; returns the rooms they are present in here.
    pub fn rename(&self, member: &Member) -> Vec<String> {
        let mut rooms = self.lock();
        let mut found = Vec::new();
        for (room, users) in rooms.iter_mut() {
            if let Some(present) = users.get_mut(&member.user_id) {
                present.name = member.name.clone();
                present.handle = member.handle.clone();
                found.push(room.clone());
            }
        }
        found
    }

    /// The users present in the room on this backend, by name then id.
    pub fn members(&self, room: &str) -> Vec<Member> {
        let mut members = self.lock().get(room).map(members_of).unwrap_or_default();
        sort_members(&mut members);
        members
    }

    /// Every room with local users, and those users.
    pub fn snapshot(&self) -> Vec<(String, Vec<Member>)> {
        self.lock()
            .iter()
            .map(|(room, users)| (room.clone(), members_of(users)))
            .collect()
    }
}

fn members_of(users: &BTreeMap<String, Present>) -> Vec<Member> {
    users
        .iter()
        .map(|(user_id, present)| Member {
            user_id: user_id.clone(),
            name: present.name.clone(),
            handle: present.handle.clone(),
        })
        .collect()
}

/// Orders members by name, then id (the order `who` answers in).
pub fn sort_members(members: &mut [Member]) {
    members.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.user_id.cmp(&b.user_id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(user_id: &str, name: &str) -> Member {
        Member {
            user_id: user_id.into(),
            name: name.into(),
            handle: None,
        }
    }

    #[test]
    fn counts_connections_per_user() {
        let presence = LocalPresence::new();
        assert!(presence.add("r", &member("u2", "bob"), 1));
        assert!(!presence.add("r", &member("u2", "bob"), 2));
        assert!(presence.add("r", &member("u1", "ada"), 3));
        let names: Vec<_> = presence.members("r").into_iter().map(|m| m.name).collect();
        assert_eq!(names, vec!["ada", "bob"]);
        assert_eq!(presence.remove("r", "u2", 1), None);
        assert_eq!(presence.remove("r", "u2", 9), None);
        assert_eq!(
            presence.rename(&member("u2", "robert")),
            vec!["r".to_owned()]
        );
        let left = presence.remove("r", "u2", 2);
        assert_eq!(left.map(|m| m.name).as_deref(), Some("robert"));
        assert_eq!(presence.members("r").len(), 1);
        assert_eq!(
            presence.remove("r", "u1", 3).map(|m| m.user_id).as_deref(),
            Some("u1")
        );
        assert!(presence.members("r").is_empty());
        assert!(presence.snapshot().is_empty());
    }
}

//! One room as the client knows it: the messages received (ordered and deduplicated by
//! sequence), the last sequence seen on the live stream, unread count and members.

use std::collections::BTreeMap;

use tuitalk_protocol::{ChatMessage, Member, Seq};

use crate::lookalike::Lookalikes;

/// What became of a live `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Live {
    /// Its sequence is not above the last one seen: dropped.
    Duplicate,
    /// Added. `gap` names the missing sequences `(first, last)` if it skipped some.
    Added {
        /// Sequences missing between the previous last and this one, inclusive.
        gap: Option<(Seq, Seq)>,
    },
}

/// A room the client has joined (or is joining).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    name: String,
    messages: BTreeMap<Seq, ChatMessage>,
    last_seq: Seq,
    synced: bool,
    joined: bool,
    unread: u32,
    members: BTreeMap<String, String>,
    /// user id → account handle of present members that have one (guests have none).
    handles: BTreeMap<String, String>,
    lookalikes: Lookalikes,
    max_messages: usize,
}

impl Room {
    /// A room with nothing loaded yet that keeps at most `max_messages` messages in memory
    /// (the oldest are dropped first; they can be fetched again).
    pub fn new(name: impl Into<String>, max_messages: usize) -> Self {
        Self {
            name: name.into(),
            messages: BTreeMap::new(),
            last_seq: 0,
            synced: false,
            joined: false,
            unread: 0,
            members: BTreeMap::new(),
            handles: BTreeMap::new(),
            lookalikes: Lookalikes::default(),
            max_messages: max_messages.max(1),
        }
    }

    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last sequence seen on the live stream (or the room's head when it was first
    /// joined); 0 when nothing yet. Resuming sends it as `since`.
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// The `since` to join with: the last sequence seen once the room was joined at
    /// least once, `None` for a first join.
    pub fn since(&self) -> Option<Seq> {
        self.synced.then_some(self.last_seq)
    }

    /// Whether the room is joined on the current connection (its `joined` arrived).
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// Messages received and not read while another room was shown.
    pub fn unread(&self) -> u32 {
        self.unread
    }

    /// The loaded messages, in sequence order.
    pub fn messages(&self) -> impl DoubleEndedIterator<Item = &ChatMessage> + ExactSizeIterator {
        self.messages.values()
    }

    /// The message with this sequence, if loaded.
    pub fn message(&self, seq: Seq) -> Option<&ChatMessage> {
        self.messages.get(&seq)
    }

    /// The oldest loaded sequence ("fetch older" asks for messages below it).
    pub fn oldest_seq(&self) -> Option<Seq> {
        self.messages.keys().next().copied()
    }

    /// Whether older messages than the ones loaded exist on the server. Sequences start
    /// at 1 without holes, so this is known without asking.
    pub fn has_older(&self) -> bool {
        match self.oldest_seq() {
            Some(oldest) => oldest > 1,
            None => self.last_seq > 0,
        }
    }

    /// The users present, ordered by name.
    pub fn members(&self) -> Vec<Member> {
        let mut members: Vec<Member> = self
            .members
            .iter()
            .map(|(user_id, name)| Member {
                user_id: user_id.clone(),
                name: name.clone(),
                handle: self.handles.get(user_id).cloned(),
            })
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name).then(a.user_id.cmp(&b.user_id)));
        members
    }

    /// How to show `name` of `user_id` (a member or a message's author) in this room: the
    /// name, or `name#3f2a` (a tag of the user id) when another present member's name
    /// looks like it ([`crate::lookalike`]). The result is not sanitised.
    pub fn label(&self, user_id: &str, name: &str) -> String {
        self.lookalikes.label(user_id, name)
    }

    /// The account handle of a present user (`None`: a guest, or not present).
    pub fn member_handle(&self, user_id: &str) -> Option<&str> {
        self.handles.get(user_id).map(String::as_str)
    }

    /// The current name of a present user.
    pub fn member_name(&self, user_id: &str) -> Option<&str> {
        self.members.get(user_id).map(String::as_str)
    }

    pub(crate) fn set_joined(&mut self, joined: bool) {
        self.joined = joined;
    }

    /// Records the `head` of a first join: live messages above it follow.
    pub(crate) fn start_at(&mut self, head: Seq) {
        self.last_seq = head;
        self.synced = true;
    }

    /// The server's store was reset (its head is below what we saw): forget everything
    /// of the room and start again at `head`.
    pub(crate) fn reset_to(&mut self, head: Seq) {
        self.messages.clear();
        self.unread = 0;
        self.start_at(head);
    }

    /// Forgets the loaded messages (they can be fetched again); keeps the last sequence.
    pub(crate) fn clear_loaded(&mut self) {
        self.messages.clear();
    }

    pub(crate) fn mark_read(&mut self) {
        self.unread = 0;
    }

    pub(crate) fn add_unread(&mut self) {
        self.unread = self.unread.saturating_add(1);
    }

    /// A live message: dropped when its sequence is not above the last seen.
    pub(crate) fn receive_live(&mut self, message: ChatMessage) -> Live {
        let seq = message.seq;
        if seq <= self.last_seq {
            return Live::Duplicate;
        }
        let gap = (self.synced && seq > self.last_seq + 1).then(|| (self.last_seq + 1, seq - 1));
        self.last_seq = seq;
        self.synced = true;
        self.messages.insert(seq, message);
        self.trim();
        Live::Added { gap }
    }

    /// Merges a history page (or an acknowledged own post) by sequence; a sequence
    /// already loaded is kept as is. Does not move the last sequence seen: the live
    /// stream does. Returns how many were new.
    pub(crate) fn merge(&mut self, messages: impl IntoIterator<Item = ChatMessage>) -> usize {
        let mut added = 0;
        for message in messages {
            if message.room != self.name {
                continue;
            }
            if let std::collections::btree_map::Entry::Vacant(slot) =
                self.messages.entry(message.seq)
            {
                slot.insert(message);
                added += 1;
            }
        }
        self.trim();
        added
    }

    pub(crate) fn set_members(&mut self, members: Vec<Member>) {
        self.handles = members
            .iter()
            .filter_map(|m| Some((m.user_id.clone(), m.handle.clone()?)))
            .collect();
        self.members = members.into_iter().map(|m| (m.user_id, m.name)).collect();
        self.lookalikes.clear();
        for (user_id, name) in &self.members {
            self.lookalikes.set(user_id, name);
        }
    }

    pub(crate) fn add_member(&mut self, user_id: &str, name: &str, handle: Option<&str>) {
        self.members.insert(user_id.to_owned(), name.to_owned());
        match handle {
            Some(handle) => self.handles.insert(user_id.to_owned(), handle.to_owned()),
            None => self.handles.remove(user_id),
        };
        self.lookalikes.set(user_id, name);
    }

    pub(crate) fn remove_member(&mut self, user_id: &str) {
        self.members.remove(user_id);
        self.handles.remove(user_id);
        self.lookalikes.remove(user_id);
    }

    /// Renames a present user; returns whether they were present.
    pub(crate) fn rename_member(&mut self, user_id: &str, name: &str) -> bool {
        match self.members.get_mut(user_id) {
            Some(current) => {
                name.clone_into(current);
                self.lookalikes.set(user_id, name);
                true
            }
            None => false,
        }
    }

    fn trim(&mut self) {
        while self.messages.len() > self.max_messages {
            self.messages.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: Seq) -> ChatMessage {
        ChatMessage {
            room: "r".into(),
            seq,
            id: format!("p-{seq}"),
            author_id: "u".into(),
            author: "ada".into(),
            author_handle: None,
            text: format!("text {seq}"),
            ts: 0,
        }
    }

    fn seqs(room: &Room) -> Vec<Seq> {
        room.messages().map(|m| m.seq).collect()
    }

    #[test]
    fn live_drops_old_and_repeated_sequences() {
        let mut room = Room::new("r", 100);
        room.start_at(0);
        assert_eq!(room.receive_live(msg(1)), Live::Added { gap: None });
        assert_eq!(room.receive_live(msg(2)), Live::Added { gap: None });
        assert_eq!(room.receive_live(msg(2)), Live::Duplicate);
        assert_eq!(room.receive_live(msg(1)), Live::Duplicate);
        assert_eq!(seqs(&room), [1, 2]);
        assert_eq!(room.last_seq(), 2);
    }

    #[test]
    fn live_reports_gaps() {
        let mut room = Room::new("r", 100);
        room.start_at(3);
        assert_eq!(room.receive_live(msg(7)), Live::Added { gap: Some((4, 6)) });
        assert_eq!(room.last_seq(), 7);
    }

    #[test]
    fn history_merges_by_sequence_without_moving_last_seq() {
        let mut room = Room::new("r", 100);
        room.start_at(10);
        room.receive_live(msg(11));
        assert_eq!(room.merge((6..=10).map(msg)), 5);
        assert_eq!(room.merge((4..=8).map(msg)), 2);
        assert_eq!(seqs(&room), [4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(room.last_seq(), 11);
        assert_eq!(room.oldest_seq(), Some(4));
        assert!(room.has_older());
        room.merge((1..=3).map(msg));
        assert!(!room.has_older());
    }

    #[test]
    fn merge_ignores_other_rooms() {
        let mut room = Room::new("r", 100);
        let mut other = msg(1);
        other.room = "elsewhere".into();
        assert_eq!(room.merge([other]), 0);
    }

    #[test]
    fn keeps_at_most_max_messages() {
        let mut room = Room::new("r", 3);
        room.start_at(0);
        for seq in 1..=5 {
            room.receive_live(msg(seq));
        }
        assert_eq!(seqs(&room), [3, 4, 5]);
        assert!(room.has_older());
    }

    #[test]
    fn since_only_after_first_join_and_reset_clears() {
        let mut room = Room::new("r", 10);
        assert_eq!(room.since(), None);
        room.start_at(4);
        assert_eq!(room.since(), Some(4));
        room.receive_live(msg(5));
        room.add_unread();
        room.reset_to(0);
        assert_eq!(room.since(), Some(0));
        assert!(seqs(&room).is_empty());
        assert_eq!(room.unread(), 0);
    }

    #[test]
    fn members_sorted_by_name_and_renamed() {
        let mut room = Room::new("r", 10);
        room.add_member("u2", "zed", None);
        room.add_member("u1", "amy", Some("amy"));
        assert_eq!(room.members()[0].name, "amy");
        assert!(room.rename_member("u1", "zoe"));
        assert!(!room.rename_member("u9", "x"));
        assert_eq!(room.members()[0].name, "zed");
        room.remove_member("u2");
        assert_eq!(room.members().len(), 1);
        assert_eq!(room.member_name("u1"), Some("zoe"));
    }

    #[test]
    fn lookalike_members_and_authors_are_labelled() {
        let mut room = Room::new("r", 10);
        room.set_members(vec![
            Member {
                user_id: "u-3f2a".into(),
                name: "alice".into(),
                handle: None,
            },
            Member {
                user_id: "u-9c41".into(),
                name: "bob".into(),
                handle: None,
            },
        ]);
        assert_eq!(room.label("u-3f2a", "alice"), "alice");
        assert!(room.rename_member("u-9c41", "\u{410}lice"));
        assert_eq!(room.label("u-3f2a", "alice"), "alice#3f2a");
        assert_eq!(room.label("u-9c41", "\u{410}lice"), "\u{410}lice#9c41");
        room.remove_member("u-9c41");
        assert_eq!(room.label("u-3f2a", "alice"), "alice");
        room.add_member("u-0001", "ALICE", None);
        assert_eq!(room.label("u-3f2a", "alice"), "alice#3f2a");
    }
}

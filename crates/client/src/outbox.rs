//! The outbox: posts the user wrote that the server has not acknowledged yet.
//!
//! Every post gets a client-generated id when it is written and keeps it until its `ack`
//! (or its own `message`) arrives. After a reconnect the outbox is sent again with the
//! same ids in the same order; the server deduplicates by id (guarantee G4), so a post
//! whose ack was lost is delivered once.
//!
//! Order within a room is kept: a post never overtakes an earlier post of its room that
//! is waiting for a retry.

use tuitalk_protocol::ClientCommand;

/// Where a pending post stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostState {
    /// Not sent on the current connection (new, or a reconnect happened since).
    Queued,
    /// Sent on the current connection; waiting for its `ack`.
    Sent,
    /// Refused with a retryable error; send again at `until_ms` or later.
    Waiting {
        /// The earliest time to send it again, in the caller's milliseconds.
        until_ms: u64,
    },
}

/// One post waiting for its acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPost {
    /// The client-chosen post id (kept across re-sends).
    pub id: String,
    /// The room it is posted to.
    pub room: String,
    /// The text.
    pub text: String,
    /// When the user wrote it, in the caller's milliseconds.
    pub created_ms: u64,
    /// Where it stands.
    pub state: PostState,
    /// How many times the server refused it with a retryable error.
    pub retries: u32,
}

impl PendingPost {
    /// The `post` command that sends it.
    pub fn command(&self) -> ClientCommand {
        ClientCommand::Post {
            room: self.room.clone(),
            id: self.id.clone(),
            text: self.text.clone(),
        }
    }

    fn sendable(&self, now_ms: u64) -> bool {
        match self.state {
            PostState::Queued => true,
            PostState::Sent => false,
            PostState::Waiting { until_ms } => until_ms <= now_ms,
        }
    }
}

/// The posts not acknowledged yet, in the order they were written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    posts: Vec<PendingPost>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many posts wait for an acknowledgement.
    pub fn len(&self) -> usize {
        self.posts.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.posts.is_empty()
    }

    /// Every pending post, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &PendingPost> {
        self.posts.iter()
    }

    /// The pending posts of one room, oldest first.
    pub fn in_room<'a>(&'a self, room: &'a str) -> impl Iterator<Item = &'a PendingPost> + 'a {
        self.posts.iter().filter(move |post| post.room == room)
    }

    /// The post with this id.
    pub fn get(&self, id: &str) -> Option<&PendingPost> {
        self.posts.iter().find(|post| post.id == id)
    }

    /// Adds a post at the end (state [`PostState::Queued`]).
    pub(crate) fn push(&mut self, id: String, room: String, text: String, created_ms: u64) {
        self.posts.push(PendingPost {
            id,
            room,
            text,
            created_ms,
            state: PostState::Queued,
            retries: 0,
        });
    }

    /// Removes and returns the post with this id (it was acknowledged or refused).
    pub(crate) fn remove(&mut self, id: &str) -> Option<PendingPost> {
        let index = self.posts.iter().position(|post| post.id == id)?;
        Some(self.posts.remove(index))
    }

    /// Removes every post of a room, returning them.
    pub(crate) fn remove_room(&mut self, room: &str) -> Vec<PendingPost> {
        let (gone, kept) = std::mem::take(&mut self.posts)
            .into_iter()
            .partition(|post| post.room == room);
        self.posts = kept;
        gone
    }

    /// Marks every post as not sent (the connection is gone): all are sent again, in
    /// order, once their rooms are joined on the next connection.
    pub(crate) fn requeue_all(&mut self) {
        for post in &mut self.posts {
            post.state = PostState::Queued;
        }
    }

    /// Sets the state of the post with this id; returns the post if it exists.
    pub(crate) fn set_state(&mut self, id: &str, state: PostState) -> Option<&mut PendingPost> {
        let post = self.posts.iter_mut().find(|post| post.id == id)?;
        post.state = state;
        Some(post)
    }

    /// Whether a new post in `room` must wait behind an earlier one (which is queued or
    /// waiting for a retry) to keep the order.
    pub(crate) fn room_blocked(&self, room: &str, now_ms: u64) -> bool {
        self.in_room(room).any(|post| match post.state {
            PostState::Queued => true,
            PostState::Sent => false,
            PostState::Waiting { until_ms } => until_ms > now_ms,
        })
    }

    /// Marks as sent and returns the `post` commands of `room` that may go out now, in
    /// order. Stops at the first post of the room still waiting for its retry time, so
    /// later posts do not overtake it.
    pub(crate) fn take_sendable(&mut self, room: &str, now_ms: u64) -> Vec<ClientCommand> {
        let mut out = Vec::new();
        for post in self.posts.iter_mut().filter(|post| post.room == room) {
            if let PostState::Waiting { until_ms } = post.state
                && until_ms > now_ms
            {
                break;
            }
            if post.sendable(now_ms) {
                post.state = PostState::Sent;
                out.push(post.command());
            }
        }
        out
    }

    /// The rooms that have a post whose retry time has come.
    pub(crate) fn rooms_due(&self, now_ms: u64) -> Vec<String> {
        let mut rooms: Vec<String> = Vec::new();
        for post in &self.posts {
            if matches!(post.state, PostState::Waiting { until_ms } if until_ms <= now_ms)
                && !rooms.contains(&post.room)
            {
                rooms.push(post.room.clone());
            }
        }
        rooms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(commands: &[ClientCommand]) -> Vec<String> {
        commands
            .iter()
            .filter_map(|command| match command {
                ClientCommand::Post { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    fn outbox() -> Outbox {
        let mut outbox = Outbox::new();
        outbox.push("a".into(), "r".into(), "one".into(), 0);
        outbox.push("b".into(), "s".into(), "two".into(), 0);
        outbox.push("c".into(), "r".into(), "three".into(), 0);
        outbox
    }

    #[test]
    fn sends_per_room_in_order_once() {
        let mut outbox = outbox();
        assert_eq!(ids(&outbox.take_sendable("r", 0)), ["a", "c"]);
        assert!(outbox.take_sendable("r", 0).is_empty());
        assert_eq!(ids(&outbox.take_sendable("s", 0)), ["b"]);
    }

    #[test]
    fn requeue_sends_again_with_same_ids() {
        let mut outbox = outbox();
        outbox.take_sendable("r", 0);
        outbox.requeue_all();
        assert_eq!(ids(&outbox.take_sendable("r", 0)), ["a", "c"]);
    }

    #[test]
    fn waiting_post_blocks_later_ones() {
        let mut outbox = outbox();
        outbox.set_state("a", PostState::Waiting { until_ms: 100 });
        assert!(outbox.take_sendable("r", 50).is_empty());
        assert!(outbox.room_blocked("r", 50));
        assert_eq!(outbox.rooms_due(50), Vec::<String>::new());
        assert_eq!(outbox.rooms_due(100), ["r"]);
        assert_eq!(ids(&outbox.take_sendable("r", 100)), ["a", "c"]);
        assert!(!outbox.room_blocked("r", 100));
    }

    #[test]
    fn remove_and_remove_room() {
        let mut outbox = outbox();
        assert_eq!(outbox.remove("b").map(|post| post.text), Some("two".into()));
        assert!(outbox.remove("b").is_none());
        let gone = outbox.remove_room("r");
        assert_eq!(gone.len(), 2);
        assert!(outbox.is_empty());
    }
}

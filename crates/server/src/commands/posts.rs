//! `post`: a message into a joined room, queued at the group committer and answered by
//! `ack` once it is durably stored (G1) — or by `error` with the post's id. The same
//! validation and submission serve `POST /api/rooms/{room}/messages`.

use governor::NotUntil;
use governor::clock::{Clock, DefaultClock};
use tuitalk_protocol::{ErrorCode, ServerEvent, name};

use super::{Command, Context};
use crate::AppState;
use crate::error::Refusal;
use crate::peer::Peer;
use crate::store::commit::{PostResult, Receipt};
use crate::store::{NewPost, now_ms};

/// `post {room, id, text}`.
#[derive(Debug)]
pub struct Post {
    /// The room (joined on this connection).
    pub room: String,
    /// The client's post id.
    pub id: String,
    /// The text.
    pub text: String,
}

impl Command for Post {
    type Work = NewPost;
    type Done = (String, String, Result<Receipt, Refusal>);

    fn start(self, peer: &mut Peer) -> Result<Self::Work, Refusal> {
        let Self { room, id, text } = self;
        validate(peer.state(), &room, &id, &text)?;
        let author = peer.joined(&room)?.user.user_id.clone();
        peer.take_post()?;
        Ok(new_post(room, id, text, author))
    }

    async fn run(post: Self::Work, state: AppState) -> Self::Done {
        let (room, id) = (post.room.clone(), post.post_id.clone());
        (room, id, submit(&state, post).await)
    }

    fn finish((room, id, receipt): Self::Done, peer: &mut Peer) -> Result<(), Refusal> {
        peer.await_ack(room, id, receipt?);
        Ok(())
    }
}

/// Checks a post's room, id and text against the protocol's rules and the configured
/// `limits.max_text_chars`. Errors: `invalid_room`, `invalid_id`, `invalid_text`,
/// `text_too_long`.
pub fn validate(state: &AppState, room: &str, id: &str, text: &str) -> Result<(), Refusal> {
    name::validate_room(room)?;
    name::validate_post_id(id)?;
    name::validate_text(text, state.config.limits.max_text_chars as usize)?;
    Ok(())
}

/// A validated post by `author_id`, stamped with the server's time.
pub fn new_post(room: String, id: String, text: String, author_id: String) -> NewPost {
    NewPost {
        room,
        post_id: id,
        author_id,
        text,
        ts: now_ms(),
    }
}

/// Queues a post at the group committer, waiting while its queue is full. Errors:
/// `unavailable` (the committer has stopped).
pub async fn submit(state: &AppState, post: NewPost) -> Result<Receipt, Refusal> {
    state.committer.submit(post).await
}

/// Answers a post whose outcome arrived: `ack` with its sequence, or `error`.
pub fn answer(peer: &mut Peer, room: String, id: String, outcome: PostResult) {
    match outcome {
        Ok(appended) => peer.send(&ServerEvent::Ack {
            room: appended.message.room,
            id,
            seq: appended.message.seq,
            ts: appended.message.ts,
        }),
        Err(refusal) => {
            let context = Context {
                command: Some("post"),
                room: Some(room),
                id: Some(id),
            };
            peer.refuse(&context, refusal);
        }
    }
}

/// The `rate_limited` refusal for a rate limiter's answer, with how long to wait.
pub fn rate_limited(not_until: &NotUntil<<DefaultClock as Clock>::Instant>) -> Refusal {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let mut refusal = Refusal::new(ErrorCode::RateLimited, "too many posts; slow down");
    refusal.retry_after_ms = Some((wait.as_millis() as u64).max(1));
    refusal
}

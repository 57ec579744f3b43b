//! `history`: a page of a joined room's messages, newest below `before`, answered by
//! `history`. The same page serves `GET /api/rooms/{room}/messages`.

use tuitalk_protocol::{ChatMessage, ErrorCode, Seq, ServerEvent, name};

use super::Command;
use crate::AppState;
use crate::error::Refusal;
use crate::peer::Peer;

/// `history {room, before?, limit}`.
#[derive(Debug)]
pub struct History {
    /// The room (joined on this connection).
    pub room: String,
    /// Only messages below this sequence; `None` for the newest.
    pub before: Option<Seq>,
    /// The page size asked for.
    pub limit: u32,
}

/// A page and whether older messages exist.
pub type Page = (Vec<ChatMessage>, bool);

impl Command for History {
    type Work = Self;
    type Done = (String, Result<Page, Refusal>);

    fn start(self, peer: &mut Peer) -> Result<Self::Work, Refusal> {
        let user_id = &peer.joined(&self.room)?.user.user_id;
        peer.state().throttles.history.check(user_id)?;
        Ok(self)
    }

    async fn run(work: Self::Work, state: AppState) -> Self::Done {
        let result = page(&state, &work.room, work.before, work.limit).await;
        (work.room, result)
    }

    fn finish((room, result): Self::Done, peer: &mut Peer) -> Result<(), Refusal> {
        let (messages, has_more) = result?;
        peer.send(&ServerEvent::History {
            room,
            messages,
            has_more,
        });
        Ok(())
    }
}

/// A history page of `room`: the newest `limit` messages below `before`, oldest first,
/// and whether older ones exist; `limit` is capped at `limits.history_page_max`.
/// Errors: `invalid_room`, `invalid_limit` (0), `unavailable`.
pub async fn page(
    state: &AppState,
    room: &str,
    before: Option<Seq>,
    limit: u32,
) -> Result<Page, Refusal> {
    name::validate_room(room)?;
    if limit == 0 {
        return Err(ErrorCode::InvalidLimit.into());
    }
    let limit = limit.min(state.config.limits.history_page_max);
    Ok(state.store.history(room, before, limit).await?)
}

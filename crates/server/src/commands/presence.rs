//! `who`: the users present in a joined room (from the broker's presence), answered by
//! `presence`.

use tuitalk_protocol::{Member, ServerEvent};

use super::Command;
use crate::AppState;
use crate::error::Refusal;
use crate::peer::Peer;

/// `who {room}`.
#[derive(Debug)]
pub struct Who {
    /// The room (joined on this connection).
    pub room: String,
}

impl Command for Who {
    type Work = String;
    type Done = (String, Vec<Member>);

    fn start(self, peer: &mut Peer) -> Result<Self::Work, Refusal> {
        let user_id = &peer.joined(&self.room)?.user.user_id;
        peer.state().throttles.presence.check(user_id)?;
        Ok(self.room)
    }

    async fn run(room: Self::Work, state: AppState) -> Self::Done {
        let members = state.broker.presence(&room).await;
        (room, members)
    }

    fn finish((room, members): Self::Done, peer: &mut Peer) -> Result<(), Refusal> {
        peer.send(&ServerEvent::Presence { room, members });
        Ok(())
    }
}

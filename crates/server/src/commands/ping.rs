//! `ping`: an application-level liveness check, answered by `pong` with its nonce.

use super::Command;
use crate::AppState;
use crate::error::Refusal;
use crate::peer::Peer;
use tuitalk_protocol::ServerEvent;

/// `ping {nonce?}`.
#[derive(Debug)]
pub struct Ping {
    /// Echoed in the `pong`.
    pub nonce: Option<u64>,
}

impl Command for Ping {
    type Work = Option<u64>;
    type Done = Option<u64>;

    fn start(self, _peer: &mut Peer) -> Result<Self::Work, Refusal> {
        Ok(self.nonce)
    }

    async fn run(nonce: Self::Work, _state: AppState) -> Self::Done {
        nonce
    }

    fn finish(nonce: Self::Done, peer: &mut Peer) -> Result<(), Refusal> {
        peer.send(&ServerEvent::Pong { nonce });
        Ok(())
    }
}

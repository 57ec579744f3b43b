//! Commands a client sends to the server.

use serde::{Deserialize, Serialize};

use crate::Seq;

/// One command from a client, one per WebSocket text frame.
///
/// The first command on a connection must be [`ClientCommand::Hello`]; anything else
/// before it is refused with `not_authenticated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientCommand {
    /// Negotiates the protocol version and establishes the session's identity: a new
    /// guest (no `token`, with an optional display `name`) or a resumed identity (the
    /// `token` from an earlier `welcome`). Answered by `welcome`.
    Hello {
        /// The protocol version the client speaks ([`crate::PROTOCOL_VERSION`]).
        version: u32,
        /// A session token from an earlier `welcome`, to resume that identity.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// The display name wanted for a new guest (ignored when `token` resumes an
        /// identity that already has one). The server picks one when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Joins (subscribes this connection to) a room, creating it if it does not exist.
    /// Answered by `joined`. With `since`, the server then sends every message with a
    /// sequence above `since` in order, followed by live messages: this is how a client
    /// resumes a room after a reconnect.
    Join {
        /// The room's name.
        room: String,
        /// The last sequence the client has seen in this room; absent for a first join.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<Seq>,
    },
    /// Leaves a room. Answered by `left`.
    Leave {
        /// The room's name.
        room: String,
    },
    /// Posts a message into a joined room. Answered by `ack` once the message is
    /// durably stored. Sending the same `id` again (for example after a lost ack)
    /// returns the original `ack` and does not deliver the message twice.
    Post {
        /// The room's name.
        room: String,
        /// A client-chosen id, unique per identity (a UUID is a good choice).
        id: String,
        /// The message text.
        text: String,
    },
    /// Changes this identity's display name. Answered by `name_changed` (to everyone
    /// who shares a room with the user, and to this connection).
    Name {
        /// The new display name.
        name: String,
    },
    /// Asks for a page of a joined room's history. Answered by `history`.
    History {
        /// The room's name.
        room: String,
        /// Only messages with a sequence strictly below this one; absent for the newest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Seq>,
        /// How many messages at most (the server caps it at its configured page size).
        limit: u32,
    },
    /// Asks who is present in a joined room. Answered by `presence`.
    Who {
        /// The room's name.
        room: String,
    },
    /// Asks for a `pong`; a liveness check at the application level.
    Ping {
        /// An arbitrary number echoed in the `pong`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
}

impl ClientCommand {
    /// The command's `type` as it appears on the wire, for example `"post"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Join { .. } => "join",
            Self::Leave { .. } => "leave",
            Self::Post { .. } => "post",
            Self::Name { .. } => "name",
            Self::History { .. } => "history",
            Self::Who { .. } => "who",
            Self::Ping { .. } => "ping",
        }
    }

    /// Every command `type` this protocol version knows.
    pub const KINDS: [&'static str; 8] = [
        "hello", "join", "leave", "post", "name", "history", "who", "ping",
    ];
}

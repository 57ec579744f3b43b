//! Events the server sends to a client, and the payload types they carry.

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, Seq};

/// One chat message as stored and delivered: live (`message`), on resume, and in
/// `history` pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    /// The room the message belongs to.
    pub room: String,
    /// The message's sequence in its room: 1, 2, 3, ... without holes.
    pub seq: Seq,
    /// The id the author's client chose when posting it.
    pub id: String,
    /// The author's user id (issued by the server, never chosen by a client).
    pub author_id: String,
    /// The author's display name when the message was posted.
    pub author: String,
    /// The author's account handle (without `@`) when the message was posted; absent
    /// for a guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_handle: Option<String>,
    /// The text.
    pub text: String,
    /// When the server stored it, in milliseconds since the Unix epoch (UTC).
    pub ts: i64,
}

/// A user present in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The user's id.
    pub user_id: String,
    /// The user's current display name.
    pub name: String,
    /// The user's account handle (without `@`); absent for a guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
}

/// The limits a server enforces, announced in `welcome` so a client can check input
/// before sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest message text, in Unicode scalar values (characters).
    pub max_text_chars: u32,
    /// Longest display name, in characters.
    pub max_name_chars: u32,
    /// Largest text frame the server accepts, in bytes.
    pub max_frame_bytes: u32,
    /// Largest history page.
    pub history_page_max: u32,
    /// Most rooms one connection may have joined at once.
    pub max_rooms: u32,
    /// Posts per second one connection may sustain (bursts up to the same number).
    pub posts_per_second: u32,
}

/// One event from the server, one per WebSocket text frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerEvent {
    /// The answer to `hello`: who this session is.
    Welcome {
        /// The protocol version the server speaks on this connection.
        version: u32,
        /// The identity's user id.
        user_id: String,
        /// The identity's display name.
        name: String,
        /// Whether the identity is a guest (no account); `false` for an account.
        guest: bool,
        /// The account's handle (without `@`); absent for a guest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handle: Option<String>,
        /// For an account: whether its email address has been verified (`false` only
        /// when the server sends mail and the link has not been followed yet); absent
        /// for a guest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email_verified: Option<bool>,
        /// This connection's session (one per device; see `GET /api/sessions`).
        session_id: String,
        /// The session token: send it in a later `hello` to resume this identity. Any
        /// backend can verify it. Keep it secret.
        token: String,
        /// The rooms this identity is a member of (joined on any of its devices and not
        /// left); a client joins them to receive their events.
        rooms: Vec<String>,
        /// The limits this server enforces.
        limits: Limits,
    },
    /// The answer to `join`: this connection now receives the room's events.
    Joined {
        /// The room.
        room: String,
        /// The room's newest sequence at the time of joining (0 for an empty room). If
        /// the join carried `since`, every message in `since+1 ..= head` follows in
        /// order, then live ones.
        head: Seq,
    },
    /// The answer to `leave`.
    Left {
        /// The room.
        room: String,
    },
    /// A chat message in a joined room, delivered in sequence order exactly once per
    /// connection.
    Message(ChatMessage),
    /// A user became present in a room (their first connection joined it).
    UserJoined {
        /// The room.
        room: String,
        /// The user's id.
        user_id: String,
        /// The user's display name.
        name: String,
        /// The user's account handle (without `@`); absent for a guest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handle: Option<String>,
    },
    /// A user is no longer present in a room (their last connection left it or went
    /// away).
    UserLeft {
        /// The room.
        room: String,
        /// The user's id.
        user_id: String,
        /// The user's display name.
        name: String,
    },
    /// A user changed their display name. Sent once to every connection that shares a
    /// room with the user, and to every connection of the user itself.
    NameChanged {
        /// The user's id.
        user_id: String,
        /// The name before.
        old_name: String,
        /// The name now.
        name: String,
        /// The rooms the receiving connection shares with the user (empty for the user's
        /// own connections that have joined no room).
        rooms: Vec<String>,
    },
    /// The answer to `history`: messages in ascending sequence order.
    History {
        /// The room.
        room: String,
        /// The messages, oldest first; every one has a sequence below the request's
        /// `before`, and they are the newest such.
        messages: Vec<ChatMessage>,
        /// Whether older messages exist before the first one of this page.
        has_more: bool,
    },
    /// The answer to `who`: the users present in a room.
    Presence {
        /// The room.
        room: String,
        /// The present users, ordered by name.
        members: Vec<Member>,
    },
    /// A post is durably stored with this sequence. Sent only after the store committed
    /// it; a repeated post id gets the same ack again.
    Ack {
        /// The room.
        room: String,
        /// The client-chosen post id.
        id: String,
        /// The sequence the message got.
        seq: Seq,
        /// The server timestamp of the message, in milliseconds since the Unix epoch.
        ts: i64,
    },
    /// A command was refused. Nothing it asked for happened.
    Error {
        /// The stable, machine-readable code.
        code: ErrorCode,
        /// A human-readable explanation (wording may change; match on `code`).
        message: String,
        /// The `type` of the command this answers, when it could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// The room the refused command named, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// The post id of a refused `post`, so a client can find it in its outbox.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// For retryable errors: wait at least this long before trying again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// The answer to `ping`.
    Pong {
        /// The `nonce` of the `ping`, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
}

impl ServerEvent {
    /// The event's `type` as it appears on the wire, for example `"message"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Welcome { .. } => "welcome",
            Self::Joined { .. } => "joined",
            Self::Left { .. } => "left",
            Self::Message(_) => "message",
            Self::UserJoined { .. } => "user_joined",
            Self::UserLeft { .. } => "user_left",
            Self::NameChanged { .. } => "name_changed",
            Self::History { .. } => "history",
            Self::Presence { .. } => "presence",
            Self::Ack { .. } => "ack",
            Self::Error { .. } => "error",
            Self::Pong { .. } => "pong",
        }
    }

    /// An `error` event answering `command` with only a code and a message.
    pub fn error(code: ErrorCode, message: impl Into<String>, command: Option<&str>) -> Self {
        Self::Error {
            code,
            message: message.into(),
            command: command.map(str::to_owned),
            room: None,
            id: None,
            retry_after_ms: None,
        }
    }
}

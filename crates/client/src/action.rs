//! What the client core asks its host to do ([`Action`]), what it tells the user
//! ([`Notice`]) and where the connection stands ([`ConnState`]).

use tuitalk_protocol::ClientCommand;

/// Something the host (the transport and the UI) must do, returned by every input of
/// [`crate::Client`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a new WebSocket connection to the server; report the outcome with
    /// [`crate::Client::connected`] or [`crate::Client::disconnected`].
    Connect,
    /// Send this command as a text frame on the open connection.
    Send(ClientCommand),
    /// Close the connection normally (close code 1000); the session ends.
    Close,
    /// Show this to the user.
    Notice(Notice),
}

/// What kind of thing a notice reports (a UI may style them differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// Connection and session news, answers to `/who`, and the like.
    Info,
    /// Someone joined, left or changed their name.
    Presence,
    /// Something the user asked for failed.
    Error,
}

/// A line for the user. Texts may quote names and server messages verbatim: a UI must
/// sanitise them before showing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The kind.
    pub kind: NoticeKind,
    /// The room it belongs to, or `None` for the session as a whole.
    pub room: Option<String>,
    /// The text.
    pub text: String,
}

impl Notice {
    /// An informational notice.
    pub fn info(room: Option<&str>, text: impl Into<String>) -> Self {
        Self::new(NoticeKind::Info, room, text)
    }

    /// A presence notice.
    pub fn presence(room: Option<&str>, text: impl Into<String>) -> Self {
        Self::new(NoticeKind::Presence, room, text)
    }

    /// An error notice.
    pub fn error(room: Option<&str>, text: impl Into<String>) -> Self {
        Self::new(NoticeKind::Error, room, text)
    }

    fn new(kind: NoticeKind, room: Option<&str>, text: impl Into<String>) -> Self {
        Self {
            kind,
            room: room.map(str::to_owned),
            text: text.into(),
        }
    }
}

/// The state of the connection to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// A connection is being opened or its `hello` is unanswered.
    Connecting,
    /// The server welcomed this session; commands flow.
    Connected,
    /// The connection was lost; the next attempt starts at `at_ms`.
    Reconnecting {
        /// When to connect again, in the caller's milliseconds.
        at_ms: u64,
        /// Which attempt that will be since the last successful `welcome` (0 = first).
        attempt: u32,
    },
    /// Not connected and not trying: not started yet, the user quit, or the server
    /// ended the session for good.
    Offline {
        /// Why, when there is something to tell.
        reason: Option<String>,
    },
}

impl ConnState {
    /// Whether the session is welcomed and commands can be sent.
    pub fn is_connected(&self) -> bool {
        matches!(self, Self::Connected)
    }
}

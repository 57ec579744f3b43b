//! Stable error codes (sent in `error` events) and WebSocket close codes.

use serde::{Deserialize, Serialize};

/// Why a command was refused. The wire form is the snake_case name, for example
/// `"not_joined"`; codes are stable across versions, new ones may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a JSON object.
    #[error("malformed_json")]
    MalformedJson,
    /// The object has no `type`, or one this server does not know.
    #[error("unknown_type")]
    UnknownType,
    /// The command's fields are missing, unknown or of the wrong type.
    #[error("invalid_command")]
    InvalidCommand,
    /// The frame is larger than the server's `max_frame_bytes`.
    #[error("frame_too_large")]
    FrameTooLarge,
    /// A binary frame was sent; the protocol uses text frames only.
    #[error("binary_frame")]
    BinaryFrame,
    /// A frame's payload is not valid UTF-8.
    #[error("invalid_utf8")]
    InvalidUtf8,
    /// `hello` asked for a protocol version the server does not speak.
    #[error("unsupported_version")]
    UnsupportedVersion,
    /// A command other than `hello` came before `hello`.
    #[error("not_authenticated")]
    NotAuthenticated,
    /// A second `hello` on the same connection.
    #[error("already_authenticated")]
    AlreadyAuthenticated,
    /// The `hello` token is malformed, forged or names no known user.
    #[error("invalid_token")]
    InvalidToken,
    /// A display name is empty, too long, invisible, or contains a refused character
    /// (controls, formatting, separators, private-use, unassigned, Hangul fillers, ...).
    #[error("invalid_name")]
    InvalidName,
    /// A display name looks like (has the same [`crate::name_skeleton`] as) the name of
    /// another user present in one of the rooms of this identity.
    #[error("name_taken")]
    NameTaken,
    /// A room name is empty, too long, or contains characters other than ASCII letters,
    /// ASCII digits, `-`, `_` and `.`.
    #[error("invalid_room")]
    InvalidRoom,
    /// A post id is empty, longer than 64 bytes, or not printable ASCII.
    #[error("invalid_id")]
    InvalidId,
    /// A message text is empty, only whitespace or invisible characters, contains a NUL
    /// character, or has unbalanced bidirectional embeddings, overrides or isolates.
    #[error("invalid_text")]
    InvalidText,
    /// A message text is longer than the server's `max_text_chars`.
    #[error("text_too_long")]
    TextTooLong,
    /// A history `limit` of 0.
    #[error("invalid_limit")]
    InvalidLimit,
    /// The command names a room this connection has not joined.
    #[error("not_joined")]
    NotJoined,
    /// Joining would exceed the server's `max_rooms` per connection.
    #[error("too_many_rooms")]
    TooManyRooms,
    /// The post id was already used by this identity for a different message.
    #[error("id_conflict")]
    IdConflict,
    /// Login: the email and password do not name an enabled account (the same answer for an unknown email and a wrong password).
    #[error("invalid_credentials")]
    InvalidCredentials,
    /// Login with the right password of an account an operator disabled.
    #[error("account_disabled")]
    AccountDisabled,
    /// An email address that is not of the form local@domain, or too long.
    #[error("invalid_email")]
    InvalidEmail,
    /// A handle that breaks the rules (3 to 20 of a-z, 0-9 and `_`, starting with a letter, not reserved).
    #[error("invalid_handle")]
    InvalidHandle,
    /// A password shorter than the server's minimum, longer than 1024 bytes, or one of the most guessable passwords.
    #[error("weak_password")]
    WeakPassword,
    /// Registration: an account with this email exists.
    #[error("email_taken")]
    EmailTaken,
    /// Registration: an account with this handle exists.
    #[error("handle_taken")]
    HandleTaken,
    /// Registration with the token of an account (only guests upgrade).
    #[error("already_registered")]
    AlreadyRegistered,
    /// The session id names no session of this identity.
    #[error("unknown_session")]
    UnknownSession,
    /// A reset or verification code that is unknown, used or expired.
    #[error("invalid_code")]
    InvalidCode,
    /// The feature needs a server setting that is not set (mail without an `smtp` section).
    #[error("not_configured")]
    NotConfigured,
    /// Too many posts per second; retry after `retry_after_ms`.
    #[error("rate_limited")]
    RateLimited,
    /// The store is unavailable; nothing was stored. Retry later with the same post id.
    #[error("unavailable")]
    Unavailable,
    /// An unexpected server-side failure; nothing was stored. Retry later.
    #[error("internal")]
    Internal,
}

impl ErrorCode {
    /// Whether the same command may succeed if sent again later unchanged (a client
    /// keeps such a post in its outbox).
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable | Self::Internal)
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::UnknownType => "unknown_type",
            Self::InvalidCommand => "invalid_command",
            Self::FrameTooLarge => "frame_too_large",
            Self::BinaryFrame => "binary_frame",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::UnsupportedVersion => "unsupported_version",
            Self::NotAuthenticated => "not_authenticated",
            Self::AlreadyAuthenticated => "already_authenticated",
            Self::InvalidToken => "invalid_token",
            Self::InvalidName => "invalid_name",
            Self::NameTaken => "name_taken",
            Self::InvalidRoom => "invalid_room",
            Self::InvalidId => "invalid_id",
            Self::InvalidText => "invalid_text",
            Self::TextTooLong => "text_too_long",
            Self::InvalidLimit => "invalid_limit",
            Self::NotJoined => "not_joined",
            Self::TooManyRooms => "too_many_rooms",
            Self::IdConflict => "id_conflict",
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountDisabled => "account_disabled",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidHandle => "invalid_handle",
            Self::WeakPassword => "weak_password",
            Self::EmailTaken => "email_taken",
            Self::HandleTaken => "handle_taken",
            Self::AlreadyRegistered => "already_registered",
            Self::UnknownSession => "unknown_session",
            Self::InvalidCode => "invalid_code",
            Self::NotConfigured => "not_configured",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// Every code, in the order of the documentation.
    pub const ALL: [ErrorCode; 34] = [
        Self::MalformedJson,
        Self::UnknownType,
        Self::InvalidCommand,
        Self::FrameTooLarge,
        Self::BinaryFrame,
        Self::InvalidUtf8,
        Self::UnsupportedVersion,
        Self::NotAuthenticated,
        Self::AlreadyAuthenticated,
        Self::InvalidToken,
        Self::InvalidName,
        Self::NameTaken,
        Self::InvalidRoom,
        Self::InvalidId,
        Self::InvalidText,
        Self::TextTooLong,
        Self::InvalidLimit,
        Self::NotJoined,
        Self::TooManyRooms,
        Self::IdConflict,
        Self::InvalidCredentials,
        Self::AccountDisabled,
        Self::InvalidEmail,
        Self::InvalidHandle,
        Self::WeakPassword,
        Self::EmailTaken,
        Self::HandleTaken,
        Self::AlreadyRegistered,
        Self::UnknownSession,
        Self::InvalidCode,
        Self::NotConfigured,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
    ];
}

/// WebSocket close codes the server uses, with what a client should do about each.
pub struct CloseCode;

impl CloseCode {
    /// Normal closure (the client asked to leave).
    pub const NORMAL: u16 = 1000;
    /// The server is going away for good (not a restart). Reconnect with backoff.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame was not valid UTF-8 and the stream cannot be read further.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Too many protocol violations on this connection; reconnect and behave.
    pub const POLICY: u16 = 1008;
    /// A frame exceeded the hard transport limit and the stream cannot be read further.
    pub const TOO_BIG: u16 = 1009;
    /// The server is restarting (graceful shutdown): reconnect, possibly to another
    /// backend, and resume every room.
    pub const SERVICE_RESTART: u16 = 1012;
    /// The server is at its connection limit: reconnect later with backoff.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// This connection read too slowly and its bounded queue overflowed: reconnect and
    /// resume every room from the last sequence seen; nothing is lost.
    pub const SLOW_CONSUMER: u16 = 4000;
    /// `hello` failed (unsupported version or invalid token); the close reason carries
    /// the error code.
    pub const HELLO_FAILED: u16 = 4001;
    /// No `hello` arrived within the server's handshake timeout.
    pub const HELLO_TIMEOUT: u16 = 4002;
    /// The client stopped answering pings.
    pub const IDLE_TIMEOUT: u16 = 4003;
    /// The connection's session ended: revoked (signed out on another device, "sign
    /// out everywhere", a password change or reset, an operator), expired, or its
    /// account disabled. The close reason is `session_revoked` or `session_expired`.
    /// Do not resume with the same token: sign in again (or continue as a new guest).
    pub const SESSION_ENDED: u16 = 4004;

    /// Whether a client should reconnect (and resume) after the server closed with
    /// `code`. A normal closure, a refused `hello` and an ended session do not.
    pub fn should_reconnect(code: u16) -> bool {
        !matches!(
            code,
            Self::NORMAL | Self::HELLO_FAILED | Self::SESSION_ENDED
        )
    }
}

//! Error types at the server's boundaries.
//!
//! [`Refusal`] is what a client sees: a protocol [`ErrorCode`] and a short human message.
//! Internal failures ([`StoreError`]) are logged where they happen and reach the client
//! only as the codes `unavailable` or `internal`, never as their text. (Broker operations
//! cannot fail: see [`crate::broker`].)

use tuitalk_protocol::ErrorCode;

use crate::store::StoreError;

/// A command refused: the client receives an `error` event with this code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    /// The code the client sees.
    pub code: ErrorCode,
    /// The human-readable message the client sees (never internal details).
    pub message: String,
    /// For `rate_limited`: how long to wait.
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    /// A refusal with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The store could not be used: the client sees `unavailable` (retryable).
    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::Unavailable,
            "the store is unavailable; nothing was stored, retry later",
        )
    }

    /// An unexpected failure: the client sees `internal` (retryable).
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal server error; retry later")
    }
}

impl From<ErrorCode> for Refusal {
    /// A refusal with a generic message for `code` (validation failures).
    fn from(code: ErrorCode) -> Self {
        let message = match code {
            ErrorCode::InvalidName => {
                "invalid display name (empty, invisible, or a refused character)"
            }
            ErrorCode::InvalidRoom => "invalid room name",
            ErrorCode::InvalidId => "invalid post id",
            ErrorCode::InvalidText => {
                "text is blank or invisible, contains NUL, or leaves a bidi control open"
            }
            ErrorCode::TextTooLong => "text is too long",
            ErrorCode::InvalidLimit => "limit must be at least 1",
            ErrorCode::NotJoined => "room not joined on this connection",
            ErrorCode::TooManyRooms => "too many rooms joined",
            ErrorCode::IdConflict => "post id already used for another message",
            other => other.as_str(),
        };
        Self::new(code, message)
    }
}

impl From<StoreError> for Refusal {
    /// Store failures are logged and become `unavailable` (or `id_conflict`).
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::IdConflict => ErrorCode::IdConflict.into(),
            other => {
                tracing::warn!(error = %other, "store operation failed");
                Self::unavailable()
            }
        }
    }
}

/// Why the server could not start or stopped with an error (the boundary of [`crate::run`]).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// The store could not be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The token secret could not be read or created.
    #[error("token secret: {0}")]
    Secret(#[source] std::io::Error),
    /// The mail settings could not be used (`smtp`).
    #[error("mail: {0}")]
    Mail(String),
    /// The web client's files could not be loaded from `web.assets_dir`.
    #[error("web client: {0}")]
    WebAssets(#[from] crate::web::WebAssetsError),
}

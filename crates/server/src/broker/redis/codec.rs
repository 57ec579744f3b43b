//! The wire format of events on Redis: one JSON envelope per pub/sub message, with a
//! version tag, the publishing backend's id and a per-backend event number (to drop the
//! duplicates a double subscription produces), and the event itself as a tagged
//! snake_case enum. A receiver refuses envelopes of another version instead of guessing.

use serde::{Deserialize, Serialize};
use tuitalk_protocol::ChatMessage;

use crate::broker::BrokerEvent;

/// The envelope version this build writes and reads.
pub const VERSION: u32 = 1;

/// One event as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The format version ([`VERSION`]).
    pub v: u32,
    /// The publishing backend's id (random per process).
    pub origin: String,
    /// The event's number at its origin, increasing.
    pub n: u64,
    /// The event.
    pub event: WireEvent,
}

/// [`BrokerEvent`] as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireEvent {
    /// A stored message.
    Message {
        /// The message.
        message: ChatMessage,
    },
    /// A user became present in a room.
    UserJoined {
        /// The room.
        room: String,
        /// The user's id.
        user_id: String,
        /// The user's name.
        name: String,
    },
    /// A user is no longer present in a room.
    UserLeft {
        /// The room.
        room: String,
        /// The user's id.
        user_id: String,
        /// The user's name.
        name: String,
    },
    /// A user changed their name.
    NameChanged {
        /// The user's id.
        user_id: String,
        /// The name before.
        old_name: String,
        /// The name now.
        name: String,
        /// The user's rooms.
        rooms: Vec<String>,
    },
}

impl From<BrokerEvent> for WireEvent {
    fn from(event: BrokerEvent) -> Self {
        match event {
            BrokerEvent::Message(message) => Self::Message { message },
            BrokerEvent::UserJoined {
                room,
                user_id,
                name,
            } => Self::UserJoined {
                room,
                user_id,
                name,
            },
            BrokerEvent::UserLeft {
                room,
                user_id,
                name,
            } => Self::UserLeft {
                room,
                user_id,
                name,
            },
            BrokerEvent::NameChanged {
                user_id,
                old_name,
                name,
                rooms,
            } => Self::NameChanged {
                user_id,
                old_name,
                name,
                rooms,
            },
        }
    }
}

impl From<WireEvent> for BrokerEvent {
    fn from(event: WireEvent) -> Self {
        match event {
            WireEvent::Message { message } => Self::Message(message),
            WireEvent::UserJoined {
                room,
                user_id,
                name,
            } => Self::UserJoined {
                room,
                user_id,
                name,
            },
            WireEvent::UserLeft {
                room,
                user_id,
                name,
            } => Self::UserLeft {
                room,
                user_id,
                name,
            },
            WireEvent::NameChanged {
                user_id,
                old_name,
                name,
                rooms,
            } => Self::NameChanged {
                user_id,
                old_name,
                name,
                rooms,
            },
        }
    }
}

/// Why a received payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not an envelope.
    #[error("undecodable broker payload: {0}")]
    Json(#[from] serde_json::Error),
    /// An envelope of another version.
    #[error("broker envelope version {0}, this build reads {VERSION}")]
    Version(u32),
}

/// Encodes an event from `origin` with number `n`.
pub fn encode(origin: &str, n: u64, event: BrokerEvent) -> String {
    let envelope = Envelope {
        v: VERSION,
        origin: origin.to_owned(),
        n,
        event: event.into(),
    };
    // Serialising plain strings and integers cannot fail.
    serde_json::to_string(&envelope).unwrap_or_default()
}

/// Decodes a received payload.
pub fn decode(payload: &[u8]) -> Result<Envelope, DecodeError> {
    #[derive(Deserialize)]
    struct Versioned {
        v: u32,
    }
    let Versioned { v } = serde_json::from_slice(payload)?;
    if v != VERSION {
        return Err(DecodeError::Version(v));
    }
    Ok(serde_json::from_slice(payload)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_message_envelope() {
        let event = BrokerEvent::Message(ChatMessage {
            room: "r".into(),
            seq: 7,
            id: "p".into(),
            author_id: "u".into(),
            author: "ada".into(),
            text: "hi".into(),
            ts: 5,
        });
        let text = encode("b1", 3, event.clone());
        assert_eq!(
            text,
            r#"{"v":1,"origin":"b1","n":3,"event":{"type":"message","message":{"room":"r","seq":7,"id":"p","author_id":"u","author":"ada","text":"hi","ts":5}}}"#
        );
        let back = decode(text.as_bytes()).expect("decodes");
        assert_eq!(BrokerEvent::from(back.event), event);
    }

    #[test]
    fn round_trips_and_refuses_other_versions() {
        for event in [
            BrokerEvent::UserJoined {
                room: "r".into(),
                user_id: "u".into(),
                name: "ada".into(),
            },
            BrokerEvent::UserLeft {
                room: "r".into(),
                user_id: "u".into(),
                name: "ada".into(),
            },
            BrokerEvent::NameChanged {
                user_id: "u".into(),
                old_name: "ada".into(),
                name: "grace".into(),
                rooms: vec!["r".into(), "s".into()],
            },
        ] {
            let back = decode(encode("b", 1, event.clone()).as_bytes()).expect("decodes");
            assert_eq!((back.origin.as_str(), back.n), ("b", 1));
            assert_eq!(BrokerEvent::from(back.event), event);
        }
        assert!(matches!(
            decode(br#"{"v":2,"origin":"b","n":1,"event":{}}"#),
            Err(DecodeError::Version(2))
        ));
        assert!(decode(b"nonsense").is_err());
    }
}

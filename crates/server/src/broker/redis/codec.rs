//! The wire format of events on Redis: one JSON envelope per pub/sub message, with a
//! version tag, the publishing backend's id and a per-backend event number (to drop the
//! duplicates a double subscription produces), and the event itself exactly as a client
//! receives it (the protocol's `ServerEvent`). A receiver refuses envelopes of another
//! version instead of guessing.

use serde::{Deserialize, Serialize};
use tuitalk_protocol::ServerEvent;

/// The envelope version this build writes and reads. Version 1 wrapped messages as
/// `{"type":"message","message":{...}}`; version 2 carries the protocol event as is.
pub const VERSION: u32 = 2;

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
    pub event: ServerEvent,
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
pub fn encode(origin: &str, n: u64, event: &ServerEvent) -> String {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        v: u32,
        origin: &'a str,
        n: u64,
        event: &'a ServerEvent,
    }
    let envelope = Borrowed {
        v: VERSION,
        origin,
        n,
        event,
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
    use tuitalk_protocol::ChatMessage;

    #[test]
    fn golden_message_envelope() {
        let event = ServerEvent::Message(ChatMessage {
            room: "r".into(),
            seq: 7,
            id: "p".into(),
            author_id: "u".into(),
            author: "ada".into(),
            author_handle: None,
            text: "hi".into(),
            ts: 5,
        });
        let text = encode("b1", 3, &event);
        assert_eq!(
            text,
            r#"{"v":2,"origin":"b1","n":3,"event":{"type":"message","room":"r","seq":7,"id":"p","author_id":"u","author":"ada","text":"hi","ts":5}}"#
        );
        let back = decode(text.as_bytes()).expect("decodes");
        assert_eq!(back.event, event);
    }

    #[test]
    fn round_trips_and_refuses_other_versions() {
        for event in [
            ServerEvent::UserJoined {
                room: "r".into(),
                user_id: "u".into(),
                name: "ada".into(),
                handle: None,
            },
            ServerEvent::UserLeft {
                room: "r".into(),
                user_id: "u".into(),
                name: "ada".into(),
            },
            ServerEvent::NameChanged {
                user_id: "u".into(),
                old_name: "ada".into(),
                name: "grace".into(),
                rooms: vec!["r".into(), "s".into()],
            },
        ] {
            let back = decode(encode("b", 1, &event).as_bytes()).expect("decodes");
            assert_eq!((back.origin.as_str(), back.n), ("b", 1));
            assert_eq!(back.event, event);
        }
        let v1 = r#"{"v":1,"origin":"b","n":1,"event":{"type":"message","message":{}}}"#;
        assert!(matches!(
            decode(v1.as_bytes()),
            Err(DecodeError::Version(1))
        ));
        assert!(decode(b"nonsense").is_err());
    }
}

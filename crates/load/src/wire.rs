//! Reading server events without allocating per message.
//!
//! The protocol crate's [`tuitalk_protocol::decode_event`] builds owned strings for every
//! field of every event: five allocations per delivered message, times thousands of
//! receivers. [`parse`] first reads a frame into a flat view that borrows the few fields
//! the load tool needs from the frame itself; only when that fails (a string with JSON
//! escapes, an unexpected shape) does it fall back to the protocol crate's decoder, so
//! the result is the same either way.

use std::borrow::Cow;

use serde::Deserialize;
use tuitalk_protocol::{ErrorCode, Seq, ServerEvent, decode_event};

/// The events the load tool acts on, with borrowed fields where the frame allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// `welcome`: the session token to resume with.
    Welcome {
        /// The token.
        token: Cow<'a, str>,
    },
    /// `joined`.
    Joined {
        /// The room.
        room: Cow<'a, str>,
        /// The room's head sequence.
        head: Seq,
    },
    /// `message`.
    Message {
        /// The room.
        room: Cow<'a, str>,
        /// The sequence.
        seq: Seq,
        /// The author's post id.
        id: Cow<'a, str>,
        /// The text.
        text: Cow<'a, str>,
    },
    /// `ack`.
    Ack {
        /// The room.
        room: Cow<'a, str>,
        /// The post id.
        id: Cow<'a, str>,
        /// The sequence the post got.
        seq: Seq,
    },
    /// `error`.
    Error {
        /// The code; `None` for a code this build does not know.
        code: Option<ErrorCode>,
        /// The refused command's type, when given.
        command: Option<Cow<'a, str>>,
        /// The refused post's id, when given.
        id: Option<Cow<'a, str>>,
        /// How long to wait before retrying, when given.
        retry_after_ms: Option<u64>,
    },
    /// Any other event (presence, pongs, ...): nothing to do.
    Other,
}

/// The fields of any event the load tool reads, borrowed from the frame.
#[derive(Debug, Deserialize)]
struct Flat<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    room: Option<&'a str>,
    #[serde(default)]
    seq: Option<Seq>,
    #[serde(default)]
    head: Option<Seq>,
    #[serde(default, borrow)]
    id: Option<&'a str>,
    #[serde(default, borrow)]
    text: Option<&'a str>,
    #[serde(default, borrow)]
    token: Option<&'a str>,
    #[serde(default, borrow)]
    code: Option<&'a str>,
    #[serde(default, borrow)]
    command: Option<&'a str>,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// Reads one text frame from the server; `None` when it is not a server event at all.
pub fn parse(frame: &str) -> Option<Incoming<'_>> {
    if let Ok(flat) = serde_json::from_str::<Flat<'_>>(frame)
        && let Some(incoming) = from_flat(flat)
    {
        return Some(incoming);
    }
    decode_event(frame).ok().map(from_event)
}

fn from_flat(flat: Flat<'_>) -> Option<Incoming<'_>> {
    let incoming = match flat.kind {
        "message" => Incoming::Message {
            room: Cow::Borrowed(flat.room?),
            seq: flat.seq?,
            id: Cow::Borrowed(flat.id?),
            text: Cow::Borrowed(flat.text?),
        },
        "ack" => Incoming::Ack {
            room: Cow::Borrowed(flat.room?),
            id: Cow::Borrowed(flat.id?),
            seq: flat.seq?,
        },
        "joined" => Incoming::Joined {
            room: Cow::Borrowed(flat.room?),
            head: flat.head?,
        },
        "welcome" => Incoming::Welcome {
            token: Cow::Borrowed(flat.token?),
        },
        "error" => Incoming::Error {
            code: error_code(flat.code?),
            command: flat.command.map(Cow::Borrowed),
            id: flat.id.map(Cow::Borrowed),
            retry_after_ms: flat.retry_after_ms,
        },
        _ => Incoming::Other,
    };
    Some(incoming)
}

fn error_code(code: &str) -> Option<ErrorCode> {
    ErrorCode::ALL
        .into_iter()
        .find(|known| known.as_str() == code)
}

fn from_event(event: ServerEvent) -> Incoming<'static> {
    match event {
        ServerEvent::Welcome { token, .. } => Incoming::Welcome {
            token: Cow::Owned(token),
        },
        ServerEvent::Joined { room, head } => Incoming::Joined {
            room: Cow::Owned(room),
            head,
        },
        ServerEvent::Message(message) => Incoming::Message {
            room: Cow::Owned(message.room),
            seq: message.seq,
            id: Cow::Owned(message.id),
            text: Cow::Owned(message.text),
        },
        ServerEvent::Ack { room, id, seq, .. } => Incoming::Ack {
            room: Cow::Owned(room),
            id: Cow::Owned(id),
            seq,
        },
        ServerEvent::Error {
            code,
            command,
            id,
            retry_after_ms,
            ..
        } => Incoming::Error {
            code: Some(code),
            command: command.map(Cow::Owned),
            id: id.map(Cow::Owned),
            retry_after_ms,
        },
        _ => Incoming::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuitalk_protocol::{ChatMessage, encode_event};

    fn borrowed(cow: Cow<'_, str>) -> bool {
        matches!(cow, Cow::Borrowed(_))
    }

    #[test]
    fn messages_are_read_without_copies() {
        let frame = r#"{"type":"message","room":"r-1","seq":7,"id":"p-1","author_id":"u","author":"ada \"the\" first","text":"123 0.1","ts":5}"#;
        let Some(Incoming::Message {
            room,
            seq,
            id,
            text,
        }) = parse(frame)
        else {
            panic!("not a message");
        };
        assert_eq!(
            (room.as_ref(), seq, id.as_ref(), text.as_ref()),
            ("r-1", 7, "p-1", "123 0.1")
        );
        assert!(borrowed(room) && borrowed(id) && borrowed(text));
    }

    #[test]
    fn escaped_text_falls_back_to_the_protocol_decoder() {
        let event = ServerEvent::Message(ChatMessage {
            author_handle: None,
            room: "r".to_owned(),
            seq: 3,
            id: "p".to_owned(),
            author_id: "u".to_owned(),
            author: "a".to_owned(),
            text: "line\nbreak \"quoted\"".to_owned(),
            ts: 1,
        });
        let frame = encode_event(&event);
        let Some(Incoming::Message { text, seq, .. }) = parse(&frame) else {
            panic!("not a message");
        };
        assert_eq!(seq, 3);
        assert_eq!(text, "line\nbreak \"quoted\"");
    }

    #[test]
    fn acks_welcome_joined_and_errors() {
        let ack = r#"{"type":"ack","room":"42","id":"p-1","seq":5,"ts":1}"#;
        assert_eq!(
            parse(ack),
            Some(Incoming::Ack {
                room: "42".into(),
                id: "p-1".into(),
                seq: 5
            })
        );
        let welcome = r#"{"type":"welcome","version":1,"user_id":"u","name":"n","token":"tok","rooms":["a"],"limits":{"max_text_chars":1,"max_name_chars":1,"max_frame_bytes":1,"history_page_max":1,"max_rooms":1,"posts_per_second":1}}"#;
        assert_eq!(
            parse(welcome),
            Some(Incoming::Welcome {
                token: "tok".into()
            })
        );
        let joined = r#"{"type":"joined","room":"42","head":9}"#;
        assert_eq!(
            parse(joined),
            Some(Incoming::Joined {
                room: "42".into(),
                head: 9
            })
        );
        let error = r#"{"type":"error","code":"rate_limited","message":"slow down","command":"post","room":"42","id":"p-1","retry_after_ms":250}"#;
        assert_eq!(
            parse(error),
            Some(Incoming::Error {
                code: Some(ErrorCode::RateLimited),
                command: Some("post".into()),
                id: Some("p-1".into()),
                retry_after_ms: Some(250)
            })
        );
        let unknown_code = r#"{"type":"error","code":"brand_new","message":"?"}"#;
        assert!(matches!(
            parse(unknown_code),
            Some(Incoming::Error { code: None, .. })
        ));
    }

    #[test]
    fn other_events_and_garbage() {
        assert_eq!(parse(r#"{"type":"pong","nonce":1}"#), Some(Incoming::Other));
        assert_eq!(
            parse(r#"{"type":"from_the_future","x":[1]}"#),
            Some(Incoming::Other)
        );
        assert_eq!(parse("not json"), None);
        assert_eq!(parse(r#"{"no_type":1}"#), None);
        // A message missing its fields is not a message.
        assert_eq!(parse(r#"{"type":"message","room":"r"}"#), None);
    }
}

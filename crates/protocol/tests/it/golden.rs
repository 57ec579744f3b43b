//! Golden JSON: every command and event has a fixed wire form, and parses back to itself.

use serde_json::{Value, json};
use tuitalk_protocol::event::Limits;
use tuitalk_protocol::{
    ChatMessage, ClientCommand, ErrorCode, Member, ServerEvent, decode_command, decode_event,
    encode_command, encode_event,
};

/// Asserts the command encodes to exactly `golden` and that `golden` decodes to it.
fn command(cmd: ClientCommand, golden: Value) {
    let encoded: Value = serde_json::from_str(&encode_command(&cmd)).expect("encoded is JSON");
    assert_eq!(encoded, golden, "encoding of {cmd:?}");
    assert_eq!(
        decode_command(&golden.to_string()),
        Ok(cmd.clone()),
        "decoding of {golden}"
    );
    assert_eq!(golden["type"], cmd.kind());
}

/// Asserts the event encodes to exactly `golden` and that `golden` decodes to it.
fn event(ev: ServerEvent, golden: Value) {
    let encoded: Value = serde_json::from_str(&encode_event(&ev)).expect("encoded is JSON");
    assert_eq!(encoded, golden, "encoding of {ev:?}");
    assert_eq!(
        decode_event(&golden.to_string()),
        Ok(ev.clone()),
        "decoding of {golden}"
    );
    assert_eq!(golden["type"], ev.kind());
}

fn sample_message(seq: u64) -> ChatMessage {
    ChatMessage {
        room: "42".into(),
        seq,
        id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        author_id: "u-1".into(),
        author: "ada".into(),
        author_handle: Some("ada".into()),
        text: "hello, world".into(),
        ts: 1_763_800_000_123,
    }
}

fn sample_message_json(seq: u64) -> Value {
    json!({
        "room": "42", "seq": seq, "id": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "author_id": "u-1", "author": "ada", "author_handle": "ada", "text": "hello, world", "ts": 1_763_800_000_123_i64
    })
}

#[test]
fn hello_new_guest() {
    command(
        ClientCommand::Hello {
            version: 1,
            token: None,
            name: Some("ada".into()),
        },
        json!({"type": "hello", "version": 1, "name": "ada"}),
    );
}

#[test]
fn hello_resume() {
    command(
        ClientCommand::Hello {
            version: 1,
            token: Some("tok".into()),
            name: None,
        },
        json!({"type": "hello", "version": 1, "token": "tok"}),
    );
}

#[test]
fn join_first_and_resume() {
    command(
        ClientCommand::Join {
            room: "42".into(),
            since: None,
        },
        json!({"type": "join", "room": "42"}),
    );
    command(
        ClientCommand::Join {
            room: "lobby".into(),
            since: Some(17),
        },
        json!({"type": "join", "room": "lobby", "since": 17}),
    );
}

#[test]
fn leave() {
    command(
        ClientCommand::Leave { room: "42".into() },
        json!({"type": "leave", "room": "42"}),
    );
}

#[test]
fn post() {
    command(
        ClientCommand::Post {
            room: "42".into(),
            id: "p-1".into(),
            text: "hi".into(),
        },
        json!({"type": "post", "room": "42", "id": "p-1", "text": "hi"}),
    );
}

#[test]
fn name() {
    command(
        ClientCommand::Name {
            name: "grace".into(),
        },
        json!({"type": "name", "name": "grace"}),
    );
}

#[test]
fn history() {
    command(
        ClientCommand::History {
            room: "42".into(),
            before: Some(101),
            limit: 50,
        },
        json!({"type": "history", "room": "42", "before": 101, "limit": 50}),
    );
    command(
        ClientCommand::History {
            room: "42".into(),
            before: None,
            limit: 50,
        },
        json!({"type": "history", "room": "42", "limit": 50}),
    );
}

#[test]
fn who() {
    command(
        ClientCommand::Who { room: "42".into() },
        json!({"type": "who", "room": "42"}),
    );
}

#[test]
fn ping() {
    command(
        ClientCommand::Ping { nonce: Some(7) },
        json!({"type": "ping", "nonce": 7}),
    );
    command(ClientCommand::Ping { nonce: None }, json!({"type": "ping"}));
}

#[test]
fn welcome() {
    event(
        ServerEvent::Welcome {
            version: 1,
            user_id: "u-1".into(),
            name: "ada".into(),
            guest: false,
            handle: Some("ada".into()),
            email_verified: Some(true),
            session_id: "s-1".into(),
            token: "tok".into(),
            rooms: vec!["42".into(), "lobby".into()],
            limits: Limits {
                max_text_chars: 4000,
                max_name_chars: 32,
                max_frame_bytes: 16384,
                history_page_max: 200,
                max_rooms: 50,
                posts_per_second: 20,
            },
        },
        json!({
            "type": "welcome", "version": 1, "user_id": "u-1", "name": "ada", "guest": false,
            "handle": "ada", "email_verified": true, "session_id": "s-1", "token": "tok",
            "rooms": ["42", "lobby"],
            "limits": {
                "max_text_chars": 4000, "max_name_chars": 32, "max_frame_bytes": 16384,
                "history_page_max": 200, "max_rooms": 50, "posts_per_second": 20
            }
        }),
    );
}

#[test]
fn joined_and_left() {
    event(
        ServerEvent::Joined {
            room: "42".into(),
            head: 9,
        },
        json!({"type": "joined", "room": "42", "head": 9}),
    );
    event(
        ServerEvent::Left { room: "42".into() },
        json!({"type": "left", "room": "42"}),
    );
}

#[test]
fn message() {
    let mut golden = sample_message_json(3);
    golden["type"] = json!("message");
    event(ServerEvent::Message(sample_message(3)), golden);
}

#[test]
fn user_joined_and_left() {
    event(
        ServerEvent::UserJoined {
            room: "42".into(),
            user_id: "u-2".into(),
            name: "bob".into(),
            handle: None,
        },
        json!({"type": "user_joined", "room": "42", "user_id": "u-2", "name": "bob"}),
    );
    event(
        ServerEvent::UserLeft {
            room: "42".into(),
            user_id: "u-2".into(),
            name: "bob".into(),
        },
        json!({"type": "user_left", "room": "42", "user_id": "u-2", "name": "bob"}),
    );
}

#[test]
fn name_changed() {
    event(
        ServerEvent::NameChanged {
            user_id: "u-2".into(),
            old_name: "bob".into(),
            name: "robert".into(),
            rooms: vec!["42".into()],
        },
        json!({
            "type": "name_changed", "user_id": "u-2", "old_name": "bob", "name": "robert",
            "rooms": ["42"]
        }),
    );
}

#[test]
fn history_page() {
    event(
        ServerEvent::History {
            room: "42".into(),
            messages: vec![sample_message(1), sample_message(2)],
            has_more: false,
        },
        json!({
            "type": "history", "room": "42",
            "messages": [sample_message_json(1), sample_message_json(2)],
            "has_more": false
        }),
    );
}

#[test]
fn presence() {
    event(
        ServerEvent::Presence {
            room: "42".into(),
            members: vec![Member {
                user_id: "u-1".into(),
                name: "ada".into(),
                handle: Some("ada".into()),
            }],
        },
        json!({"type": "presence", "room": "42", "members": [{"user_id": "u-1", "name": "ada", "handle": "ada"}]}),
    );
}

#[test]
fn ack() {
    event(
        ServerEvent::Ack {
            room: "42".into(),
            id: "p-1".into(),
            seq: 5,
            ts: 1_763_800_000_123,
        },
        json!({"type": "ack", "room": "42", "id": "p-1", "seq": 5, "ts": 1_763_800_000_123_i64}),
    );
}

#[test]
fn error_minimal_and_full() {
    event(
        ServerEvent::error(ErrorCode::MalformedJson, "not JSON", None),
        json!({"type": "error", "code": "malformed_json", "message": "not JSON"}),
    );
    event(
        ServerEvent::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            command: Some("post".into()),
            room: Some("42".into()),
            id: Some("p-1".into()),
            retry_after_ms: Some(250),
        },
        json!({
            "type": "error", "code": "rate_limited", "message": "slow down", "command": "post",
            "room": "42", "id": "p-1", "retry_after_ms": 250
        }),
    );
}

#[test]
fn pong() {
    event(
        ServerEvent::Pong { nonce: Some(7) },
        json!({"type": "pong", "nonce": 7}),
    );
    event(ServerEvent::Pong { nonce: None }, json!({"type": "pong"}));
}

#[test]
fn every_error_code_round_trips_by_name() {
    for code in ErrorCode::ALL {
        let wire = serde_json::to_value(code).expect("serialises");
        assert_eq!(wire, json!(code.as_str()));
        assert_eq!(code.to_string(), code.as_str());
        let back: ErrorCode = serde_json::from_value(wire).expect("parses");
        assert_eq!(back, code);
    }
}

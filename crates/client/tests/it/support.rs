//! Helpers: a client brought to a known state, canned server events, action filters.

use tuitalk_client::{Action, Client, Config, NoticeKind};
use tuitalk_protocol::{ChatMessage, ClientCommand, Seq, ServerEvent};

pub const ME: &str = "u-me";

pub fn limits() -> tuitalk_protocol::event::Limits {
    tuitalk_client::default_limits()
}

pub fn welcome(rooms: &[&str]) -> ServerEvent {
    ServerEvent::Welcome {
        guest: true,
        handle: None,
        email_verified: None,
        session_id: String::new(),
        version: 1,
        user_id: ME.into(),
        name: "ada".into(),
        token: "tok".into(),
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
        limits: limits(),
    }
}

pub fn msg(room: &str, seq: Seq, author_id: &str, id: &str, text: &str) -> ChatMessage {
    ChatMessage {
        author_handle: None,
        room: room.into(),
        seq,
        id: id.into(),
        author_id: author_id.into(),
        author: if author_id == ME { "ada" } else { "bob" }.into(),
        text: text.into(),
        ts: 1_763_800_000_000 + seq as i64,
    }
}

pub fn other(room: &str, seq: Seq) -> ServerEvent {
    ServerEvent::Message(msg(
        room,
        seq,
        "u-bob",
        &format!("b-{seq}"),
        &format!("hi {seq}"),
    ))
}

pub fn joined(room: &str, head: Seq) -> ServerEvent {
    ServerEvent::Joined {
        room: room.into(),
        head,
    }
}

/// A client that connected, was welcomed, and joined `room` (head `head`).
pub fn in_room(room: &str, head: Seq) -> Client {
    let mut client = connected();
    client.join(room);
    client.frame(0, joined(room, head));
    client
}

/// A client welcomed on its first connection, in no room.
pub fn connected() -> Client {
    let mut client = Client::new(
        Config {
            name: Some("ada".into()),
            ..Config::default()
        },
        1,
    );
    assert_eq!(client.start(0), [Action::Connect]);
    client.connected(0);
    client.frame(0, welcome(&[]));
    client
}

pub fn sends(actions: &[Action]) -> Vec<ClientCommand> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send(command) => Some(command.clone()),
            _ => None,
        })
        .collect()
}

pub fn posts(actions: &[Action]) -> Vec<(String, String)> {
    sends(actions)
        .into_iter()
        .filter_map(|command| match command {
            ClientCommand::Post { id, text, .. } => Some((id, text)),
            _ => None,
        })
        .collect()
}

pub fn notices(actions: &[Action], kind: NoticeKind) -> Vec<String> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Notice(notice) if notice.kind == kind => Some(notice.text.clone()),
            _ => None,
        })
        .collect()
}

pub fn texts(client: &Client, room: &str) -> Vec<String> {
    client
        .room(room)
        .map(|r| r.messages().map(|m| m.text.clone()).collect())
        .unwrap_or_default()
}

pub fn seqs(client: &Client, room: &str) -> Vec<Seq> {
    client
        .room(room)
        .map(|r| r.messages().map(|m| m.seq).collect())
        .unwrap_or_default()
}

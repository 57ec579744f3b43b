//! Names, texts and look-alikes (docs/security.md, "Names, texts and look-alikes"):
//! display names and texts that render as nothing are refused over the WebSocket and
//! REST, a Cyrillic look-alike room name is refused, renaming to a look-alike of a user
//! present in a shared room answers `name_taken`, and ordinary international names,
//! emoji and multi-line texts still work.

use serde_json::json;
use tuitalk_protocol::{ClientCommand, ErrorCode, PROTOCOL_VERSION, ServerEvent};

use crate::helpers::{Client, TestApp, spawn_app};
use crate::rest::{new_session, post, request};

/// Names made only of characters that show nothing.
const INVISIBLE_NAMES: [&str; 7] = [
    "\u{3164}",                    // HANGUL FILLER
    "\u{115F}",                    // HANGUL CHOSEONG FILLER
    "\u{2800}",                    // BRAILLE PATTERN BLANK
    "\u{FFF9}",                    // INTERLINEAR ANNOTATION ANCHOR
    "\u{E0061}\u{E0064}\u{E0061}", // tag characters spelling "ada"
    "\u{2028}",                    // LINE SEPARATOR
    "\u{200B}\u{200B}",            // ZERO WIDTH SPACE only
];

/// Texts made only of characters that show nothing.
const INVISIBLE_TEXTS: [&str; 3] = ["\u{200B}", "\u{202E}", "\u{3164}"];

/// `lobby` with a Cyrillic `о` (U+043E).
const LOOKALIKE_ROOM: &str = "l\u{43e}bby";

/// Sends `name` and returns the answer that is not presence: `name_changed` or `error`.
async fn rename(client: &mut Client, name: &str) -> ServerEvent {
    client
        .send(ClientCommand::Name {
            name: name.to_owned(),
        })
        .await;
    loop {
        let event = client.recv_event().await;
        match &event {
            ServerEvent::NameChanged { user_id, .. } if *user_id == client.user_id => {
                return event;
            }
            ServerEvent::Error { .. } => return event,
            _ => continue,
        }
    }
}

#[track_caller]
fn assert_code(event: &ServerEvent, code: ErrorCode, what: &str) {
    match event {
        ServerEvent::Error { code: got, .. } => assert_eq!(*got, code, "{what:?}: {event:?}"),
        other => panic!("{what:?}: expected error {code}, got {other:?}"),
    }
}

async fn hello_refused(app: &TestApp, name: &str) {
    let mut client = Client::connect(app).await;
    client
        .send(ClientCommand::Hello {
            version: PROTOCOL_VERSION,
            token: None,
            name: Some(name.to_owned()),
        })
        .await;
    let event = client.expect_error(ErrorCode::InvalidName).await;
    assert!(
        matches!(&event, ServerEvent::Error { command: Some(c), .. } if c == "hello"),
        "{event:?}"
    );
}

#[tokio::test]
async fn invisible_names_are_refused_over_websocket_and_rest() {
    let app = spawn_app(|_| {}).await;
    let mut ada = app.guest("ada").await;
    for name in INVISIBLE_NAMES {
        hello_refused(&app, name).await;
        let answer = rename(&mut ada, name).await;
        assert_code(&answer, ErrorCode::InvalidName, name);
        let body = json!({ "name": name }).to_string();
        request(
            app.addr,
            "POST",
            "/api/sessions",
            None,
            Some(body.as_bytes()),
        )
        .await
        .assert_error(400, "invalid_name");
    }
    app.stop().await;
}

#[tokio::test]
async fn invisible_texts_are_refused_over_websocket_and_rest() {
    let app = spawn_app(|_| {}).await;
    let mut ada = app.guest("ada").await;
    ada.join("r", None).await;
    let session = new_session(app.addr, "bot").await;
    let token = session["token"].as_str().expect("token");
    for (i, text) in INVISIBLE_TEXTS.into_iter().enumerate() {
        let id = format!("p-{i}");
        ada.post("r", &id, text).await;
        ada.expect_error(ErrorCode::InvalidText).await;
        post(app.addr, token, "r", &id, text)
            .await
            .assert_error(400, "invalid_text");
    }
    // An override left open would reverse what follows it.
    ada.post("r", "p-open", "abc\u{202E}fed").await;
    ada.expect_error(ErrorCode::InvalidText).await;
    assert!(ada.all_texts("r").await.is_empty(), "nothing stored");
    app.stop().await;
}

#[tokio::test]
async fn lookalike_room_names_are_refused() {
    let app = spawn_app(|_| {}).await;
    let mut ada = app.guest("ada").await;
    ada.send(ClientCommand::Join {
        room: LOOKALIKE_ROOM.to_owned(),
        since: None,
    })
    .await;
    ada.expect_error(ErrorCode::InvalidRoom).await;
    ada.join("lobby", None).await;
    let session = new_session(app.addr, "bot").await;
    let token = session["token"].as_str().expect("token");
    // The path percent-encodes the Cyrillic letter.
    let path = "/api/rooms/l%D0%BEbby/messages";
    request(app.addr, "GET", path, Some(token), None)
        .await
        .assert_error(400, "invalid_room");
    post(app.addr, token, "l%D0%BEbby", "p-1", "hi")
        .await
        .assert_error(400, "invalid_room");
    app.stop().await;
}

#[tokio::test]
async fn renaming_to_a_lookalike_of_a_present_user_is_name_taken() {
    let app = spawn_app(|_| {}).await;
    let mut alice = app.guest("Alice").await;
    alice.join("lobby", None).await;
    let mut mallory = app.guest("mallory").await;
    mallory.join("lobby", None).await;
    for name in ["Alice", "alice", "\u{410}lice", "ALICE", "AIice"] {
        let answer = rename(&mut mallory, name).await;
        assert_code(&answer, ErrorCode::NameTaken, name);
    }
    // Mallory keeps the old name.
    mallory
        .send(ClientCommand::Who {
            room: "lobby".into(),
        })
        .await;
    match mallory.next_significant().await {
        ServerEvent::Presence { members, .. } => {
            let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
            assert_eq!(names, ["Alice", "mallory"]);
        }
        other => panic!("expected presence, got {other:?}"),
    }

    // Alice may change the case of her own name.
    let answer = rename(&mut alice, "alice").await;
    assert!(
        matches!(answer, ServerEvent::NameChanged { .. }),
        "{answer:?}"
    );

    // In a room Alice is not in, the same name is free.
    let mut carol = app.guest("carol").await;
    carol.join("elsewhere", None).await;
    let answer = rename(&mut carol, "Alice").await;
    match answer {
        ServerEvent::NameChanged { name, .. } => assert_eq!(name, "Alice"),
        other => panic!("expected name_changed, got {other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn international_names_emoji_and_multiline_texts_stay_valid() {
    let app = spawn_app(|_| {}).await;
    let names = ["Jürgen", "山田太郎", "🐱 cat", "Zoë O'Brien"];
    for name in names {
        let client = app.guest(name).await;
        assert_eq!(client.name, name);
        let session = new_session(app.addr, name).await;
        assert_eq!(session["name"], name);
    }
    let mut ada = app.guest("ada").await;
    let answer = rename(&mut ada, "Ådå 👋").await;
    assert!(
        matches!(answer, ServerEvent::NameChanged { .. }),
        "{answer:?}"
    );
    ada.join("r", None).await;
    let texts = [
        "family \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} and \u{1F469}\u{200D}\u{1F4BB}",
        "line one\nline two\n",
        "\u{2067}שלום\u{2069} (an isolate, closed)",
        "\u{3164}visible after a filler",
    ];
    for (i, text) in texts.into_iter().enumerate() {
        ada.post_acked("r", &format!("t-{i}"), text).await;
    }
    assert_eq!(ada.all_texts("r").await, texts);
    app.stop().await;
}

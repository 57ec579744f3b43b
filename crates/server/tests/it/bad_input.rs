//! Every kind of bad input gets its error code, stores nothing, and (where the protocol
//! says so) leaves the connection usable.

use std::time::Duration;

use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tuitalk_protocol::{ClientCommand, CloseCode, ErrorCode, ServerEvent};

use crate::helpers::{Client, spawn_app};

/// Asserts the connection still answers.
async fn still_works(client: &mut Client) {
    client.send(ClientCommand::Ping { nonce: Some(1) }).await;
    assert_eq!(
        client.next_significant().await,
        ServerEvent::Pong { nonce: Some(1) }
    );
}

#[tokio::test]
async fn malformed_frames_are_refused_and_the_connection_survives() {
    let app = spawn_app(|_| {}).await;
    let mut c = app.guest("ada").await;
    c.join("r", None).await;
    let cases: [(&str, ErrorCode, Option<&str>); 9] = [
        ("{not json", ErrorCode::MalformedJson, None),
        ("[1, 2]", ErrorCode::MalformedJson, None),
        ("\"post\"", ErrorCode::MalformedJson, None),
        (r#"{"type":"dance"}"#, ErrorCode::UnknownType, None),
        (
            r#"{"room":"r","text":"no type"}"#,
            ErrorCode::UnknownType,
            None,
        ),
        (
            r#"{"type":"post","room":"r","id":5,"text":"x"}"#,
            ErrorCode::InvalidCommand,
            Some("post"),
        ),
        (
            r#"{"type":"post","room":"r","id":"a"}"#,
            ErrorCode::InvalidCommand,
            Some("post"),
        ),
        (
            r#"{"type":"join","room":"r","since":-1}"#,
            ErrorCode::InvalidCommand,
            Some("join"),
        ),
        (
            r#"{"type":"history","room":"r","limit":"ten"}"#,
            ErrorCode::InvalidCommand,
            Some("history"),
        ),
    ];
    for (frame, code, command) in cases {
        c.send_text(frame).await;
        match c.expect_error(code).await {
            ServerEvent::Error { command: got, .. } => {
                assert_eq!(got.as_deref(), command, "{frame}")
            }
            other => panic!("{other:?}"),
        }
    }
    still_works(&mut c).await;

    // Larger than max_frame_bytes (16384) but under the hard cap: refused, survives.
    let big = format!(
        r#"{{"type":"post","room":"r","id":"big","text":"{}"}}"#,
        "x".repeat(20_000)
    );
    c.send_text(big).await;
    c.expect_error(ErrorCode::FrameTooLarge).await;
    still_works(&mut c).await;

    // Binary frames are refused.
    c.send_raw(Message::binary(b"{\"type\":\"ping\"}".to_vec()))
        .await;
    c.expect_error(ErrorCode::BinaryFrame).await;
    still_works(&mut c).await;

    assert!(c.all_texts("r").await.is_empty(), "nothing stored");
    app.stop().await;
}

#[tokio::test]
async fn invalid_values_are_refused_and_nothing_is_stored() {
    let app = spawn_app(|_| {}).await;
    let mut c = app.guest("ada").await;
    c.join("r", None).await;
    let long = "y".repeat(4001);
    let posts: [(&str, &str, &str, ErrorCode); 8] = [
        ("bad room!", "p1", "hi", ErrorCode::InvalidRoom),
        ("", "p1", "hi", ErrorCode::InvalidRoom),
        ("r", "", "hi", ErrorCode::InvalidId),
        ("r", "has space", "hi", ErrorCode::InvalidId),
        ("r", "p1", "   \n ", ErrorCode::InvalidText),
        ("r", "p1", "nul\0", ErrorCode::InvalidText),
        ("r", "p1", &long, ErrorCode::TextTooLong),
        ("other", "p1", "hi", ErrorCode::NotJoined),
    ];
    for (room, id, text, code) in posts {
        c.post(room, id, text).await;
        match c.expect_error(code).await {
            ServerEvent::Error {
                command,
                room: r,
                id: i,
                ..
            } => {
                assert_eq!(command.as_deref(), Some("post"));
                assert_eq!(r.as_deref(), Some(room));
                assert_eq!(i.as_deref(), Some(id));
            }
            other => panic!("{other:?}"),
        }
    }
    // Exactly max_text_chars characters (multi-byte ones) is fine.
    let max = "é".repeat(4000);
    c.post_acked("r", "max", &max).await;

    c.send(ClientCommand::Join {
        room: "no/slash".into(),
        since: None,
    })
    .await;
    c.expect_error(ErrorCode::InvalidRoom).await;
    for command in [
        ClientCommand::History {
            room: "other".into(),
            before: None,
            limit: 5,
        },
        ClientCommand::Who {
            room: "other".into(),
        },
        ClientCommand::Leave {
            room: "other".into(),
        },
    ] {
        c.send(command).await;
        c.expect_error(ErrorCode::NotJoined).await;
    }
    c.send(ClientCommand::History {
        room: "r".into(),
        before: None,
        limit: 0,
    })
    .await;
    c.expect_error(ErrorCode::InvalidLimit).await;

    let texts = c.all_texts("r").await;
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].chars().count(), 4000);
    c.join("other", None).await;
    assert!(c.all_texts("other").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn too_many_rooms() {
    let app = spawn_app(|c| c.limits.max_rooms = 2).await;
    let mut c = app.guest("ada").await;
    c.join("a", None).await;
    c.join("b", None).await;
    c.join("a", None).await; // joining again does not count twice
    c.send(ClientCommand::Join {
        room: "c".into(),
        since: None,
    })
    .await;
    match c.expect_error(ErrorCode::TooManyRooms).await {
        ServerEvent::Error { room, .. } => assert_eq!(room.as_deref(), Some("c")),
        other => panic!("{other:?}"),
    }
    c.send(ClientCommand::Leave { room: "a".into() }).await;
    c.wait_for("left").await;
    c.join("c", None).await;
    app.stop().await;
}

#[tokio::test]
async fn posting_too_fast_is_rate_limited_and_not_stored() {
    let app = spawn_app(|c| c.limits.posts_per_second = 3).await;
    let mut c = app.guest("ada").await;
    c.join("r", None).await;
    for i in 0..10 {
        c.post("r", &format!("p{i}"), "spam").await;
    }
    let (mut acked, mut limited) = (0, 0);
    while acked + limited < 10 {
        match c.next_significant().await {
            ServerEvent::Ack { .. } => acked += 1,
            ServerEvent::Error {
                code: ErrorCode::RateLimited,
                retry_after_ms,
                id,
                ..
            } => {
                assert!(retry_after_ms.is_some_and(|ms| ms > 0 && ms <= 1000));
                assert!(id.is_some());
                limited += 1;
            }
            ServerEvent::Message(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(limited >= 5, "{acked} acked, {limited} limited");
    assert!(acked >= 3, "the burst is allowed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let crate::helpers::Received::Event(_) = c.recv_within(Duration::from_millis(100)).await {
    }
    assert_eq!(c.all_texts("r").await.len(), acked);
    // After waiting, posting works again.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    c.post_acked("r", "later", "calm").await;
    app.stop().await;
}

#[tokio::test]
async fn invalid_utf8_gets_an_error_then_1007() {
    let app = spawn_app(|_| {}).await;
    let mut c = app.guest("ada").await;
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    c.send_raw(Message::Frame(frame)).await;
    c.expect_error(ErrorCode::InvalidUtf8).await;
    let (code, _) = c.expect_close().await;
    assert_eq!(code, CloseCode::INVALID_PAYLOAD);
    app.stop().await;
}

#[tokio::test]
async fn frame_above_the_hard_cap_closes_with_1009() {
    let app = spawn_app(|_| {}).await;
    let mut c = app.guest("ada").await;
    c.join("r", None).await;
    // The hard cap is 4 × max_frame_bytes = 65536 bytes.
    let huge = format!(
        r#"{{"type":"post","room":"r","id":"h","text":"{}"}}"#,
        "x".repeat(70_000)
    );
    c.send_text(huge).await;
    let (code, _) = c.expect_close().await;
    assert_eq!(code, CloseCode::TOO_BIG);
    let mut other = app.guest("bob").await;
    other.join("r", None).await;
    assert!(other.all_texts("r").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn too_many_violations_close_with_1008() {
    let app = spawn_app(|c| c.limits.max_errors_per_minute = 3).await;
    let mut c = app.guest("ada").await;
    for _ in 0..3 {
        c.send_text("nope").await;
        c.expect_error(ErrorCode::MalformedJson).await;
    }
    c.send_text("nope").await;
    c.expect_error(ErrorCode::MalformedJson).await;
    let (code, _) = c.expect_close().await;
    assert_eq!(code, CloseCode::POLICY);
    app.stop().await;
}

//! The handshake and identity: tokens, forgery, commands before hello, timeouts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio_tungstenite::tungstenite::Message;
use tuitalk_protocol::{ClientCommand, CloseCode, ErrorCode, ServerEvent};

use crate::helpers::{Client, spawn_app};

#[tokio::test]
async fn guest_names_are_validated_or_generated() {
    let app = spawn_app(|_| {}).await;
    let mut anon = Client::connect(&app).await;
    match anon.hello(None, None).await {
        ServerEvent::Welcome {
            name,
            limits,
            version,
            ..
        } => {
            assert!(name.starts_with("guest-"), "{name}");
            assert_eq!(version, 1);
            assert_eq!(limits.max_text_chars, 4000);
            assert_eq!(limits.max_rooms, 50);
        }
        other => panic!("{other:?}"),
    }
    let mut bad = Client::connect(&app).await;
    for name in [
        "",
        " padded",
        "bell\u{7}",
        "esc\u{1b}[31m",
        "zw\u{200b}j",
        &"x".repeat(33),
    ] {
        bad.send(ClientCommand::Hello {
            version: 1,
            token: None,
            name: Some(name.to_owned()),
        })
        .await;
        bad.expect_error(ErrorCode::InvalidName).await;
    }
    // The connection stays usable: a good hello still works.
    bad.hello(Some("fine"), None).await;
    bad.send(ClientCommand::Name {
        name: "tab\there".into(),
    })
    .await;
    bad.expect_error(ErrorCode::InvalidName).await;
    app.stop().await;
}

#[tokio::test]
async fn forged_or_foreign_tokens_are_refused_with_4001() {
    let app = spawn_app(|_| {}).await;
    let mut ada = app.guest("ada").await;
    let bob = app.guest("bob").await;
    ada.join("r", None).await;

    // Bob's token (v2.KEY.SESSION.MAC) with another session id under his MAC, with
    // another key id, a protocol 1 token naming ada under bob's MAC, and junk.
    let parts: Vec<&str> = bob.token.split('.').collect();
    assert_eq!(parts.len(), 4, "{}", bob.token);
    let other_session = format!("v2.{}.{}.{}", parts[1], "0".repeat(32), parts[3]);
    let other_key = format!("v2.k9.{}.{}", parts[2], parts[3]);
    let forged_payload = URL_SAFE_NO_PAD.encode(format!("{}.0", ada.user_id));
    let tokens = [
        other_session,
        other_key,
        format!("{forged_payload}.{}", parts[3]),
        format!("{}x", bob.token),
        "not-a-token".to_owned(),
    ];
    for token in tokens {
        let mut mallory = Client::connect(&app).await;
        mallory
            .send(ClientCommand::Hello {
                version: 1,
                token: Some(token),
                name: None,
            })
            .await;
        mallory.expect_error(ErrorCode::InvalidToken).await;
        let (code, reason) = mallory.expect_close().await;
        assert_eq!(
            (code, reason.as_str()),
            (CloseCode::HELLO_FAILED, "invalid_token")
        );
    }
    // A token signed by another server's key.
    let other = spawn_app(|_| {}).await;
    let mut stranger = Client::connect(&other).await;
    stranger
        .send(ClientCommand::Hello {
            version: 1,
            token: Some(ada.token.clone()),
            name: None,
        })
        .await;
    stranger.expect_error(ErrorCode::InvalidToken).await;
    other.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn nobody_posts_as_someone_else() {
    let app = spawn_app(|_| {}).await;
    let mut ada = app.guest("ada").await;
    let mut bob = app.guest("bob").await;
    ada.join("r", None).await;
    bob.join("r", None).await;
    // Fields naming an author are not part of the protocol: refused, nothing stored.
    bob.send_text(format!(
        r#"{{"type":"post","room":"r","id":"x","text":"hi","author_id":"{}"}}"#,
        ada.user_id
    ))
    .await;
    bob.expect_error(ErrorCode::InvalidCommand).await;
    bob.post_acked("r", "y", "mine").await;
    let m = ada.expect_message().await;
    assert_eq!(
        (m.author_id.as_str(), m.author.as_str()),
        (bob.user_id.as_str(), "bob")
    );
    assert_eq!(ada.all_texts("r").await, vec!["mine"]);
    app.stop().await;
}

#[tokio::test]
async fn commands_before_hello_and_second_hello() {
    let app = spawn_app(|_| {}).await;
    let mut c = Client::connect(&app).await;
    c.send(ClientCommand::Join {
        room: "r".into(),
        since: None,
    })
    .await;
    match c.expect_error(ErrorCode::NotAuthenticated).await {
        ServerEvent::Error { command, room, .. } => {
            assert_eq!(command.as_deref(), Some("join"));
            assert_eq!(room.as_deref(), Some("r"));
        }
        other => panic!("{other:?}"),
    }
    c.post("r", "p", "early").await;
    c.expect_error(ErrorCode::NotAuthenticated).await;
    c.hello(Some("late"), None).await;
    c.send(ClientCommand::Hello {
        version: 1,
        token: None,
        name: None,
    })
    .await;
    c.expect_error(ErrorCode::AlreadyAuthenticated).await;
    c.join("r", None).await;
    assert!(c.all_texts("r").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn unsupported_version_closes_with_4001() {
    let app = spawn_app(|_| {}).await;
    let mut c = Client::connect(&app).await;
    c.send(ClientCommand::Hello {
        version: 99,
        token: None,
        name: None,
    })
    .await;
    c.expect_error(ErrorCode::UnsupportedVersion).await;
    let (code, reason) = c.expect_close().await;
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::HELLO_FAILED, "unsupported_version")
    );
    app.stop().await;
}

#[tokio::test]
async fn no_hello_in_time_closes_with_4002() {
    let app = spawn_app(|c| c.limits.hello_timeout_ms = 300).await;
    let mut c = Client::connect(&app).await;
    c.send_raw(Message::Ping(Default::default())).await;
    let (code, _) = c.expect_close().await;
    assert_eq!(code, CloseCode::HELLO_TIMEOUT);
    // A client that says hello in time is not closed.
    let mut ok = app.guest("ok").await;
    ok.expect_silence(std::time::Duration::from_millis(500))
        .await;
    app.stop().await;
}

//! Idempotent posting (G4).

use std::time::Duration;

use tuitalk_protocol::{ErrorCode, ServerEvent};

use crate::helpers::{Client, spawn_app};

#[tokio::test]
async fn reposting_the_same_id_returns_the_same_ack_and_delivers_once() {
    let app = spawn_app(|_| {}).await;
    let mut ada = app.guest("ada").await;
    let mut bob = app.guest("bob").await;
    ada.join("r", None).await;
    ada.join("s", None).await;
    bob.join("r", None).await;
    bob.wait_for("user_joined").await;

    ada.post("r", "same", "hello").await;
    let mut ack = None;
    let mut delivered = 0;
    while ack.is_none() || delivered == 0 {
        match ada.next_significant().await {
            ServerEvent::Ack { seq, ts, .. } => ack = Some((seq, ts)),
            ServerEvent::Message(m) if m.id == "same" => delivered += 1,
            other => panic!("{other:?}"),
        }
    }
    let (first_seq, first_ts) = ack.unwrap_or_default();
    assert_eq!(bob.expect_message().await.seq, 1);

    // The same post again, e.g. after a lost ack: same seq and ts, no second delivery.
    ada.post("r", "same", "hello").await;
    match ada.next_significant().await {
        ServerEvent::Ack { seq, ts, id, room } => {
            assert_eq!(
                (seq, ts, id.as_str(), room.as_str()),
                (first_seq, first_ts, "same", "r")
            );
        }
        other => panic!("{other:?}"),
    }
    // Also from another device of the same identity after a reconnect.
    let mut again = Client::connect(&app).await;
    again.hello(None, Some(&ada.token.clone())).await;
    again.join("r", None).await;
    again.post("r", "same", "hello").await;
    match again.next_significant().await {
        ServerEvent::Ack { seq, .. } => assert_eq!(seq, first_seq),
        other => panic!("{other:?}"),
    }

    // The same id for another text or room is a conflict, and nothing is stored.
    ada.post("r", "same", "different").await;
    let err = ada.expect_error(ErrorCode::IdConflict).await;
    match err {
        ServerEvent::Error {
            id, room, command, ..
        } => {
            assert_eq!(id.as_deref(), Some("same"));
            assert_eq!(room.as_deref(), Some("r"));
            assert_eq!(command.as_deref(), Some("post"));
        }
        other => panic!("{other:?}"),
    }
    ada.post("s", "same", "hello").await;
    ada.expect_error(ErrorCode::IdConflict).await;

    // Another user may use the same id: ids are per identity.
    bob.post_acked("r", "same", "bob's own").await;
    assert_eq!(ada.expect_message().await.text, "bob's own");

    bob.expect_silence(Duration::from_millis(200)).await;
    assert_eq!(ada.all_texts("r").await, vec!["hello", "bob's own"]);
    assert!(ada.all_texts("s").await.is_empty());
    app.stop().await;
}

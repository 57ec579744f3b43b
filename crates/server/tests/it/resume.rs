//! Resuming rooms after a reconnect (G3) and restarting on the same data (durability).

use std::time::Duration;

use tuitalk_protocol::ServerEvent;

use crate::helpers::{Client, spawn_app, spawn_app_in};

#[tokio::test]
async fn reconnect_with_since_gets_exactly_the_missed_messages_then_live() {
    let app = spawn_app(|c| c.limits.posts_per_second = 1000).await;
    let mut ada = app.guest("ada").await;
    let mut bob = app.guest("bob").await;
    ada.join("r", None).await;
    bob.join("r", None).await;
    for i in 1..=3 {
        bob.post_acked("r", &format!("b{i}"), &format!("m{i}"))
            .await;
        assert_eq!(ada.expect_message().await.seq, i);
    }
    let token = ada.token.clone();
    drop(ada);
    for i in 4..=30 {
        bob.post_acked("r", &format!("b{i}"), &format!("m{i}"))
            .await;
    }
    let mut ada = Client::connect(&app).await;
    match ada.hello(None, Some(&token)).await {
        ServerEvent::Welcome { rooms, name, .. } => {
            assert_eq!(rooms, vec!["r".to_owned()]);
            assert_eq!(name, "ada");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ada.join("r", Some(3)).await, 30);
    for expected in 4..=30 {
        let m = ada.expect_message().await;
        assert_eq!((m.seq, m.text), (expected, format!("m{expected}")));
    }
    bob.post_acked("r", "b31", "live").await;
    let m = ada.expect_message().await;
    assert_eq!((m.seq, m.text.as_str()), (31, "live"));
    ada.expect_silence(Duration::from_millis(300)).await;
    app.stop().await;
}

#[tokio::test]
async fn resume_in_small_pages_and_rejoin_while_joined() {
    // Catch-up reads the store in pages of history_page_max.
    let app = spawn_app(|c| {
        c.limits.history_page_max = 4;
        c.limits.posts_per_second = 1000;
    })
    .await;
    let mut bob = app.guest("bob").await;
    bob.join("r", None).await;
    for i in 1..=11 {
        bob.post_acked("r", &format!("b{i}"), "x").await;
    }
    let mut ada = app.guest("ada").await;
    assert_eq!(ada.join("r", Some(0)).await, 11);
    for expected in 1..=11 {
        assert_eq!(ada.expect_message().await.seq, expected);
    }
    // Joining again with since acts like a resume on the same connection.
    assert_eq!(ada.join("r", Some(9)).await, 11);
    assert_eq!(ada.expect_message().await.seq, 10);
    assert_eq!(ada.expect_message().await.seq, 11);
    // A since above the head (store reset) sends nothing old.
    assert_eq!(ada.join("r", Some(99)).await, 11);
    bob.post_acked("r", "b12", "x").await;
    assert_eq!(ada.expect_message().await.seq, 12);
    ada.expect_silence(Duration::from_millis(200)).await;
    app.stop().await;
}

#[tokio::test]
async fn restart_on_the_same_data_keeps_history_and_tokens() {
    let app = spawn_app(|_| {}).await;
    let mut ada = app.guest("ada").await;
    ada.join("r", None).await;
    ada.post_acked("r", "p1", "before restart").await;
    let (token, user_id) = (ada.token.clone(), ada.user_id.clone());
    drop(ada);
    let dir = app.stop().await.expect("data dir");

    let app = spawn_app_in(dir.path(), |_| {}).await;
    let mut ada = Client::connect(&app).await;
    ada.hello(None, Some(&token)).await;
    assert_eq!(ada.user_id, user_id);
    assert_eq!(ada.rooms, vec!["r".to_owned()]);
    assert_eq!(ada.join("r", None).await, 1);
    assert_eq!(ada.post_acked("r", "p2", "after restart").await, 2);
    // The old post id is still known.
    ada.post("r", "p1", "before restart").await;
    match ada.next_significant().await {
        ServerEvent::Ack { seq, .. } => assert_eq!(seq, 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ada.all_texts("r").await,
        vec!["before restart", "after restart"]
    );
    app.stop().await;
    drop(dir);
}

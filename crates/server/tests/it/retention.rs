//! Retention on the real server (`store.retention_messages`): a client resuming from a
//! sequence older than the oldest kept message gets what is left and then live messages,
//! and a live client whose gap lies in a pruned range gets the kept ones — no error, no
//! endless repair. (The store's own retention cases are in `store::contract`; the flood
//! bound is in `attack::storage`.)

use std::time::Duration;

use tuitalk_protocol::{Seq, ServerEvent};

use crate::helpers::{Client, Received, TestApp, WAIT, spawn_app, spawn_app_in};

/// Waits until the room's history (as `client` reads it) starts at `oldest`.
pub async fn wait_pruned_to(client: &mut Client, room: &str, oldest: Seq) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (page, _) = client.history(room, None, 200).await;
        if page.first().is_some_and(|m| m.seq >= oldest) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention did not prune {room} to {oldest}: {:?}",
            page.first().map(|m| m.seq)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that nothing but presence arrives within `wait` (no message, no error).
pub async fn expect_no_message(client: &mut Client, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match client
            .recv_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            Received::Timeout => return,
            Received::Event(
                ServerEvent::UserJoined { .. }
                | ServerEvent::UserLeft { .. }
                | ServerEvent::NameChanged { .. },
            ) => {}
            other => panic!("expected no message, got {other:?}"),
        }
    }
}

/// A server keeping the newest `keep` messages per room, pruning every 50 ms.
async fn pruning_app(keep: u64) -> TestApp {
    spawn_app(|c| {
        c.limits.posts_per_second = 1000;
        c.store.retention_messages = keep;
        c.store.retention_interval_ms = 50;
    })
    .await
}

#[tokio::test]
async fn resume_from_a_pruned_sequence_gets_what_is_left_then_live() {
    let app = pruning_app(5).await;
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
    for i in 4..=23 {
        bob.post_acked("r", &format!("b{i}"), &format!("m{i}"))
            .await;
    }
    wait_pruned_to(&mut bob, "r", 19).await;

    let mut ada = Client::connect(&app).await;
    ada.hello(None, Some(&token)).await;
    assert_eq!(ada.join("r", Some(3)).await, 23, "the head stays");
    for expected in 19..=23 {
        let m = ada.expect_message().await;
        assert_eq!((m.seq, m.text), (expected, format!("m{expected}")));
    }
    expect_no_message(&mut ada, Duration::from_millis(300)).await;
    bob.post_acked("r", "b24", "live").await;
    assert_eq!(ada.expect_message().await.seq, 24);
    let (older, has_more) = ada.history("r", Some(19), 50).await;
    assert!(older.is_empty() && !has_more, "{older:?}");
    // Resuming from 0 after everything but the newest five went: the same.
    let mut cyd = Client::connect(&app).await;
    cyd.hello(None, Some(&token)).await;
    wait_pruned_to(&mut bob, "r", 20).await;
    assert_eq!(cyd.join("r", Some(0)).await, 24);
    let mut got = Vec::with_capacity(5);
    for _ in 0..5 {
        got.push(cyd.expect_message().await.seq);
    }
    assert_eq!(got, (20..=24).collect::<Vec<_>>());
    expect_no_message(&mut cyd, Duration::from_millis(300)).await;
    app.stop().await;
}

/// Two servers on one SQLite file: server 2 prunes (keep 5); server 1's client is live
/// and its server's room watcher finds the messages in the store only after most were
/// pruned: it gets messages in order, without duplicates, ending with the kept ones, and
/// no error.
#[tokio::test]
async fn a_live_client_that_missed_pruned_messages_gets_the_kept_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = spawn_app_in(dir.path(), |c| c.broker.watch_interval_ms = 3000).await;
    let two = spawn_app_in(dir.path(), |c| {
        c.limits.posts_per_second = 1000;
        c.store.retention_messages = 5;
        c.store.retention_interval_ms = 50;
    })
    .await;
    let mut ada = one.guest("ada").await;
    ada.join("r", None).await;
    let mut bob = two.guest("bob").await;
    bob.join("r", None).await;
    for i in 1..=30 {
        bob.post_acked("r", &format!("b{i}"), &format!("m{i}"))
            .await;
    }
    wait_pruned_to(&mut bob, "r", 26).await;
    let mut got = Vec::new();
    while got.last() != Some(&30) {
        match ada.next_significant().await {
            ServerEvent::Message(m) => got.push(m.seq),
            other => panic!("ada got {other:?} after {got:?}"),
        }
    }
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "in order, once: {got:?}"
    );
    assert!(got.ends_with(&[26, 27, 28, 29, 30]), "{got:?}");
    expect_no_message(&mut ada, Duration::from_millis(500)).await;
    bob.post_acked("r", "b31", "live").await;
    // Server 1 hears of it through the store (its watcher).
    assert_eq!(ada.expect_message().await.seq, 31);
    one.stop().await;
    two.stop().await;
}

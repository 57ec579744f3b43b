//! The whole server on PostgreSQL (`store.database_url`): chat, history, idempotent
//! resend, a second backend on the same database continuing the same sequences, and a
//! connection that keeps receiving while its own command waits for the store.

use std::time::Duration;

use tuitalk_protocol::{ClientCommand, ServerEvent};
use tuitalk_server::Config;
use tuitalk_server::config::Secret;

use crate::helpers::{Client, Received, spawn_app};
use crate::pg::TestDb;

/// Points a test server at `url`, with a token key shared by every backend.
fn on_postgres(config: &mut Config, url: &str) {
    config.store.database_url = Some(Secret::new(url));
    config.auth.secret = Some(Secret::new("pg-server-test-secret-0123456789"));
    config.limits.posts_per_second = 1000;
}

#[tokio::test]
async fn chat_history_and_a_second_backend_on_postgres() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let app = spawn_app(|c| on_postgres(c, &db.url)).await;
    let mut ada = app.guest("ada").await;
    let mut bob = app.guest("bob").await;
    assert_eq!(ada.join("r", None).await, 0);
    assert_eq!(bob.join("r", None).await, 0);
    for i in 1..=5 {
        let seq = ada
            .post_acked("r", &format!("p{i}"), &format!("m{i}"))
            .await;
        assert_eq!(seq, i);
        let m = bob.expect_message().await;
        assert_eq!(
            (m.seq, m.text, m.author),
            (i, format!("m{i}"), "ada".to_owned())
        );
    }
    assert_eq!(bob.post_acked("r", "b1", "from bob").await, 6);
    assert_eq!(ada.expect_message().await.text, "from bob");

    // A resend after a lost ack: the original sequence, no second delivery.
    ada.post("r", "p1", "m1").await;
    match ada.next_significant().await {
        ServerEvent::Ack { seq, id, .. } => assert_eq!((seq, id.as_str()), (1, "p1")),
        other => panic!("expected the original ack, got {other:?}"),
    }
    bob.expect_silence(Duration::from_millis(300)).await;

    let (page, more) = bob.history("r", None, 4).await;
    assert_eq!(
        page.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![3, 4, 5, 6]
    );
    assert!(more);
    let (page, more) = bob.history("r", Some(3), 4).await;
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert!(!more);

    // A second backend on the same database: same history, the next sequence, and bob's
    // session (token, rooms) resumes there.
    let second = spawn_app(|c| on_postgres(c, &db.url)).await;
    let mut carol = second.guest("carol").await;
    assert_eq!(carol.join("r", None).await, 6);
    assert_eq!(
        carol.all_texts("r").await,
        vec!["m1", "m2", "m3", "m4", "m5", "from bob"]
    );
    assert_eq!(carol.post_acked("r", "c1", "from carol").await, 7);
    let token = bob.token.clone();
    drop(bob);
    let mut bob = Client::connect(&second).await;
    match bob.hello(None, Some(&token)).await {
        ServerEvent::Welcome { rooms, name, .. } => {
            assert_eq!((rooms, name.as_str()), (vec!["r".to_owned()], "bob"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(bob.join("r", Some(6)).await, 7);
    let m = bob.expect_message().await;
    assert_eq!((m.seq, m.text.as_str()), (7, "from carol"));
    // And the first backend reads it from the shared store.
    assert_eq!(ada.all_texts("r").await.len(), 7);
    second.stop().await;
    app.stop().await;
}

/// A join stuck behind a held lock of its room (the store is slow for this one command)
/// does not stop the connection's delivery: with a hub queue of 8 events, the 200
/// messages posted into another joined room meanwhile all arrive, in order, before the
/// join is answered; the reader is not closed as a slow consumer. (Run against the server
/// before commands left the delivery path, nothing arrived while the join waited: the test
/// timed out after 4 s, with the queue overflowed behind the blocked join.)
#[tokio::test]
async fn a_slow_store_answer_does_not_hold_up_delivery() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let app = spawn_app(|c| {
        on_postgres(c, &db.url);
        c.limits.send_queue = 8;
        c.broker.watch_max_dispatch = 8;
        c.store.max_batch = 8;
        c.limits.posts_per_second = 100_000;
    })
    .await;
    let mut reader = app.guest("reader").await;
    let mut poster = app.guest("poster").await;
    assert_eq!(reader.join("busy", None).await, 0);
    assert_eq!(poster.join("busy", None).await, 0);
    poster.join("slow", None).await;

    // Hold the room row of "slow": a membership insert (its foreign key) waits for it.
    let mut lock = db.connection().await;
    sqlx::query("begin")
        .execute(&mut lock)
        .await
        .expect("begin");
    sqlx::query("select 1 from room where name = 'slow' for update")
        .execute(&mut lock)
        .await
        .expect("lock the room row");
    reader
        .send(ClientCommand::Join {
            room: "slow".into(),
            since: None,
        })
        .await;
    const POSTS: u64 = 200;
    for i in 1..=POSTS {
        poster
            .post("busy", &format!("p{i}"), &format!("m{i}"))
            .await;
    }
    let mut seqs = Vec::new();
    while seqs.len() < POSTS as usize {
        match reader.recv_within(Duration::from_secs(4)).await {
            Received::Event(ServerEvent::Message(m)) => {
                assert_eq!(m.room, "busy");
                seqs.push(m.seq);
            }
            Received::Event(ServerEvent::UserJoined { .. }) => {}
            other => panic!("while the join waits for the store, got {other:?}"),
        }
    }
    assert_eq!(seqs, (1..=POSTS).collect::<Vec<_>>());
    // The join is still waiting for the lock: nothing else arrived.
    reader.expect_silence(Duration::from_millis(300)).await;
    sqlx::query("commit")
        .execute(&mut lock)
        .await
        .expect("commit");
    match reader.next_significant().await {
        ServerEvent::Joined { room, head } => assert_eq!((room.as_str(), head), ("slow", 0)),
        other => panic!("expected the join's answer, got {other:?}"),
    }
    assert_eq!(reader.post_acked("slow", "r1", "still here").await, 1);
    app.stop().await;
}

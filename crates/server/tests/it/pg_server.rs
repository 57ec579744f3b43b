//! The whole server on PostgreSQL (`store.database_url`): chat, history, idempotent
//! resend, and a second backend on the same database continuing the same sequences.

use std::time::Duration;

use tuitalk_protocol::ServerEvent;
use tuitalk_server::Config;
use tuitalk_server::config::Secret;

use crate::helpers::{Client, spawn_app};
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

//! Graceful shutdown: in-flight posts are acknowledged, clients get 1012, `run` returns.

use std::time::Duration;

use tuitalk_protocol::{CloseCode, ServerEvent};

use crate::helpers::{WAIT, spawn_app};

#[tokio::test]
async fn shutdown_acks_in_flight_posts_then_closes_with_1012() {
    let app = spawn_app(|c| c.limits.posts_per_second = 1000).await;
    let mut ada = app.guest("ada").await;
    let mut bob = app.guest("bob").await;
    ada.join("r", None).await;
    for i in 0..20 {
        ada.post("r", &format!("p{i}"), "last words").await;
    }
    // Give the frames time to be read, then stop while posts may still be in flight.
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.shutdown.cancel();
    let mut acks = Vec::new();
    let code = loop {
        match ada.recv_within(WAIT).await {
            crate::helpers::Received::Event(ServerEvent::Ack { seq, .. }) => acks.push(seq),
            crate::helpers::Received::Event(_) => {}
            crate::helpers::Received::Close(Some(frame)) => break u16::from(frame.code),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, CloseCode::SERVICE_RESTART);
    let (bob_code, reason) = bob.expect_close().await;
    assert_eq!(bob_code, CloseCode::SERVICE_RESTART);
    assert!(reason.contains("reconnect"), "{reason}");
    tokio::time::timeout(WAIT, app.handle)
        .await
        .expect("run ends")
        .expect("no panic")
        .expect("run Ok");
    // Every acknowledged post is stored: the acks are 1..=n without holes.
    assert_eq!(acks, (1..=acks.len() as u64).collect::<Vec<_>>());
    assert!(!acks.is_empty());
}

//! A PostgreSQL outage under a running server: posting answers `unavailable` quickly and
//! stores nothing, `/readyz` says 503; after PostgreSQL is back the pool reconnects by
//! itself, posting works again without a server restart and nothing acknowledged is lost.
//! Uses a private PostgreSQL instance (it is stopped and started), never the lab's.

use std::time::{Duration, Instant};

use tuitalk_protocol::{ErrorCode, ServerEvent};
use tuitalk_server::config::Secret;

use crate::helpers::{http_get, spawn_app};
use crate::lab;
use crate::pg::PrivatePostgres;

/// Polls `/readyz` until it answers `status` (at most 30 s).
async fn wait_ready(addr: std::net::SocketAddr, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = http_get(addr, "/readyz").await.map(|(s, _)| s);
        if got == Some(status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {got:?}, wanted {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn posting_pauses_while_postgres_is_down_and_resumes_after() {
    // Runs where the lab runs (it needs root and PostgreSQL's programs, like the lab).
    if lab::database_url().is_none() {
        return;
    }
    let pg = PrivatePostgres::start();
    let app = spawn_app(|c| {
        c.store.database_url = Some(Secret::new(pg.url()));
        c.store.acquire_timeout_ms = 1000;
        c.limits.posts_per_second = 1000;
    })
    .await;
    wait_ready(app.addr, 200).await;
    let mut ada = app.guest("ada").await;
    let mut bob = app.guest("bob").await;
    ada.join("r", None).await;
    bob.join("r", None).await;
    assert_eq!(ada.post_acked("r", "p1", "before").await, 1);
    assert_eq!(bob.expect_message().await.seq, 1);

    pg.stop();
    ada.post("r", "p2", "during").await;
    let started = Instant::now();
    match ada.next_significant().await {
        ServerEvent::Error { code, id, .. } => {
            assert_eq!(code, ErrorCode::Unavailable);
            assert_eq!(id.as_deref(), Some("p2"));
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    eprintln!("unavailable after {:?}", started.elapsed());
    wait_ready(app.addr, 503).await;
    // The refused post reached nobody.
    bob.expect_silence(Duration::from_millis(300)).await;

    pg.start_again();
    wait_ready(app.addr, 200).await;
    // The client resends its outbox with the same id: stored now, next sequence.
    assert_eq!(ada.post_acked("r", "p2", "during").await, 2);
    let m = bob.expect_message().await;
    assert_eq!((m.seq, m.text.as_str()), (2, "during"));
    assert_eq!(ada.post_acked("r", "p3", "after").await, 3);
    assert_eq!(bob.expect_message().await.seq, 3);
    assert_eq!(bob.all_texts("r").await, vec!["before", "during", "after"]);
    app.stop().await;
    drop(pg);
}

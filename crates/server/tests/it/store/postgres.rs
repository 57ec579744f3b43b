//! The `Store` contract on PostgreSQL, each test on a fresh database of the lab's
//! PostgreSQL ([`TestDb`]; skipped without the lab unless `TUITALK_TEST_REQUIRE_LAB` is
//! set), and what only the PostgreSQL store does: a batch racing another backend's open
//! transaction retries on the unique index, and a batch stuck behind a held lock fails
//! after `store.statement_timeout_ms`. Those two hold locks on a plain connection
//! ([`TestDb::connection`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tuitalk_protocol::Seq;
use tuitalk_server::store::{Store, StoreError};

use super::{TestDatabase, post, seqs};
use crate::pg::TestDb;

#[async_trait]
impl TestDatabase for TestDb {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(self.store().await)
    }
}

contract_tests!(TestDb::create().await);

/// Another backend holds the same post id in an open transaction: the batch waits on it,
/// hits the unique index when it commits, retries, and answers the post as a duplicate
/// (same text) or an id conflict (other text), storing the batch's other posts.
#[tokio::test]
async fn post_id_racing_in_ends_as_duplicate_or_conflict() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = Arc::new(db.store().await);
    let ada = store.create_guest("ada").await.expect("guest");
    store.join(&ada.user_id, "r").await.expect("join");
    for (case, racing_text) in [("dup", "same"), ("conflict", "different")] {
        // The "other backend": stores post `case` with the next sequence, not yet committed.
        let mut other = db.connection().await;
        sqlx::query("begin")
            .execute(&mut other)
            .await
            .expect("begin");
        let (room_id, seq): (i64, i64) = sqlx::query_as(
            "update room set head = head + 1 where name = 'r' returning room_id, head",
        )
        .fetch_one(&mut other)
        .await
        .expect("raise head");
        sqlx::query(
            "insert into message (room_id, seq, post_id, author_id, author, text, created_at) \
             values ($1, $2, $3, $4, 'ada', $5, 1)",
        )
        .bind(room_id)
        .bind(seq)
        .bind(case)
        .bind(&ada.user_id)
        .bind(racing_text)
        .execute(&mut other)
        .await
        .expect("insert");

        let batch = vec![
            post(&ada.user_id, "r", case, "same"),
            post(&ada.user_id, "r", &format!("{case}-next"), "next"),
        ];
        let task = {
            let store = store.clone();
            tokio::spawn(async move { store.append_batch(batch).await })
        };
        // The batch waits for the other transaction (its room lock).
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !task.is_finished(),
            "{case}: the batch waits for the other backend"
        );
        sqlx::query("commit")
            .execute(&mut other)
            .await
            .expect("commit");
        let out = task
            .await
            .expect("task")
            .expect("batch succeeds after a retry");
        let raced = Seq::try_from(seq).expect("positive");
        match case {
            "dup" => {
                let dup = out[0].as_ref().expect("duplicate");
                assert!(dup.duplicate);
                assert_eq!(dup.message.seq, raced);
            }
            _ => assert!(
                matches!(out[0], Err(StoreError::IdConflict)),
                "{:?}",
                out[0]
            ),
        }
        let next = out[1].as_ref().expect("the other post is stored");
        assert!(!next.duplicate);
        assert_eq!(next.message.seq, raced + 1);
    }
    let head = store.head("r").await.expect("head");
    assert_eq!(head, 4);
    let stored = store.messages_after("r", 0, head, 10).await.expect("after");
    assert_eq!(
        stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    store.close().await;
}

/// A batch stuck behind a lock that is never released in time (a backend host that died
/// inside its transaction) fails after `store.statement_timeout_ms` instead of hanging, and
/// the same posts are stored once the lock is gone (clients send them again).
#[tokio::test]
async fn a_batch_stuck_behind_a_lock_fails_after_the_statement_timeout() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let timeout = Duration::from_millis(500);
    let store = db.store_with_statement_timeout(timeout).await;
    let ada = store.create_guest("ada").await.expect("guest");
    store.join(&ada.user_id, "r").await.expect("join");
    let mut other = db.connection().await;
    sqlx::query("begin")
        .execute(&mut other)
        .await
        .expect("begin");
    sqlx::query("select head from room where name = 'r' for update")
        .execute(&mut other)
        .await
        .expect("lock the room");

    let started = std::time::Instant::now();
    let stuck = tokio::time::timeout(
        Duration::from_secs(10),
        store.append_batch(vec![post(&ada.user_id, "r", "p1", "hello")]),
    )
    .await
    .expect("the batch fails instead of waiting for the lock");
    let waited = started.elapsed();
    let Err(StoreError::Database(sqlx::Error::Database(err))) = stuck else {
        panic!("expected a database error, got {stuck:?}");
    };
    assert_eq!(
        err.code().as_deref(),
        Some("57014"),
        "query_canceled: {err}"
    );
    assert!(
        waited >= timeout && waited < Duration::from_secs(4),
        "failed after {waited:?}"
    );
    assert_eq!(store.head("r").await.expect("head"), 0, "nothing stored");

    sqlx::query("rollback")
        .execute(&mut other)
        .await
        .expect("release the lock");
    let out = store
        .append_batch(vec![post(&ada.user_id, "r", "p1", "hello")])
        .await
        .expect("stored once the lock is gone");
    assert_eq!(seqs(&out), vec![Some((1, false))]);
    store.close().await;
}

/// While another backend holds the pruning lock, a step does nothing and says so (its
/// pass ends); once the lock is free, the step prunes.
#[tokio::test]
async fn one_backend_prunes_at_a_time() {
    use tuitalk_server::store::retention::{PRUNE_LOCK, RetentionRule};
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let ada = store.create_guest("ada").await.expect("guest");
    let posts = (1..=5)
        .map(|i| post(&ada.user_id, "r", &format!("p{i}"), "text"))
        .collect();
    store.append_batch(posts).await.expect("batch");
    let rule = RetentionRule {
        created_before: None,
        keep_newest: Some(2),
    };
    let mut other = db.connection().await;
    sqlx::query("select pg_advisory_lock($1)")
        .bind(PRUNE_LOCK)
        .execute(&mut other)
        .await
        .expect("lock");
    let step = store.prune(&rule, 0, 100).await.expect("prune");
    assert!(step.busy, "{step:?}");
    assert_eq!(step.deleted, 0);
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(PRUNE_LOCK)
        .execute(&mut other)
        .await
        .expect("unlock");
    let step = store.prune(&rule, 0, 100).await.expect("prune");
    assert_eq!((step.busy, step.deleted, step.next), (false, 3, None));
    assert_eq!(store.head("r").await.expect("head"), 5);
    store.close().await;
}

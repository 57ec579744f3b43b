//! The cases of the `Store` contract, each written once against a [`TestDatabase`] and run
//! on SQLite and PostgreSQL: batch sequencing, idempotency and id conflicts, heads, resume
//! and history pages, users and memberships, and several stores on one database (as
//! several backends) appending at once; retention (by count and by age, bounded steps,
//! idempotent) and the store's size. The account cases (registering, logins, author
//! handles) are in [`accounts`], sessions and mailed codes in [`sessions`].

use std::collections::HashSet;
use std::sync::Arc;

use tuitalk_protocol::{ChatMessage, Seq};
use tuitalk_server::store::retention::{self, RetentionRule};
use tuitalk_server::store::{NewPost, Store, StoreError};

use super::{TestDatabase, post, seqs};

mod accounts;
mod sessions;

pub use accounts::*;
pub use sessions::*;

/// The sequences of a page of messages.
fn page_seqs(page: &[ChatMessage]) -> Vec<Seq> {
    page.iter().map(|m| m.seq).collect()
}

/// One batch sequences each room from 1, answers an in-batch resend with the original
/// message, refuses a reused id with other text and an unknown author; a later batch
/// answers resends with the stored message and continues each room's sequence.
pub async fn batch_sequences_duplicates_and_conflicts(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = store.create_guest("ada").await.expect("guest");
    assert_eq!(store.join(&ada.user_id, "r").await.expect("join"), 0);
    let out = store
        .append_batch(vec![
            post(&ada.user_id, "r", "a", "one"),
            post(&ada.user_id, "r", "b", "two"),
            post(&ada.user_id, "r", "a", "one"),
            post(&ada.user_id, "r", "a", "other"),
            post(&ada.user_id, "s", "c", "elsewhere"),
            post("nobody", "r", "d", "ghost"),
        ])
        .await
        .expect("batch");
    assert_eq!(
        seqs(&out),
        vec![
            Some((1, false)),
            Some((2, false)),
            Some((1, true)),
            None,
            Some((1, false)),
            None
        ]
    );
    assert!(matches!(out[3], Err(StoreError::IdConflict)));
    assert!(matches!(out[5], Err(StoreError::Corrupt(_))));
    // The in-batch duplicate answers with the original message.
    let first = out[0].as_ref().expect("stored");
    let again = out[2].as_ref().expect("duplicate");
    assert_eq!(first.message, again.message);
    assert_eq!(first.message.author, "ada");
    assert_eq!(store.head("r").await.expect("head"), 2);
    assert_eq!(store.head("unknown").await.expect("head"), 0);
    let mut heads = store
        .heads(&["s".into(), "r".into(), "unknown".into(), "x'); --".into()])
        .await
        .expect("heads");
    heads.sort();
    assert_eq!(heads, vec![("r".to_owned(), 2), ("s".to_owned(), 1)]);
    assert!(store.heads(&[]).await.expect("no rooms").is_empty());
    let after = store.messages_after("r", 1, 2, 10).await.expect("after");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].author, "ada");
    assert_eq!(after[0].text, "two");
    // Posting to "s" created the room but made nobody a member.
    assert_eq!(
        store.rooms_of(&ada.user_id).await.expect("rooms"),
        vec!["r"]
    );

    // A later batch: resends are duplicates with the stored message, a reused id with
    // other text is a conflict, new posts continue each room's sequence.
    let out = store
        .append_batch(vec![
            post(&ada.user_id, "s", "c", "elsewhere"),
            post(&ada.user_id, "r", "e", "three"),
            post(&ada.user_id, "s", "b", "two"),
            post(&ada.user_id, "s", "f", "more"),
            post(&ada.user_id, "r", "g", "four"),
        ])
        .await
        .expect("batch");
    assert_eq!(
        seqs(&out),
        vec![
            Some((1, true)),
            Some((3, false)),
            None,
            Some((2, false)),
            Some((4, false))
        ]
    );
    assert!(matches!(out[2], Err(StoreError::IdConflict)));
    let resent = out[0].as_ref().expect("duplicate");
    assert_eq!(resent.message.text, "elsewhere");
    assert_eq!(resent.message.room, "s");
    assert!(
        store
            .append_batch(Vec::new())
            .await
            .expect("empty")
            .is_empty()
    );
    let texts: Vec<_> = store
        .messages_after("r", 0, 100, 100)
        .await
        .expect("after")
        .into_iter()
        .map(|m| (m.seq, m.text))
        .collect();
    assert_eq!(
        texts,
        vec![
            (1, "one".to_owned()),
            (2, "two".to_owned()),
            (3, "three".to_owned()),
            (4, "four".to_owned())
        ]
    );
    store.close().await;
}

/// Users are created, found and renamed; joins are idempotent and answer the current
/// head; leaving is idempotent; messages keep the name they were posted under.
pub async fn users_memberships_and_names(db: &dyn TestDatabase) {
    let store = db.open().await;
    store.ping().await.expect("ping");
    let ada = store.create_guest("ada").await.expect("guest");
    assert_eq!(
        store.user(&ada.user_id).await.expect("user"),
        Some(ada.clone())
    );
    assert_eq!(store.user("nobody").await.expect("user"), None);
    assert_eq!(
        store.rename(&ada.user_id, "ada2").await.expect("rename"),
        Some("ada".to_owned())
    );
    assert_eq!(store.rename("nobody", "x").await.expect("rename"), None);
    assert_eq!(
        store
            .user(&ada.user_id)
            .await
            .expect("user")
            .map(|u| u.name),
        Some("ada2".to_owned())
    );
    // Joining twice is fine; the head is the room's current one.
    assert_eq!(store.join(&ada.user_id, "b").await.expect("join"), 0);
    assert_eq!(store.join(&ada.user_id, "a").await.expect("join"), 0);
    store
        .append_batch(vec![post(&ada.user_id, "a", "p1", "hi")])
        .await
        .expect("batch");
    assert_eq!(store.join(&ada.user_id, "a").await.expect("join again"), 1);
    assert_eq!(
        store.rooms_of(&ada.user_id).await.expect("rooms"),
        vec!["a", "b"]
    );
    store.leave(&ada.user_id, "a").await.expect("leave");
    store.leave(&ada.user_id, "a").await.expect("leave twice");
    store
        .leave(&ada.user_id, "nowhere")
        .await
        .expect("leave unknown");
    assert_eq!(
        store.rooms_of(&ada.user_id).await.expect("rooms"),
        vec!["b"]
    );
    // Messages keep the name they were posted under.
    store.rename(&ada.user_id, "ada3").await.expect("rename");
    store
        .append_batch(vec![post(&ada.user_id, "a", "p2", "again")])
        .await
        .expect("batch");
    let (page, more) = store.history("a", None, 10).await.expect("history");
    assert!(!more);
    let authors: Vec<_> = page.iter().map(|m| m.author.as_str()).collect();
    assert_eq!(authors, vec!["ada2", "ada3"]);
    store.close().await;
}

/// History pages are the newest `limit` before a sequence with an exact `has_more`;
/// resume pages are `after < seq <= up_to`, ascending, at most `limit`; sequences beyond
/// the database's integer range are clamped, not errors.
pub async fn history_and_resume_pages_are_exact(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = store.create_guest("ada").await.expect("guest");
    // 25 posts in three batches, interleaved with another room.
    let mut batch = Vec::new();
    for i in 1..=25 {
        batch.push(post(&ada.user_id, "h", &format!("p{i}"), &format!("m{i}")));
        batch.push(post(&ada.user_id, "o", &format!("o{i}"), "other"));
        if i % 10 == 0 || i == 25 {
            store
                .append_batch(std::mem::take(&mut batch))
                .await
                .expect("batch");
        }
    }
    let (page, more) = store.history("h", None, 10).await.expect("history");
    assert_eq!(page_seqs(&page), (16..=25).collect::<Vec<_>>());
    assert!(more);
    assert!(
        page.iter()
            .all(|m| m.room == "h" && m.text == format!("m{}", m.seq))
    );
    let (page, more) = store.history("h", Some(16), 10).await.expect("history");
    assert_eq!(page_seqs(&page), (6..=15).collect::<Vec<_>>());
    assert!(more);
    let (page, more) = store.history("h", Some(6), 10).await.expect("history");
    assert_eq!(page_seqs(&page), (1..=5).collect::<Vec<_>>());
    assert!(!more);
    let (page, more) = store.history("h", Some(1), 10).await.expect("history");
    assert!(page.is_empty() && !more);
    // A page of exactly the remaining size says there is no more.
    let (page, more) = store.history("h", Some(11), 10).await.expect("history");
    assert_eq!(page_seqs(&page), (1..=10).collect::<Vec<_>>());
    assert!(!more);
    let (page, more) = store.history("h", None, 25).await.expect("history");
    assert_eq!(page.len(), 25);
    assert!(!more);
    let (page, more) = store.history("nowhere", None, 5).await.expect("history");
    assert!(page.is_empty() && !more);
    // A `before` beyond the 64-bit signed range is clamped, not an error.
    let (page, _) = store
        .history("h", Some(u64::MAX), 3)
        .await
        .expect("history");
    assert_eq!(page_seqs(&page), vec![23, 24, 25]);

    // Resume pages: after < seq <= up_to, ascending, at most limit.
    let after = store.messages_after("h", 5, 25, 7).await.expect("after");
    assert_eq!(page_seqs(&after), (6..=12).collect::<Vec<_>>());
    let after = store.messages_after("h", 20, 22, 100).await.expect("after");
    assert_eq!(page_seqs(&after), vec![21, 22]);
    let after = store.messages_after("h", 25, 30, 10).await.expect("after");
    assert!(after.is_empty());
    let after = store
        .messages_after("h", 0, u64::MAX, 1000)
        .await
        .expect("after");
    assert_eq!(page_seqs(&after), (1..=25).collect::<Vec<_>>());
    assert_eq!(store.head("o").await.expect("head"), 25);
    store.close().await;
}

/// A post to a room nobody joined creates the room; a store opened afterwards on the same
/// database (migrations already applied) sees it.
pub async fn a_store_opened_later_sees_what_was_stored(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = store.create_guest("ada").await.expect("guest");
    let out = store
        .append_batch(vec![post(&ada.user_id, "new-room", "p", "t")])
        .await
        .expect("batch");
    assert_eq!(seqs(&out), vec![Some((1, false))]);
    let again = db.open().await;
    assert_eq!(again.head("new-room").await.expect("head"), 1);
    again.close().await;
    store.close().await;
}

/// Three stores (three backends), two writers each, append batches to one room at once
/// while two more rooms overlap in varying order inside the batches (exercising the lock
/// order): every post stored once, under the sequence it was acknowledged with, 1..N.
pub async fn concurrent_stores_get_sequences_without_holes(db: &dyn TestDatabase) {
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(db.open().await);
    }
    let ada = stores[0].create_guest("ada").await.expect("guest");
    const BATCHES: usize = 20;
    const PER_BATCH: usize = 25;
    let mut tasks = Vec::new();
    for (b, store) in stores.iter().enumerate() {
        for worker in 0..2 {
            let store = store.clone();
            let author = ada.user_id.clone();
            tasks.push(tokio::spawn(async move {
                let mut stored = Vec::new();
                for batch in 0..BATCHES {
                    // Rooms in varying order inside a batch: "one" plus two of "x", "y".
                    let posts: Vec<NewPost> = (0..PER_BATCH)
                        .map(|i| {
                            let room = match (i + batch + worker) % 3 {
                                0 | 1 => "one",
                                _ if (b + i) % 2 == 0 => "x",
                                _ => "y",
                            };
                            post(&author, room, &format!("b{b}w{worker}n{batch}i{i}"), "t")
                        })
                        .collect();
                    let out = store.append_batch(posts.clone()).await.expect("batch");
                    for (post, outcome) in posts.into_iter().zip(out) {
                        let appended = outcome.expect("stored");
                        assert!(!appended.duplicate);
                        assert_eq!(appended.message.room, post.room);
                        stored.push((post.room, appended.message.seq, post.post_id));
                    }
                }
                stored
            }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    assert_eq!(all.len(), 3 * 2 * BATCHES * PER_BATCH);
    for room in ["one", "x", "y"] {
        let mut acked: Vec<Seq> = all
            .iter()
            .filter(|(r, _, _)| r == room)
            .map(|(_, seq, _)| *seq)
            .collect();
        acked.sort_unstable();
        let n = acked.len() as Seq;
        assert_eq!(acked, (1..=n).collect::<Vec<_>>(), "room {room}");
        assert_eq!(stores[1].head(room).await.expect("head"), n);
        let stored = stores[2]
            .messages_after(room, 0, n + 10, 10_000)
            .await
            .expect("after");
        assert_eq!(page_seqs(&stored), (1..=n).collect::<Vec<_>>());
        // Every acknowledged post is stored under the sequence it was acked with.
        let expected: HashSet<(Seq, String)> = all
            .iter()
            .filter(|(r, _, _)| r == room)
            .map(|(_, seq, id)| (*seq, id.clone()))
            .collect();
        let got: HashSet<(Seq, String)> = stored.into_iter().map(|m| (m.seq, m.id)).collect();
        assert_eq!(got, expected, "room {room}");
    }
    for store in stores {
        store.close().await;
    }
}

/// The same post sent through two stores (two backends) at once is stored once: one of
/// them stores it, the other answers with the same message as a duplicate; the other
/// posts of both batches are stored.
pub async fn same_post_from_two_stores_is_stored_once(db: &dyn TestDatabase) {
    let one = db.open().await;
    let two = db.open().await;
    let ada = one.create_guest("ada").await.expect("guest");
    for round in 0..30 {
        let shared = post(&ada.user_id, "r", &format!("same{round}"), "hello");
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for (k, store) in [one.clone(), two.clone()].into_iter().enumerate() {
            let batch = vec![
                post(&ada.user_id, "r", &format!("own{round}-{k}a"), "mine"),
                shared.clone(),
                post(&ada.user_id, "r", &format!("own{round}-{k}b"), "mine"),
            ];
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.append_batch(batch).await.expect("batch")
            }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("task"));
        }
        let shared_outcomes: Vec<_> = outcomes
            .iter()
            .map(|out| out[1].as_ref().expect("shared post answered"))
            .collect();
        assert_eq!(
            shared_outcomes.iter().filter(|a| !a.duplicate).count(),
            1,
            "round {round}: exactly one store stored it"
        );
        assert_eq!(shared_outcomes[0].message, shared_outcomes[1].message);
        for out in &outcomes {
            assert!(out[0].as_ref().is_ok_and(|a| !a.duplicate));
            assert!(out[2].as_ref().is_ok_and(|a| !a.duplicate));
        }
    }
    // 30 rounds of 5 distinct posts, nothing twice, no hole.
    let head = one.head("r").await.expect("head");
    assert_eq!(head, 150);
    let stored = two.messages_after("r", 0, head, 1000).await.expect("after");
    assert_eq!(page_seqs(&stored), (1..=150).collect::<Vec<_>>());
    let ids: HashSet<_> = stored.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids.len(), 150);
    one.close().await;
    two.close().await;
}

/// A post like [`post`] created at `ts`.
fn post_at(author: &str, room: &str, id: &str, ts: i64) -> NewPost {
    NewPost {
        ts,
        ..post(author, room, id, "old news")
    }
}

/// Deletes with `rule` step by step from the first room until the sweep ends, checking
/// that no step deletes more than `batch`; returns the messages deleted.
async fn prune_all(store: &dyn Store, rule: &RetentionRule, batch: u32) -> u64 {
    let (mut from, mut deleted) = (0, 0);
    for _ in 0..1000 {
        let step = store.prune(rule, from, batch).await.expect("prune");
        assert!(!step.busy, "nobody else prunes");
        assert!(step.deleted <= u64::from(batch), "{step:?} above {batch}");
        deleted += step.deleted;
        match step.next {
            Some(next) => from = next,
            None => return deleted,
        }
    }
    panic!("the sweep did not end");
}

/// Retention by count keeps each room's newest N, deletes in bounded steps, keeps the
/// head (the next post continues the sequence), and history and resume pages over the
/// pruned range return what is left; a second store pruning the same database deletes
/// nothing more (idempotent).
pub async fn retention_by_count_keeps_the_newest_and_the_head(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = store.create_guest("ada").await.expect("guest");
    let mut batch: Vec<NewPost> = (1..=30)
        .map(|i| post(&ada.user_id, "r", &format!("r{i}"), "text"))
        .collect();
    batch.extend((1..=5).map(|i| post(&ada.user_id, "s", &format!("s{i}"), "text")));
    store.append_batch(batch).await.expect("batch");
    let rule = RetentionRule {
        created_before: None,
        keep_newest: Some(10),
    };
    assert_eq!(prune_all(&*store, &rule, 7).await, 20);
    assert_eq!(store.head("r").await.expect("head"), 30);
    assert_eq!(store.head("s").await.expect("head"), 5);
    let kept = store.messages_after("r", 0, 30, 100).await.expect("after");
    assert_eq!(page_seqs(&kept), (21..=30).collect::<Vec<_>>());
    let from_pruned = store.messages_after("r", 3, 25, 2).await.expect("after");
    assert_eq!(page_seqs(&from_pruned), vec![21, 22]);
    assert!(
        store
            .messages_after("r", 0, 20, 100)
            .await
            .expect("after")
            .is_empty()
    );
    let (page, more) = store.history("r", None, 100).await.expect("history");
    assert_eq!((page_seqs(&page), more), ((21..=30).collect(), false));
    let (page, more) = store.history("r", Some(25), 100).await.expect("history");
    assert_eq!((page_seqs(&page), more), (vec![21, 22, 23, 24], false));
    let (page, more) = store.history("r", Some(23), 1).await.expect("history");
    assert_eq!((page_seqs(&page), more), (vec![22], true));
    let (page, more) = store.history("r", Some(21), 10).await.expect("history");
    assert_eq!((page_seqs(&page), more), (vec![], false));
    assert_eq!(
        store.messages_after("s", 0, 5, 10).await.expect("s").len(),
        5
    );

    let other = db.open().await;
    assert_eq!(prune_all(&*other, &rule, 7).await, 0, "idempotent");
    let out = store
        .append_batch(vec![post(&ada.user_id, "r", "r31", "text")])
        .await
        .expect("batch");
    assert_eq!(
        seqs(&out),
        vec![Some((31, false))],
        "sequences are not reused"
    );
    assert_eq!(prune_all(&*other, &rule, 7).await, 1);
    let (page, _) = store.history("r", None, 100).await.expect("history");
    assert_eq!(page_seqs(&page), (22..=31).collect::<Vec<_>>());
    other.close().await;
    store.close().await;
}

/// Retention by age deletes the messages created before the cutoff, oldest first; a sweep
/// over more rooms than one step looks at goes on where the step stopped, and a room
/// whose every message is gone keeps its head.
pub async fn retention_by_age_sweeps_every_room(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = store.create_guest("ada").await.expect("guest");
    let timed: Vec<NewPost> = (0..11)
        .map(|i| post_at(&ada.user_id, "t", &format!("t{i}"), 100 + i))
        .collect();
    store.append_batch(timed).await.expect("batch");
    let rooms = retention::ROOMS_PER_STEP + 1;
    let many: Vec<NewPost> = (0..rooms)
        .map(|i| post_at(&ada.user_id, &format!("room-{i}"), &format!("m{i}"), 1))
        .collect();
    store.append_batch(many).await.expect("batch");

    let rule = RetentionRule {
        created_before: Some(105),
        keep_newest: None,
    };
    let mut cursor = 0;
    let deleted = retention::pass(&*store, &rule, &mut cursor, 3, 1000)
        .await
        .expect("pass");
    assert_eq!(deleted, u64::from(rooms) + 5);
    assert_eq!(cursor, 0, "the sweep ended");
    let kept = store.messages_after("t", 0, 11, 100).await.expect("after");
    assert_eq!(page_seqs(&kept), (6..=11).collect::<Vec<_>>());
    assert!(kept.iter().all(|m| m.ts >= 105));
    let last = format!("room-{}", rooms - 1);
    assert_eq!(store.head(&last).await.expect("head"), 1);
    assert_eq!(
        store.history(&last, None, 10).await.expect("history"),
        (vec![], false)
    );
    // A pass's bound stops it early; the next pass continues.
    let rule = RetentionRule {
        created_before: Some(1000),
        keep_newest: None,
    };
    let mut cursor = 0;
    let first = retention::pass(&*store, &rule, &mut cursor, 2, 4)
        .await
        .expect("pass");
    assert_eq!(first, 4);
    assert_ne!(cursor, 0, "the sweep stopped inside room t");
    let rest = retention::pass(&*store, &rule, &mut cursor, 2, 4)
        .await
        .expect("pass");
    assert_eq!(rest, 2);
    assert_eq!(store.head("t").await.expect("head"), 11);
    assert!(
        store
            .messages_after("t", 0, 11, 100)
            .await
            .expect("after")
            .is_empty()
    );
    store.close().await;
}

/// The store reports its size, and it grows with what is stored.
pub async fn size_grows_with_the_messages(db: &dyn TestDatabase) {
    let store = db.open().await;
    let before = store.size_bytes().await.expect("size");
    assert!(before > 0);
    let ada = store.create_guest("ada").await.expect("guest");
    // Random text: PostgreSQL compresses repetitive text to almost nothing.
    let text = || {
        (0..125)
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect::<String>()
    };
    for round in 0..4 {
        let batch = (0..64)
            .map(|i| post(&ada.user_id, "r", &format!("p{round}-{i}"), &text()))
            .collect();
        store.append_batch(batch).await.expect("batch");
    }
    let after = store.size_bytes().await.expect("size");
    assert!(
        after >= before + 512 * 1024,
        "{before} -> {after} after 1 MB of text"
    );
    store.close().await;
}

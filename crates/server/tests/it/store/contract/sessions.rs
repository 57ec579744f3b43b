//! The session and code cases of the `Store` contract: sessions from creation to pruning
//! (found with their profile, touched, listed, relabelled, revoked one by one or all but
//! one, reported as revoked, pruned) and mailed codes that work once, also when two
//! stores race, and expire.

use std::sync::Arc;

use tuitalk_server::store::accounts::{CodePurpose, SessionRecord};

use super::super::TestDatabase;
use super::accounts::{account, register};

/// A live session of `user_id` created (and last seen) at `created_at`.
fn session(session_id: &str, user_id: &str, created_at: i64, expires_at: i64) -> SessionRecord {
    SessionRecord {
        session_id: session_id.into(),
        user_id: user_id.into(),
        label: "curl/8".into(),
        created_at,
        last_seen_at: created_at,
        expires_at,
        revoked_at: None,
    }
}

/// The ids of sessions, in order.
fn ids(sessions: &[SessionRecord]) -> Vec<&str> {
    sessions.iter().map(|s| s.session_id.as_str()).collect()
}

/// Sessions from creation to pruning: found with their user's profile (revoked too),
/// touched (never backwards), listed newest first without the revoked and ended ones,
/// relabelled and revoked only by their user while live, revoked all but one, reported
/// as revoked since a time, and deleted once ended before the pruning time.
pub async fn sessions_lifecycle(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = register(&*store, &account("ada@example.org", "ada", "Ada")).await;
    let bob = register(&*store, &account("bob@example.org", "bob", "Bob")).await;
    let guest = store.create_guest("gus").await.expect("guest");
    assert!(!store.has_sessions(&ada.user_id).await.expect("has"));
    let s1 = session("s1", &ada.user_id, 1_000, 10_000);
    let s2 = session("s2", &ada.user_id, 2_000, 10_000);
    // Ends exactly at the time `sessions_of` is asked: not listed.
    let s3 = session("s3", &ada.user_id, 1_500, 2_500);
    let b1 = session("b1", &bob.user_id, 1_000, 10_000);
    for s in [&s1, &s2, &s3, &b1] {
        store.create_session(s).await.expect("create");
    }
    assert!(store.has_sessions(&ada.user_id).await.expect("has"));
    assert!(!store.has_sessions(&guest.user_id).await.expect("has"));
    let (found, profile) = store.session("s1").await.expect("session").expect("found");
    assert_eq!(found, s1);
    assert_eq!(profile.user, ada);
    assert_eq!(profile.email.as_deref(), Some("ada@example.org"));
    assert_eq!(store.session("nope").await.expect("session"), None);

    store
        .touch_sessions(&["s1".into(), "s2".into(), "nope".into()], 3_000)
        .await
        .expect("touch");
    store
        .touch_sessions(&["s1".into()], 2_900)
        .await
        .expect("touch older");
    store.touch_sessions(&[], 9_999).await.expect("touch none");
    let live = store.sessions_of(&ada.user_id, 2_500).await.expect("of");
    assert_eq!(
        ids(&live),
        ["s2", "s1"],
        "newest first, the ended one left out"
    );
    assert!(live.iter().all(|s| s.last_seen_at == 3_000), "{live:?}");
    let (b, _) = store.session("b1").await.expect("b1").expect("found");
    assert_eq!(b.last_seen_at, 1_000, "untouched");

    let labelled = store
        .label_session(&ada.user_id, "s1", "laptop")
        .await
        .expect("label")
        .expect("labelled");
    assert_eq!(labelled.label, "laptop");
    assert_eq!(
        labelled,
        SessionRecord {
            label: "laptop".into(),
            last_seen_at: 3_000,
            ..s1.clone()
        }
    );
    assert_eq!(
        store
            .label_session(&bob.user_id, "s1", "x")
            .await
            .expect("l"),
        None
    );
    assert_eq!(
        store
            .label_session(&ada.user_id, "nope", "x")
            .await
            .expect("l"),
        None
    );

    // Revoking one: only its user's, only while live.
    assert!(
        !store
            .revoke_session(&bob.user_id, "s1", 4_000)
            .await
            .expect("r")
    );
    assert!(
        !store
            .revoke_session(&ada.user_id, "s3", 4_000)
            .await
            .expect("ended")
    );
    assert!(
        store
            .revoke_session(&ada.user_id, "s1", 4_000)
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_session(&ada.user_id, "s1", 4_500)
            .await
            .expect("again")
    );
    let (revoked, _) = store.session("s1").await.expect("s1").expect("still found");
    assert_eq!(revoked.revoked_at, Some(4_000));
    assert_eq!(
        store
            .label_session(&ada.user_id, "s1", "x")
            .await
            .expect("l"),
        None
    );
    assert_eq!(
        ids(&store.sessions_of(&ada.user_id, 4_000).await.expect("of")),
        ["s2"]
    );

    // Revoking all but the current one, then all.
    for s in [
        session("s5", &ada.user_id, 5_000, 20_000),
        session("s6", &ada.user_id, 5_001, 20_000),
    ] {
        store.create_session(&s).await.expect("create");
    }
    let n = store
        .revoke_sessions(&ada.user_id, Some("s5"), 5_500)
        .await
        .expect("revoke all but s5");
    assert_eq!(n, 2, "s2 and s6");
    assert_eq!(
        ids(&store.sessions_of(&ada.user_id, 5_500).await.expect("of")),
        ["s5"]
    );
    let n = store
        .revoke_sessions(&ada.user_id, None, 6_000)
        .await
        .expect("all");
    assert_eq!(n, 1);
    assert!(
        store
            .sessions_of(&ada.user_id, 6_000)
            .await
            .expect("of")
            .is_empty()
    );
    assert_eq!(
        ids(&store.sessions_of(&bob.user_id, 6_000).await.expect("of")),
        ["b1"]
    );
    assert!(
        store
            .has_sessions(&ada.user_id)
            .await
            .expect("revoked ones count")
    );

    let since = |t, n| {
        let store = store.clone();
        async move { store.revoked_since(t, n).await.expect("since") }
    };
    assert_eq!(since(4_000, 10).await, ["s1", "s2", "s6", "s5"]);
    assert_eq!(since(4_001, 10).await, ["s2", "s6", "s5"]);
    assert_eq!(since(4_000, 2).await, ["s1", "s2"]);
    assert_eq!(since(6_000, 10).await, ["s5"]);
    assert!(since(6_001, 10).await.is_empty());

    // Pruning deletes what ended (revoked or expired) before the time, nothing live.
    assert_eq!(store.prune_sessions(2_500).await.expect("prune"), 0);
    assert_eq!(
        store.prune_sessions(5_000).await.expect("prune"),
        2,
        "s1 and s3"
    );
    assert_eq!(store.session("s1").await.expect("s1"), None);
    assert_eq!(store.session("s3").await.expect("s3"), None);
    assert_eq!(
        store.prune_sessions(6_001).await.expect("prune"),
        3,
        "s2, s5, s6"
    );
    assert!(!store.has_sessions(&ada.user_id).await.expect("has"));
    assert!(
        store.session("b1").await.expect("b1").is_some(),
        "live until 10 000"
    );
    assert_eq!(store.prune_sessions(10_001).await.expect("prune"), 1);
    store.close().await;
}

/// A mailed code works once, for its purpose, before it expires; two stores using one
/// code at once: one gets it; pruning deletes the expired codes.
pub async fn codes_work_once_and_expire(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = register(&*store, &account("ada@example.org", "ada", "Ada")).await;
    for code in ["h1", "h2", "h3"] {
        store
            .create_code(code, &ada.user_id, CodePurpose::Reset, 1_000, 2_000)
            .await
            .expect("create");
    }
    let use_code = |code: &'static str, purpose, now| {
        let store = store.clone();
        async move { store.use_code(code, purpose, now).await.expect("use") }
    };
    assert_eq!(
        use_code("h1", CodePurpose::Verify, 1_500).await,
        None,
        "other purpose"
    );
    assert_eq!(
        use_code("h1", CodePurpose::Reset, 1_500).await.as_deref(),
        Some(ada.user_id.as_str())
    );
    assert_eq!(
        use_code("h1", CodePurpose::Reset, 1_600).await,
        None,
        "used"
    );
    assert_eq!(
        use_code("h2", CodePurpose::Reset, 2_000).await,
        None,
        "expired"
    );
    assert_eq!(
        use_code("h3", CodePurpose::Reset, 1_999).await.as_deref(),
        Some(ada.user_id.as_str())
    );
    assert_eq!(use_code("nope", CodePurpose::Reset, 1_500).await, None);

    // Two stores (two backends) use the same code at once.
    let other = db.open().await;
    for round in 0..10 {
        let code = format!("race{round}");
        store
            .create_code(&code, &ada.user_id, CodePurpose::Verify, 1_000, 50_000)
            .await
            .expect("create");
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for store in [store.clone(), other.clone()] {
            let (barrier, code) = (barrier.clone(), code.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.use_code(&code, CodePurpose::Verify, 2_000).await
            }));
        }
        let mut used = 0;
        for task in tasks {
            if task.await.expect("task").expect("use").is_some() {
                used += 1;
            }
        }
        assert_eq!(used, 1, "round {round}");
    }
    assert_eq!(store.prune_sessions(2_000).await.expect("prune"), 0);
    assert_eq!(
        store.prune_sessions(2_001).await.expect("prune"),
        3,
        "h1, h2, h3"
    );
    assert_eq!(store.prune_sessions(50_001).await.expect("prune"), 10);
    other.close().await;
    store.close().await;
}

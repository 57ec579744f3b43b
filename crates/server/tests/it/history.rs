//! History paging.

use tuitalk_protocol::ErrorCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn pages_are_exact_across_boundaries() {
    let app = spawn_app(|c| c.limits.posts_per_second = 1000).await;
    let mut ada = app.guest("ada").await;
    ada.join("h", None).await;
    for i in 1..=25 {
        assert_eq!(
            ada.post_acked("h", &format!("p{i}"), &format!("m{i}"))
                .await,
            i
        );
    }
    let seqs =
        |page: &[tuitalk_protocol::ChatMessage]| page.iter().map(|m| m.seq).collect::<Vec<_>>();

    let (page, more) = ada.history("h", None, 10).await;
    assert_eq!(seqs(&page), (16..=25).collect::<Vec<_>>());
    assert!(more);
    let (page, more) = ada.history("h", Some(16), 10).await;
    assert_eq!(seqs(&page), (6..=15).collect::<Vec<_>>());
    assert!(more);
    let (page, more) = ada.history("h", Some(6), 10).await;
    assert_eq!(seqs(&page), (1..=5).collect::<Vec<_>>());
    assert!(!more);
    assert_eq!(page[0].text, "m1");
    let (page, more) = ada.history("h", Some(1), 10).await;
    assert!(page.is_empty() && !more);

    // A page of exactly the remaining size says there is no more.
    let (page, more) = ada.history("h", Some(11), 10).await;
    assert_eq!(seqs(&page), (1..=10).collect::<Vec<_>>());
    assert!(!more);

    // The limit is capped at history_page_max (200 by default): asking for more is fine.
    let (page, more) = ada.history("h", None, 100_000).await;
    assert_eq!(page.len(), 25);
    assert!(!more);

    // limit 0 is refused; an empty room has an empty history.
    ada.send(tuitalk_protocol::ClientCommand::History {
        room: "h".into(),
        before: None,
        limit: 0,
    })
    .await;
    ada.expect_error(ErrorCode::InvalidLimit).await;
    ada.join("empty", None).await;
    let (page, more) = ada.history("empty", None, 5).await;
    assert!(page.is_empty() && !more);
    app.stop().await;
}

#[tokio::test]
async fn history_page_max_caps_the_page() {
    let app = spawn_app(|c| {
        c.limits.history_page_max = 3;
        c.limits.posts_per_second = 1000;
    })
    .await;
    let mut ada = app.guest("ada").await;
    ada.join("h", None).await;
    for i in 1..=5 {
        ada.post_acked("h", &format!("p{i}"), "x").await;
    }
    let (page, more) = ada.history("h", None, 50).await;
    assert_eq!(
        page.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert!(more);
    app.stop().await;
}

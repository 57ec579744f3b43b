//! `/metrics`: exact counter values after a known sequence of chat actions, and output in
//! the OpenMetrics text format.

use tuitalk_protocol::ErrorCode;

use crate::helpers::{TestApp, http_get, spawn_app};

/// The scraped metrics, as `name{labels} value` lines.
pub async fn scrape(app: &TestApp) -> String {
    let (status, body) = http_get(app.addr, "/metrics").await.expect("GET /metrics");
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the sample line `series` (name with labels, as printed).
pub fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().ok())?
        })
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

#[tokio::test]
async fn counters_follow_the_chat_exactly() {
    let app = spawn_app(|_| {}).await;
    let mut ada = app.guest("ada").await;
    let mut bob = app.guest("bob").await;
    ada.join("m", None).await;
    bob.join("m", None).await;
    for i in 1..=3 {
        ada.post_acked("m", &format!("a{i}"), &format!("text {i}"))
            .await;
        bob.expect_message().await;
    }
    // A re-sent post is answered with the original message and not delivered again.
    ada.post("m", "a1", "text 1").await;
    match ada.wait_for("ack").await {
        tuitalk_protocol::ServerEvent::Ack { seq, .. } => assert_eq!(seq, 1),
        other => panic!("expected the original ack, got {other:?}"),
    }
    // A post into a room not joined is refused.
    ada.post("elsewhere", "x1", "nope").await;
    ada.expect_error(ErrorCode::NotJoined).await;

    let text = scrape(&app).await;
    assert_eq!(value(&text, "tuitalk_connections_opened_total"), 2.0);
    assert_eq!(value(&text, "tuitalk_connections"), 2.0);
    assert_eq!(value(&text, "tuitalk_rooms"), 1.0);
    assert_eq!(value(&text, "tuitalk_posts_stored_total"), 3.0);
    assert_eq!(value(&text, "tuitalk_posts_duplicate_total"), 1.0);
    assert_eq!(
        value(&text, "tuitalk_posts_refused_total{code=\"not_joined\"}"),
        1.0
    );
    assert_eq!(
        value(&text, "tuitalk_posts_refused_total{code=\"rate_limited\"}"),
        0.0
    );
    // Three messages, each to both connections.
    assert_eq!(value(&text, "tuitalk_deliveries_total"), 6.0);
    assert_eq!(value(&text, "tuitalk_commit_batch_size_sum"), 4.0);
    let batches = value(&text, "tuitalk_commit_batch_size_count");
    assert_eq!(
        batches,
        value(&text, "tuitalk_commit_duration_seconds_count")
    );
    assert!((1.0..=4.0).contains(&batches), "{batches}");
    assert_eq!(value(&text, "tuitalk_broker_degraded"), 0.0);
    assert_eq!(value(&text, "tuitalk_slow_consumer_disconnects_total"), 0.0);

    // Every line is a comment (`# HELP`, `# TYPE`, `# UNIT`, `# EOF`) or a sample
    // `name{labels} value`.
    let sample = |line: &str| {
        let Some((series, value)) = line.rsplit_once(' ') else {
            return false;
        };
        let name = series.split('{').next().unwrap_or_default();
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && value.parse::<f64>().is_ok()
    };
    for line in text.lines() {
        assert!(
            line.starts_with("# ") || sample(line),
            "not OpenMetrics: {line}"
        );
    }
    assert_eq!(text.lines().last(), Some("# EOF"));

    drop(ada);
    drop(bob);
    app.stop().await;
}

#[tokio::test]
async fn refused_connections_are_counted() {
    let app = spawn_app(|c| c.limits.max_connections = 1).await;
    let _ada = app.guest("ada").await;
    let mut extra = crate::helpers::Client::connect(&app).await;
    let (code, _) = extra.expect_close().await;
    assert_eq!(code, tuitalk_protocol::CloseCode::TRY_AGAIN_LATER);
    let text = scrape(&app).await;
    assert_eq!(value(&text, "tuitalk_connections_refused_total"), 1.0);
    assert_eq!(value(&text, "tuitalk_connections_opened_total"), 1.0);
    app.stop().await;
}

//! Plain HTTP endpoints.

use crate::helpers::{http_get, spawn_app};

#[tokio::test]
async fn health_ready_and_index() {
    let app = spawn_app(|_| {}).await;
    assert_eq!(
        http_get(app.addr, "/healthz").await,
        Some((200, "ok".to_owned()))
    );
    assert_eq!(
        http_get(app.addr, "/readyz").await,
        Some((200, "ready".to_owned()))
    );
    let (status, body) = http_get(app.addr, "/").await.expect("index");
    assert_eq!(status, 200);
    assert!(body.contains("TuiTalk"), "{body}");
    assert_eq!(http_get(app.addr, "/nope").await.map(|(s, _)| s), Some(404));
    app.stop().await;
}

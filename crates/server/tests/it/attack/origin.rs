//! Browsers, origins and tokens (docs/security.md, "Browsers, origins and tokens" and
//! "Metrics endpoint"): a page of another site cannot open `/ws` nor make REST POSTs, a
//! cross-site "simple" form post creates no guest, CORS is off unless configured, the
//! page may connect only to the servers the operator lists, and `/metrics` answers only
//! loopback peers or the bearer token.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sqlx::Connection;
use tokio_util::sync::CancellationToken;
use tuitalk_server::Config;
use tuitalk_server::config::Secret;

use crate::helpers::{
    Client, RawResponse, TestApp, http_get_raw, http_request, spawn_app, ws_handshake,
};
use crate::metrics::{scrape, value};

/// A foreign page's origin.
const EVIL: &str = "https://evil.example";

/// The handshake to the app's `/ws`, with `Origin: origin` when given.
async fn upgrade(app: &TestApp, origin: Option<&str>) -> Result<Client, (u16, String)> {
    ws_handshake(&app.ws_url(), origin).await
}

/// Asserts that a connected client is served: `hello` is answered with `welcome`.
async fn assert_served(mut client: Client, name: &str) {
    client.hello(Some(name), None).await;
    assert_eq!(client.name, name);
}

/// How many users the app's SQLite store holds.
async fn users(app: &TestApp) -> i64 {
    let path = app.config.sqlite_path();
    let mut db = sqlx::sqlite::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open the store");
    let (count,): (i64,) = sqlx::query_as("select count(*) from user")
        .fetch_one(&mut db)
        .await
        .expect("count users");
    count
}

/// `POST /api/sessions` with these header lines and a JSON body.
async fn create_session(app: &TestApp, headers: &[&str]) -> RawResponse {
    http_request(
        app.addr,
        "POST",
        "/api/sessions",
        headers,
        Some(br#"{"name":"csrf"}"#),
    )
    .await
    .expect("response")
}

/// The JSON `code` of an error response.
fn code(response: &RawResponse) -> String {
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON body");
    assert!(body["message"].is_string(), "{body}");
    body["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_foreign_origin_cannot_open_the_websocket() {
    let app = spawn_app(|_| {}).await;
    let (status, body) = upgrade(&app, Some(EVIL)).await.err().expect("refused");
    assert_eq!(status, 403);
    assert!(body.contains("forbidden origin"), "{body}");
    assert!(body.contains("evil.example"), "{body}");
    let metrics = scrape(&app).await;
    assert_eq!(value(&metrics, "tuitalk_forbidden_origins_total"), 1.0);
    assert_eq!(value(&metrics, "tuitalk_connections_opened_total"), 0.0);
    // Another port of the same host is another origin.
    let other_port = format!("http://127.0.0.1:{}", app.addr.port().wrapping_add(1));
    assert_eq!(
        upgrade(&app, Some(&other_port)).await.err().map(|e| e.0),
        Some(403)
    );
    assert_eq!(
        upgrade(&app, Some("null")).await.err().map(|e| e.0),
        Some(403)
    );

    // The server's own pages (Origin = the Host the client asked for) and clients that
    // are no browser page (no Origin: the TUI, bots, tuitalk-load) are served.
    let own = format!("http://{}", app.addr);
    assert_served(upgrade(&app, Some(&own)).await.expect("own origin"), "own").await;
    assert_served(upgrade(&app, None).await.expect("no origin"), "tui").await;
    app.stop().await;
}

#[tokio::test]
async fn a_listed_origin_may_open_the_websocket() {
    let app = spawn_app(|config| {
        config.web.allowed_origins = vec!["https://App.Example:443".to_owned()];
    })
    .await;
    let client = upgrade(&app, Some("https://app.example"))
        .await
        .expect("listed");
    assert_served(client, "app").await;
    assert_eq!(
        upgrade(&app, Some(EVIL)).await.err().map(|e| e.0),
        Some(403)
    );
    assert_eq!(
        upgrade(&app, Some("http://app.example"))
            .await
            .err()
            .map(|e| e.0),
        Some(403),
        "the scheme is part of the origin"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cross_site_simple_post_creates_no_guest() {
    let app = spawn_app(|_| {}).await;
    // What an HTML form or a no-preflight fetch of another site can send.
    for content_type in [
        Some("Content-Type: text/plain"),
        Some("Content-Type: application/x-www-form-urlencoded"),
        Some("Content-Type: multipart/form-data; boundary=x"),
        None,
    ] {
        let headers: Vec<&str> = content_type.into_iter().collect();
        let response = create_session(&app, &headers).await;
        assert_eq!(response.status, 415, "{content_type:?}");
        assert_eq!(code(&response), "unsupported_media_type");
    }
    assert_eq!(users(&app).await, 0, "no guest was created");
    let json = create_session(&app, &["Content-Type: application/json; charset=utf-8"]).await;
    assert_eq!(json.status, 201, "{json:?}");
    assert_eq!(users(&app).await, 1, "the count sees a created guest");
    app.stop().await;
}

#[tokio::test]
async fn a_cross_site_post_with_an_origin_is_forbidden() {
    let app = spawn_app(|_| {}).await;
    let evil = format!("Origin: {EVIL}");
    let response = create_session(&app, &[&evil, "Content-Type: application/json"]).await;
    assert_eq!(response.status, 403);
    assert_eq!(code(&response), "forbidden_origin");
    let response = http_request(
        app.addr,
        "POST",
        "/api/rooms/lobby/messages",
        &[&evil, "Content-Type: text/plain", "Authorization: Bearer x"],
        Some(br#"{"id":"p1","text":"hi"}"#),
    )
    .await
    .expect("response");
    assert_eq!(response.status, 403, "the origin is checked first");
    assert_eq!(users(&app).await, 0);
    // The server's own page (Host: test) may.
    let own = create_session(
        &app,
        &["Origin: http://test", "Content-Type: application/json"],
    );
    assert_eq!(own.await.status, 201);
    // Reading is not state-changing: a GET with a foreign Origin is answered as usual
    // (401 here, no token), and without CORS the foreign page cannot read it anyway.
    let read = http_request(app.addr, "GET", "/api/rooms/lobby/messages", &[&evil], None)
        .await
        .expect("response");
    assert_eq!(read.status, 401);
    assert_eq!(read.header("access-control-allow-origin"), None);
    app.stop().await;
}

/// A CORS preflight of a POST to `/api/sessions` from `origin`.
async fn preflight(app: &TestApp, origin: &str) -> RawResponse {
    let origin = format!("Origin: {origin}");
    http_request(
        app.addr,
        "OPTIONS",
        "/api/sessions",
        &[
            &origin,
            "Access-Control-Request-Method: POST",
            "Access-Control-Request-Headers: content-type",
        ],
        None,
    )
    .await
    .expect("response")
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = spawn_app(|_| {}).await;
    let answer = preflight(&app, "https://tools.example").await;
    assert_eq!(
        answer.header("access-control-allow-origin"),
        None,
        "{answer:?}"
    );
    assert_eq!(answer.header("access-control-allow-methods"), None);
    assert_ne!(answer.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn cors_answers_the_listed_origins_only() {
    let app = spawn_app(|config| {
        config.web.cors_origins = vec!["https://tools.example".to_owned()];
    })
    .await;
    let answer = preflight(&app, "https://tools.example").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://tools.example")
    );
    let methods = answer
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let headers = answer
        .header("access-control-allow-headers")
        .unwrap_or_default();
    assert!(headers.contains("content-type"), "{headers}");
    assert_eq!(answer.header("access-control-allow-credentials"), None);

    let other = preflight(&app, EVIL).await;
    assert_eq!(
        other.header("access-control-allow-origin"),
        None,
        "{other:?}"
    );

    // The listed origin's POST passes the origin rule and its answer is readable.
    let created = create_session(
        &app,
        &[
            "Origin: https://tools.example",
            "Content-Type: application/json",
        ],
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(
        created.header("access-control-allow-origin"),
        Some("https://tools.example")
    );
    // A CORS origin is not a WebSocket origin.
    assert_eq!(
        upgrade(&app, Some("https://tools.example"))
            .await
            .err()
            .map(|e| e.0),
        Some(403)
    );
    app.stop().await;
}

#[tokio::test]
async fn the_page_may_connect_only_to_the_listed_servers() {
    let assets = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        assets.path().join("index.html"),
        "<!doctype html><html><head><title>TuiTalk</title></head><body></body></html>",
    )
    .expect("write");
    let dir = assets.path().to_owned();
    let default = spawn_app({
        let dir = dir.clone();
        move |config| config.web.assets_dir = Some(dir)
    })
    .await;
    let page = http_get_raw(default.addr, "/", &[]).await.expect("page");
    let csp = page
        .header("content-security-policy")
        .expect("csp")
        .to_owned();
    let connect = csp
        .split(';')
        .map(str::trim)
        .find(|directive| directive.starts_with("connect-src"))
        .expect("connect-src");
    assert_eq!(connect, "connect-src 'self'", "{csp}");
    let body = String::from_utf8_lossy(&page.body).into_owned();
    assert!(
        body.contains(r#"<meta name="tuitalk-servers" content="">"#),
        "{body}"
    );
    default.stop().await;

    let listed = spawn_app(move |config| {
        config.web.assets_dir = Some(dir);
        config.web.servers = vec![
            "ws://127.0.0.1:9000/ws".to_owned(),
            "WSS://EU.Chat.Example".to_owned(),
        ];
    })
    .await;
    let page = http_get_raw(listed.addr, "/", &[]).await.expect("page");
    let csp = page.header("content-security-policy").expect("csp");
    assert!(
        csp.contains("connect-src 'self' ws://127.0.0.1:9000/ws wss://eu.chat.example/ws"),
        "{csp}"
    );
    for wildcard in [" ws:", " wss:", " *"] {
        assert!(
            !csp.contains(&format!("{wildcard} ")) && !csp.contains(&format!("{wildcard};")),
            "{csp}"
        );
    }
    let body = String::from_utf8_lossy(&page.body).into_owned();
    assert!(
        body.contains(
            r#"<meta name="tuitalk-servers" content="ws://127.0.0.1:9000/ws wss://eu.chat.example/ws">"#
        ),
        "{body}"
    );
    listed.stop().await;
}

#[tokio::test]
async fn metrics_need_the_bearer_token_when_one_is_set() {
    let token = "scrape-me-0123456789";
    let app = spawn_app(|config| config.metrics.bearer_token = Some(Secret::new(token))).await;
    let path = "/metrics";
    let none = http_get_raw(app.addr, path, &[]).await.expect("response");
    assert_eq!(none.status, 401, "loopback needs it too");
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let wrong = http_get_raw(
        app.addr,
        path,
        &["Authorization: Bearer scrape-me-0123456780"],
    );
    assert_eq!(wrong.await.expect("response").status, 401);
    let basic = format!("Authorization: Basic {token}");
    let basic = http_get_raw(app.addr, path, &[&basic]).await;
    assert_eq!(basic.expect("response").status, 401);
    let right = http_get_raw(app.addr, path, &[&format!("Authorization: Bearer {token}")])
        .await
        .expect("response");
    assert_eq!(right.status, 200);
    assert!(String::from_utf8_lossy(&right.body).contains("tuitalk_connections "));
    app.stop().await;
}

/// An address of this machine that is not loopback (where packets to the internet would
/// leave from), if it has one.
fn non_loopback_address() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only picks the route.
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn metrics_answer_only_loopback_peers_without_a_token() {
    let Some(ip) = non_loopback_address() else {
        eprintln!("skipped: this machine has no non-loopback address to test from");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(tuitalk_server::run(
        listener,
        Config::with_data_dir(dir.path()),
        shutdown.clone(),
    ));
    let loopback = SocketAddr::from(([127, 0, 0, 1], port));
    let mut up = false;
    for _ in 0..100 {
        if http_get_raw(loopback, "/healthz", &[])
            .await
            .is_some_and(|r| r.status == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(up, "the server answers");
    let from_lan = http_get_raw(SocketAddr::new(ip, port), "/metrics", &[])
        .await
        .expect("response");
    assert_eq!(from_lan.status, 403, "{ip} is not loopback");
    assert!(String::from_utf8_lossy(&from_lan.body).contains("metrics.bearer_token"));
    let healthz = http_get_raw(SocketAddr::new(ip, port), "/healthz", &[]).await;
    assert_eq!(
        healthz.map(|r| r.status),
        Some(200),
        "only /metrics is restricted"
    );
    let local = http_get_raw(loopback, "/metrics", &[])
        .await
        .expect("response");
    assert_eq!(local.status, 200);
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}

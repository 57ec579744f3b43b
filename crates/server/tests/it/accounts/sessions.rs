//! Sessions: listed, relabelled, revoked one by one or all at once — live WebSockets of
//! revoked sessions closed with 4004 within 2 s, on this backend and on another one
//! (a shared SQLite file, and the lab's PostgreSQL) — idle and absolute expiry by a clock
//! the test moves, key rotation, and protocol 1 tokens carried over once.

use std::time::{Duration, Instant};

use serde_json::json;
use tuitalk_protocol::ServerEvent;
use tuitalk_server::auth::{Clock, Keyring};
use tuitalk_server::config::Secret;

use super::{login, register, sessions, token};
use crate::backends::{SECRET, Shared};
use crate::helpers::{Client, Received, TestApp, spawn_app, spawn_app_with_clock};
use crate::pg::TestDb;
use crate::rest::request;

/// The bound a revocation must reach live connections within (docs/protocol.md).
const BOUND: Duration = Duration::from_secs(2);

/// Waits for the close of `client`; its code, reason, and how long it took from `since`.
async fn closed(client: &mut Client, since: Instant) -> (u16, String, Duration) {
    loop {
        match client.recv_within(Duration::from_secs(10)).await {
            Received::Event(_) => continue,
            Received::Close(Some(frame)) => {
                return (
                    u16::from(frame.code),
                    frame.reason.to_string(),
                    since.elapsed(),
                );
            }
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sessions_are_listed_relabelled_and_revoked() {
    let app = spawn_app(|_| {}).await;
    let first = register(app.addr, "ada").await;
    let second = login(app.addr, "ada").await;
    let listed = sessions(app.addr, &token(&second)).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], second["session_id"], "newest first");
    assert_eq!(listed[0]["current"], true);
    assert_eq!(listed[1]["current"], false);
    assert_eq!(listed[0]["label"], "test");
    for field in ["created_at", "last_seen_at", "expires_at"] {
        assert!(listed[0][field].as_i64().is_some_and(|t| t > 0), "{field}");
    }

    let id = first["session_id"].as_str().expect("id");
    let body = json!({"label": "laptop"}).to_string();
    let path = format!("/api/sessions/{id}");
    let relabelled = request(
        app.addr,
        "PATCH",
        &path,
        Some(&token(&second)),
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(relabelled.status, 200, "{relabelled:?}");
    assert_eq!(relabelled.json()["label"], "laptop");

    // Another identity cannot see or touch ada's sessions.
    let bob = register(app.addr, "bob").await;
    request(app.addr, "DELETE", &path, Some(&token(&bob)), None)
        .await
        .assert_error(404, "unknown_session");
    request(
        app.addr,
        "PATCH",
        &path,
        Some(&token(&bob)),
        Some(body.as_bytes()),
    )
    .await
    .assert_error(404, "unknown_session");
    request(
        app.addr,
        "DELETE",
        "/api/sessions/not-a-session",
        Some(&token(&bob)),
        None,
    )
    .await
    .assert_error(404, "unknown_session");

    let mut live = Client::connect(&app).await;
    live.hello(None, Some(&token(&first))).await;
    let start = Instant::now();
    let revoked = request(app.addr, "DELETE", &path, Some(&token(&second)), None).await;
    assert_eq!(revoked.status, 204, "{revoked:?}");
    let (code, reason, took) = closed(&mut live, start).await;
    assert_eq!((code, reason.as_str()), (4004, "session_revoked"));
    assert!(took < BOUND, "closed after {took:?}");
    // The token is dead everywhere: REST and hello.
    request(app.addr, "GET", "/api/me", Some(&token(&first)), None)
        .await
        .assert_error(401, "invalid_token");
    let mut again = Client::connect(&app).await;
    again
        .send(tuitalk_protocol::ClientCommand::Hello {
            version: 1,
            token: Some(token(&first)),
            name: None,
        })
        .await;
    again
        .expect_error(tuitalk_protocol::ErrorCode::InvalidToken)
        .await;
    assert_eq!(again.expect_close().await.0, 4001);
    assert_eq!(sessions(app.addr, &token(&second)).await.len(), 1);
    // Revoking it again: unknown.
    request(app.addr, "DELETE", &path, Some(&token(&second)), None)
        .await
        .assert_error(404, "unknown_session");
}

/// Signs ada out everywhere through `revoker` while her connections are open on `apps`;
/// every one closes with 4004 within the bound.
async fn sign_out_everywhere(apps: &[&TestApp], revoker: &TestApp) {
    let ada = register(revoker.addr, "ada").await;
    let mut live = Vec::new();
    for app in apps {
        let session = login(app.addr, "ada").await;
        let mut client = Client::connect(app).await;
        client.hello(None, Some(&token(&session))).await;
        client.join("r", None).await;
        live.push(client);
    }
    // A guest in the room stays.
    let mut guest = apps[0].guest("bystander").await;
    guest.join("r", None).await;
    let start = Instant::now();
    let answer = request(
        revoker.addr,
        "DELETE",
        "/api/sessions",
        Some(&token(&ada)),
        None,
    )
    .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    for client in &mut live {
        let (code, reason, took) = closed(client, start).await;
        assert_eq!((code, reason.as_str()), (4004, "session_revoked"));
        assert!(took < BOUND, "closed after {took:?}");
        eprintln!("sign out everywhere: a connection closed after {took:?}");
    }
    request(
        revoker.addr,
        "GET",
        "/api/sessions",
        Some(&token(&ada)),
        None,
    )
    .await
    .assert_error(401, "invalid_token");
    guest.post_acked("r", "g1", "still here").await;
}

#[tokio::test]
async fn sign_out_everywhere_closes_connections_on_every_backend() {
    let shared = Shared::new();
    let one = shared.spawn(None, |_| {}).await;
    let two = shared.spawn(None, |_| {}).await;
    sign_out_everywhere(&[&one, &two], &two).await;
}

#[tokio::test]
async fn sign_out_everywhere_on_postgres_backends() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let on_pg = |config: &mut tuitalk_server::Config| {
        config.store.database_url = Some(Secret::new(db.url.clone()));
        config.auth.secret = Some(Secret::new(SECRET));
    };
    let one = spawn_app(on_pg).await;
    let two = spawn_app(on_pg).await;
    sign_out_everywhere(&[&one, &two], &one).await;
}

#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_absolute_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Clock::manual(1_800_000_000_000);
    let app = spawn_app_with_clock(dir.path(), clock.clone(), |config| {
        config.auth.session_idle_seconds = 3600;
        config.auth.session_max_seconds = 4 * 3600;
    })
    .await;
    let ada = register(app.addr, "ada").await;
    let listed = sessions(app.addr, &token(&ada)).await;
    assert_eq!(
        listed[0]["expires_at"],
        1_800_000_000_000_i64 + 4 * 3_600_000
    );

    // Idle: used after 50 minutes (fine, and marked in use), then unused for an hour.
    clock.advance(50 * 60_000);
    assert_eq!(
        request(app.addr, "GET", "/api/me", Some(&token(&ada)), None)
            .await
            .status,
        200
    );
    clock.advance(59 * 60_000);
    assert_eq!(
        request(app.addr, "GET", "/api/me", Some(&token(&ada)), None)
            .await
            .status,
        200
    );
    clock.advance(60 * 60_000 + 1);
    request(app.addr, "GET", "/api/me", Some(&token(&ada)), None)
        .await
        .assert_error(401, "invalid_token");

    // Absolute: a connected client keeps its session in use, until the end.
    let fresh = login(app.addr, "ada").await;
    let mut live = Client::connect(&app).await;
    live.hello(None, Some(&token(&fresh))).await;
    for _ in 0..3 {
        clock.advance(61 * 60_000);
        // The revocation check marks live sessions in use (every minute of the clock).
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(
            request(app.addr, "GET", "/api/me", Some(&token(&fresh)), None)
                .await
                .status,
            200,
            "a live session does not go idle"
        );
    }
    clock.advance(60 * 60_000);
    let (code, reason, _) = closed(&mut live, Instant::now()).await;
    assert_eq!((code, reason.as_str()), (4004, "session_expired"));
    request(app.addr, "GET", "/api/me", Some(&token(&fresh)), None)
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn a_rotated_key_keeps_old_tokens_and_signs_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old_key = "the old key, sixteen+";
    let app = crate::helpers::spawn_app_in(dir.path(), |config| {
        config.auth.secret = Some(Secret::new(old_key));
    })
    .await;
    let ada = register(app.addr, "ada").await;
    assert!(token(&ada).starts_with("v2.0."), "{}", token(&ada));
    app.stop().await;

    let app = crate::helpers::spawn_app_in(dir.path(), |config| {
        config.auth.secret = Some(Secret::new(old_key));
        config
            .auth
            .keys
            .insert("k2".into(), Secret::new("the new key, sixteen+"));
        config.auth.signing_key = "k2".into();
    })
    .await;
    assert_eq!(
        request(app.addr, "GET", "/api/me", Some(&token(&ada)), None)
            .await
            .status,
        200
    );
    let fresh = login(app.addr, "ada").await;
    assert!(token(&fresh).starts_with("v2.k2."), "{}", token(&fresh));
    let mut client = Client::connect(&app).await;
    client.hello(None, Some(&token(&fresh))).await;
    app.stop().await;

    // A backend that does not know k2 yet refuses its tokens (and only those).
    let app = crate::helpers::spawn_app_in(dir.path(), |config| {
        config.auth.secret = Some(Secret::new(old_key));
    })
    .await;
    request(app.addr, "GET", "/api/me", Some(&token(&fresh)), None)
        .await
        .assert_error(401, "invalid_token");
    assert_eq!(
        request(app.addr, "GET", "/api/me", Some(&token(&ada)), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_protocol_1_token_is_carried_over_once() {
    let key = "carry-over key, 16+";
    let app = spawn_app(|config| config.auth.secret = Some(Secret::new(key))).await;
    // A guest from before sessions: its identity exists, its token names the user.
    let mut first = app.guest("old-timer").await;
    first.join("r", None).await;
    let legacy = Keyring::new(key.as_bytes().to_vec()).sign_legacy(&first.user_id, 42);
    drop(first);
    // The user now has a session (hello made one), so the old token is refused...
    let mut refused = Client::connect(&app).await;
    refused
        .send(tuitalk_protocol::ClientCommand::Hello {
            version: 1,
            token: Some(legacy.clone()),
            name: None,
        })
        .await;
    refused
        .expect_error(tuitalk_protocol::ErrorCode::InvalidToken)
        .await;

    // ...but an identity without sessions (made before this server) is carried over once.
    let store = tuitalk_server::store::sqlite::SqliteStore::open(&app.config.sqlite_path())
        .await
        .expect("store");
    let before = tuitalk_server::store::Store::create_guest(&store, "ancient")
        .await
        .expect("guest");
    let legacy = Keyring::new(key.as_bytes().to_vec()).sign_legacy(&before.user_id, 42);
    let mut carried = Client::connect(&app).await;
    let welcome = carried.hello(None, Some(&legacy)).await;
    let ServerEvent::Welcome {
        user_id,
        token: fresh,
        ..
    } = welcome
    else {
        unreachable!()
    };
    assert_eq!(user_id, before.user_id);
    assert!(fresh.starts_with("v2."), "{fresh}");
    let mut twice = Client::connect(&app).await;
    twice
        .send(tuitalk_protocol::ClientCommand::Hello {
            version: 1,
            token: Some(legacy),
            name: None,
        })
        .await;
    twice
        .expect_error(tuitalk_protocol::ErrorCode::InvalidToken)
        .await;
    assert_eq!(
        request(app.addr, "GET", "/api/me", Some(&fresh), None)
            .await
            .status,
        200
    );
}

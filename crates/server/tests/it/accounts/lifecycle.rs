//! Registration, login on two clients, chat from both, the guest upgrade, the profile and
//! password change, and login that tells nothing about which emails exist.

use std::time::{Duration, Instant};

use serde_json::json;
use tuitalk_protocol::ServerEvent;

use super::{PASSWORD, login, login_raw, register, register_raw, sessions, token};
use crate::helpers::{Client, spawn_app};
use crate::rest::{post, request};

#[tokio::test]
async fn an_account_logs_in_on_two_clients_and_chats_from_both() {
    let app = spawn_app(|_| {}).await;
    let registered = register(app.addr, "ada").await;
    assert_eq!(registered["handle"], "ada");
    assert_eq!(registered["guest"], false);
    assert_eq!(registered["email"], "ada@example.org");
    // No mail configured: the address counts as verified.
    assert_eq!(registered["email_verified"], true);
    let user_id = registered["user_id"].as_str().expect("id").to_owned();

    // A second device logs in; both are the same identity with different sessions.
    let laptop = login(app.addr, "ada").await;
    assert_eq!(laptop["user_id"], user_id.as_str());
    assert_ne!(laptop["session_id"], registered["session_id"]);
    let mut phone = Client::connect(&app).await;
    let welcome = phone.hello(None, Some(&token(&registered))).await;
    let ServerEvent::Welcome {
        guest,
        handle,
        session_id,
        email_verified,
        ..
    } = welcome
    else {
        unreachable!()
    };
    assert!(!guest);
    assert_eq!(handle.as_deref(), Some("ada"));
    assert_eq!(email_verified, Some(true));
    assert_eq!(session_id, registered["session_id"].as_str().expect("sid"));
    let mut desk = Client::connect(&app).await;
    desk.hello(None, Some(&token(&laptop))).await;
    assert_eq!(desk.user_id, user_id);

    let mut bob = app.guest("bob").await;
    for client in [&mut phone, &mut desk, &mut bob] {
        client.join("r", None).await;
    }
    // From the WebSocket: everyone sees it with the handle.
    phone.post_acked("r", "p1", "from the phone").await;
    let seen = bob.expect_message().await;
    assert_eq!(seen.author_handle.as_deref(), Some("ada"));
    assert_eq!(seen.author_id, user_id);
    assert_eq!(desk.expect_message().await.text, "from the phone");
    // From REST with the laptop's token: the phone and bob see it live.
    let response = post(app.addr, &token(&laptop), "r", "p2", "from REST").await;
    assert_eq!(response.status, 201, "{response:?}");
    for client in [&mut phone, &mut bob] {
        let message = client.expect_message().await;
        assert_eq!(
            (message.text.as_str(), message.author_handle.as_deref()),
            ("from REST", Some("ada"))
        );
    }
    // A guest's messages have no handle.
    bob.post_acked("r", "b1", "a guest speaks").await;
    assert_eq!(phone.expect_message().await.author_handle, None);
    // History keeps the handles.
    let page = request(
        app.addr,
        "GET",
        "/api/rooms/r/messages",
        Some(&token(&laptop)),
        None,
    )
    .await;
    let handles: Vec<_> = page.json()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["author_handle"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        handles,
        [Some("ada".to_owned()), Some("ada".to_owned()), None]
    );
    // Presence shows the handle of the account and none for the guest.
    let members = bob.who("r").await;
    let ada = members
        .iter()
        .find(|m| m.user_id == user_id)
        .expect("ada present");
    assert_eq!(ada.handle.as_deref(), Some("ada"));
    assert!(
        members
            .iter()
            .any(|m| m.name == "bob" && m.handle.is_none())
    );
    assert_eq!(sessions(app.addr, &token(&laptop)).await.len(), 2);
}

#[tokio::test]
async fn a_guest_upgrades_and_keeps_its_id_rooms_and_history() {
    let app = spawn_app(|_| {}).await;
    let mut guest = app.guest("wanderer").await;
    guest.join("lobby", None).await;
    guest.post_acked("lobby", "g1", "posted as a guest").await;
    let guest_token = guest.token.clone();
    let mut bystander = app.guest("bystander").await;
    bystander.join("lobby", None).await;

    let response = register_raw(
        app.addr,
        Some(&guest_token),
        "W@Example.org ",
        "Wanderer",
        "Wanda",
        PASSWORD,
    )
    .await;
    assert_eq!(response.status, 201, "{response:?}");
    let body = response.json();
    assert_eq!(body["user_id"], guest.user_id.as_str());
    assert_eq!(body["handle"], "wanderer");
    assert_eq!(body["email"], "w@example.org");
    assert_eq!(body["name"], "Wanda");
    assert_eq!(
        body["token"],
        guest_token.as_str(),
        "the guest's session goes on"
    );

    // The old connection saw the rename; a new one is an account with the same rooms.
    let mut again = Client::connect(&app).await;
    let welcome = again.hello(None, Some(&guest_token)).await;
    assert!(matches!(welcome, ServerEvent::Welcome { guest: false, .. }));
    assert_eq!(again.user_id, guest.user_id);
    assert_eq!(again.rooms, ["lobby"]);
    again.join("lobby", None).await;
    assert_eq!(again.all_texts("lobby").await, ["posted as a guest"]);
    // Logging in with the new credentials reaches the same identity.
    let logged = login_raw(app.addr, "w@example.org", PASSWORD).await;
    assert_eq!(logged.status, 201, "{logged:?}");
    assert_eq!(logged.json()["user_id"], guest.user_id.as_str());

    // An account cannot register again with its token; a taken email or handle is refused.
    let twice = register_raw(
        app.addr,
        Some(&guest_token),
        "x@example.org",
        "xavier",
        "X",
        PASSWORD,
    )
    .await;
    twice.assert_error(409, "already_registered");
    let email = register_raw(app.addr, None, "W@EXAMPLE.ORG", "other", "O", PASSWORD).await;
    email.assert_error(409, "email_taken");
    let handle = register_raw(app.addr, None, "o@example.org", "WANDERER", "O", PASSWORD).await;
    handle.assert_error(409, "handle_taken");
}

#[tokio::test]
async fn registration_refuses_bad_fields_with_stable_codes() {
    let app = spawn_app(|_| {}).await;
    let cases = [
        ("not-an-email", "ada", "Ada", PASSWORD, "invalid_email"),
        ("ada@example.org", "9ada", "Ada", PASSWORD, "invalid_handle"),
        (
            "ada@example.org",
            "admin",
            "Ada",
            PASSWORD,
            "invalid_handle",
        ),
        (
            "ada@example.org",
            "ada",
            "\u{200b}",
            PASSWORD,
            "invalid_name",
        ),
        ("ada@example.org", "ada", "Ada", "short", "weak_password"),
        (
            "ada@example.org",
            "ada",
            "Ada",
            "password123",
            "weak_password",
        ),
        (
            "ada@example.org",
            "ada",
            "Ada",
            "ada@example.org",
            "weak_password",
        ),
    ];
    for (email, handle, name, password, code) in cases {
        register_raw(app.addr, None, email, handle, name, password)
            .await
            .assert_error(400, code);
    }
    let unknown = request(
        app.addr,
        "POST",
        "/api/users",
        None,
        Some(br#"{"email":"a@b.co","password":"x","name":"a","handle":"abc","admin":true}"#),
    )
    .await;
    unknown.assert_error(400, "invalid_command");
    // Nothing was stored: the email is still free.
    register(app.addr, "ada").await;
}

#[tokio::test]
async fn login_does_not_tell_unknown_emails_from_wrong_passwords() {
    let app = spawn_app(|_| {}).await;
    register(app.addr, "ada").await;
    let wrong = login_raw(app.addr, "ada@example.org", "not the password at all").await;
    let unknown = login_raw(app.addr, "nobody@example.org", "not the password at all").await;
    let malformed = login_raw(app.addr, "nobody", "not the password at all").await;
    for response in [&wrong, &unknown, &malformed] {
        response.assert_error(401, "invalid_credentials");
    }
    assert_eq!(wrong.json(), unknown.json(), "the same body");
    assert_eq!(wrong.json(), malformed.json(), "the same body");

    // The same work either way: an unknown email still costs a password hash check. Three
    // rounds each, medians compared; a fast path for unknown emails would be far below.
    let times = |email: &'static str| {
        let addr = app.addr;
        async move {
            let mut took = Vec::new();
            for _ in 0..3 {
                let start = Instant::now();
                login_raw(addr, email, "not the password at all").await;
                took.push(start.elapsed());
            }
            took.sort();
            took[1]
        }
    };
    let wrong = times("ada@example.org").await;
    let unknown = times("nobody@example.org").await;
    assert!(
        unknown * 3 >= wrong && wrong * 3 >= unknown,
        "wrong password {wrong:?} vs unknown email {unknown:?}"
    );
    assert!(
        unknown >= Duration::from_millis(1),
        "a hash was checked: {unknown:?}"
    );
}

#[tokio::test]
async fn logins_are_limited_per_address_and_per_account() {
    let app = spawn_app(|config| {
        config.limits = Default::default();
        config.limits.logins_per_minute_per_address = 3;
        config.limits.logins_per_hour_per_account = 100;
    })
    .await;
    register(app.addr, "ada").await;
    for _ in 0..3 {
        login_raw(app.addr, "ada@example.org", "wrong wrong wrong")
            .await
            .assert_error(401, "invalid_credentials");
    }
    let limited = login_raw(app.addr, "ada@example.org", PASSWORD).await;
    limited.assert_error(429, "rate_limited");
    assert!(limited.header("retry-after").is_some());

    let app = spawn_app(|config| {
        config.limits = Default::default();
        config.limits.logins_per_hour_per_account = 2;
    })
    .await;
    register(app.addr, "bob").await;
    for _ in 0..2 {
        login_raw(app.addr, "bob@example.org", "wrong wrong wrong")
            .await
            .assert_error(401, "invalid_credentials");
    }
    // The account's budget is spent, the right password too is refused for now; an
    // unknown email has a budget of its own and tells nothing.
    login_raw(app.addr, "BOB@example.org", PASSWORD)
        .await
        .assert_error(429, "rate_limited");
    login_raw(app.addr, "carol@example.org", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
}

#[tokio::test]
async fn the_profile_renames_and_the_password_changes() {
    let app = spawn_app(|_| {}).await;
    let ada = register(app.addr, "ada").await;
    let other = login(app.addr, "ada").await;
    let me = request(app.addr, "GET", "/api/me", Some(&token(&ada)), None).await;
    assert_eq!(me.status, 200, "{me:?}");
    let me = me.json();
    assert_eq!(
        (
            me["handle"].as_str(),
            me["role"].as_str(),
            me["guest"].as_bool()
        ),
        (Some("ada"), Some("member"), Some(false))
    );

    let body = json!({"name": "Ada L."}).to_string();
    let renamed = request(
        app.addr,
        "PATCH",
        "/api/me",
        Some(&token(&ada)),
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(renamed.status, 200, "{renamed:?}");
    assert_eq!(renamed.json()["name"], "Ada L.");

    let mut live = Client::connect(&app).await;
    live.hello(None, Some(&token(&other))).await;
    let wrong =
        json!({"current_password": "nope nope nope", "new_password": "a brand new secret phrase"})
            .to_string();
    request(
        app.addr,
        "POST",
        "/api/me/password",
        Some(&token(&ada)),
        Some(wrong.as_bytes()),
    )
    .await
    .assert_error(401, "invalid_credentials");
    let change = json!({"current_password": PASSWORD, "new_password": "a brand new secret phrase"})
        .to_string();
    let changed = request(
        app.addr,
        "POST",
        "/api/me/password",
        Some(&token(&ada)),
        Some(change.as_bytes()),
    )
    .await;
    assert_eq!(changed.status, 204, "{changed:?}");
    // The other session ended, and its connection was closed; this one goes on.
    assert_eq!(
        live.expect_close().await,
        (4004, "session_revoked".to_owned())
    );
    assert_eq!(
        request(app.addr, "GET", "/api/me", Some(&token(&other)), None)
            .await
            .status,
        401
    );
    assert_eq!(
        request(app.addr, "GET", "/api/me", Some(&token(&ada)), None)
            .await
            .status,
        200
    );
    login_raw(app.addr, "ada@example.org", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(
        login_raw(app.addr, "ada@example.org", "a brand new secret phrase")
            .await
            .status,
        201
    );

    // A guest has no password to change.
    let guest = crate::rest::new_session(app.addr, "g").await;
    request(
        app.addr,
        "POST",
        "/api/me/password",
        Some(&token(&guest)),
        Some(change.as_bytes()),
    )
    .await
    .assert_error(401, "invalid_credentials");
}

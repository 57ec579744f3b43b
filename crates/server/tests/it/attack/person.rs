//! Limits that follow the person: one identity on many connections, guests minted per
//! address, history and rename amplification, memberships piling up, rooms created by
//! join/leave, one identity holding many connections. docs/security.md, "Rate limits
//! that follow the person".

use std::time::Duration;

use serde_json::json;
use tuitalk_protocol::{ClientCommand, CloseCode, ErrorCode, ServerEvent};
use tuitalk_server::Config;

use crate::helpers::{Client, Received, TestApp, spawn_app};
use crate::rest::{new_session, post, request};

fn defaults(config: &mut Config) {
    config.limits = Default::default();
}

/// Counts, over `wait`, the `ack`s and `rate_limited` errors a client receives.
async fn acks_and_refusals(client: &mut Client, wait: Duration) -> (usize, usize) {
    let (mut acks, mut refused) = (0, 0);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.recv_within(left).await {
            Received::Event(ServerEvent::Ack { .. }) => acks += 1,
            Received::Event(ServerEvent::Error {
                code: ErrorCode::RateLimited,
                ..
            }) => refused += 1,
            Received::Event(_) => {}
            _ => return (acks, refused),
        }
    }
}

/// A second connection of `client`'s identity.
async fn same_identity(app: &TestApp, client: &Client) -> Client {
    let mut other = Client::connect(app).await;
    other.hello(None, Some(&client.token)).await;
    other
}

#[tokio::test]
async fn one_identity_on_many_connections_shares_one_post_rate() {
    let app = spawn_app(|c| {
        defaults(c);
        c.limits.posts_per_second = 2;
    })
    .await;
    let mut first = app.guest("multi").await;
    first.join("lobby", None).await;
    let mut connections = vec![first];
    for _ in 1..10 {
        let mut other = same_identity(&app, &connections[0]).await;
        other.join("lobby", None).await;
        connections.push(other);
    }
    // 10 connections × 20 posts, all at once: the identity's budget is 2 a second (and a
    // burst of 2), not 20.
    for (n, client) in connections.iter_mut().enumerate() {
        for i in 0..20 {
            client.post("lobby", &format!("c{n}-{i}"), "hi").await;
        }
    }
    let mut acked = 0;
    let mut refused = 0;
    for client in &mut connections {
        let (a, r) = acks_and_refusals(client, Duration::from_millis(1500)).await;
        acked += a;
        refused += r;
    }
    assert!(acked <= 6, "{acked} posts acknowledged in 1.5 s");
    assert_eq!(acked + refused, 200, "every post answered");
    // REST posts draw from the same budget: spent over the WebSocket, none is left.
    for i in 0..3 {
        connections[1]
            .post("lobby", &format!("again-{i}"), "hi")
            .await;
    }
    let (acked, refused) = acks_and_refusals(&mut connections[1], Duration::from_millis(150)).await;
    assert_eq!((acked.min(2), acked + refused), (2, 3));
    let response = post(app.addr, &connections[0].token, "lobby", "rest-1", "hi").await;
    response.assert_error(429, "rate_limited");
    app.stop().await;
}

#[tokio::test]
async fn guests_are_minted_at_a_bounded_rate_per_address() {
    let app = spawn_app(|c| {
        defaults(c);
        c.limits.guests_per_hour_per_address = 10;
    })
    .await;
    for n in 0..10 {
        new_session(app.addr, &format!("g{n}")).await;
    }
    let body = json!({ "name": "one-more" }).to_string();
    let refused = request(
        app.addr,
        "POST",
        "/api/sessions",
        None,
        Some(body.as_bytes()),
    )
    .await;
    refused.assert_error(429, "rate_limited");
    assert!(refused.header("retry-after").is_some(), "{refused:?}");
    // Over the WebSocket the same budget is spent: hello without a token is closed 1013.
    let mut late = Client::connect(&app).await;
    late.send(ClientCommand::Hello {
        version: tuitalk_protocol::PROTOCOL_VERSION,
        token: None,
        name: Some("late".into()),
    })
    .await;
    late.expect_error(ErrorCode::RateLimited).await;
    let (code, _) = late.expect_close().await;
    assert_eq!(code, CloseCode::TRY_AGAIN_LATER);
    app.stop().await;
}

#[tokio::test]
async fn history_and_presence_requests_are_rate_limited_per_identity() {
    let app = spawn_app(defaults).await;
    let mut client = app.guest("reader").await;
    client.join("lobby", None).await;
    let mut second = same_identity(&app, &client).await;
    second.join("lobby", None).await;
    for _ in 0..30 {
        for c in [&mut client, &mut second] {
            c.send(ClientCommand::History {
                room: "lobby".into(),
                before: None,
                limit: 200,
            })
            .await;
        }
    }
    let (mut pages, mut refused) = (0, 0);
    for c in [&mut client, &mut second] {
        loop {
            match c.recv_within(Duration::from_millis(800)).await {
                Received::Event(ServerEvent::History { .. }) => pages += 1,
                Received::Event(ServerEvent::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }) => refused += 1,
                Received::Event(_) => {}
                _ => break,
            }
        }
    }
    assert!(pages <= 15, "{pages} pages answered");
    assert_eq!(pages + refused, 60);
    for _ in 0..20 {
        client
            .send(ClientCommand::Who {
                room: "lobby".into(),
            })
            .await;
    }
    let (mut answered, mut refused) = (0, 0);
    loop {
        match client.recv_within(Duration::from_millis(800)).await {
            Received::Event(ServerEvent::Presence { .. }) => answered += 1,
            Received::Event(ServerEvent::Error {
                code: ErrorCode::RateLimited,
                ..
            }) => refused += 1,
            Received::Event(_) => {}
            _ => break,
        }
    }
    assert!(answered <= 6, "{answered} presence answers");
    assert_eq!(answered + refused, 20);
    app.stop().await;
}

#[tokio::test]
async fn renames_cannot_flood_a_room_with_name_changes() {
    let app = spawn_app(defaults).await;
    let mut renamer = app.guest("renamer").await;
    renamer.join("lobby", None).await;
    let mut listener = app.guest("listener").await;
    listener.join("lobby", None).await;
    for n in 0..50 {
        renamer
            .send(ClientCommand::Name {
                name: format!("renamer{n}"),
            })
            .await;
    }
    let mut changes = 0;
    loop {
        match listener.recv_within(Duration::from_millis(1000)).await {
            Received::Event(ServerEvent::NameChanged { .. }) => changes += 1,
            Received::Event(_) => {}
            _ => break,
        }
    }
    assert!(
        (1..=10).contains(&changes),
        "{changes} name changes reached the listener"
    );
    app.stop().await;
}

#[tokio::test]
async fn memberships_do_not_pile_up_and_rooms_are_not_minted() {
    let app = spawn_app(|c| {
        defaults(c);
        c.limits.max_memberships = 5;
        c.limits.rooms_created_per_hour = 8;
    })
    .await;
    let mut client = app.guest("collector").await;
    for n in 0..5 {
        client.join(&format!("r{n}"), None).await;
    }
    // A reconnect keeps the memberships: the sixth room is refused on a new connection.
    let mut again = same_identity(&app, &client).await;
    assert_eq!(again.rooms.len(), 5);
    again
        .send(ClientCommand::Join {
            room: "r5".into(),
            since: None,
        })
        .await;
    again.expect_error(ErrorCode::TooManyRooms).await;
    // Leaving one makes room; creating rooms by join/leave stops at the hourly budget.
    let mut created = 5;
    let mut refused = None;
    for n in 5..20 {
        // A stored membership is left from a connection that joined it (a member's
        // own rooms are always joinable, whatever the cap).
        again.join(&format!("r{}", n - 5), None).await;
        again
            .send(ClientCommand::Leave {
                room: format!("r{}", n - 5),
            })
            .await;
        again.expect("left").await;
        again
            .send(ClientCommand::Join {
                room: format!("r{n}"),
                since: None,
            })
            .await;
        match again.next_significant().await {
            ServerEvent::Joined { .. } => created += 1,
            ServerEvent::Error { code, .. } => {
                refused = Some(code);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 8, "rooms created before the budget ran out");
    assert_eq!(refused, Some(ErrorCode::RateLimited));
    // Joining a room that exists is not creating one.
    let mut other = app.guest("other").await;
    other.join("r0", None).await;
    app.stop().await;
}

#[tokio::test]
async fn one_identity_cannot_hold_every_connection() {
    let app = spawn_app(|c| {
        defaults(c);
        c.limits.max_connections_per_identity = 5;
    })
    .await;
    let first = app.guest("hog").await;
    let mut held = Vec::new();
    for _ in 1..5 {
        held.push(same_identity(&app, &first).await);
    }
    let mut sixth = Client::connect(&app).await;
    sixth
        .send(ClientCommand::Hello {
            version: tuitalk_protocol::PROTOCOL_VERSION,
            token: Some(first.token.clone()),
            name: None,
        })
        .await;
    sixth.expect_error(ErrorCode::RateLimited).await;
    let (code, _) = sixth.expect_close().await;
    assert_eq!(code, CloseCode::TRY_AGAIN_LATER);
    // A place comes back when a connection closes.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    held.push(same_identity(&app, &first).await);
    app.stop().await;
}

#[tokio::test]
async fn the_rate_limiters_hold_a_bounded_number_of_keys() {
    // Three keys per limiter: three identities join; a fourth one, while the other three
    // still have budgets to refill, is refused instead of growing the limiter.
    let app = spawn_app(|c| {
        defaults(c);
        c.limits.max_rate_keys = 3;
        // One join a minute: the members' keys stay in use for the test's length.
        c.limits.joins_per_minute = 1;
        c.limits.sessions_per_minute_per_address = 1000;
        c.limits.guests_per_hour_per_address = 1000;
    })
    .await;
    let mut members = Vec::new();
    for n in 0..3 {
        let mut client = app.guest(&format!("member{n}")).await;
        client.join("lobby", None).await;
        members.push(client);
    }
    let mut fourth = app.guest("fourth").await;
    fourth
        .send(ClientCommand::Join {
            room: "lobby".into(),
            since: None,
        })
        .await;
    let refusal = fourth.expect_error(ErrorCode::RateLimited).await;
    assert!(
        matches!(
            refusal,
            ServerEvent::Error {
                retry_after_ms: Some(_),
                ..
            }
        ),
        "{refusal:?}"
    );
    app.stop().await;
}

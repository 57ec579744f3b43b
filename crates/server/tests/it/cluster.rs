//! Two backends on the lab's Redis Cluster, sharing one SQLite file: chat, presence and
//! names across backends, concurrent posting, delivery of a message that never went over
//! the bus, and the presence of a killed backend expiring.

use std::time::Duration;

use tuitalk_protocol::{ClientCommand, Member, ServerEvent};

use crate::backends::{SECRET, ServerProcess, Shared};
use crate::helpers::{Client, WAIT};
use crate::lab;

fn room() -> String {
    format!("r-{}", uuid::Uuid::new_v4().simple())
}

/// Sends `who` and returns the members (skipping other events).
async fn who(client: &mut Client, room: &str) -> Vec<Member> {
    client
        .send(ClientCommand::Who {
            room: room.to_owned(),
        })
        .await;
    loop {
        if let ServerEvent::Presence { members, .. } = client.recv_event().await {
            return members;
        }
    }
}

fn names(members: &[Member]) -> Vec<&str> {
    members.iter().map(|m| m.name.as_str()).collect()
}

/// Waits for a presence event of `kind` about `user_id`.
async fn wait_presence(client: &mut Client, kind: &str, user_id: &str) -> ServerEvent {
    loop {
        let event = client.recv_event().await;
        let about = match &event {
            ServerEvent::UserJoined { user_id: u, .. }
            | ServerEvent::UserLeft { user_id: u, .. } => u == user_id,
            _ => false,
        };
        if event.kind() == kind && about {
            return event;
        }
    }
}

#[tokio::test]
async fn chat_across_backends_exactly_once_in_order() {
    let Some(nodes) = lab::redis_nodes() else {
        return;
    };
    let shared = Shared::new();
    let a = shared.spawn(Some(&nodes), |_| {}).await;
    let b = shared.spawn(Some(&nodes), |_| {}).await;
    let room = room();
    let mut ada = a.guest("ada").await;
    let mut bob = b.guest("bob").await;
    ada.join(&room, None).await;
    bob.join(&room, None).await;

    for i in 1..=5u64 {
        let (poster, reader) = if i % 2 == 1 {
            (&mut ada, &mut bob)
        } else {
            (&mut bob, &mut ada)
        };
        let seq = poster
            .post_acked(&room, &format!("p{i}"), &format!("text {i}"))
            .await;
        assert_eq!(seq, i);
        let m = reader.expect_message().await;
        assert_eq!((m.seq, m.text.as_str()), (i, format!("text {i}").as_str()));
    }
    // Exactly once: nothing more arrives, not even after a watcher check.
    for client in [&mut ada, &mut bob] {
        loop {
            match client.recv_within(Duration::from_millis(1500)).await {
                crate::helpers::Received::Timeout => break,
                crate::helpers::Received::Event(ServerEvent::Message(m)) => {
                    panic!("duplicate delivery {m:?}")
                }
                crate::helpers::Received::Event(_) => continue,
                other => panic!("{other:?}"),
            }
        }
    }
    // Each backend published its three or two messages (plus presence events) to Redis
    // and received the other's; nothing needed repairing.
    use crate::metrics::{scrape, value};
    for (app, own, other) in [(&a, 3.0, 2.0), (&b, 2.0, 3.0)] {
        let text = scrape(app).await;
        assert_eq!(value(&text, "tuitalk_broker_degraded"), 0.0);
        assert!(
            value(&text, "tuitalk_broker_published_total") >= own,
            "{text}"
        );
        assert!(
            value(&text, "tuitalk_broker_received_total") >= other,
            "{text}"
        );
        assert_eq!(value(&text, "tuitalk_posts_stored_total"), own);
        assert_eq!(value(&text, "tuitalk_deliveries_total"), 5.0);
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn presence_joins_leaves_and_names_across_backends() {
    let Some(nodes) = lab::redis_nodes() else {
        return;
    };
    let shared = Shared::new();
    let a = shared.spawn(Some(&nodes), |_| {}).await;
    let b = shared.spawn(Some(&nodes), |_| {}).await;
    let room = room();
    let mut ada = a.guest("ada").await;
    ada.join(&room, None).await;
    let ada_id = ada.user_id.clone();
    wait_presence(&mut ada, "user_joined", &ada_id).await;
    let mut bob = b.guest("bob").await;
    bob.join(&room, None).await;
    let bob_id = bob.user_id.clone();
    match wait_presence(&mut ada, "user_joined", &bob_id).await {
        ServerEvent::UserJoined { name, room: r, .. } => {
            assert_eq!((name.as_str(), r.as_str()), ("bob", room.as_str()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(names(&who(&mut ada, &room).await), vec!["ada", "bob"]);
    assert_eq!(names(&who(&mut bob, &room).await), vec!["ada", "bob"]);

    // A second device of bob on the other backend: not a new arrival.
    let mut bob2 = Client::connect(&a).await;
    bob2.hello(None, Some(&bob.token.clone())).await;
    bob2.join(&room, None).await;

    bob.send(ClientCommand::Name {
        name: "robert".into(),
    })
    .await;
    match ada.wait_for("name_changed").await {
        ServerEvent::NameChanged {
            user_id,
            old_name,
            name,
            rooms,
        } => {
            assert_eq!(user_id, bob_id);
            assert_eq!((old_name.as_str(), name.as_str()), ("bob", "robert"));
            assert_eq!(rooms, vec![room.clone()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(names(&who(&mut ada, &room).await), vec!["ada", "robert"]);

    // Bob leaves on b but is still present through his device on a.
    bob.send(ClientCommand::Leave { room: room.clone() }).await;
    bob.wait_for("left").await;
    assert_eq!(names(&who(&mut ada, &room).await), vec!["ada", "robert"]);
    // His last connection goes: everyone hears it.
    drop(bob2);
    match wait_presence(&mut ada, "user_left", &bob_id).await {
        ServerEvent::UserLeft { name, .. } => assert_eq!(name, "robert"),
        other => panic!("{other:?}"),
    }
    assert_eq!(names(&who(&mut ada, &room).await), vec!["ada"]);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn concurrent_posts_on_both_backends_reach_everyone_in_order() {
    let Some(nodes) = lab::redis_nodes() else {
        return;
    };
    const PER_CLIENT: u64 = 25;
    const CLIENTS_PER_BACKEND: usize = 4;
    let shared = Shared::new();
    let a = shared.spawn(Some(&nodes), |_| {}).await;
    let b = shared.spawn(Some(&nodes), |_| {}).await;
    let room = room();
    let mut clients = Vec::new();
    for i in 0..CLIENTS_PER_BACKEND * 2 {
        let app = if i % 2 == 0 { &a } else { &b };
        let mut client = app.guest(&format!("c{i}")).await;
        client.join(&room, None).await;
        clients.push(client);
    }
    let total = PER_CLIENT * clients.len() as u64;
    let mut tasks = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..PER_CLIENT {
                client.post(&room, &format!("c{i}-{n}"), "x").await;
            }
            let mut seqs = Vec::new();
            let mut acks = 0;
            while seqs.len() < total as usize || acks < PER_CLIENT {
                match client.recv_event().await {
                    ServerEvent::Message(m) => seqs.push(m.seq),
                    ServerEvent::Ack { .. } => acks += 1,
                    ServerEvent::Error { code, .. } => panic!("post refused: {code}"),
                    _ => {}
                }
            }
            seqs
        }));
    }
    for task in tasks {
        let seqs = task.await.expect("client task");
        assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn message_that_never_went_over_the_bus_arrives_through_the_watcher() {
    let Some(nodes) = lab::redis_nodes() else {
        return;
    };
    let shared = Shared::new();
    let with_redis = shared.spawn(Some(&nodes), |_| {}).await;
    // This backend publishes nowhere but into the shared store.
    let alone = shared.spawn(None, |_| {}).await;
    let room = room();
    let mut bob = with_redis.guest("bob").await;
    bob.join(&room, None).await;
    let mut ada = alone.guest("ada").await;
    ada.join(&room, None).await;
    assert_eq!(ada.post_acked(&room, "a1", "only in the store").await, 1);
    let m = tokio::time::timeout(WAIT, bob.expect_message())
        .await
        .expect("delivered by the watcher");
    assert_eq!((m.seq, m.text.as_str()), (1, "only in the store"));
    alone.stop().await;
    with_redis.stop().await;
}

#[tokio::test]
async fn killed_backend_users_expire_from_presence() {
    let Some(nodes) = lab::redis_nodes() else {
        return;
    };
    let shared = Shared::new();
    let fast = |config: &mut tuitalk_server::Config| {
        config.broker.presence_refresh_ms = 300;
        config.broker.presence_expiry_ms = 1500;
    };
    let b = shared.spawn(Some(&nodes), fast).await;
    let mut doomed = ServerProcess::start(
        shared.dir.path(),
        &[
            (
                "TUITALK__STORE__SQLITE_PATH",
                shared.db().display().to_string(),
            ),
            ("TUITALK__AUTH__SECRET", SECRET.to_owned()),
            ("TUITALK__BROKER__REDIS_NODES", nodes.clone()),
            ("TUITALK__BROKER__PRESENCE_REFRESH_MS", "300".to_owned()),
            ("TUITALK__BROKER__PRESENCE_EXPIRY_MS", "1500".to_owned()),
        ],
    )
    .await;
    let room = room();
    let mut ada = Client::connect_url(&doomed.ws_url()).await;
    ada.hello(Some("ada"), None).await;
    ada.join(&room, None).await;
    let mut bob = b.guest("bob").await;
    bob.join(&room, None).await;
    assert_eq!(names(&who(&mut bob, &room).await), vec!["ada", "bob"]);

    doomed.kill();
    // Within the expiry (plus a refresh) bob's backend prunes ada and says so.
    let ada_id = ada.user_id.clone();
    let left = tokio::time::timeout(WAIT, wait_presence(&mut bob, "user_left", &ada_id))
        .await
        .expect("user_left for the killed backend's user");
    assert!(matches!(left, ServerEvent::UserLeft { ref name, .. } if name == "ada"));
    assert_eq!(names(&who(&mut bob, &room).await), vec!["bob"]);
    b.stop().await;
}

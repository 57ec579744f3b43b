//! Chatting: messages, acks, joins and leaves, names, presence, devices, concurrency.

use std::collections::HashSet;

use tuitalk_protocol::{ClientCommand, ServerEvent};

use crate::helpers::{Client, spawn_app};

#[tokio::test]
async fn two_clients_chat_in_sequence() {
    let app = spawn_app(|_| {}).await;
    let mut ada = app.guest("ada").await;
    let mut bob = app.guest("bob").await;
    assert_eq!(ada.join("42", None).await, 0);
    assert_eq!(bob.join("42", None).await, 0);

    assert_eq!(ada.post_acked("42", "a-1", "hello bob").await, 1);
    let m = bob.expect_message().await;
    assert_eq!(
        (m.seq, m.text.as_str(), m.author.as_str()),
        (1, "hello bob", "ada")
    );
    assert_eq!(m.author_id, ada.user_id);

    assert_eq!(bob.post_acked("42", "b-1", "hi ada").await, 2);
    let m = ada.expect_message().await;
    assert_eq!(
        (m.seq, m.text.as_str(), m.author.as_str()),
        (2, "hi ada", "bob")
    );

    assert_eq!(ada.post_acked("42", "a-2", "bye").await, 3);
    assert_eq!(bob.expect_message().await.seq, 3);
    assert_eq!(
        ada.all_texts("42").await,
        vec!["hello bob", "hi ada", "bye"]
    );
    app.stop().await;
}

#[tokio::test]
async fn joins_leaves_and_name_changes_reach_others() {
    let app = spawn_app(|_| {}).await;
    let mut ada = app.guest("ada").await;
    ada.join("room", None).await;
    // Ada sees her own arrival.
    match ada.expect("user_joined").await {
        ServerEvent::UserJoined { name, .. } => assert_eq!(name, "ada"),
        other => panic!("{other:?}"),
    }
    let mut bob = app.guest("bob").await;
    bob.join("room", None).await;
    match ada.expect("user_joined").await {
        ServerEvent::UserJoined {
            room,
            user_id,
            name,
            ..
        } => {
            assert_eq!((room.as_str(), name.as_str()), ("room", "bob"));
            assert_eq!(user_id, bob.user_id);
        }
        other => panic!("{other:?}"),
    }

    bob.send(ClientCommand::Name {
        name: "robert".into(),
    })
    .await;
    let bob_id = bob.user_id.clone();
    for client in [&mut ada, &mut bob] {
        match client.wait_for("name_changed").await {
            ServerEvent::NameChanged {
                old_name,
                name,
                rooms,
                user_id,
            } => {
                assert_eq!((old_name.as_str(), name.as_str()), ("bob", "robert"));
                assert_eq!(rooms, vec!["room".to_owned()]);
                assert_eq!(user_id, bob_id);
            }
            other => panic!("{other:?}"),
        }
    }
    // Future messages carry the new name; old ones keep theirs.
    bob.post_acked("room", "b-1", "renamed").await;
    assert_eq!(ada.expect_message().await.author, "robert");

    bob.send(ClientCommand::Leave {
        room: "room".into(),
    })
    .await;
    bob.expect("left").await;
    match ada.expect("user_left").await {
        ServerEvent::UserLeft { name, user_id, .. } => {
            assert_eq!(name, "robert");
            assert_eq!(user_id, bob.user_id);
        }
        other => panic!("{other:?}"),
    }
    // Bob no longer gets the room's messages, and may not post there.
    ada.post_acked("room", "a-1", "still here").await;
    bob.post("room", "b-2", "ghost").await;
    bob.expect_error(tuitalk_protocol::ErrorCode::NotJoined)
        .await;
    bob.send(ClientCommand::Ping { nonce: Some(9) }).await;
    assert_eq!(
        bob.expect("pong").await,
        ServerEvent::Pong { nonce: Some(9) }
    );

    // A disconnect counts as leaving.
    let mut cid = app.guest("cid").await;
    cid.join("room", None).await;
    ada.wait_for("user_joined").await;
    drop(cid);
    match ada.wait_for("user_left").await {
        ServerEvent::UserLeft { name, .. } => assert_eq!(name, "cid"),
        other => panic!("{other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn who_lists_present_users_by_name() {
    let app = spawn_app(|_| {}).await;
    let mut zed = app.guest("zed").await;
    let mut amy = app.guest("amy").await;
    zed.join("r", None).await;
    amy.join("r", None).await;
    // A second device of amy counts once.
    let mut amy2 = Client::connect(&app).await;
    amy2.hello(None, Some(&amy.token.clone())).await;
    amy2.join("r", None).await;
    zed.send(ClientCommand::Who { room: "r".into() }).await;
    match zed.wait_for("presence").await {
        ServerEvent::Presence { room, members } => {
            assert_eq!(room, "r");
            let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
            assert_eq!(names, vec!["amy", "zed"]);
        }
        other => panic!("{other:?}"),
    }
    drop(amy);
    amy2.send(ClientCommand::Leave { room: "r".into() }).await;
    amy2.wait_for("left").await;
    zed.wait_for("user_left").await;
    zed.send(ClientCommand::Who { room: "r".into() }).await;
    match zed.wait_for("presence").await {
        ServerEvent::Presence { members, .. } => assert_eq!(members.len(), 1),
        other => panic!("{other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn every_device_of_an_identity_receives_everything() {
    let app = spawn_app(|_| {}).await;
    let mut phone = app.guest("ada").await;
    phone.join("r", None).await;
    let mut laptop = Client::connect(&app).await;
    let welcome = laptop.hello(None, Some(&phone.token.clone())).await;
    match welcome {
        ServerEvent::Welcome {
            user_id,
            name,
            rooms,
            ..
        } => {
            assert_eq!(user_id, phone.user_id);
            assert_eq!(name, "ada");
            assert_eq!(rooms, vec!["r".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    laptop.join("r", None).await;
    let mut bob = app.guest("bob").await;
    bob.join("r", None).await;
    bob.post_acked("r", "b", "to all devices").await;
    assert_eq!(phone.expect_message().await.text, "to all devices");
    assert_eq!(laptop.expect_message().await.text, "to all devices");
    // A post from one device reaches the other.
    phone.post_acked("r", "p", "from phone").await;
    let m = laptop.expect_message().await;
    assert_eq!(
        (m.text.as_str(), m.author_id.as_str()),
        ("from phone", phone.user_id.as_str())
    );
    // A rename reaches the user's device that joined no room as well.
    let mut idle = Client::connect(&app).await;
    idle.hello(None, Some(&phone.token.clone())).await;
    phone
        .send(ClientCommand::Name {
            name: "grace".into(),
        })
        .await;
    match idle.wait_for("name_changed").await {
        ServerEvent::NameChanged { name, rooms, .. } => {
            assert_eq!(name, "grace");
            assert!(rooms.is_empty());
        }
        other => panic!("{other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn concurrent_posters_get_one_gapless_order() {
    let app = spawn_app(|c| c.limits.posts_per_second = 1000).await;
    const CLIENTS: usize = 6;
    const POSTS: usize = 30;
    let mut reader = app.guest("reader").await;
    reader.join("busy", None).await;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut client = app.guest(&format!("poster{c}")).await;
        client.join("busy", None).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..POSTS {
                client
                    .post("busy", &format!("{c}-{i}"), &format!("{c}-{i}"))
                    .await;
            }
            let mut acks = Vec::new();
            while acks.len() < POSTS {
                if let ServerEvent::Ack { seq, .. } = client.recv_event().await {
                    acks.push(seq);
                }
            }
            acks
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        let acks = task.await.expect("poster");
        // Each poster's own posts are stored in the order it sent them.
        assert!(acks.windows(2).all(|w| w[0] < w[1]), "{acks:?}");
        acked.extend(acks);
    }
    acked.sort_unstable();
    let total = (CLIENTS * POSTS) as u64;
    assert_eq!(acked, (1..=total).collect::<Vec<_>>());
    // The reader sees 1..=N live, in order, each once.
    let mut seen = Vec::new();
    let mut texts = HashSet::new();
    while seen.len() < CLIENTS * POSTS {
        let m = reader.expect_message().await;
        texts.insert(m.text);
        seen.push(m.seq);
    }
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    assert_eq!(texts.len(), CLIENTS * POSTS);
    app.stop().await;
}

//! Bounds: slow consumers, the connection limit, idle connections (G6).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tuitalk_protocol::{ClientCommand, CloseCode, ServerEvent, decode_event, encode_command};

use crate::helpers::{Client, Received, WAIT, spawn_app};

#[tokio::test]
async fn a_slow_reader_is_closed_with_4000_and_others_keep_going() {
    let app = spawn_app(|c| {
        c.limits.send_queue = 64;
        c.store.max_batch = 16;
        c.limits.posts_per_second = 100_000;
    })
    .await;
    // Enough to fill the slow client's queues and the kernel's socket buffers (up to 4 MiB
    // on the send side here).
    const POSTS: usize = 1500;
    let text = "z".repeat(4000);

    // The slow client: a tiny receive buffer, and it stops reading after joining.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket.connect(app.addr).await.expect("connect");
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (ws, _) = tokio_tungstenite::client_async(app.ws_url(), stream)
        .await
        .expect("handshake");
    let mut slow = Client {
        ws,
        user_id: String::new(),
        name: String::new(),
        token: String::new(),
        rooms: Vec::new(),
    };
    slow.hello(Some("slow"), None).await;
    slow.join("flood", None).await;

    let mut reader = app.guest("reader").await;
    reader.join("flood", None).await;
    // The slow client starts reading once the others saw it leave (it was cut off);
    // it then gets what was queued before, and the close 4000.
    let (slow_left, cut_off) = tokio::sync::oneshot::channel::<()>();
    let slow_task = tokio::spawn(async move {
        cut_off.await.expect("the slow client was cut off");
        slow.expect_close().await
    });
    let reader_task = tokio::spawn(async move {
        let mut seqs = Vec::new();
        let mut slow_left = Some(slow_left);
        while seqs.len() < POSTS || slow_left.is_some() {
            match reader.recv_event().await {
                ServerEvent::Message(m) => seqs.push(m.seq),
                ServerEvent::UserLeft { name, .. } if name == "slow" => {
                    if let Some(tx) = slow_left.take() {
                        let _ = tx.send(());
                    }
                }
                ServerEvent::UserJoined { .. } => {}
                other => panic!("reader got {other:?}"),
            }
        }
        (reader, seqs)
    });

    let mut sender = app.guest("sender").await;
    sender.join("flood", None).await;
    let (mut sink, mut stream) = sender.ws.split();
    let acks = tokio::spawn(async move {
        let mut acks = 0;
        let mut messages = 0;
        while acks < POSTS || messages < POSTS {
            let frame = tokio::time::timeout(WAIT, stream.next())
                .await
                .expect("sender keeps receiving")
                .expect("sender stays open")
                .expect("frame");
            if let Message::Text(text) = frame {
                match decode_event(&text).expect("event") {
                    ServerEvent::Ack { .. } => acks += 1,
                    ServerEvent::Message(_) => messages += 1,
                    ServerEvent::UserJoined { .. } | ServerEvent::UserLeft { .. } => {}
                    other => panic!("sender got {other:?}"),
                }
            }
        }
        stream
    });
    for i in 0..POSTS {
        let post = ClientCommand::Post {
            room: "flood".into(),
            id: format!("f{i}"),
            text: text.clone(),
        };
        sink.send(Message::text(encode_command(&post)))
            .await
            .expect("send");
    }
    let stream = acks.await.expect("sender got every ack and message");
    let (mut reader, seqs) = reader_task.await.expect("reader kept up");
    assert_eq!(seqs, (1..=POSTS as u64).collect::<Vec<_>>());

    let (code, reason) = slow_task.await.expect("slow client task");
    assert_eq!(code, CloseCode::SLOW_CONSUMER);
    assert!(reason.starts_with("slow_consumer"), "{reason}");

    // Sender and reader still work.
    let mut sender_ws = sink.reunite(stream).expect("same socket");
    let post = ClientCommand::Post {
        room: "flood".into(),
        id: "after".into(),
        text: "ok".into(),
    };
    sender_ws
        .send(Message::text(encode_command(&post)))
        .await
        .expect("send");
    let m = reader.expect_message().await;
    assert_eq!((m.seq, m.text.as_str()), (POSTS as u64 + 1, "ok"));
    // The slow client left the room (its presence is gone).
    match reader.recv_within(Duration::from_millis(50)).await {
        Received::Event(_) | Received::Timeout => {}
        other => panic!("{other:?}"),
    }
    reader
        .send(ClientCommand::Who {
            room: "flood".into(),
        })
        .await;
    match reader.wait_for("presence").await {
        ServerEvent::Presence { members, .. } => {
            let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
            assert_eq!(names, vec!["reader", "sender"]);
        }
        other => panic!("{other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn connections_above_the_limit_are_closed_with_1013() {
    let app = spawn_app(|c| c.limits.max_connections = 1).await;
    let first = app.guest("first").await;
    let mut second = Client::connect(&app).await;
    let (code, _) = second.expect_close().await;
    assert_eq!(code, CloseCode::TRY_AGAIN_LATER);
    drop(first);
    // The slot is freed once the server noticed the disconnect.
    let mut admitted = false;
    for _ in 0..50 {
        let mut c = Client::connect(&app).await;
        c.send(ClientCommand::Ping { nonce: None }).await;
        match c.recv_within(Duration::from_secs(2)).await {
            Received::Event(_) => {
                admitted = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(admitted, "a slot frees up after a disconnect");
    app.stop().await;
}

#[tokio::test]
async fn upgrades_above_the_accept_rate_get_503_with_retry_after() {
    let app = spawn_app(|c| c.limits.accepts_per_second = 2).await;
    let _first = app.guest("first").await;
    let _second = app.guest("second").await;
    // The burst of two is spent: the third upgrade within the second is refused before
    // it becomes a WebSocket, with a hint when to come back.
    let refused = tokio_tungstenite::connect_async(app.ws_url())
        .await
        .expect_err("third upgrade in a second");
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("expected an HTTP refusal, got {refused:?}");
    };
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let (_, metrics) = crate::helpers::http_get(app.addr, "/metrics")
        .await
        .expect("metrics");
    assert!(
        metrics.contains("tuitalk_connections_throttled_total 1"),
        "{metrics}"
    );
    // After the refill, a client is admitted again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut later = app.guest("later").await;
    later.send(ClientCommand::Ping { nonce: Some(1) }).await;
    later.expect("pong").await;
    app.stop().await;
}

#[tokio::test]
async fn silent_clients_are_closed_with_4003_and_live_ones_are_not() {
    let app = spawn_app(|c| {
        c.limits.ping_interval_ms = 100;
        c.limits.idle_timeout_ms = 400;
    })
    .await;
    let mut silent = app.guest("silent").await;
    let mut live = app.guest("live").await;
    // `live` keeps reading, so its WebSocket library answers the pings.
    live.expect_silence(Duration::from_millis(1200)).await;
    // `silent` did not read, so it never answered a ping.
    let (code, _) = silent.expect_close().await;
    assert_eq!(code, CloseCode::IDLE_TIMEOUT);
    live.send(ClientCommand::Ping { nonce: Some(3) }).await;
    assert_eq!(
        live.expect("pong").await,
        ServerEvent::Pong { nonce: Some(3) }
    );
    app.stop().await;
}

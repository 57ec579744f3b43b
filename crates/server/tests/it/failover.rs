//! Redis failures, on a private three-master cluster started by each test: a node
//! restart (the backends resubscribe), the failover of the room's master to its replica
//! and the old master's return as a replica (no duplicates), and the whole cluster down
//! (messages flow through the store; when Redis returns the backends switch back).
//!
//! The room watcher's normal interval is set to a minute here, so a message delivered
//! within a few seconds while the broker is connected went over Redis, and one delivered
//! while Redis is down went through the store (the degraded interval is 100 ms).

use std::time::Duration;

use tuitalk_server::Config;

use crate::backends::{PrivateCluster, Shared, wait_ready_body};
use crate::helpers::{Client, Received, TestApp};
use crate::lab;

const CONNECTED: &str = "ready";
const DEGRADED: &str = "ready (broker degraded)";
const SWITCH: Duration = Duration::from_secs(20);

fn settings(config: &mut Config) {
    config.broker.watch_interval_ms = 60_000;
    config.broker.degraded_watch_interval_ms = 100;
    config.broker.resubscribe_max_backoff_ms = 500;
    config.broker.redis_timeout_ms = 500;
}

async fn pair(shared: &Shared, cluster: &PrivateCluster) -> (TestApp, TestApp) {
    let nodes = cluster.nodes();
    let a = shared.spawn(Some(&nodes), settings).await;
    let b = shared.spawn(Some(&nodes), settings).await;
    wait_ready_body(&a, CONNECTED, SWITCH).await;
    wait_ready_body(&b, CONNECTED, SWITCH).await;
    (a, b)
}

/// `poster` posts `seq`; `reader` must get exactly that message next.
async fn exchange(poster: &mut Client, reader: &mut Client, room: &str, seq: u64) {
    let text = format!("message {seq}");
    assert_eq!(
        poster.post_acked(room, &format!("p{seq}"), &text).await,
        seq
    );
    let m = reader.expect_message().await;
    assert_eq!((m.seq, m.text.as_str()), (seq, text.as_str()));
}

fn required() -> bool {
    // The private cluster needs redis-server, like the lab; skip with the lab's rule.
    lab::redis_nodes().is_some()
}

#[tokio::test]
async fn node_restart_resubscribes_and_messages_keep_flowing() {
    if !required() {
        return;
    }
    let mut cluster = PrivateCluster::start().await;
    let shared = Shared::new();
    let (a, b) = pair(&shared, &cluster).await;
    let room = format!("r-{}", uuid::Uuid::new_v4().simple());
    let mut ada = a.guest("ada").await;
    let mut bob = b.guest("bob").await;
    ada.join(&room, None).await;
    bob.join(&room, None).await;
    exchange(&mut ada, &mut bob, &room, 1).await;

    for node in 0..3 {
        cluster.kill_node(node);
        let seq = 2 + 3 * node as u64;
        // During the outage (the cluster reports a failure: no replicas here).
        exchange(&mut bob, &mut ada, &room, seq).await;
        cluster.start_node(node).await;
        cluster.wait_ok().await;
        wait_ready_body(&a, CONNECTED, SWITCH).await;
        wait_ready_body(&b, CONNECTED, SWITCH).await;
        // Resubscribed: these go over Redis again (the watcher's interval is a minute).
        exchange(&mut ada, &mut bob, &room, seq + 1).await;
        exchange(&mut bob, &mut ada, &room, seq + 2).await;
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn whole_cluster_down_falls_back_to_the_store_and_switches_back() {
    if !required() {
        return;
    }
    let mut cluster = PrivateCluster::start().await;
    let shared = Shared::new();
    let (a, b) = pair(&shared, &cluster).await;
    let room = format!("r-{}", uuid::Uuid::new_v4().simple());
    let mut ada = a.guest("ada").await;
    let mut bob = b.guest("bob").await;
    ada.join(&room, None).await;
    bob.join(&room, None).await;
    exchange(&mut ada, &mut bob, &room, 1).await;

    for node in 0..3 {
        cluster.kill_node(node);
    }
    wait_ready_body(&a, DEGRADED, SWITCH).await;
    wait_ready_body(&b, DEGRADED, SWITCH).await;
    // Redis is gone: these can only come through the store.
    exchange(&mut ada, &mut bob, &room, 2).await;
    exchange(&mut bob, &mut ada, &room, 3).await;
    // Joining and asking who is here still work (local presence).
    let mut cy = a.guest("cy").await;
    cy.join(&room, None).await;
    exchange(&mut bob, &mut cy, &room, 4).await;
    ada.expect_message().await;

    for node in 0..3 {
        cluster.start_node(node).await;
    }
    cluster.wait_ok().await;
    wait_ready_body(&a, CONNECTED, SWITCH).await;
    wait_ready_body(&b, CONNECTED, SWITCH).await;
    exchange(&mut ada, &mut bob, &room, 5).await;
    assert_eq!(cy.expect_message().await.seq, 5);
    exchange(&mut bob, &mut ada, &room, 6).await;
    assert_eq!(cy.expect_message().await.seq, 6);
    b.stop().await;
    a.stop().await;
}

/// Asserts that no further message arrives (other events may).
async fn no_more_messages(client: &mut Client) {
    loop {
        match client.recv_within(Duration::from_millis(1500)).await {
            Received::Timeout => return,
            Received::Event(tuitalk_protocol::ServerEvent::Message(m)) => {
                panic!("unexpected (duplicate?) message {m:?}")
            }
            Received::Event(_) => continue,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn master_failover_and_return_as_replica_deliver_once() {
    if !required() {
        return;
    }
    let mut cluster = PrivateCluster::start_with(1).await;
    let shared = Shared::new();
    let (a, b) = pair(&shared, &cluster).await;
    let room = format!("r-{}", uuid::Uuid::new_v4().simple());
    let mut ada = a.guest("ada").await;
    let mut bob = b.guest("bob").await;
    ada.join(&room, None).await;
    bob.join(&room, None).await;
    exchange(&mut ada, &mut bob, &room, 1).await;

    // Kill the master of the room's slot; its replica takes over after the node timeout.
    let channel = format!("tuitalk:{{{room}}}:events");
    let master = cluster.master_of(&channel);
    cluster.kill_node(master);
    exchange(&mut bob, &mut ada, &room, 2).await;
    cluster.wait_master_change(&channel, master).await;
    cluster.wait_ok().await;
    wait_ready_body(&a, CONNECTED, SWITCH).await;
    wait_ready_body(&b, CONNECTED, SWITCH).await;
    // Over Redis again (the watcher's interval is a minute).
    exchange(&mut ada, &mut bob, &room, 3).await;
    exchange(&mut bob, &mut ada, &room, 4).await;

    // The old master returns as a replica: a stale slot map may subscribe twice; the
    // clients still get every message once.
    cluster.start_node(master).await;
    cluster.wait_ok().await;
    wait_ready_body(&a, CONNECTED, SWITCH).await;
    wait_ready_body(&b, CONNECTED, SWITCH).await;
    for seq in 5..=8 {
        if seq % 2 == 1 {
            exchange(&mut ada, &mut bob, &room, seq).await;
        } else {
            exchange(&mut bob, &mut ada, &room, seq).await;
        }
    }
    no_more_messages(&mut ada).await;
    no_more_messages(&mut bob).await;
    b.stop().await;
    a.stop().await;
}

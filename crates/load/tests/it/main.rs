//! Integration tests: the real `tuitalk-load` binary against the real `tuitalk-server`
//! binary (built by `cargo build --workspace`), each test with its own port and data
//! directory. `TEST_LOG=1` shows the server's log and the tool's diagnostics.

mod support;

use std::time::Duration;

use support::{Server, assert_clean, free_addr, load_command, report};

#[test]
fn every_receiver_gets_every_message_once_in_order() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(free_addr(), data.path());
    let url = server.url();
    let output = load_command(&[
        "--url",
        &url,
        "--senders",
        "2",
        "--receivers",
        "4",
        "--rooms",
        "2",
        "--messages",
        "200",
        "--settle",
        "20",
    ])
    .output()
    .expect("run tuitalk-load");
    let (code, json) = report(&output);
    assert_eq!(json["posts"], 400, "{json}");
    assert_eq!(json["acked"], 400, "{json}");
    // Each room has one sender (200 posts) and two receivers.
    assert_eq!(json["expected_deliveries"], 800, "{json}");
    assert_eq!(json["deliveries"], 800, "{json}");
    assert_eq!(json["latency_ms"]["count"], 800, "{json}");
    assert_eq!(json["ack_latency_ms"]["count"], 400, "{json}");
    assert_eq!(json["reconnects"], 0, "{json}");
    assert_eq!(json["settled"], true, "{json}");
    assert_clean(&json);
    assert_eq!(code, 0, "{json}");
}

#[test]
fn a_server_restart_loses_and_repeats_nothing() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start(free_addr(), data.path());
    let url = server.url();
    let child = load_command(&[
        "--url",
        &url,
        "--senders",
        "2",
        "--receivers",
        "4",
        "--rooms",
        "2",
        "--rate",
        "200",
        "--duration",
        "4",
        "--settle",
        "30",
        "--backoff-base-ms",
        "100",
        "--backoff-cap-ms",
        "1000",
    ])
    .spawn()
    .expect("start tuitalk-load");
    // Restart in the middle of sending: SIGTERM (clients get 1012), then start again on
    // the same port and data directory.
    std::thread::sleep(Duration::from_millis(1500));
    server.restart();
    let output = child.wait_with_output().expect("tuitalk-load finishes");
    let (code, json) = report(&output);
    assert_eq!(json["posts"], 800, "{json}");
    assert_eq!(json["acked"], 800, "{json}");
    assert_eq!(json["expected_deliveries"], 1600, "{json}");
    assert!(json["reconnects"].as_u64().is_some_and(|n| n > 0), "{json}");
    assert_clean(&json);
    assert_eq!(code, 0, "{json}");
}

#[test]
fn idle_mode_holds_its_connections() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(free_addr(), data.path());
    let url = server.url();
    let output = load_command(&["--url", &url, "--idle", "50", "--hold", "1", "--rooms", "3"])
        .output()
        .expect("run tuitalk-load");
    let (code, json) = report(&output);
    assert_eq!(json["mode"], "idle", "{json}");
    assert_eq!(json["connections"], 50, "{json}");
    assert_eq!(json["up"], 50, "{json}");
    assert_eq!(json["ok"], true, "{json}");
    assert_eq!(code, 0, "{json}");
}

#[test]
fn an_unreachable_server_is_a_setup_failure() {
    let addr = free_addr();
    let url = format!("ws://{addr}/ws");
    let output = load_command(&[
        "--url",
        &url,
        "--messages",
        "1",
        "--connect-timeout",
        "1",
        "--backoff-base-ms",
        "50",
    ])
    .output()
    .expect("run tuitalk-load");
    let (code, json) = report(&output);
    assert_eq!(code, 2, "{json}");
    assert_eq!(json["ok"], false, "{json}");
    assert!(json["error"].is_string(), "{json}");
}

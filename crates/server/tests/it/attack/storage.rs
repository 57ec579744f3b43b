//! Attacks on the store's disk (docs/security.md, "Storage"): a posting flood bounded by
//! retention, a full disk (posts refused with `unavailable`, nothing acknowledged lost,
//! the database intact, posting back once there is space), the data files private to the
//! server's user, and the size alarm.
//!
//! The full-disk test mounts a 4 MiB tmpfs on a temporary directory (it needs root and
//! `mount`; without them it fails when `TUITALK_TEST_REQUIRE_LAB` is set and is skipped
//! otherwise) and unmounts it when it ends, also when it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tuitalk_protocol::{ErrorCode, Seq, ServerEvent};

use crate::helpers::{Client, TestApp, WAIT, http_get, spawn_app, spawn_app_in};
use crate::lab;

/// A tmpfs of a given size mounted on a fresh temporary directory; unmounted (lazily, so
/// even a file still open cannot keep it) when dropped.
struct TinyFs {
    dir: tempfile::TempDir,
}

impl TinyFs {
    /// Mounts it; `None` (after [`lab::missing`]) when this machine cannot.
    fn mount(size: &str) -> Option<TinyFs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = format!("size={size},mode=0700");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tuitalk-test"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(TinyFs { dir }),
            Ok(out) => {
                lab::missing(&format!(
                    "cannot mount a tmpfs (root needed): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                None
            }
            Err(err) => {
                lab::missing(&format!("cannot run mount: {err}"));
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the file system is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("filler");
    let mut written = 0;
    for chunk in [64 * 1024, 4096, 512, 1] {
        let bytes = vec![0u8; chunk];
        while let Ok(n @ 1..) = file.write(&bytes) {
            written += n as u64;
        }
    }
    written
}

/// Posts and returns the ack's sequence or the refusal's code (own `message` events,
/// which may come before or after the ack, are skipped).
async fn post_outcome(
    client: &mut Client,
    room: &str,
    id: &str,
    text: &str,
) -> Result<Seq, ErrorCode> {
    client.post(room, id, text).await;
    loop {
        match client.next_significant().await {
            ServerEvent::Ack { id: got, seq, .. } if got == id => return Ok(seq),
            ServerEvent::Error {
                code,
                id: Some(got),
                ..
            } if got == id => return Err(code),
            ServerEvent::Message(_) => {}
            other => panic!("while posting {id}: {other:?}"),
        }
    }
}

/// The value of the metric line starting with `series` (name and labels).
async fn metric(app: &TestApp, series: &str) -> Option<f64> {
    let (status, text) = http_get(app.addr, "/metrics").await?;
    assert_eq!(status, 200);
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Waits until `series` has `want`.
async fn wait_metric(app: &TestApp, series: &str, want: impl Fn(f64) -> bool) -> f64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = metric(app, series).await;
        if let Some(value) = value.filter(|v| want(*v)) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} stays at {value:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A 4 MiB disk filled up under a running server: posts are refused with `unavailable`
/// (WebSocket `error`, REST 503), the server keeps serving history, nothing it
/// acknowledged is lost and nothing it refused is stored; once the filler is removed,
/// posting works again, and the database passes `PRAGMA integrity_check`.
#[tokio::test]
async fn a_full_disk_refuses_posts_and_loses_no_acknowledged_one() {
    let Some(fs) = TinyFs::mount("4m") else {
        return;
    };
    let data = fs.path().join("data");
    let app = spawn_app_in(&data, |c| c.limits.posts_per_second = 10_000).await;
    let mut ada = app.guest("ada").await;
    ada.join("r", None).await;
    let text = |i: usize| format!("{i:05} {}", "x".repeat(3000));
    let mut acked: Vec<(String, Seq)> = Vec::new();
    for i in 0..3 {
        let id = format!("before-{i}");
        let seq = post_outcome(&mut ada, "r", &id, &text(i))
            .await
            .expect("stored");
        acked.push((id, seq));
    }
    let filler = fs.path().join("filler");
    assert!(fill(&filler) > 3 * 1024 * 1024, "the filler took the space");

    // Post until the store refuses (the WAL may still have room for a few).
    let mut refused = Vec::new();
    for i in 0..500 {
        let id = format!("full-{i}");
        match post_outcome(&mut ada, "r", &id, &text(i)).await {
            Ok(seq) => acked.push((id, seq)),
            Err(code) => {
                assert_eq!(code, ErrorCode::Unavailable, "a full disk is `unavailable`");
                refused.push((id, text(i)));
                if refused.len() == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(
        refused.len(),
        3,
        "posts were refused once the disk was full"
    );
    let rest = crate::rest::post(app.addr, &ada.token, "r", "rest-full", "hello").await;
    rest.assert_error(503, "unavailable");
    assert!(metric(&app, "tuitalk_commit_failures_total").await >= Some(1.0));
    assert!(metric(&app, "tuitalk_posts_refused_total{code=\"unavailable\"}").await >= Some(3.0));
    assert!(metric(&app, "tuitalk_posts_refused_total{code=\"internal\"}").await == Some(0.0));
    // Still alive, still serving what it has.
    assert_eq!(http_get(app.addr, "/healthz").await.map(|r| r.0), Some(200));
    let (page, _) = ada.history("r", None, 200).await;
    let seqs: Vec<Seq> = page.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, acked.iter().map(|(_, s)| *s).collect::<Vec<_>>());

    // Space again: the first refused post, resent as a client would, is stored.
    std::fs::remove_file(&filler).expect("remove the filler");
    let (resent, resent_text) = refused.remove(0);
    let mut stored = None;
    for _ in 0..50 {
        match post_outcome(&mut ada, "r", &resent, &resent_text).await {
            Ok(seq) => {
                stored = Some(seq);
                break;
            }
            Err(code) => assert_eq!(code, ErrorCode::Unavailable),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seq = stored.expect("posting works again once there is space");
    assert_eq!(seq, acked.len() as Seq + 1, "no sequence was lost or taken");
    acked.push((resent, seq));
    let seq = post_outcome(&mut ada, "r", "after", "hello")
        .await
        .expect("stored");
    acked.push(("after".to_owned(), seq));
    drop(ada);
    app.stop().await;

    let stored = read_database(&data.join("tuitalk.db")).await;
    assert_eq!(
        stored, acked,
        "exactly the acknowledged posts, in order, without holes"
    );
    for (id, _) in &refused {
        assert!(
            stored.iter().all(|(got, _)| got != id),
            "{id} was refused but stored"
        );
    }
    drop(fs);
}

/// Checks the SQLite database's integrity and returns every message's (post id, seq).
async fn read_database(path: &Path) -> Vec<(String, Seq)> {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let mut db = sqlx::sqlite::SqliteConnection::connect_with(&options)
        .await
        .expect("open the database");
    let check: String = sqlx::query_scalar("pragma integrity_check")
        .fetch_one(&mut db)
        .await
        .expect("integrity_check");
    assert_eq!(check, "ok");
    let rows: Vec<(String, i64)> = sqlx::query_as("select post_id, seq from message order by seq")
        .fetch_all(&mut db)
        .await
        .expect("messages");
    db.close().await.expect("close");
    rows.into_iter()
        .map(|(id, seq)| (id, Seq::try_from(seq).expect("positive")))
        .collect()
}

/// The data directory's mode and every file in it with its mode.
fn modes(dir: &Path) -> (u32, Vec<(PathBuf, u32)>) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|entry| entry.expect("entry").path())
        .map(|path| {
            let m = mode(&path);
            (path, m)
        })
        .collect();
    files.sort();
    (mode(dir), files)
}

/// Asserts the data directory is 0700 and every file 0600, the database, its WAL and
/// shared-memory files and the token secret among them.
#[track_caller]
fn assert_private(dir: &Path, expect: &[&str]) {
    let (dir_mode, files) = modes(dir);
    assert_eq!(dir_mode, 0o700, "{}", dir.display());
    for name in expect {
        assert!(
            files
                .iter()
                .any(|(p, _)| p.file_name().is_some_and(|n| n == *name)),
            "{name} missing: {files:?}"
        );
    }
    for (path, mode) in &files {
        assert_eq!(*mode, 0o600, "{}", path.display());
    }
}

const RUNNING_FILES: [&str; 4] = [
    "tuitalk.db",
    "tuitalk.db-wal",
    "tuitalk.db-shm",
    "token-secret",
];

/// A fresh data directory is created 0700, and every file the server makes in it is
/// 0600, while it runs and after it stopped.
#[tokio::test]
async fn data_files_are_created_private() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("new/data");
    let app = spawn_app_in(&data, |_| {}).await;
    let mut ada = app.guest("ada").await;
    ada.join("r", None).await;
    ada.post_acked("r", "p1", "hello").await;
    assert_private(&data, &RUNNING_FILES);
    assert_eq!(
        modes(&root.path().join("new")).0,
        0o700,
        "created parents too"
    );
    drop(ada);
    app.stop().await;
    assert_private(&data, &["tuitalk.db", "token-secret"]);
}

/// A data directory and files left readable by others (an old version, a careless
/// copy) are tightened when the server starts.
#[tokio::test]
async fn too_open_data_files_are_tightened_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let app = spawn_app_in(&data, |_| {}).await;
    app.guest("ada").await;
    app.stop().await;
    let open = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    open(&data, 0o755);
    for (path, _) in modes(&data).1 {
        open(&path, 0o644);
    }
    let app = spawn_app_in(&data, |_| {}).await;
    let mut ada = app.guest("ada").await;
    ada.join("r", None).await;
    ada.post_acked("r", "p1", "hello").await;
    assert_private(&data, &RUNNING_FILES);
    drop(ada);
    app.stop().await;
}

/// A flood of 400 posts of 1000 characters from four guests, within a generous rate
/// limit, into a room that keeps 50 messages: the room ends with exactly the newest 50
/// and its head at 400, and retention counted the 350 it deleted.
#[tokio::test]
async fn retention_bounds_a_room_under_a_posting_flood() {
    let app = spawn_app(|c| {
        c.limits.posts_per_second = 1000;
        c.store.retention_messages = 50;
        c.store.retention_interval_ms = 100;
    })
    .await;
    let mut floods = Vec::new();
    for poster in 0..4 {
        let mut client = app.guest(&format!("flood{poster}")).await;
        client.join("flood", None).await;
        floods.push(tokio::spawn(async move {
            let text = "y".repeat(1000);
            for i in 0..100 {
                client.post("flood", &format!("f{poster}-{i}"), &text).await;
            }
            let mut acks = 0;
            while acks < 100 {
                match client.next_significant().await {
                    ServerEvent::Ack { .. } => acks += 1,
                    ServerEvent::Message(_) => {}
                    other => panic!("flood{poster}: {other:?}"),
                }
            }
            client
        }));
    }
    let mut clients = Vec::new();
    for flood in floods {
        clients.push(flood.await.expect("flood task"));
    }
    // A reader of its own: the posters' queues are full of the flood.
    let mut reader = app.guest("reader").await;
    reader.join("flood", None).await;
    let reader = &mut reader;
    crate::retention::wait_pruned_to(reader, "flood", 351).await;
    let (page, has_more) = reader.history("flood", None, 200).await;
    let seqs: Vec<Seq> = page.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (351..=400).collect::<Vec<_>>());
    assert!(!has_more);
    wait_metric(&app, "tuitalk_retention_pruned_total", |v| v >= 350.0).await;
    assert_eq!(
        metric(&app, "tuitalk_retention_pruned_total").await,
        Some(350.0)
    );
    drop(clients);
    app.stop().await;
}

/// The size gauge is exported, and the alarm turns 1 once the store grows larger than
/// `store.size_alarm_bytes` (0 by default: off).
#[tokio::test]
async fn the_store_size_alarm_rises_above_its_threshold() {
    const ALARM: u64 = 1024 * 1024;
    let app = spawn_app(|c| {
        c.limits.posts_per_second = 1000;
        c.store.size_alarm_bytes = ALARM;
        c.store.size_interval_ms = 50;
    })
    .await;
    let before = wait_metric(&app, "tuitalk_store_size_bytes", |v| v > 0.0).await;
    assert!(before < ALARM as f64, "a new store is small: {before}");
    assert_eq!(metric(&app, "tuitalk_store_size_alarm").await, Some(0.0));
    let mut ada = app.guest("ada").await;
    ada.join("r", None).await;
    let text = "z".repeat(3000);
    for i in 0..400 {
        ada.post_acked("r", &format!("p{i}"), &text).await;
    }
    wait_metric(&app, "tuitalk_store_size_alarm", |v| v == 1.0).await;
    let size = metric(&app, "tuitalk_store_size_bytes")
        .await
        .unwrap_or(0.0);
    assert!(size > ALARM as f64, "{size}");
    drop(ada);
    app.stop().await;
}

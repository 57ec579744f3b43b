//! End to end: a real `tuitalk-server` and two real `tuitalk` clients in tmux. Alice and
//! Bob join room 42; a line Alice types shows up on Bob's screen.
//!
//! The server binary is taken from next to the `tuitalk` binary under test; build the
//! whole workspace first (`cargo build --workspace`, as the project's test script
//! does). tmux runs on a private socket (`tmux -L <unique>`), so a user's tmux is never
//! touched; only the sessions and the server process this test started are killed.
//! Each client gets its own configuration directory (`XDG_CONFIG_HOME` in the lab's
//! temporary directory), so saved sessions never touch the user's and clients do not
//! share one. [`Lab`] is shared with the account tests (`e2e_accounts`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for something to appear on a screen.
pub const WAIT: Duration = Duration::from_secs(20);

fn server_binary() -> PathBuf {
    let tuitalk = Path::new(env!("CARGO_BIN_EXE_tuitalk"));
    let server = tuitalk.with_file_name("tuitalk-server");
    assert!(
        server.is_file(),
        "the end-to-end test needs the server binary at {}; run `cargo build --workspace` \
         first (with the same CARGO_TARGET_DIR) and test again",
        server.display()
    );
    server
}

/// The started server and tmux sessions; cleaned up on drop, also when the test fails.
pub struct Lab {
    pub addr: SocketAddr,
    socket: String,
    sessions: Vec<String>,
    server: Child,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Lab {
    pub fn start() -> Self {
        let server = server_binary();
        let tmux_ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|out| out.status.success());
        assert!(
            tmux_ok,
            "the end-to-end test needs tmux (apt-get install tmux)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = free_addr();
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).expect("server log file");
        let child = Command::new(server)
            .arg("--listen")
            .arg(addr.to_string())
            .env("TUITALK__STORE__DATA_DIR", dir.path().join("data"))
            .env("TUITALK__LOG__FILTER", "info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log handle"))
            .stderr(log_file)
            .spawn()
            .expect("start tuitalk-server");
        let lab = Self {
            addr,
            socket: format!("tuitalk-test-{}-{}", std::process::id(), nanos()),
            sessions: Vec::new(),
            server: child,
            log,
            dir,
        };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "server did not listen on {addr}; log:\n{}",
                lab.server_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        lab
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The WebSocket URL of the lab's server.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The configuration directory (`XDG_CONFIG_HOME`) of the client called `name`.
    pub fn config_home(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("config-{name}"))
    }

    /// Starts `tuitalk` in a new detached tmux session; returns the session name.
    pub fn client(&mut self, name: &str) -> String {
        self.client_with(name, name, &format!("--name {name}"))
    }

    /// Starts `tuitalk ARGS` (and `--url`) as `session`, with the configuration
    /// directory of `config` (clients with the same `config` share saved sessions).
    pub fn client_with(&mut self, session: &str, config: &str, args: &str) -> String {
        let session = format!("{}-{session}", self.socket);
        let command = format!(
            "env XDG_CONFIG_HOME={} {} --url {} {args}",
            self.config_home(config).display(),
            env!("CARGO_BIN_EXE_tuitalk"),
            self.url(),
        );
        let status = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(["-f", "/dev/null", "new-session", "-d", "-s", &session])
            .args(["-x", "100", "-y", "30", &command])
            .status()
            .expect("start tmux");
        assert!(status.success(), "tmux new-session failed");
        self.sessions.push(session.clone());
        session
    }

    pub fn type_line(&self, session: &str, line: &str) {
        self.tmux(&["send-keys", "-t", session, "-l", line]);
        self.tmux(&["send-keys", "-t", session, "Enter"]);
    }

    pub fn capture(&self, session: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", session])
    }

    /// Polls a session's screen until `pred` holds; fails with the screens and the
    /// server log after [`WAIT`].
    pub fn wait_for(&self, session: &str, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.capture(session);
            if pred(&screen) {
                return;
            }
            if Instant::now() > deadline {
                let screens: Vec<String> = self
                    .sessions
                    .iter()
                    .map(|s| format!("--- {s} ---\n{}", self.capture(s)))
                    .collect();
                panic!(
                    "timed out waiting for {what} on {session}\n{}\n--- server log ---\n{}",
                    screens.join("\n"),
                    self.server_log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for session in &self.sessions {
            let _ = Command::new("tmux")
                .arg("-L")
                .arg(&self.socket)
                .args(["kill-session", "-t", session])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
}

pub fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[test]
fn two_clients_chat_through_a_real_server() {
    let mut lab = Lab::start();
    let alice = lab.client("alice");
    let bob = lab.client("bob");
    for session in [&alice, &bob] {
        lab.wait_for(session, "connected", |s| s.contains("connected"));
        lab.type_line(session, "/room 42");
    }
    lab.wait_for(&alice, "room 42", |s| {
        s.contains("#42") && s.contains("you: alice")
    });
    lab.wait_for(&bob, "room 42", |s| {
        s.contains("#42") && s.contains("you: bob")
    });
    let line = format!("hello bob {}", nanos() % 1_000_000);
    lab.type_line(&alice, &line);
    let shown = format!("alice (guest): {line}");
    lab.wait_for(&bob, "alice's line", |s| s.contains(&shown));
    lab.wait_for(&alice, "own line acknowledged", |s| {
        s.contains(&shown) && !s.contains("(pending)")
    });
    lab.type_line(&alice, "/quit");
    lab.type_line(&bob, "/quit");
}

//! Starting the real `tuitalk-server` binary and running the real `tuitalk-load`
//! binary against it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `tuitalk-server` binary next to this test's `tuitalk-load`.
pub fn server_binary() -> PathBuf {
    let load = PathBuf::from(env!("CARGO_BIN_EXE_tuitalk-load"));
    let dir = load
        .parent()
        .expect("the tuitalk-load binary lives in a directory");
    let server = dir.join("tuitalk-server");
    assert!(
        server.is_file(),
        "{} is missing: run `cargo build --workspace` (with the same CARGO_TARGET_DIR) first",
        server.display()
    );
    server
}

/// A free port on 127.0.0.1 (free when asked; the server binds it right after).
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address")
}

/// Whether test logs were asked for (`TEST_LOG=1`): then the server's log and the load
/// tool's diagnostics go to stderr.
pub fn logs_wanted() -> bool {
    std::env::var_os("TEST_LOG").is_some()
}

/// A running `tuitalk-server` process, killed (by its pid) when dropped.
pub struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    data_dir: PathBuf,
}

impl Server {
    /// Starts the server on `addr` with its files in `data_dir`, and waits until it
    /// accepts connections.
    pub fn start(addr: SocketAddr, data_dir: &Path) -> Self {
        let output = || {
            if logs_wanted() {
                Stdio::inherit()
            } else {
                Stdio::null()
            }
        };
        let child = Command::new(server_binary())
            .env("TUITALK__SERVER__LISTEN", addr.to_string())
            .env("TUITALK__STORE__DATA_DIR", data_dir)
            .env("TUITALK__LIMITS__POSTS_PER_SECOND", "100000")
            .env("TUITALK__LOG__FILTER", "info")
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output())
            .spawn()
            .expect("start tuitalk-server");
        let mut server = Self {
            child: Some(child),
            addr,
            data_dir: data_dir.to_owned(),
        };
        server.wait_listening();
        server
    }

    /// The WebSocket URL.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("tuitalk-server exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "tuitalk-server did not listen on {} within 15 s",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM (graceful shutdown: clients get close 1012) and waits for the exit.
    pub fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tuitalk-server did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the server again on the same address and data directory.
    pub fn restart(&mut self) {
        self.terminate();
        *self = Self::start(self.addr, &self.data_dir.clone());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill sends SIGKILL to this child's pid only.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `tuitalk-load` command with `args`; diagnostics (`-v`) when logs are wanted.
pub fn load_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tuitalk-load"));
    command.args(args);
    if logs_wanted() {
        command.arg("-v").stderr(Stdio::inherit());
    } else {
        command.stderr(Stdio::piped());
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    command
}

/// The finished tool's exit code and its one JSON line.
pub fn report(output: &Output) -> (i32, serde_json::Value) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one JSON line on stdout, got {stdout:?}; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = serde_json::from_str(lines[0]).expect("the line is JSON");
    (output.status.code().unwrap_or(-1), json)
}

/// Asserts a clean delivery record in a load report.
pub fn assert_clean(json: &serde_json::Value) {
    for key in ["lost", "duplicated", "out_of_order", "mismatched", "errors"] {
        assert_eq!(json[key], 0, "{key} in {json}");
    }
    assert_eq!(json["unacked"], 0, "{json}");
    assert_eq!(json["not_connected"], 0, "{json}");
    assert_eq!(json["ok"], true, "{json}");
}

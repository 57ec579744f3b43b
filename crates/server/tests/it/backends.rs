//! Several backends in one test: servers sharing one SQLite file (the shared sequencer,
//! like PostgreSQL) and one token key, a server as a separate process (to kill it with
//! SIGKILL), and a private Redis Cluster of three masters for destructive tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tuitalk_server::Config;
use tuitalk_server::config::Secret;

use crate::helpers::{TestApp, http_get, spawn_app_in};

/// The token key every backend of a test shares.
pub const SECRET: &str = "backends-test-secret-0123456789";

/// A directory shared by the backends of one test.
pub struct Shared {
    pub dir: tempfile::TempDir,
}

impl Shared {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The shared SQLite file.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("shared.db")
    }

    /// Starts an in-process server on the shared database; `redis` selects the Redis
    /// broker (else the embedded one).
    pub async fn spawn(&self, redis: Option<&str>, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let db = self.db();
        let redis = redis.map(str::to_owned);
        spawn_app_in(self.dir.path(), move |config| {
            config.store.sqlite_path = Some(db);
            config.auth.secret = Some(Secret::new(SECRET));
            config.broker.redis_nodes = redis.map(Secret::new);
            config.limits.posts_per_second = 1000;
            tweak(config);
        })
        .await
    }
}

/// A free TCP port on 127.0.0.1 (and, for Redis, its cluster bus port + 10000).
pub fn free_port(with_bus: bool) -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        if !with_bus {
            return port;
        }
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// A `tuitalk-server` process (killable with SIGKILL).
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts the binary with the given `TUITALK__...` environment on a free port and
    /// waits until `/healthz` answers.
    pub async fn start(data_dir: &Path, env: &[(&str, String)]) -> Self {
        Self::start_under(&[], data_dir, env).await
    }

    /// Like [`ServerProcess::start`], run through `wrapper` (a command that execs its
    /// arguments, such as `prlimit --nofile=256:256 --`) when not empty.
    pub async fn start_under(wrapper: &[&str], data_dir: &Path, env: &[(&str, String)]) -> Self {
        let port = free_port(false);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let server = env!("CARGO_BIN_EXE_tuitalk-server");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(server);
                command
            }
            None => Command::new(server),
        };
        command
            .arg("--listen")
            .arg(addr.to_string())
            .env("TUITALK__STORE__DATA_DIR", data_dir)
            .env("TUITALK__LOG__FILTER", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if std::env::var_os("TEST_LOG").is_none() {
            command.stderr(Stdio::null());
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("server process starts");
        // Dropping the guard kills and reaps the process, also when this panics.
        let process = Self { child, addr };
        for _ in 0..250 {
            if http_get(addr, "/healthz")
                .await
                .is_some_and(|(s, _)| s == 200)
            {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server process did not answer /healthz");
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// SIGKILL: no shutdown, no presence removal.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private Redis Cluster of three masters (with or without one replica each) on
/// 127.0.0.1 with its own directory; every node is a child process stopped by PID.
pub struct PrivateCluster {
    pub dir: tempfile::TempDir,
    pub ports: Vec<u16>,
    nodes: Vec<Option<Child>>,
}

impl PrivateCluster {
    /// Starts three masters and creates the cluster (needs redis-server and redis-cli).
    pub async fn start() -> Self {
        Self::start_with(0).await
    }

    /// Starts three masters with `replicas` replicas each and creates the cluster.
    pub async fn start_with(replicas: usize) -> Self {
        let count = 3 * (1 + replicas);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < count {
            let port = free_port(true);
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let mut cluster = Self {
            dir,
            ports,
            nodes: (0..count).map(|_| None).collect(),
        };
        for i in 0..count {
            cluster.start_node(i).await;
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for port in &cluster.ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let status = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success(), "redis-cli --cluster create failed");
        cluster.wait_ok().await;
        // Replicas attach after the cluster reports ok; a failover needs them.
        for _ in 0..200 {
            let attached = cli(cluster.ports[0], &["cluster", "nodes"])
                .map(|nodes| {
                    nodes
                        .lines()
                        .filter(|l| {
                            l.contains("slave") && !l.contains("fail") && l.contains(" connected")
                        })
                        .count()
                })
                .unwrap_or(0);
            if attached == 3 * replicas {
                return cluster;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("replicas did not attach");
    }

    /// The index of the node that is master of `key`'s slot now.
    pub fn master_of(&self, key: &str) -> usize {
        self.try_master_of(key)
            .unwrap_or_else(|| panic!("no healthy master owns {key}"))
    }

    /// The index of the healthy master of `key`'s slot, if there is one now.
    fn try_master_of(&self, key: &str) -> Option<usize> {
        let running = self
            .nodes
            .iter()
            .position(Option::is_some)
            .expect("a running node");
        let port = self.ports[running];
        let slot: u16 = cli(port, &["cluster", "keyslot", key])
            .and_then(|out| out.trim().parse().ok())
            .expect("keyslot");
        let nodes = cli(port, &["cluster", "nodes"]).expect("cluster nodes");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let owns = fields[8..].iter().any(|range| {
                let mut bounds = range.split('-').filter_map(|b| b.parse::<u16>().ok());
                match (bounds.next(), bounds.next()) {
                    (Some(lo), Some(hi)) => (lo..=hi).contains(&slot),
                    (Some(only), None) => only == slot,
                    _ => false,
                }
            });
            if owns {
                let addr = fields[1].split('@').next().unwrap_or_default();
                let node_port: u16 = addr
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("node port");
                return self.ports.iter().position(|p| *p == node_port);
            }
        }
        None
    }

    /// Waits until a node other than `old` is master of `key`'s slot (a failover).
    pub async fn wait_master_change(&self, key: &str, old: usize) {
        for _ in 0..300 {
            if self.try_master_of(key).is_some_and(|now| now != old) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no failover of {key}");
    }

    /// The seed URLs.
    pub fn nodes(&self) -> String {
        self.ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts (or restarts) node `i` with its kept configuration and cluster state.
    pub async fn start_node(&mut self, i: usize) {
        let port = self.ports[i];
        let dir = self.dir.path().join(format!("node-{i}"));
        std::fs::create_dir_all(&dir).expect("node dir");
        let conf = dir.join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "bind 127.0.0.1\nport {port}\nprotected-mode no\ndaemonize no\ndir {}\n\
                 cluster-enabled yes\ncluster-config-file nodes.conf\n\
                 cluster-node-timeout 1000\ncluster-replica-validity-factor 0\nappendonly no\nsave \"\"\n",
                dir.display()
            ),
        )
        .expect("write conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (apt-get install redis-server)");
        self.nodes[i] = Some(child);
        for _ in 0..100 {
            if cli(port, &["ping"]).is_some_and(|out| out.contains("PONG")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis node on {port} did not start");
    }

    /// Stops node `i` with SIGKILL (by its PID).
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until every running node reports `cluster_state:ok`.
    pub async fn wait_ok(&self) {
        for _ in 0..200 {
            let ok = self
                .ports
                .iter()
                .zip(&self.nodes)
                .filter(|(_, node)| node.is_some())
                .all(|(port, _)| {
                    cli(*port, &["cluster", "info"])
                        .is_some_and(|info| info.contains("cluster_state:ok"))
                });
            if ok {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("private cluster not ok");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill_node(i);
        }
    }
}

/// Runs `redis-cli -p PORT ARGS...`; its output.
fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The body of `/readyz`, asserting status 200.
pub async fn ready_body(app: &TestApp) -> String {
    let (status, body) = http_get(app.addr, "/readyz").await.expect("readyz answers");
    assert_eq!(status, 200, "readyz: {body}");
    body
}

/// Waits until `/readyz` says `want` (the broker state shows in the body).
pub async fn wait_ready_body(app: &TestApp, want: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let body = ready_body(app).await;
        if body == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz still says {body:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! nginx from the repository's configuration (`nginx/`) in front of two real
//! `tuitalk-server` processes (the lab's PostgreSQL with a database of this test, the
//! lab's Redis Cluster, one token key): the configuration passes `nginx -t`; chat through
//! nginx works across backends; least_conn spreads connections over both; the clients of
//! a killed backend reconnect through nginx to the other one and resume; `/api/`,
//! `/healthz` and `/metrics` (from loopback) pass through; the web client's page and
//! module (`/`, `/assets/`) pass through with their types, the module compressed; a
//! page served through nginx (on a port of its own) may open `/ws`, another site's may
//! not (nginx passes the `Host` the browser sent, port included).
//!
//! nginx listens on 127.0.14.1 with its own temporary prefix; every process is a child
//! of the test, stopped by PID. Skipped (like the lab tests) when nginx is not installed,
//! unless `TUITALK_TEST_REQUIRE_LAB` is set.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tuitalk_protocol::{ChatMessage, Seq};

use crate::backends::{SECRET, ServerProcess};
use crate::helpers::{Client, Received, http_get, http_get_raw, spawn_app, ws_handshake};
use crate::lab;
use crate::pg::TestDb;
use crate::rest;

/// The address nginx listens on (a private loopback "host" of its own).
const NGINX_ADDR: [u8; 4] = [127, 0, 14, 1];

/// The repository's nginx directory.
fn repo_nginx_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nginx")
}

/// The nginx program, or `None` (skip) when it is not installed.
fn nginx_program() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("TUITALK_TEST_REQUIRE_LAB").is_none(),
            "nginx is not installed but TUITALK_TEST_REQUIRE_LAB is set (apt-get install nginx-light)"
        );
        eprintln!("skipped: nginx is not installed");
    }
    found
}

/// A free port on `addr`.
fn free_port_on(addr: [u8; 4]) -> u16 {
    let listener =
        std::net::TcpListener::bind((std::net::Ipv4Addr::from(addr), 0)).expect("bind a free port");
    listener.local_addr().expect("addr").port()
}

/// nginx running in the foreground (`daemon off`) as a child of the test.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Writes the repository's configuration into a fresh prefix (the listen address
    /// filled in, one `server` line per backend, as the lab does), checks it with
    /// `nginx -t`, and starts nginx.
    async fn start(program: &Path, backends: &[SocketAddr]) -> Nginx {
        // The tests' clients all come from loopback: not limited per address by nginx.
        Self::start_limiting(program, backends, "127.0.0.0/8 1;\n").await
    }

    /// [`Nginx::start`] with `unlimited` as `tuitalk-unlimited.conf` (the networks it does
    /// not limit per address).
    async fn start_limiting(program: &Path, backends: &[SocketAddr], unlimited: &str) -> Nginx {
        let dir = tempfile::tempdir().expect("tempdir");
        // Workers run as an unprivileged user and must reach their temp directories.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod prefix");
        std::fs::create_dir(dir.path().join("tmp")).expect("tmp dir");
        let addr = SocketAddr::from((NGINX_ADDR, free_port_on(NGINX_ADDR)));
        let repo = repo_nginx_dir();
        std::fs::copy(repo.join("nginx.conf"), dir.path().join("nginx.conf")).expect("copy");
        let site = std::fs::read_to_string(repo.join("tuitalk.conf")).expect("read tuitalk.conf");
        assert!(
            site.contains("TUITALK_LISTEN"),
            "the listen placeholder is gone"
        );
        std::fs::write(
            dir.path().join("tuitalk.conf"),
            site.replace("TUITALK_LISTEN", &addr.to_string()),
        )
        .expect("write tuitalk.conf");
        let servers: String = backends
            .iter()
            .map(|b| format!("server {b} max_fails=0;\n"))
            .collect();
        std::fs::write(dir.path().join("tuitalk-backends.conf"), servers).expect("backends");
        std::fs::write(dir.path().join("tuitalk-unlimited.conf"), unlimited)
            .expect("unlimited networks");

        let prefix = format!("{}/", dir.path().display());
        let args = ["-p", &prefix, "-c", "nginx.conf", "-e", "error.log"];
        let check = Command::new(program)
            .args(args)
            .arg("-t")
            .output()
            .expect("nginx -t runs");
        assert!(
            check.status.success(),
            "nginx -t failed: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(program)
            .args(args)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let nginx = Nginx {
            child,
            addr,
            _dir: dir,
        };
        for _ in 0..250 {
            if http_get(addr, "/healthz")
                .await
                .is_some_and(|(s, _)| s == 200)
            {
                return nginx;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("nginx did not pass /healthz through");
    }

    fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master (by PID) stops its workers too; SIGKILL would orphan them.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A backend process on the test's database, the lab's Redis Cluster and the shared key.
async fn backend(
    data_dir: &Path,
    database_url: &str,
    redis_nodes: &str,
    web_dir: &Path,
) -> ServerProcess {
    let process = ServerProcess::start(
        data_dir,
        &[
            ("TUITALK__STORE__DATABASE_URL", database_url.to_owned()),
            ("TUITALK__BROKER__REDIS_NODES", redis_nodes.to_owned()),
            ("TUITALK__AUTH__SECRET", SECRET.to_owned()),
            ("TUITALK__WEB__ASSETS_DIR", web_dir.display().to_string()),
        ],
    )
    .await;
    for _ in 0..250 {
        if http_get(process.addr, "/readyz")
            .await
            .is_some_and(|(s, _)| s == 200)
        {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("backend {} not ready", process.addr);
}

/// Whether the connection ends within `wait` (events in between are skipped).
async fn dropped_within(client: &mut Client, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.recv_within(left).await {
            Received::Event(_) => continue,
            Received::Close(_) | Received::Ended => return true,
            Received::Timeout => return false,
        }
    }
}

/// Reads messages (skipping other events) until one with `seq` arrives; asserts that
/// exactly `after + 1 ..= seq` arrived, in order.
async fn expect_seqs(client: &mut Client, after: Seq, up_to: Seq) -> Vec<ChatMessage> {
    let mut got = Vec::new();
    while got.last().map(|m: &ChatMessage| m.seq) != Some(up_to) {
        got.push(client.expect_message().await);
    }
    let seqs: Vec<Seq> = got.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, ((after + 1)..=up_to).collect::<Vec<_>>());
    got
}

#[tokio::test]
async fn nginx_balances_websockets_and_rest_and_clients_survive_a_killed_backend() {
    let Some(program) = nginx_program() else {
        return;
    };
    let (Some(db), Some(redis)) = (TestDb::create().await, lab::redis_nodes()) else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    // A made-up web client with a module large enough for nginx to compress.
    let web = tempfile::tempdir().expect("tempdir");
    crate::web::fake_client(web.path());
    let module: Vec<u8> = b"\0asm\x01\0\0\0"
        .iter()
        .copied()
        .cycle()
        .take(64 * 1024)
        .collect();
    std::fs::write(web.path().join("tuitalk_web_bg.wasm"), &module).expect("write module");
    let mut backends = vec![
        backend(data.path(), &db.url, &redis, web.path()).await,
        backend(data.path(), &db.url, &redis, web.path()).await,
    ];
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let nginx = Nginx::start(&program, &addrs).await;

    // Plain HTTP passes through.
    assert_eq!(
        http_get(nginx.addr, "/healthz").await,
        Some((200, "ok".to_owned()))
    );
    let (status, _) = http_get(nginx.addr, "/readyz").await.expect("readyz");
    assert_eq!(status, 200);
    // The web client: the page, and its module with its type, compressed for browsers.
    let page = http_get_raw(nginx.addr, "/", &[]).await.expect("index");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.header("content-security-policy").is_some());
    let plain = http_get_raw(nginx.addr, "/assets/tuitalk_web_bg.wasm", &[])
        .await
        .expect("module");
    assert_eq!(plain.header("content-type"), Some("application/wasm"));
    assert_eq!(plain.body, module);
    let zipped = http_get_raw(
        nginx.addr,
        "/assets/tuitalk_web_bg.wasm",
        &["Accept-Encoding: gzip"],
    )
    .await
    .expect("module, compressed");
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("content-type"), Some("application/wasm"));
    assert!(
        zipped.body.len() < module.len() / 4,
        "{} bytes",
        zipped.body.len()
    );
    let (status, _) = http_get(nginx.addr, "/metrics").await.expect("metrics");
    assert_ne!(status, 403, "loopback may read /metrics");

    // Six clients through nginx, all in one room, connections held open.
    let room = format!("n-{}", uuid::Uuid::new_v4().simple());
    let mut clients = Vec::new();
    for n in 0..6 {
        let mut client = Client::connect_url(&nginx.ws_url()).await;
        client.hello(Some(&format!("user{n}")), None).await;
        client.join(&room, None).await;
        clients.push(client);
    }
    // Chat through nginx: every client sees every post, whichever backend it is on.
    for (n, seq) in [(0, 1), (5, 2)] {
        assert_eq!(
            clients[n]
                .post_acked(&room, &format!("ws-{seq}"), "hi")
                .await,
            seq
        );
        for (m, client) in clients.iter_mut().enumerate() {
            if m != n {
                assert_eq!(client.expect_message().await.seq, seq);
            }
        }
    }

    // Kill one backend: its clients lose their connection, the others do not.
    backends[0].kill();
    let mut on_killed = Vec::new();
    for (n, client) in clients.iter_mut().enumerate() {
        if dropped_within(client, Duration::from_secs(2)).await {
            on_killed.push(n);
        }
    }
    eprintln!("clients on the killed backend: {on_killed:?}");
    // least_conn with a shared zone: six held connections split 3 and 3.
    assert_eq!(on_killed.len(), 3, "connections not spread: {on_killed:?}");

    // A survivor posts while the others are away.
    let survivor = (0..6).find(|n| !on_killed.contains(n)).expect("a survivor");
    assert_eq!(
        clients[survivor]
            .post_acked(&room, "ws-3", "while away")
            .await,
        3
    );

    // The dropped clients reconnect through nginx (to the remaining backend), resume from
    // their last sequence and get exactly the missed message.
    for &n in &on_killed {
        let token = clients[n].token.clone();
        let mut again = Client::connect_url(&nginx.ws_url()).await;
        again.hello(None, Some(&token)).await;
        again.join(&room, Some(2)).await;
        let missed = expect_seqs(&mut again, 2, 3).await;
        assert_eq!(missed[0].text, "while away");
        clients[n] = again;
    }

    // REST through nginx: a bot posts; every WebSocket client sees it live, once.
    let bot = rest::new_session(nginx.addr, "bot").await;
    let token = bot["token"].as_str().expect("token");
    let posted = rest::post(nginx.addr, token, &room, "rest-4", "via nginx").await;
    assert_eq!(posted.status, 201, "{posted:?}");
    assert_eq!(posted.json()["seq"], 4);
    for (n, client) in clients.iter_mut().enumerate() {
        // The survivor and the resumed clients have read up to 3, the others up to 2.
        let after = if n == survivor || on_killed.contains(&n) {
            3
        } else {
            2
        };
        let got = expect_seqs(client, after, 4).await;
        assert_eq!(got.last().map(|m| m.text.as_str()), Some("via nginx"));
    }
    let page = rest::request(
        nginx.addr,
        "GET",
        &format!("/api/rooms/{room}/messages"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{page:?}");
    let seqs: Vec<u64> = page.json()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["seq"].as_u64())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);

    drop(clients);
    drop(nginx);
    drop(backends);
    drop(db);
}

/// The seconds of the first `directive Ns;` inside `location = /ws { ... }`.
fn ws_seconds(site: &str, directive: &str) -> u64 {
    let ws = site
        .split("location = /ws {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("a location = /ws block");
    ws.lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix(directive))
        .and_then(|value| value.trim().strip_suffix("s;"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{directive} Ns;` in location = /ws"))
}

#[test]
fn configuration_keeps_what_the_cluster_relies_on() {
    let site = std::fs::read_to_string(repo_nginx_dir().join("tuitalk.conf")).expect("read");
    let main = std::fs::read_to_string(repo_nginx_dir().join("nginx.conf")).expect("read");
    let upstream = site
        .split("upstream tuitalk_backends {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("upstream block");
    assert!(upstream.contains("least_conn;"));
    assert!(
        upstream.contains("zone tuitalk_backends"),
        "least_conn needs a shared zone"
    );
    // nginx drops idle upstream connections before the backends' idle timeout does.
    let idle: u64 = upstream
        .lines()
        .find_map(|line| line.trim().strip_prefix("keepalive_timeout"))
        .and_then(|value| value.trim().strip_suffix("s;"))
        .and_then(|n| n.parse().ok())
        .expect("keepalive_timeout Ns; in the upstream block");
    let idle = idle * 1000;
    assert!(idle < tuitalk_server::Config::default().server.header_timeout_ms);
    // The proxy must never cut a healthy idle WebSocket before the server does.
    let limits = tuitalk_server::Config::default().limits;
    let read = ws_seconds(&site, "proxy_read_timeout") * 1000;
    assert!(read > limits.ping_interval_ms && read > limits.idle_timeout_ms);
    // A POST that reached a backend is never sent to another one.
    let directives: Vec<&str> = site
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .collect();
    assert!(!directives.iter().any(|l| l.contains("non_idempotent")));
    assert!(site.contains("location /api/ {"));
    assert!(site.contains("deny all;"));
    // Per-address limits in front of /ws and /api/ (docs/security.md).
    for location in ["location = /ws {", "location /api/ {"] {
        let block = site
            .split(location)
            .nth(1)
            .and_then(|rest| rest.split('}').next())
            .expect("location block");
        assert!(
            block.contains("limit_conn tuitalk_conn_per_address"),
            "{location}"
        );
        assert!(block.contains("limit_req zone="), "{location}");
    }
    assert!(main.contains("worker_shutdown_timeout"));
}

#[tokio::test]
async fn nginx_limits_requests_per_client_address() {
    let Some(program) = nginx_program() else {
        return;
    };
    let app = spawn_app(|_| {}).await;
    // Nobody unlimited: the test's address meets /api/'s 20/s with bursts of 40.
    let nginx = Nginx::start_limiting(&program, &[app.addr], "").await;
    let mut statuses = Vec::new();
    for _ in 0..80 {
        let response = http_get_raw(nginx.addr, "/api/rooms/lobby/messages", &[]).await;
        statuses.push(response.map_or(0, |r| r.status));
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        statuses[..20].iter().all(|s| *s == 401),
        "the burst passes to the backend (401: no token): {statuses:?}"
    );
    assert!(
        limited >= 20,
        "{limited} of 80 rapid requests limited: {statuses:?}"
    );
    // The unlimited file lifts it (as in the lab, whose load generators share one host).
    drop(nginx);
    let nginx = Nginx::start(&program, &[app.addr]).await;
    for _ in 0..80 {
        let response = http_get_raw(nginx.addr, "/api/rooms/lobby/messages", &[]).await;
        assert_eq!(response.map(|r| r.status), Some(401));
    }
    drop(nginx);
    app.stop().await;
}

#[tokio::test]
async fn pages_served_through_nginx_keep_their_origin() {
    let Some(program) = nginx_program() else {
        return;
    };
    // One embedded backend is enough: this is about the headers nginx passes on.
    let app = spawn_app(|_| {}).await;
    let nginx = Nginx::start(&program, &[app.addr]).await;
    let own = format!("http://{}", nginx.addr);
    let mut client = ws_handshake(&nginx.ws_url(), Some(&own))
        .await
        .unwrap_or_else(|refused| panic!("{own} refused through nginx: {refused:?}"));
    client.hello(Some("through-nginx"), None).await;
    let refused = ws_handshake(&nginx.ws_url(), Some("https://evil.example")).await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(403));
    drop(client);
    app.stop().await;
}

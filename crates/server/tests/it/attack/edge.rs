//! The HTTP edge under attack: slow-loris sockets, half-sent bodies, one address holding
//! every connection, descriptor exhaustion, forged forwarding headers, an upgrade flood,
//! and a client that keeps a shutdown waiting. docs/security.md, "The HTTP edge".

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tuitalk_server::Config;

use crate::backends::ServerProcess;
use crate::helpers::{Client, http_get, spawn_app};

/// The defaults of every limit (the tests' own spawn_app raises the per-address ones).
fn defaults(config: &mut Config) {
    config.limits = Default::default();
}

/// A TCP connection to `addr` from the loopback address `from` (any 127/8 address is
/// this host's, so one test can be several clients).
async fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    try_connect_from(from, addr).await.expect("connect")
}

/// [`connect_from`], or the error.
async fn try_connect_from(from: [u8; 4], addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(addr).await
}

/// Reads until the server closes the connection; how long that took, or `None` if it
/// was still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => continue,
            }
        }
    })
    .await
    .ok()
}

#[tokio::test]
async fn slow_loris_sockets_are_closed_after_the_header_timeout() {
    let app = spawn_app(|c| {
        defaults(c);
        c.server.header_timeout_ms = 1000;
    })
    .await;
    let mut sockets = Vec::new();
    // Silent sockets.
    for _ in 0..10 {
        sockets.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    // Partial upgrades: headers that never end.
    for _ in 0..10 {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        stream
            .write_all(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n")
            .await
            .expect("write");
        sockets.push(stream);
    }
    // Trickling headers: one byte every 200 ms, for longer than the timeout.
    let mut tricklers = Vec::new();
    for _ in 0..20 {
        let stream = TcpStream::connect(app.addr).await.expect("connect");
        let (mut read, mut write) = stream.into_split();
        let writer = tokio::spawn(async move {
            let _ = write.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").await;
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if write.write_all(b"a").await.is_err() {
                    return;
                }
            }
        });
        tricklers.push((
            writer,
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let start = Instant::now();
                loop {
                    match read.read(&mut buf).await {
                        Ok(0) | Err(_) => return start.elapsed(),
                        Ok(_) => continue,
                    }
                }
            }),
        ));
    }
    for mut socket in sockets {
        let took = closed_within(&mut socket, Duration::from_secs(4)).await;
        assert!(
            took.is_some(),
            "a silent or half-sent socket was still open after 4 s"
        );
    }
    for (writer, reader) in tricklers {
        let took = tokio::time::timeout(Duration::from_secs(4), reader)
            .await
            .expect("a trickling socket was still open after 4 s")
            .expect("reader");
        assert!(took < Duration::from_secs(4), "{took:?}");
        writer.abort();
    }
    // The server still answers.
    assert_eq!(
        http_get(app.addr, "/healthz").await.map(|(s, _)| s),
        Some(200)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_never_arrives_is_cut_after_the_body_timeout() {
    let app = spawn_app(|c| {
        defaults(c);
        c.server.body_timeout_ms = 1000;
    })
    .await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /api/sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .await
        .expect("write");
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(4), stream.read_to_end(&mut response))
        .await
        .expect("the connection was still open after 4 s");
    assert!(read.is_ok() || response.is_empty());
    let text = String::from_utf8_lossy(&response);
    if !text.is_empty() {
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        assert!((400..500).contains(&status), "{text}");
    }
    app.stop().await;
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let app = spawn_app(|c| {
        defaults(c);
        c.limits.max_connections_per_address = 20;
    })
    .await;
    // 127.0.0.2 opens 30 silent sockets: 20 are held, the rest closed at once.
    let mut held = Vec::new();
    let mut cut = 0;
    for _ in 0..30 {
        let mut stream = connect_from([127, 0, 0, 2], app.addr).await;
        if closed_within(&mut stream, Duration::from_millis(300))
            .await
            .is_some()
        {
            cut += 1;
        } else {
            held.push(stream);
        }
    }
    assert_eq!((held.len(), cut), (20, 10));
    // Another address is served as if nothing happened.
    assert_eq!(
        http_get(app.addr, "/healthz").await.map(|(s, _)| s),
        Some(200)
    );
    let mut other = app.guest("other").await;
    other.join("lobby", None).await;
    other.post_acked("lobby", "p1", "still here").await;
    // WebSockets count by address too: 127.0.0.3 gets 20, then 429.
    let url = app.ws_url();
    let mut sockets = Vec::new();
    for _ in 0..20 {
        sockets.push(
            ws_from([127, 0, 0, 3], &url, app.addr)
                .await
                .expect("within the cap"),
        );
    }
    let refused = ws_from([127, 0, 0, 3], &url, app.addr)
        .await
        .expect_err("above the cap");
    assert_eq!(refused.0, 429, "{refused:?}");
    drop(sockets);
    app.stop().await;
}

/// A WebSocket handshake from the loopback address `from`.
async fn ws_from(
    from: [u8; 4],
    url: &str,
    addr: SocketAddr,
) -> Result<tokio_tungstenite::WebSocketStream<TcpStream>, (u16, String)> {
    use tokio_tungstenite::tungstenite::Error;
    let stream = connect_from(from, addr).await;
    match tokio_tungstenite::client_async(url, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(response)) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(other) => Err((0, other.to_string())),
    }
}

#[tokio::test]
async fn forwarding_headers_count_only_from_trusted_proxies() {
    // Without trusted proxies, X-Real-IP is ignored: all 3 upgrades count as 127.0.0.1.
    let app = spawn_app(|c| {
        defaults(c);
        c.limits.max_connections_per_address = 2;
    })
    .await;
    let mut held = Vec::new();
    for n in 0..3 {
        let forged = format!("10.9.9.{n}");
        held.push(upgrade_as(app.addr, Some(&forged)).await);
    }
    assert_eq!(
        held.iter().map(|(status, _)| *status).collect::<Vec<_>>(),
        [101, 101, 429]
    );
    app.stop().await;
    // With 127.0.0.1 trusted, each named client has its own cap.
    let app = spawn_app(|c| {
        defaults(c);
        c.limits.max_connections_per_address = 2;
        c.server.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await;
    let mut held = Vec::new();
    for n in 0..3 {
        let client = format!("10.9.9.{n}");
        held.push(upgrade_as(app.addr, Some(&client)).await);
    }
    assert_eq!(
        held.iter().map(|(status, _)| *status).collect::<Vec<_>>(),
        [101, 101, 101]
    );
    for _ in 0..2 {
        held.push(upgrade_as(app.addr, Some("10.9.9.0")).await);
    }
    assert_eq!(held[3].0, 101);
    assert_eq!(held[4].0, 429, "the third connection of 10.9.9.0");
    app.stop().await;
}

/// A raw WebSocket upgrade request with `X-Real-IP`; the status and the open stream.
async fn upgrade_as(addr: SocketAddr, real_ip: Option<&str>) -> (u16, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = String::from(
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    );
    if let Some(ip) = real_ip {
        request.push_str(&format!("X-Real-IP: {ip}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, stream)
}

#[tokio::test]
async fn an_upgrade_flood_from_one_address_leaves_the_others_their_share() {
    let app = spawn_app(|c| {
        defaults(c);
        c.limits.accepts_per_second = 30;
        c.limits.accepts_per_second_per_address = 5;
    })
    .await;
    let url = app.ws_url();
    let mut flood = Vec::new();
    for _ in 0..100 {
        flood.push(ws_from([127, 0, 0, 2], &url, app.addr).await);
    }
    let admitted = flood.iter().filter(|r| r.is_ok()).count();
    assert!(
        admitted <= 6,
        "the flooding address got {admitted} upgrades"
    );
    assert!(
        flood
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|(status, _)| *status == 429),
        "refused with 429"
    );
    // A normal user from another address connects every time.
    let mut normal = Vec::new();
    for _ in 0..5 {
        normal.push(
            ws_from([127, 0, 0, 3], &url, app.addr)
                .await
                .expect("a normal user"),
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn descriptor_exhaustion_leaves_health_checks_and_clients_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start_under(
        &["prlimit", "--nofile=512:512", "--"],
        dir.path(),
        // The default reserve (128) for the store, the logs and loopback peers.
        &[],
    )
    .await;
    let url = server.ws_url();
    let mut client = Client::connect_url(&url).await;
    client.hello(Some("resident"), None).await;
    client.join("lobby", None).await;
    // 8 addresses × 60 silent sockets, each address within its own cap: more than the
    // 512 - 128 descriptors the server gives to other peers.
    let mut attackers = Vec::new();
    for n in 2..10u8 {
        for _ in 0..60 {
            let connect = try_connect_from([127, 0, 1, n], server.addr);
            if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(2), connect).await {
                attackers.push(stream);
            }
        }
    }
    // Health checks (loopback) and the resident client keep working.
    for _ in 0..5 {
        let status = http_get(server.addr, "/healthz").await.map(|(s, _)| s);
        assert_eq!(
            status,
            Some(200),
            "with {} attacking sockets",
            attackers.len()
        );
    }
    client.post_acked("lobby", "p1", "still working").await;
    drop(attackers);
    drop(server);
}

#[tokio::test]
async fn a_client_cannot_hold_the_shutdown_past_its_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = ServerProcess::start(
        dir.path(),
        &[
            ("TUITALK__SERVER__SHUTDOWN_TIMEOUT_MS", "1500".to_owned()),
            // Long, so that only the shutdown bound can end the partial request.
            ("TUITALK__SERVER__HEADER_TIMEOUT_MS", "60000".to_owned()),
            ("TUITALK__SERVER__BODY_TIMEOUT_MS", "60000".to_owned()),
        ],
    )
    .await;
    // A request whose body never comes, and a WebSocket that never reads.
    let mut partial = TcpStream::connect(server.addr).await.expect("connect");
    partial
        .write_all(
            b"POST /api/sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .await
        .expect("write");
    let mut stuck = Client::connect_url(&server.ws_url()).await;
    stuck.hello(Some("stuck"), None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = server.child.id().to_string();
    let start = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exited = tokio::task::spawn_blocking(move || {
        for _ in 0..100 {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    })
    .await
    .expect("waiter");
    let took = start.elapsed();
    assert!(exited.is_some(), "still running 5 s after SIGTERM");
    assert!(took < Duration::from_millis(3500), "exited after {took:?}");
}

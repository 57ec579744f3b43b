//! `spawn_app` (the real server on 127.0.0.1:0 with a fresh data directory) and a slim
//! WebSocket test client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tuitalk_protocol::{ChatMessage, ClientCommand, ErrorCode, Seq, ServerEvent};
use tuitalk_server::auth::Clock;
use tuitalk_server::{Config, ServerError};

/// How long a test waits for an expected event.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<Result<(), ServerError>>,
    #[allow(dead_code)]
    pub config: Config,
    /// Kept alive for the test's duration (the data directory).
    pub dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Cancels and waits for `run` to return.
    pub async fn stop(self) -> Option<tempfile::TempDir> {
        self.shutdown.cancel();
        let result = tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("run returns after shutdown")
            .expect("run task did not panic");
        result.expect("run returned Ok");
        self.dir
    }

    /// A connected client that sent `hello` with `name`.
    pub async fn guest(&self, name: &str) -> Client {
        let mut client = Client::connect(self).await;
        client.hello(Some(name), None).await;
        client
    }
}

fn init_logs() {
    // Logs only when asked: TEST_LOG=debug cargo test ...
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// The tests' clients all come from 127.0.0.1, standing for many people: the per-address
/// limits are raised so that they do not meet them. The attack tests (`attack::`) set
/// the defaults back (`config.limits = Default::default()`) to meet them.
pub fn many_users_at_one_address(config: &mut Config) {
    let l = &mut config.limits;
    l.accepts_per_second_per_address = 100_000;
    l.max_connections_per_address = 100_000;
    l.sessions_per_minute_per_address = 1_000_000;
    l.guests_per_hour_per_address = 1_000_000;
    l.posts_per_second_per_address = 1_000_000;
}

/// Starts the real server with a fresh temporary data directory; `tweak` adjusts the
/// configuration.
pub async fn spawn_app(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = spawn_app_in(dir.path(), tweak).await;
    app.dir = Some(dir);
    app
}

/// Starts the real server on an existing data directory (for restart tests).
pub async fn spawn_app_in(data_dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with_clock(data_dir, Clock::system(), tweak).await
}

/// Starts the real server with sessions judged by `clock` (a manual clock expires them).
pub async fn spawn_app_with_clock(
    data_dir: &Path,
    clock: Clock,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    init_logs();
    let mut config = Config::with_data_dir(PathBuf::from(data_dir));
    many_users_at_one_address(&mut config);
    tweak(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(tuitalk_server::run_with_clock(
        listener,
        config.clone(),
        shutdown.clone(),
        clock,
    ));
    // The store opens before the first upgrade is answered; wait until /healthz answers.
    for _ in 0..100 {
        if http_get(addr, "/healthz")
            .await
            .is_some_and(|(s, _)| s == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    TestApp {
        addr,
        shutdown,
        handle,
        config,
        dir: None,
    }
}

/// A minimal HTTP/1.1 GET: status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .ok()?
        .ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((status, body))
}

/// An HTTP response read whole: status, header lines (lowercase names) and body bytes.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A minimal HTTP/1.1 GET with extra request header lines (`"If-None-Match: x"`), for
/// bodies that are not text.
pub async fn http_get_raw(addr: SocketAddr, path: &str, extra: &[&str]) -> Option<RawResponse> {
    http_request(addr, "GET", path, extra, None).await
}

/// A minimal HTTP/1.1 request with extra header lines (a `Host: test` is sent unless
/// `extra` has a `Host:` line) and an optional body (with its `Content-Length`; any
/// `Content-Type` goes in `extra`).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[&str],
    body: Option<&[u8]>,
) -> Option<RawResponse> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !extra
        .iter()
        .any(|line| line.to_ascii_lowercase().starts_with("host:"))
    {
        request.push_str("Host: test\r\n");
    }
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    stream.write_all(&bytes).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let body = response[split + 4..].to_vec();
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

/// A WebSocket handshake to `url` with `Origin: origin` when given: the connected
/// client (nothing sent yet), or the HTTP status and body of the refusal.
pub async fn ws_handshake(url: &str, origin: Option<&str>) -> Result<Client, (u16, String)> {
    use tokio_tungstenite::tungstenite::Error;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let mut request = url.into_client_request().expect("request");
    if let Some(origin) = origin {
        let value = HeaderValue::from_str(origin).expect("origin");
        request.headers_mut().insert("origin", value);
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(Client {
            ws,
            user_id: String::new(),
            name: String::new(),
            token: String::new(),
            rooms: Vec::new(),
        }),
        Err(Error::Http(response)) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(other) => panic!("handshake failed otherwise: {other:?}"),
    }
}

/// The WebSocket type of the test client.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the next frame was.
#[derive(Debug)]
pub enum Received {
    Event(ServerEvent),
    Close(Option<CloseFrame>),
    /// The connection ended without a close frame.
    Ended,
    Timeout,
}

/// A slim protocol client for tests.
pub struct Client {
    pub ws: Ws,
    pub user_id: String,
    pub name: String,
    pub token: String,
    pub rooms: Vec<String>,
}

impl Client {
    /// Connects without sending anything.
    pub async fn connect(app: &TestApp) -> Client {
        Self::connect_url(&app.ws_url()).await
    }

    /// Connects to a URL.
    pub async fn connect_url(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Client {
            ws,
            user_id: String::new(),
            name: String::new(),
            token: String::new(),
            rooms: Vec::new(),
        }
    }

    /// Sends a command.
    pub async fn send(&mut self, command: ClientCommand) {
        let text = tuitalk_protocol::encode_command(&command);
        self.send_raw(Message::text(text)).await;
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.send_raw(Message::text(text.into())).await;
    }

    /// Sends any WebSocket message.
    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    /// The next event, close or end, waiting at most `wait`. Pings are answered by the
    /// library and skipped.
    pub async fn recv_within(&mut self, wait: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Received::Timeout,
                Ok(next) => next,
            };
            match next {
                None | Some(Err(_)) => return Received::Ended,
                Some(Ok(Message::Text(text))) => {
                    let event = tuitalk_protocol::decode_event(&text)
                        .unwrap_or_else(|e| panic!("server sent an undecodable event {text}: {e}"));
                    return Received::Event(event);
                }
                Some(Ok(Message::Close(frame))) => return Received::Close(frame),
                Some(Ok(Message::Binary(_))) => panic!("server sent a binary frame"),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next event (panics on timeout or close).
    pub async fn recv_event(&mut self) -> ServerEvent {
        match self.recv_within(WAIT).await {
            Received::Event(event) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// The next event, which must be of `kind`.
    pub async fn expect(&mut self, kind: &str) -> ServerEvent {
        let event = self.recv_event().await;
        assert_eq!(event.kind(), kind, "unexpected event {event:?}");
        event
    }

    /// Skips events until one of `kind` arrives.
    pub async fn wait_for(&mut self, kind: &str) -> ServerEvent {
        loop {
            let event = self.recv_event().await;
            if event.kind() == kind {
                return event;
            }
        }
    }

    /// Skips presence and name events (which may interleave) until another one arrives.
    pub async fn next_significant(&mut self) -> ServerEvent {
        loop {
            let event = self.recv_event().await;
            if !matches!(
                event,
                ServerEvent::UserJoined { .. }
                    | ServerEvent::UserLeft { .. }
                    | ServerEvent::NameChanged { .. }
            ) {
                return event;
            }
        }
    }

    /// The next error event's code (skipping presence events); asserts `command`.
    pub async fn expect_error(&mut self, code: ErrorCode) -> ServerEvent {
        let event = self.next_significant().await;
        match &event {
            ServerEvent::Error { code: got, .. } => assert_eq!(*got, code, "{event:?}"),
            other => panic!("expected error {code}, got {other:?}"),
        }
        event
    }

    /// Reads until the server closes; returns the close code and reason.
    pub async fn expect_close(&mut self) -> (u16, String) {
        loop {
            match self.recv_within(WAIT).await {
                Received::Event(_) => continue,
                Received::Close(Some(frame)) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Asserts that no event arrives within `wait` (closing also fails).
    pub async fn expect_silence(&mut self, wait: Duration) {
        match self.recv_within(wait).await {
            Received::Timeout => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }

    /// Asks who is present in `room`; the members.
    pub async fn who(&mut self, room: &str) -> Vec<tuitalk_protocol::Member> {
        self.send(ClientCommand::Who { room: room.into() }).await;
        match self.wait_for("presence").await {
            ServerEvent::Presence { members, .. } => members,
            other => panic!("expected presence, got {other:?}"),
        }
    }

    /// Sends `hello` and waits for `welcome`, remembering the identity.
    pub async fn hello(&mut self, name: Option<&str>, token: Option<&str>) -> ServerEvent {
        self.send(ClientCommand::Hello {
            version: tuitalk_protocol::PROTOCOL_VERSION,
            token: token.map(str::to_owned),
            name: name.map(str::to_owned),
        })
        .await;
        let event = self.expect("welcome").await;
        if let ServerEvent::Welcome {
            user_id,
            name,
            token,
            rooms,
            ..
        } = &event
        {
            self.user_id = user_id.clone();
            self.name = name.clone();
            self.token = token.clone();
            self.rooms = rooms.clone();
        }
        event
    }

    /// Joins a room (optionally resuming) and returns the head.
    pub async fn join(&mut self, room: &str, since: Option<Seq>) -> Seq {
        self.send(ClientCommand::Join {
            room: room.to_owned(),
            since,
        })
        .await;
        match self.next_significant().await {
            ServerEvent::Joined { room: r, head } if r == room => head,
            other => panic!("expected joined {room}, got {other:?}"),
        }
    }

    /// Sends a post.
    pub async fn post(&mut self, room: &str, id: &str, text: &str) {
        self.send(ClientCommand::Post {
            room: room.to_owned(),
            id: id.to_owned(),
            text: text.to_owned(),
        })
        .await;
    }

    /// Posts and waits for the ack (and, in any order, the message itself); returns the
    /// ack's sequence.
    pub async fn post_acked(&mut self, room: &str, id: &str, text: &str) -> Seq {
        self.post(room, id, text).await;
        let mut acked = None;
        let mut seen = false;
        while acked.is_none() || !seen {
            match self.next_significant().await {
                ServerEvent::Ack { id: got, seq, .. } if got == id => acked = Some(seq),
                ServerEvent::Message(m) if m.id == id && m.author_id == self.user_id => seen = true,
                other => panic!("while waiting for ack of {id}: {other:?}"),
            }
        }
        acked.unwrap_or_default()
    }

    /// The next `message` event (skipping presence events).
    pub async fn expect_message(&mut self) -> ChatMessage {
        match self.next_significant().await {
            ServerEvent::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// A history page.
    pub async fn history(
        &mut self,
        room: &str,
        before: Option<Seq>,
        limit: u32,
    ) -> (Vec<ChatMessage>, bool) {
        self.send(ClientCommand::History {
            room: room.to_owned(),
            before,
            limit,
        })
        .await;
        match self.next_significant().await {
            ServerEvent::History {
                messages, has_more, ..
            } => (messages, has_more),
            other => panic!("expected history, got {other:?}"),
        }
    }

    /// The texts of the whole room, oldest first (via history).
    pub async fn all_texts(&mut self, room: &str) -> Vec<String> {
        let (messages, has_more) = self.history(room, None, 200).await;
        assert!(!has_more, "test rooms stay below 200 messages");
        messages.into_iter().map(|m| m.text).collect()
    }
}

//! The REST API under `/api/` over real HTTP: sessions, history, posts (idempotent, live
//! to WebSocket clients), and every error status with its JSON body. Also the tiny
//! HTTP/1.1 client the nginx test uses.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tuitalk_protocol::{ClientCommand, ErrorCode};
use tuitalk_server::config::Secret;

use crate::helpers::{Client, WAIT, spawn_app};
use crate::lab;
use crate::pg::TestDb;

/// An HTTP response: status, headers (names lowercase) and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an error response: `status` and `{"code": code, "message": ...}`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["code"], code, "{self:?}");
        assert!(body["message"].is_string(), "{self:?}");
    }
}

/// One HTTP/1.1 request (`Connection: close`) with an optional bearer token and body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Response {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    // The server may answer (413) and close before reading all of a big body.
    let _ = stream.write_all(&bytes).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("response in time");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `POST /api/sessions` with `name`; asserts 201 and returns the body.
pub async fn new_session(addr: SocketAddr, name: &str) -> Value {
    let body = json!({ "name": name }).to_string();
    let response = request(addr, "POST", "/api/sessions", None, Some(body.as_bytes())).await;
    assert_eq!(response.status, 201, "{response:?}");
    response.json()
}

/// `POST /api/rooms/{room}/messages`.
pub async fn post(addr: SocketAddr, token: &str, room: &str, id: &str, text: &str) -> Response {
    let body = json!({ "id": id, "text": text }).to_string();
    let path = format!("/api/rooms/{room}/messages");
    request(addr, "POST", &path, Some(token), Some(body.as_bytes())).await
}

fn token_of(session: &Value) -> String {
    session["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn sessions_create_guests_whose_token_works_on_the_websocket() {
    let app = spawn_app(|_| {}).await;
    let session = new_session(app.addr, "ada").await;
    assert_eq!(session["name"], "ada");
    let user_id = session["user_id"].as_str().expect("user_id").to_owned();
    assert!(!user_id.is_empty());

    // The token resumes the same identity over the WebSocket.
    let mut ws = Client::connect(&app).await;
    ws.hello(None, Some(&token_of(&session))).await;
    assert_eq!(
        (ws.user_id.as_str(), ws.name.as_str()),
        (user_id.as_str(), "ada")
    );

    // No name: a generated guest name, like hello.
    let response = request(app.addr, "POST", "/api/sessions", None, Some(b"{}")).await;
    assert_eq!(response.status, 201, "{response:?}");
    assert!(
        response.json()["name"]
            .as_str()
            .expect("name")
            .starts_with("guest-")
    );

    let bad = |body: &'static [u8]| request(app.addr, "POST", "/api/sessions", None, Some(body));
    bad(br#"{"name":""}"#)
        .await
        .assert_error(400, "invalid_name");
    bad(br#"{"name":" padded"}"#)
        .await
        .assert_error(400, "invalid_name");
    bad(b"{not json").await.assert_error(400, "malformed_json");
    bad(b"").await.assert_error(400, "malformed_json");
    bad(br#"{"nom":"ada"}"#)
        .await
        .assert_error(400, "invalid_command");
    bad(br#"{"name":7}"#)
        .await
        .assert_error(400, "invalid_command");
    bad(b"[]").await.assert_error(400, "invalid_command");
    bad(b"\xff\xfe").await.assert_error(400, "malformed_json");

    // Bodies are bounded by limits.max_frame_bytes.
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(20_000));
    request(
        app.addr,
        "POST",
        "/api/sessions",
        None,
        Some(big.as_bytes()),
    )
    .await
    .assert_error(413, "frame_too_large");

    // Unknown endpoints and methods.
    request(app.addr, "GET", "/api/nothing", None, None)
        .await
        .assert_error(404, "unknown_type");
    request(app.addr, "PUT", "/api/sessions", None, None)
        .await
        .assert_error(405, "unknown_type");
    app.stop().await;
}

#[tokio::test]
async fn posting_and_reading_history_with_every_refusal() {
    let app = spawn_app(|c| c.limits.max_text_chars = 10).await;
    let addr = app.addr;
    let room = format!("r-{}", uuid::Uuid::new_v4().simple());
    let messages = format!("/api/rooms/{room}/messages");
    let ada = token_of(&new_session(addr, "ada").await);
    let bob = token_of(&new_session(addr, "bob").await);

    // Authentication.
    let response = request(addr, "GET", &messages, None, None).await;
    response.assert_error(401, "not_authenticated");
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    request(addr, "GET", &messages, Some("forged.token"), None)
        .await
        .assert_error(401, "invalid_token");
    let mut tampered = ada.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    post(addr, &tampered, &room, "p", "hi")
        .await
        .assert_error(401, "invalid_token");

    // An empty room reads as an empty page.
    let page = request(addr, "GET", &messages, Some(&ada), None).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        page.json(),
        json!({"room": room, "messages": [], "has_more": false})
    );

    // Posting: 201 with the sequence after the commit, then an idempotent 200.
    let first = post(addr, &ada, &room, "p-1", "one").await;
    assert_eq!(first.status, 201, "{first:?}");
    let first = first.json();
    assert_eq!(
        (first["room"].as_str(), first["id"].as_str()),
        (Some(room.as_str()), Some("p-1"))
    );
    assert_eq!(first["seq"], 1);
    let again = post(addr, &ada, &room, "p-1", "one").await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.json(), first, "the resend answers the original ack");
    // The same id from another identity is another post.
    let other = post(addr, &bob, &room, "p-1", "two").await;
    assert_eq!((other.status, other.json()["seq"].clone()), (201, json!(2)));
    for n in 3..=5 {
        let r = post(addr, &bob, &room, &format!("p-{n}"), &format!("m{n}")).await;
        assert_eq!(
            (r.status, r.json()["seq"].clone()),
            (201, json!(n)),
            "{r:?}"
        );
    }

    // Validation, with the protocol's codes.
    post(addr, &ada, &room, "p-1", "changed")
        .await
        .assert_error(409, "id_conflict");
    post(addr, &ada, &room, "has space", "x")
        .await
        .assert_error(400, "invalid_id");
    post(addr, &ada, &room, "p-x", "   ")
        .await
        .assert_error(400, "invalid_text");
    post(addr, &ada, &room, "p-y", "eleven chars")
        .await
        .assert_error(400, "text_too_long");
    post(addr, &ada, "bad%20room", "p-z", "x")
        .await
        .assert_error(400, "invalid_room");
    let long_room = "r".repeat(65);
    request(
        addr,
        "GET",
        &format!("/api/rooms/{long_room}/messages"),
        Some(&ada),
        None,
    )
    .await
    .assert_error(400, "invalid_room");
    let path = format!("/api/rooms/{room}/messages");
    for body in [&br#"{"id":"p"}"#[..], br#"{"id":"p","text":"x","extra":1}"#] {
        request(addr, "POST", &path, Some(&ada), Some(body))
            .await
            .assert_error(400, "invalid_command");
    }
    request(addr, "POST", &path, Some(&ada), Some(b"{"))
        .await
        .assert_error(400, "malformed_json");
    let big = format!(r#"{{"id":"big","text":"{}"}}"#, "x".repeat(17_000));
    request(addr, "POST", &path, Some(&ada), Some(big.as_bytes()))
        .await
        .assert_error(413, "frame_too_large");
    request(addr, "DELETE", &path, Some(&ada), None)
        .await
        .assert_error(405, "unknown_type");

    // History: pages backwards without skipping or repeating.
    let page = request(
        addr,
        "GET",
        &format!("{messages}?limit=2"),
        Some(&ada),
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{page:?}");
    let page = page.json();
    let seqs = |page: &Value| -> Vec<u64> {
        page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["seq"].as_u64().expect("seq"))
            .collect()
    };
    assert_eq!(
        (seqs(&page), page["has_more"].clone()),
        (vec![4, 5], json!(true))
    );
    let older = request(
        addr,
        "GET",
        &format!("{messages}?before=4&limit=10"),
        Some(&ada),
        None,
    )
    .await
    .json();
    assert_eq!(
        (seqs(&older), older["has_more"].clone()),
        (vec![1, 2, 3], json!(false))
    );
    let first = &older["messages"][0];
    assert_eq!(
        (first["text"].as_str(), first["author"].as_str()),
        (Some("one"), Some("ada"))
    );
    request(
        addr,
        "GET",
        &format!("{messages}?limit=0"),
        Some(&ada),
        None,
    )
    .await
    .assert_error(400, "invalid_limit");
    for query in ["?before=abc", "?limit=-1", "?page=2"] {
        request(addr, "GET", &format!("{messages}{query}"), Some(&ada), None)
            .await
            .assert_error(400, "invalid_command");
    }

    // The REST author became a member: the room is in its welcome.
    let mut ws = Client::connect(&app).await;
    ws.hello(None, Some(&ada)).await;
    assert!(ws.rooms.contains(&room), "{:?}", ws.rooms);
    app.stop().await;
}

#[tokio::test]
async fn posts_are_rate_limited_per_user_with_retry_after() {
    let app = spawn_app(|c| c.limits.posts_per_second = 2).await;
    let token = token_of(&new_session(app.addr, "ada").await);
    let room = format!("r-{}", uuid::Uuid::new_v4().simple());
    let mut refused = None;
    for n in 0..10 {
        let response = post(app.addr, &token, &room, &format!("p{n}"), "hi").await;
        if response.status != 201 {
            refused = Some((n, response));
            break;
        }
    }
    let (n, response) = refused.expect("a post beyond the budget is refused");
    assert!(n >= 2, "the burst of 2 passes first (refused at {n})");
    response.assert_error(429, "rate_limited");
    assert!(
        response.json()["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms >= 1)
    );
    assert!(
        response
            .header("retry-after")
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| s >= 1),
        "{response:?}"
    );
    // Another user has a budget of their own.
    let bob = token_of(&new_session(app.addr, "bob").await);
    assert_eq!(post(app.addr, &bob, &room, "b", "hi").await.status, 201);
    // After waiting, the refused post goes through with its id.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let retried = post(app.addr, &token, &room, &format!("p{n}"), "hi").await;
    assert_eq!(retried.status, 201, "{retried:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_rest_post_reaches_websocket_clients_live_once() {
    let app = spawn_app(|_| {}).await;
    let room = format!("r-{}", uuid::Uuid::new_v4().simple());
    let mut carol = app.guest("carol").await;
    carol.join(&room, None).await;
    assert_eq!(carol.post_acked(&room, "c-1", "from ws").await, 1);

    let bot = new_session(app.addr, "bot").await;
    let token = token_of(&bot);
    let response = post(app.addr, &token, &room, "b-1", "from rest").await;
    assert_eq!(response.status, 201, "{response:?}");
    assert_eq!(response.json()["seq"], 2);
    let message = carol.expect_message().await;
    assert_eq!(
        (
            message.seq,
            message.text.as_str(),
            message.author.as_str(),
            message.id.as_str()
        ),
        (2, "from rest", "bot", "b-1")
    );
    assert_eq!(message.author_id, bot["user_id"].as_str().expect("user_id"));
    // The resend is not delivered again.
    assert_eq!(
        post(app.addr, &token, &room, "b-1", "from rest")
            .await
            .status,
        200
    );
    carol.expect_silence(Duration::from_millis(300)).await;
    // And the REST history shows the WebSocket post too.
    let page = request(
        app.addr,
        "GET",
        &format!("/api/rooms/{room}/messages"),
        Some(&token),
        None,
    )
    .await
    .json();
    assert_eq!(page["messages"][0]["text"], "from ws");
    assert_eq!(page["messages"][1]["text"], "from rest");
    app.stop().await;
}

#[tokio::test]
async fn store_outage_answers_503_unavailable() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let app = spawn_app(|c| {
        c.store.database_url = Some(Secret::new(db.url.clone()));
        c.store.acquire_timeout_ms = 1000;
    })
    .await;
    let token = token_of(&new_session(app.addr, "ada").await);
    let room = format!("r-{}", uuid::Uuid::new_v4().simple());
    assert_eq!(post(app.addr, &token, &room, "p1", "hi").await.status, 201);

    // The database disappears under the running server (its connections are ended).
    let admin = lab::database_url().expect("lab");
    let name = db.url.rsplit('/').next().expect("database name").to_owned();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("admin connection");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database {name} with (force)"
    )))
    .execute(&mut conn)
    .await
    .expect("drop the test database");

    post(app.addr, &token, &room, "p2", "during")
        .await
        .assert_error(503, "unavailable");
    request(
        app.addr,
        "GET",
        &format!("/api/rooms/{room}/messages"),
        Some(&token),
        None,
    )
    .await
    .assert_error(503, "unavailable");
    let body = br#"{"name":"bob"}"#;
    request(app.addr, "POST", "/api/sessions", None, Some(body))
        .await
        .assert_error(503, "unavailable");
    // The WebSocket path refuses the same way.
    let mut ws = Client::connect(&app).await;
    ws.send(ClientCommand::Hello {
        version: tuitalk_protocol::PROTOCOL_VERSION,
        token: Some(token),
        name: None,
    })
    .await;
    ws.expect_error(ErrorCode::Unavailable).await;
    drop(ws);
    app.stop().await;
    drop(db);
}

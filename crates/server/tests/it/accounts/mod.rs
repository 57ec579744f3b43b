//! Accounts and sessions over real HTTP and WebSocket (docs/protocol.md, "Identities" and
//! "Sessions and tokens"): registration and login on several clients, the guest upgrade,
//! enumeration-safe login, sessions listed, relabelled and revoked (live connections
//! closed with 4004, also on another backend), expiry by a clock the test moves, key
//! rotation, password reset through a real SMTP server, and the operator CLI on both
//! stores.

mod cli;
mod lifecycle;
mod mail;
mod sessions;

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::rest::{Response, request};

/// A password zxcvbn accepts.
pub const PASSWORD: &str = "correct horse battery staple";

/// `POST /api/users` with these fields and an optional guest token; the response.
pub async fn register_raw(
    addr: SocketAddr,
    guest_token: Option<&str>,
    email: &str,
    handle: &str,
    name: &str,
    password: &str,
) -> Response {
    let body = json!({"email": email, "password": password, "name": name, "handle": handle});
    request(
        addr,
        "POST",
        "/api/users",
        guest_token,
        Some(body.to_string().as_bytes()),
    )
    .await
}

/// Registers `handle` (email `handle@example.org`, password [`PASSWORD`]); asserts 201
/// and returns the body.
pub async fn register(addr: SocketAddr, handle: &str) -> Value {
    let email = format!("{handle}@example.org");
    let response = register_raw(addr, None, &email, handle, handle, PASSWORD).await;
    assert_eq!(response.status, 201, "{response:?}");
    response.json()
}

/// `POST /api/sessions` with email and password; the response.
pub async fn login_raw(addr: SocketAddr, email: &str, password: &str) -> Response {
    let body = json!({"email": email, "password": password, "label": "test"});
    request(
        addr,
        "POST",
        "/api/sessions",
        None,
        Some(body.to_string().as_bytes()),
    )
    .await
}

/// Logs `handle` in (as registered by [`register`]); asserts 201 and returns the body.
pub async fn login(addr: SocketAddr, handle: &str) -> Value {
    let response = login_raw(addr, &format!("{handle}@example.org"), PASSWORD).await;
    assert_eq!(response.status, 201, "{response:?}");
    response.json()
}

/// The `token` field of an answer.
pub fn token(body: &Value) -> String {
    body["token"].as_str().expect("token").to_owned()
}

/// `GET /api/sessions` with `token`: the session list.
pub async fn sessions(addr: SocketAddr, token: &str) -> Vec<Value> {
    let response = request(addr, "GET", "/api/sessions", Some(token), None).await;
    assert_eq!(response.status, 200, "{response:?}");
    response.json()["sessions"]
        .as_array()
        .expect("sessions")
        .clone()
}

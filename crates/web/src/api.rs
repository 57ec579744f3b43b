//! The REST calls of accounts and sessions (docs/protocol.md, "REST API"), as data: each
//! call is a [`Request`] (method, path, JSON body, bearer token) and each answer is read
//! from its status and body into a typed value or an [`ApiError`]. The browser layer
//! (`http`) only carries them, so what is sent and how answers are read is tested on the
//! host.
//!
//! The page calls its own server only (relative paths, the page's origin): the
//! Content-Security-Policy of the page allows `fetch` to `'self'` alone, and a token is
//! only ever sent to the server that issued it. A page whose `?server=` names another
//! server has no accounts there ([`accounts_reachable`]); it chats as a guest.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tuitalk_client::Identity;
use tuitalk_protocol::ErrorCode;

use crate::address::{own_url, ws_origin};

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST` (always with a JSON body).
    Post,
    /// `PATCH` (with a JSON body).
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// One call of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path on the page's own server, for example `/api/sessions`.
    pub path: String,
    /// The JSON body (sent with `Content-Type: application/json`).
    pub body: Option<String>,
    /// The session token, sent as `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
}

impl Request {
    fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            token: None,
        }
    }

    fn body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body.to_string());
        self
    }

    fn token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }
}

/// Whether the page can use accounts on the server at `ws_url`: only when it is the
/// page's own server (the page at `protocol`, `host`), the one its `fetch`es reach.
pub fn accounts_reachable(ws_url: &str, protocol: &str, host: &str) -> bool {
    let own = ws_origin(&own_url(protocol, host));
    own.is_some() && ws_origin(ws_url) == own
}

/// The fields of a registration, already checked and normalised (`crate::forms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The normalised email address.
    pub email: String,
    /// The normalised handle (without `@`).
    pub handle: String,
    /// The display name.
    pub name: String,
    /// The password.
    pub password: String,
}

/// `POST /api/users`: registers. With `guest_token` (the guest this page is) it upgrades
/// that guest, which keeps its user id, rooms and history.
pub fn register(form: &Registration, guest_token: Option<&str>) -> Request {
    Request::new(Method::Post, "/api/users")
        .body(json!({
            "email": form.email,
            "password": form.password,
            "name": form.name,
            "handle": form.handle,
        }))
        .token(guest_token)
}

/// `POST /api/sessions` with an email and password: signs in (a new session).
pub fn sign_in(email: &str, password: &str) -> Request {
    Request::new(Method::Post, "/api/sessions").body(json!({
        "email": email,
        "password": password,
    }))
}

/// `GET /api/me`: the profile.
pub fn me(token: &str) -> Request {
    Request::new(Method::Get, "/api/me").token(Some(token))
}

/// `GET /api/sessions`: this identity's live sessions.
pub fn sessions(token: &str) -> Request {
    Request::new(Method::Get, "/api/sessions").token(Some(token))
}

/// `PATCH /api/sessions/{id}`: renames a session.
pub fn rename_session(token: &str, id: &str, label: &str) -> Request {
    Request::new(Method::Patch, format!("/api/sessions/{}", path_segment(id)))
        .body(json!({ "label": label }))
        .token(Some(token))
}

/// `DELETE /api/sessions/{id}`: revokes one session (this one: signs out).
pub fn revoke_session(token: &str, id: &str) -> Request {
    Request::new(
        Method::Delete,
        format!("/api/sessions/{}", path_segment(id)),
    )
    .token(Some(token))
}

/// `DELETE /api/sessions`: revokes every session of the identity, this one included.
pub fn revoke_all(token: &str) -> Request {
    Request::new(Method::Delete, "/api/sessions").token(Some(token))
}

/// `POST /api/me/password`: changes the password; the other sessions are signed out.
pub fn change_password(token: &str, current: &str, new: &str) -> Request {
    Request::new(Method::Post, "/api/me/password")
        .body(json!({
            "current_password": current,
            "new_password": new,
            "sign_out_others": true,
        }))
        .token(Some(token))
}

/// `POST /api/password-resets`: mails a reset code to the address (if it is an account).
pub fn request_reset(email: &str) -> Request {
    Request::new(Method::Post, "/api/password-resets").body(json!({ "email": email }))
}

/// `POST /api/password-resets/confirm`: sets a new password with a mailed code.
pub fn confirm_reset(code: &str, new_password: &str) -> Request {
    Request::new(Method::Post, "/api/password-resets/confirm").body(json!({
        "code": code,
        "new_password": new_password,
    }))
}

/// `POST /api/email-verifications`: verifies the account's email with a mailed code.
pub fn verify_email(token: &str, code: &str) -> Request {
    Request::new(Method::Post, "/api/email-verifications")
        .body(json!({ "code": code }))
        .token(Some(token))
}

/// `POST /api/me/verification-mail`: mails a new verification code.
pub fn resend_verification(token: &str) -> Request {
    Request::new(Method::Post, "/api/me/verification-mail")
        .body(json!({}))
        .token(Some(token))
}

/// A session id as one path segment: ids are opaque, so anything but the unreserved
/// characters is percent-encoded.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            byte => format!("%{byte:02X}"),
        })
        .collect()
}

// ----- answers -----

/// The answer of a sign-in or a registration: who the page now is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SignedIn {
    /// The user id.
    pub user_id: String,
    /// The display name.
    pub name: String,
    /// The account's handle (absent for a guest).
    #[serde(default)]
    pub handle: Option<String>,
    /// The session token.
    pub token: String,
    /// The session's id.
    pub session_id: String,
    /// The account's email address (registration only).
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the email is verified (registration only; a sign-in learns it from the
    /// `welcome`).
    #[serde(default)]
    pub email_verified: Option<bool>,
}

impl SignedIn {
    /// The identity the page resumes on its WebSocket.
    pub fn identity(&self) -> Identity {
        Identity {
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            handle: self.handle.clone(),
            // Unknown until the `welcome` says otherwise: do not nag before it.
            email_verified: self.email_verified.unwrap_or(true),
            session_id: self.session_id.clone(),
            token: self.token.clone(),
        }
    }
}

/// One session of the identity (`GET /api/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SessionInfo {
    /// The session id.
    pub id: String,
    /// Its label ("laptop", or taken from the browser's `User-Agent`).
    pub label: String,
    /// When it was created (milliseconds since the Unix epoch).
    pub created_at: i64,
    /// When it was last used.
    pub last_seen_at: i64,
    /// Its absolute end.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Whether it is the session of the token that asked.
    #[serde(default)]
    pub current: bool,
}

/// The answer of `GET /api/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SessionList {
    /// The live sessions, newest first.
    pub sessions: Vec<SessionInfo>,
}

/// The answer of `GET /api/me`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Profile {
    /// The user id.
    pub user_id: String,
    /// The display name.
    pub name: String,
    /// Whether it is a guest.
    #[serde(default)]
    pub guest: bool,
    /// The account's handle.
    #[serde(default)]
    pub handle: Option<String>,
    /// The account's email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the email is verified.
    #[serde(default)]
    pub email_verified: Option<bool>,
}

/// A refused or failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status; 0 when no answer came (the network, or the page went offline).
    pub status: u16,
    /// The protocol's error code (`email_taken`, …); `network` when no answer came,
    /// `http_STATUS` for an answer without one.
    pub code: String,
    /// The server's human-readable text (or the browser's error).
    pub message: String,
    /// For `rate_limited`: how long to wait.
    pub retry_after_ms: Option<u64>,
}

impl ApiError {
    /// No answer: the request did not reach the server or the answer was lost.
    pub fn network(message: impl Into<String>) -> Self {
        Self {
            status: 0,
            code: "network".to_owned(),
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The protocol error code, when it is one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == self.code)
    }

    /// Whether the answer says the token is no good any more (the session ended).
    pub fn session_ended(&self) -> bool {
        self.status == 401
            && matches!(
                self.error_code(),
                Some(ErrorCode::InvalidToken | ErrorCode::NotAuthenticated)
            )
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// Reads an error answer (`status` not 2xx).
fn error(status: u16, body: &str) -> ApiError {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(found) => ApiError {
            status,
            code: found.code,
            message: found.message,
            retry_after_ms: found.retry_after_ms,
        },
        Err(_) => ApiError {
            status,
            code: format!("http_{status}"),
            message: body.chars().take(200).collect(),
            retry_after_ms: None,
        },
    }
}

/// Reads an answer with a JSON body of type `T`.
pub fn read<T: DeserializeOwned>(status: u16, body: &str) -> Result<T, ApiError> {
    if !(200..300).contains(&status) {
        return Err(error(status, body));
    }
    serde_json::from_str(body).map_err(|err| ApiError {
        status,
        code: "bad_answer".to_owned(),
        message: format!("unexpected answer from the server: {err}"),
        retry_after_ms: None,
    })
}

/// Reads an answer whose body does not matter (`204`, `202`).
pub fn read_empty(status: u16, body: &str) -> Result<(), ApiError> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(error(status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(request: &Request) -> serde_json::Value {
        serde_json::from_str(request.body.as_deref().expect("a body")).expect("JSON")
    }

    #[test]
    fn registration_with_and_without_a_guest_token() {
        let form = Registration {
            email: "ada@example.org".into(),
            handle: "ada".into(),
            name: "Ada \"L\"".into(),
            password: "correct horse battery".into(),
        };
        let new = register(&form, None);
        assert_eq!(
            (new.method, new.path.as_str()),
            (Method::Post, "/api/users")
        );
        assert_eq!(new.token, None);
        assert_eq!(
            body(&new),
            json!({"email": "ada@example.org", "password": "correct horse battery",
                   "name": "Ada \"L\"", "handle": "ada"})
        );
        let upgrade = register(&form, Some("v2.k.s.m"));
        assert_eq!(upgrade.token.as_deref(), Some("v2.k.s.m"));
    }

    #[test]
    fn session_calls() {
        let login = sign_in("ada@example.org", "pw");
        assert_eq!(login.path, "/api/sessions");
        assert_eq!(login.token, None);
        assert_eq!(
            body(&login),
            json!({"email": "ada@example.org", "password": "pw"})
        );
        let list = sessions("t");
        assert_eq!(
            (list.method, list.path.as_str(), list.body.as_deref()),
            (Method::Get, "/api/sessions", None)
        );
        let one = revoke_session("t", "9b2e/../x y");
        assert_eq!(one.method, Method::Delete);
        assert_eq!(
            one.path, "/api/sessions/9b2e%2F..%2Fx%20y",
            "an id is one segment"
        );
        assert_eq!(revoke_all("t").path, "/api/sessions");
        let rename = rename_session("t", "c0de", "laptop");
        assert_eq!(rename.method, Method::Patch);
        assert_eq!(body(&rename), json!({"label": "laptop"}));
        let password = change_password("t", "old", "new one");
        assert_eq!(
            body(&password),
            json!({"current_password": "old", "new_password": "new one", "sign_out_others": true})
        );
        assert_eq!(verify_email("t", "123").token.as_deref(), Some("t"));
        assert_eq!(resend_verification("t").body.as_deref(), Some("{}"));
        assert_eq!(request_reset("a@b.cd").token, None);
        assert_eq!(
            body(&confirm_reset("c", "p")),
            json!({"code": "c", "new_password": "p"})
        );
    }

    #[test]
    fn answers_and_errors_are_read() {
        let signed: SignedIn = read(
            201,
            r#"{"user_id":"u","name":"Ada","handle":"ada","guest":false,"token":"t","session_id":"s","role":"member"}"#,
        )
        .expect("read");
        let identity = signed.identity();
        assert_eq!(identity.handle.as_deref(), Some("ada"));
        assert!(!identity.is_guest());
        assert_eq!(
            (identity.token.as_str(), identity.session_id.as_str()),
            ("t", "s")
        );

        let taken =
            read::<SignedIn>(409, r#"{"code":"handle_taken","message":"taken"}"#).expect_err("409");
        assert_eq!(taken.error_code(), Some(ErrorCode::HandleTaken));
        let limited = read::<SignedIn>(
            429,
            r#"{"code":"rate_limited","message":"slow down","retry_after_ms":61000}"#,
        )
        .expect_err("429");
        assert_eq!(limited.retry_after_ms, Some(61_000));
        let proxy = read_empty(502, "<html>Bad Gateway</html>").expect_err("502");
        assert_eq!(proxy.code, "http_502");
        assert_eq!(proxy.error_code(), None);
        assert!(read_empty(204, "").is_ok());
        let odd = read::<SessionList>(200, "{}").expect_err("no sessions field");
        assert_eq!(odd.code, "bad_answer");

        let ended = read_empty(401, r#"{"code":"invalid_token","message":"no"}"#).expect_err("401");
        assert!(ended.session_ended());
        let wrong =
            read_empty(401, r#"{"code":"invalid_credentials","message":"no"}"#).expect_err("401");
        assert!(
            !wrong.session_ended(),
            "a wrong password does not end the session"
        );

        let list: SessionList = read(
            200,
            r#"{"sessions":[{"id":"c0de","label":"laptop","created_at":1,"last_seen_at":2,"expires_at":3,"current":true}]}"#,
        )
        .expect("list");
        assert!(list.sessions[0].current);
    }

    #[test]
    fn accounts_only_on_the_pages_own_server() {
        assert!(accounts_reachable(
            "ws://127.0.0.1:8080/ws",
            "http:",
            "127.0.0.1:8080"
        ));
        assert!(accounts_reachable(
            "wss://chat.example/ws",
            "https:",
            "chat.example:443"
        ));
        assert!(!accounts_reachable(
            "ws://127.0.0.1:9000/ws",
            "http:",
            "127.0.0.1:8080"
        ));
        assert!(!accounts_reachable(
            "ws://chat.example/ws",
            "https:",
            "chat.example"
        ));
    }
}

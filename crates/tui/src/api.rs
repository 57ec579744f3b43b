//! The account endpoints of the server's REST API (docs/protocol.md, "REST API"):
//! register, log in, list, label and revoke sessions. Each [`ApiCall`] is one request;
//! [`execute`] sends it and reads the answer into an [`ApiOk`] or an [`ApiError`] that
//! says in plain words what went wrong ([`ApiError::describe`]).

use hyper::Method;
use serde::Deserialize;
use tuitalk_client::Identity;

use crate::http::{self, HttpError, Server};
use crate::secret::Secret;

/// One request to the account API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCall {
    /// `POST /api/users`: a new account; with `guest_token`, the guest is upgraded (same
    /// user id, rooms and history).
    Register {
        /// The email address (normalised).
        email: String,
        /// The handle, without `@` (normalised).
        handle: String,
        /// The display name.
        name: String,
        /// The password.
        password: Secret,
        /// The token of the guest session to upgrade.
        guest_token: Option<Secret>,
    },
    /// `POST /api/sessions` with an email and a password: a new session of an account.
    Login {
        /// The email address (normalised).
        email: String,
        /// The password.
        password: Secret,
        /// The new session's label (the server takes the User-Agent when absent).
        label: Option<String>,
    },
    /// `GET /api/sessions`: the identity's live sessions.
    ListSessions {
        /// The identity's token.
        token: Secret,
    },
    /// `PATCH /api/sessions/{id}`: relabels a session.
    LabelSession {
        /// The identity's token.
        token: Secret,
        /// The session.
        id: String,
        /// The new label.
        label: String,
    },
    /// `DELETE /api/sessions/{id}`: revokes a session.
    RevokeSession {
        /// The identity's token.
        token: Secret,
        /// The session.
        id: String,
    },
    /// `DELETE /api/sessions`: revokes every session, the current one included.
    RevokeAll {
        /// The identity's token.
        token: Secret,
    },
}

/// A session granted by register or login.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Granted {
    /// The user id.
    pub user_id: String,
    /// The display name.
    pub name: String,
    /// The account's handle (absent for a guest).
    #[serde(default)]
    pub handle: Option<String>,
    /// Whether the email address is verified (absent in a login answer).
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// The session token.
    pub token: Secret,
    /// The session's id.
    pub session_id: String,
}

impl Granted {
    /// The identity the next `hello` resumes. An unknown verification state counts as
    /// verified until the `welcome` says otherwise.
    pub fn identity(&self) -> Identity {
        Identity {
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            handle: self.handle.clone(),
            email_verified: self.email_verified.unwrap_or(true),
            session_id: self.session_id.clone(),
            token: self.token.expose().to_owned(),
        }
    }
}

/// One live session of an identity, as `GET /api/sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SessionInfo {
    /// The session's id.
    pub id: String,
    /// Its label (the User-Agent unless renamed).
    #[serde(default)]
    pub label: String,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it was last used, in milliseconds since the Unix epoch.
    pub last_seen_at: i64,
    /// Whether it is the session of the token that asked.
    #[serde(default)]
    pub current: bool,
}

#[derive(Deserialize)]
struct SessionList {
    sessions: Vec<SessionInfo>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiOk {
    /// Register or login: the new session.
    Granted(Granted),
    /// The list of sessions, newest first.
    Sessions(Vec<SessionInfo>),
    /// A relabelled session.
    Session(SessionInfo),
    /// Done, nothing to read (revocations).
    Done,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The server refused, with the protocol's error `code` (empty when the body had
    /// none).
    #[error("{message} ({code}, HTTP {status})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The error code, for example `invalid_credentials`.
        code: String,
        /// The server's explanation.
        message: String,
        /// For `rate_limited`: when to try again.
        retry_after_ms: Option<u64>,
    },
    /// No usable answer: the server was unreachable, too slow, or answered nonsense.
    #[error("{0}")]
    Failed(String),
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

impl From<HttpError> for ApiError {
    fn from(err: HttpError) -> Self {
        Self::Failed(err.to_string())
    }
}

impl ApiError {
    /// The error code when the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }

    /// What went wrong, in words for the user (the server's message may be quoted: a UI
    /// sanitises it like any text from the network).
    pub fn describe(&self) -> String {
        let Self::Refused {
            status,
            code,
            message,
            retry_after_ms,
        } = self
        else {
            return self.to_string();
        };
        match code.as_str() {
            "invalid_credentials" => "wrong email or password".to_owned(),
            "account_disabled" => "this account is disabled".to_owned(),
            "email_taken" => "an account with this email exists: /login EMAIL".to_owned(),
            "handle_taken" => "this handle is taken: choose another one".to_owned(),
            "already_registered" => "this session is already an account".to_owned(),
            "weak_password" => {
                "password refused: too short or too easy to guess (use a longer one)".to_owned()
            }
            "invalid_email" | "invalid_handle" | "invalid_name" => message.clone(),
            "invalid_token" => "this session is no longer valid".to_owned(),
            "unknown_session" => "no such session (already revoked?)".to_owned(),
            "rate_limited" => {
                let seconds = retry_after_ms.unwrap_or(1000).div_ceil(1000).max(1);
                format!("too many attempts; try again in {seconds} s")
            }
            "unknown_type" if *status == 404 || *status == 405 => {
                "this server does not offer accounts".to_owned()
            }
            "" => format!("the server answered HTTP {status}"),
            _ => format!("{message} ({code})"),
        }
    }
}

/// Sends `call` to `server` and reads the answer. Cancel-safe.
pub async fn execute(server: &Server, call: ApiCall) -> Result<ApiOk, ApiError> {
    use serde_json::json;
    let (method, path, bearer, body) = match &call {
        ApiCall::Register {
            email,
            handle,
            name,
            password,
            guest_token,
        } => (
            Method::POST,
            "/api/users".to_owned(),
            guest_token.as_ref(),
            Some(json!({
                "email": email, "handle": handle, "name": name,
                "password": password.expose(),
            })),
        ),
        ApiCall::Login {
            email,
            password,
            label,
        } => {
            let mut body = json!({"email": email, "password": password.expose()});
            if let Some(label) = label {
                body["label"] = json!(label);
            }
            (Method::POST, "/api/sessions".to_owned(), None, Some(body))
        }
        ApiCall::ListSessions { token } => {
            (Method::GET, "/api/sessions".to_owned(), Some(token), None)
        }
        ApiCall::LabelSession { token, id, label } => (
            Method::PATCH,
            format!("/api/sessions/{}", path_segment(id)),
            Some(token),
            Some(json!({ "label": label })),
        ),
        ApiCall::RevokeSession { token, id } => (
            Method::DELETE,
            format!("/api/sessions/{}", path_segment(id)),
            Some(token),
            None,
        ),
        ApiCall::RevokeAll { token } => (
            Method::DELETE,
            "/api/sessions".to_owned(),
            Some(token),
            None,
        ),
    };
    let answer = http::request(server, method, &path, bearer, body).await?;
    if !(200..300).contains(&answer.status) {
        let body: Option<ErrorBody> = serde_json::from_slice(&answer.body).ok();
        let body = body.unwrap_or(ErrorBody {
            code: String::new(),
            message: String::new(),
            retry_after_ms: None,
        });
        return Err(ApiError::Refused {
            status: answer.status,
            code: body.code,
            message: body.message,
            retry_after_ms: body.retry_after_ms,
        });
    }
    let unreadable = |err: serde_json::Error| ApiError::Failed(format!("unreadable answer: {err}"));
    match call {
        ApiCall::Register { .. } | ApiCall::Login { .. } => serde_json::from_slice(&answer.body)
            .map(ApiOk::Granted)
            .map_err(unreadable),
        ApiCall::ListSessions { .. } => serde_json::from_slice::<SessionList>(&answer.body)
            .map(|list| ApiOk::Sessions(list.sessions))
            .map_err(unreadable),
        ApiCall::LabelSession { .. } => serde_json::from_slice(&answer.body)
            .map(ApiOk::Session)
            .map_err(unreadable),
        ApiCall::RevokeSession { .. } | ApiCall::RevokeAll { .. } => Ok(ApiOk::Done),
    }
}

/// A session id as a path segment: anything but ASCII letters, digits, `-` and `_` is
/// percent-encoded (ids are UUIDs; this only guards against odd input).
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: &str, message: &str) -> ApiError {
        ApiError::Refused {
            status,
            code: code.into(),
            message: message.into(),
            retry_after_ms: Some(2500),
        }
    }

    #[test]
    fn errors_read_as_plain_words() {
        assert_eq!(
            refused(401, "invalid_credentials", "x").describe(),
            "wrong email or password"
        );
        assert_eq!(
            refused(429, "rate_limited", "slow down").describe(),
            "too many attempts; try again in 3 s"
        );
        assert_eq!(
            refused(404, "unknown_type", "no such endpoint").describe(),
            "this server does not offer accounts"
        );
        assert_eq!(
            refused(500, "", "").describe(),
            "the server answered HTTP 500"
        );
        assert_eq!(
            refused(400, "frobbed", "it broke").describe(),
            "it broke (frobbed)"
        );
        assert_eq!(refused(400, "frobbed", "x").code(), Some("frobbed"));
        assert_eq!(
            ApiError::from(HttpError::Unreachable).describe(),
            "server unreachable"
        );
    }

    #[test]
    fn odd_session_ids_are_encoded() {
        assert_eq!(path_segment("9b2e-41_x"), "9b2e-41_x");
        assert_eq!(path_segment("../me?x"), "%2E%2E%2Fme%3Fx");
    }

    #[test]
    fn granted_sessions_become_identities() {
        let granted: Granted = serde_json::from_str(
            r#"{"user_id":"u-1","name":"Ada","handle":"ada","guest":false,"email":"a@b.c",
                "email_verified":false,"role":"member","created_at":1,"token":"v2.k.s.m","session_id":"s-1"}"#,
        )
        .expect("register answer");
        let identity = granted.identity();
        assert_eq!(identity.handle.as_deref(), Some("ada"));
        assert!(!identity.email_verified);
        assert_eq!(identity.token, "v2.k.s.m");
        assert!(
            !format!("{granted:?}").contains("v2.k.s.m"),
            "tokens do not print"
        );
    }
}

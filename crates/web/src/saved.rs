//! Where the browser keeps a session (user id, name, handle, session id, token): one key
//! per WebSocket server origin ([`session_key`]), so a token is only ever sent back to
//! the server that issued it. Another server named by `?server=` finds no identity
//! under its own key and starts a new guest. A guest is kept in the tab's
//! sessionStorage (a reload resumes it, a new tab is a new guest); an account in the
//! browser's localStorage (every tab of this browser is signed in, until it signs out
//! or the session ends) — [`place`]. The unscoped keys of older versions
//! ([`LEGACY_KEYS`]) are removed at startup, never reused; a kept identity of the
//! previous format (no handle, no session id) still reads, as a guest.

use tuitalk_client::Identity;

use crate::address::ws_origin;

/// The unscoped keys older versions kept the identity under (for whatever server the
/// page used): removed, not migrated.
pub const LEGACY_KEYS: [&str; 3] = ["tuitalk.user_id", "tuitalk.user_name", "tuitalk.token"];

/// The prefix of the per-server keys: `tuitalk.session.ws://127.0.0.1:8080`.
pub const SESSION_PREFIX: &str = "tuitalk.session.";

/// The sessionStorage key of the identity for the server at `ws_url` (by its origin);
/// `None` when the URL is not a WebSocket URL (then nothing is kept).
pub fn session_key(ws_url: &str) -> Option<String> {
    ws_origin(ws_url).map(|origin| format!("{SESSION_PREFIX}{origin}"))
}

/// Which of the browser's stores keeps an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The tab's sessionStorage: guests.
    Tab,
    /// The browser's localStorage: accounts.
    Browser,
}

/// Where `identity` is kept: an account for the whole browser, a guest for its tab.
pub fn place(identity: &Identity) -> Place {
    if identity.is_guest() {
        Place::Tab
    } else {
        Place::Browser
    }
}

/// The stored form of an identity (a JSON object).
pub fn encode(identity: &Identity) -> String {
    let mut value = serde_json::json!({
        "user_id": identity.user_id,
        "name": identity.name,
        "session_id": identity.session_id,
        "token": identity.token,
    });
    if let Some(handle) = &identity.handle {
        value["handle"] = handle.as_str().into();
        value["email_verified"] = identity.email_verified.into();
    }
    value.to_string()
}

/// An identity read back; `None` for anything else (edits by hand, a future format).
/// The format before accounts (`user_id`, `name`, `token`) reads as a guest whose
/// session id the next `welcome` tells.
pub fn decode(stored: &str) -> Option<Identity> {
    let value: serde_json::Value = serde_json::from_str(stored).ok()?;
    let field = |name: &str| value.get(name)?.as_str().map(str::to_owned);
    let handle = match value.get("handle") {
        None => None,
        Some(handle) => Some(handle.as_str()?.to_owned()).filter(|h| !h.is_empty()),
    };
    let identity = Identity {
        email_verified: value
            .get("email_verified")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(handle.is_some()),
        handle,
        session_id: field("session_id").unwrap_or_default(),
        user_id: field("user_id")?,
        name: field("name")?,
        token: field("token")?,
    };
    (!identity.token.is_empty() && !identity.user_id.is_empty()).then_some(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_server_origin() {
        assert_eq!(
            session_key("ws://127.0.0.1:8080/ws").as_deref(),
            Some("tuitalk.session.ws://127.0.0.1:8080")
        );
        assert_eq!(
            session_key("WSS://Chat.Example:443/ws").as_deref(),
            Some("tuitalk.session.wss://chat.example")
        );
        assert_ne!(
            session_key("ws://127.0.0.1:8080/ws"),
            session_key("ws://127.0.0.1:9000/ws"),
            "another port is another server"
        );
        assert_ne!(
            session_key("ws://chat.example/ws"),
            session_key("wss://chat.example/ws")
        );
        assert_eq!(session_key("javascript:alert(1)"), None);
        assert!(
            LEGACY_KEYS
                .iter()
                .all(|key| !key.starts_with(SESSION_PREFIX))
        );
    }

    fn guest() -> Identity {
        Identity {
            handle: None,
            email_verified: false,
            session_id: "s-1".to_owned(),
            user_id: "u-1".to_owned(),
            name: "ada \"the\" first".to_owned(),
            token: "v2.k.s.m".to_owned(),
        }
    }

    #[test]
    fn identities_round_trip() {
        let guest = guest();
        assert_eq!(decode(&encode(&guest)), Some(guest.clone()));
        assert_eq!(place(&guest), Place::Tab);
        let account = Identity {
            handle: Some("ada".to_owned()),
            email_verified: false,
            ..guest
        };
        assert_eq!(decode(&encode(&account)), Some(account.clone()));
        assert_eq!(place(&account), Place::Browser);
        let verified = Identity {
            email_verified: true,
            ..account
        };
        assert_eq!(decode(&encode(&verified)), Some(verified));
        assert_eq!(decode("u-1"), None);
        assert_eq!(decode(r#"{"user_id":"u","name":"n"}"#), None);
        assert_eq!(decode(r#"{"user_id":"u","name":"n","token":""}"#), None);
        assert_eq!(
            decode(r#"{"user_id":"u","name":"n","token":"t","handle":7}"#),
            None,
            "a handle that is not a string is not trusted"
        );
    }

    #[test]
    fn the_format_before_accounts_reads_as_a_guest() {
        let old = r#"{"user_id":"u-1","name":"ada","token":"base64.MAC"}"#;
        let identity = decode(old).expect("readable");
        assert!(identity.is_guest());
        assert_eq!(identity.session_id, "");
        assert_eq!(identity.token, "base64.MAC");
        assert_eq!(place(&identity), Place::Tab, "where it always was");
    }
}

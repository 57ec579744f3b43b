//! Where the browser keeps a session (user id, name, token): in the tab's
//! sessionStorage, one key per WebSocket server origin ([`session_key`]), so a token
//! is only ever sent back to the server that issued it. Another server named by
//! `?server=` finds no identity under its own key and starts a new guest. The unscoped
//! keys of older versions ([`LEGACY_KEYS`]) are removed at startup, never reused.

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

/// The stored form of an identity (a JSON object).
pub fn encode(identity: &Identity) -> String {
    serde_json::json!({
        "user_id": identity.user_id,
        "name": identity.name,
        "token": identity.token,
    })
    .to_string()
}

/// An identity read back; `None` for anything else (other versions, edits by hand).
pub fn decode(stored: &str) -> Option<Identity> {
    let value: serde_json::Value = serde_json::from_str(stored).ok()?;
    let field = |name: &str| value.get(name)?.as_str().map(str::to_owned);
    let identity = Identity {
        handle: None,
        email_verified: false,
        session_id: String::new(),
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

    #[test]
    fn identities_round_trip() {
        let identity = Identity {
            handle: None,
            email_verified: false,
            session_id: String::new(),
            user_id: "u-1".to_owned(),
            name: "ada \"the\" first".to_owned(),
            token: "t.k".to_owned(),
        };
        assert_eq!(decode(&encode(&identity)), Some(identity));
        assert_eq!(decode("u-1"), None);
        assert_eq!(decode(r#"{"user_id":"u","name":"n"}"#), None);
        assert_eq!(decode(r#"{"user_id":"u","name":"n","token":""}"#), None);
    }
}

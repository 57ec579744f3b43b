//! Encoding and decoding of text frames.
//!
//! Decoding a client frame classifies failures into the stable error codes a server
//! answers with: `malformed_json` (not a JSON object), `unknown_type` (no or an unknown
//! `type`), `invalid_command` (the fields do not fit the type).

use crate::{ClientCommand, ErrorCode, ServerEvent};

/// Why a text frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DecodeError {
    /// The stable code a server reports for this failure.
    pub code: ErrorCode,
    /// What was wrong, for humans.
    pub message: String,
    /// The frame's `type`, when it was a known command whose fields were wrong.
    pub command: Option<String>,
}

impl DecodeError {
    fn new(code: ErrorCode, message: impl Into<String>, command: Option<&str>) -> Self {
        Self {
            code,
            message: message.into(),
            command: command.map(str::to_owned),
        }
    }
}

/// Decodes one client text frame.
///
/// The common case (a well-formed command) parses once; only a failure is parsed again
/// to tell which error code applies.
pub fn decode_command(text: &str) -> Result<ClientCommand, DecodeError> {
    match serde_json::from_str::<ClientCommand>(text) {
        Ok(command) => Ok(command),
        Err(typed) => Err(classify(text, typed, &ClientCommand::KINDS)),
    }
}

/// Decodes one server text frame (for clients).
pub fn decode_event(text: &str) -> Result<ServerEvent, DecodeError> {
    serde_json::from_str::<ServerEvent>(text).map_err(|typed| classify(text, typed, &[]))
}

/// Encodes a client command as a text frame.
pub fn encode_command(command: &ClientCommand) -> String {
    // Serialising these plain types to a String cannot fail: no maps with non-string
    // keys, no custom serialisers that error.
    serde_json::to_string(command).unwrap_or_default()
}

/// Encodes a server event as a text frame.
pub fn encode_event(event: &ServerEvent) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

/// Tells why `text` failed to parse as a typed message. `kinds` lists the known `type`
/// values; when empty, any `type` counts as known.
fn classify(text: &str, typed: serde_json::Error, kinds: &[&str]) -> DecodeError {
    let value = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => value,
        Err(err) => {
            return DecodeError::new(ErrorCode::MalformedJson, format!("not JSON: {err}"), None);
        }
    };
    let Some(object) = value.as_object() else {
        return DecodeError::new(ErrorCode::MalformedJson, "expected a JSON object", None);
    };
    let Some(kind) = object.get("type").and_then(|kind| kind.as_str()) else {
        return DecodeError::new(ErrorCode::UnknownType, "missing string field `type`", None);
    };
    if !kinds.is_empty() && !kinds.contains(&kind) {
        let mut shown: String = kind.chars().take(32).collect();
        if shown.len() < kind.len() {
            shown.push('…');
        }
        return DecodeError::new(
            ErrorCode::UnknownType,
            format!("unknown type `{shown}`"),
            None,
        );
    }
    DecodeError::new(ErrorCode::InvalidCommand, typed.to_string(), Some(kind))
}

//! Validation of the names and texts both sides check: room names, display names, post
//! ids and message texts. Servers enforce these; clients may check first to give quick
//! feedback.

use crate::ErrorCode;

/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// Longest post id, in bytes (printable ASCII only).
pub const MAX_ID_BYTES: usize = 64;

/// Checks a room name: 1 to [`MAX_ROOM_CHARS`] characters, each a letter, a digit, `-`,
/// `_` or `.`. Numbers are valid names (`42`). Error: `invalid_room`.
pub fn validate_room(room: &str) -> Result<(), ErrorCode> {
    let count = room.chars().count();
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
    if count == 0 || count > MAX_ROOM_CHARS || !room.chars().all(allowed) {
        return Err(ErrorCode::InvalidRoom);
    }
    Ok(())
}

/// Checks a display name: not empty, no leading or trailing whitespace, at most
/// `max_chars` characters, no control characters and no invisible formatting characters
/// (zero-width and bidirectional overrides) that could disguise it. Error: `invalid_name`.
pub fn validate_display_name(name: &str, max_chars: usize) -> Result<(), ErrorCode> {
    let count = name.chars().count();
    if count == 0
        || count > max_chars
        || name.trim() != name
        || name
            .chars()
            .any(|c| c.is_control() || is_invisible_format(c))
    {
        return Err(ErrorCode::InvalidName);
    }
    Ok(())
}

/// Checks a post id: 1 to [`MAX_ID_BYTES`] bytes of printable ASCII (no spaces).
/// Error: `invalid_id`.
pub fn validate_post_id(id: &str) -> Result<(), ErrorCode> {
    if id.is_empty() || id.len() > MAX_ID_BYTES || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ErrorCode::InvalidId);
    }
    Ok(())
}

/// Checks a message text: not blank, no NUL, at most `max_chars` characters.
/// Errors: `invalid_text`, `text_too_long`.
pub fn validate_text(text: &str, max_chars: usize) -> Result<(), ErrorCode> {
    if text.trim().is_empty() || text.contains('\0') {
        return Err(ErrorCode::InvalidText);
    }
    if text.chars().count() > max_chars {
        return Err(ErrorCode::TextTooLong);
    }
    Ok(())
}

/// Zero-width characters, bidirectional embeddings, overrides and isolates, and the byte
/// order mark: characters that render as nothing but change how neighbouring text looks.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}')
}

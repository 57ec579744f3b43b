//! Validation of the names and texts both sides check: room names, display names, post
//! ids and message texts. Servers enforce these; clients may check first to give quick
//! feedback.

use crate::{ErrorCode, charclass};

/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// Longest post id, in bytes (printable ASCII only).
pub const MAX_ID_BYTES: usize = 64;

/// Checks a room name: 1 to [`MAX_ROOM_CHARS`] characters, each an ASCII letter, an ASCII
/// digit, `-`, `_` or `.`. Numbers are valid names (`42`); names are case-sensitive.
/// Only ASCII, so that no room can look like another (`lоbby` with a Cyrillic `о`).
/// Error: `invalid_room`.
pub fn validate_room(room: &str) -> Result<(), ErrorCode> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    // ASCII only: bytes are characters.
    if room.is_empty() || room.len() > MAX_ROOM_CHARS || !room.bytes().all(allowed) {
        return Err(ErrorCode::InvalidRoom);
    }
    Ok(())
}

/// Checks a display name. A name is an identifier others read, so it must be visible and
/// plain:
/// - 1 to `max_chars` characters, no leading or trailing white space;
/// - not only blank characters ([`charclass::is_blank`]: white space, default ignorable
///   code points such as U+3164 HANGUL FILLER, format characters, separators, U+2800
///   BRAILLE PATTERN BLANK);
/// - no character of [`charclass::is_refused_in_name`] anywhere: controls, format
///   characters (every bidirectional control, ZWJ and ZWNJ, so emoji ZWJ sequences such
///   as 👩‍💻 are refused in names; tag characters, interlinear annotations), line and
///   paragraph separators, private-use and unassigned code points, Hangul fillers,
///   braille blank;
/// - not beginning with a combining mark.
///
/// Error: `invalid_name`.
pub fn validate_display_name(name: &str, max_chars: usize) -> Result<(), ErrorCode> {
    let count = name.chars().count();
    if count == 0
        || count > max_chars
        || name.trim() != name
        || name.chars().next().is_some_and(charclass::is_mark)
        || name.chars().all(charclass::is_blank)
        || name.chars().any(charclass::is_refused_in_name)
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

/// Checks a message text: not empty, not only blank characters
/// ([`charclass::is_blank`]: white space, zero-width and other default ignorable code
/// points, format characters, separators, U+2800 BRAILLE PATTERN BLANK), no NUL, its
/// bidirectional embeddings, overrides and isolates balanced within each line
/// ([`charclass::bidi_is_balanced`]), at most `max_chars` characters. Newlines, emoji ZWJ
/// sequences and balanced bidi controls are fine. Errors: `invalid_text`,
/// `text_too_long`.
pub fn validate_text(text: &str, max_chars: usize) -> Result<(), ErrorCode> {
    if text.chars().all(charclass::is_blank)
        || text.contains('\0')
        || !charclass::bidi_is_balanced(text)
    {
        return Err(ErrorCode::InvalidText);
    }
    if text.chars().count() > max_chars {
        return Err(ErrorCode::TextTooLong);
    }
    Ok(())
}

pub use crate::charclass::is_invisible_format;

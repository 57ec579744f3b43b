//! Rules for account fields shared by the server and the clients: email addresses are
//! normalised before they are compared or stored, handles are validated and compared in
//! lower case, and passwords have a byte bound (the server adds a minimum length and its
//! guessability check, which need its settings and data).

use crate::ErrorCode;

/// The longest email address accepted, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// The shortest handle, in characters.
pub const MIN_HANDLE_CHARS: usize = 3;
/// The longest handle, in characters.
pub const MAX_HANDLE_CHARS: usize = 20;
/// The longest password accepted, in bytes: hashing is costly, so the input is bounded.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Handles nobody may take: they would read as the server or a role speaking.
pub const RESERVED_HANDLES: [&str; 12] = [
    "admin",
    "administrator",
    "everyone",
    "here",
    "mod",
    "moderator",
    "nobody",
    "operator",
    "root",
    "server",
    "system",
    "tuitalk",
];

/// The normalised form of an email address: surrounding whitespace trimmed and the
/// whole address lower-cased (TuiTalk treats addresses as case-insensitive, as mail
/// providers do in practice). Error `invalid_email` unless it is `local@domain` with a
/// non-empty local part, a domain with a dot and no empty label, no whitespace or
/// control characters, and at most [`MAX_EMAIL_BYTES`] bytes.
pub fn normalize_email(email: &str) -> Result<String, ErrorCode> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= MAX_EMAIL_BYTES
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && match email.rsplit_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !local.contains('@')
                    && domain.contains('.')
                    && domain.split('.').all(|label| !label.is_empty())
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(ErrorCode::InvalidEmail)
    }
}

/// The normalised (lower-case) form of a handle, with or without a leading `@`. Error
/// `invalid_handle` unless it has [`MIN_HANDLE_CHARS`] to [`MAX_HANDLE_CHARS`]
/// characters of ASCII letters, digits and `_`, starts with a letter and is not one of
/// [`RESERVED_HANDLES`]. ASCII only, so two handles never look alike by script.
pub fn normalize_handle(handle: &str) -> Result<String, ErrorCode> {
    let handle = handle
        .strip_prefix('@')
        .unwrap_or(handle)
        .to_ascii_lowercase();
    let valid = (MIN_HANDLE_CHARS..=MAX_HANDLE_CHARS).contains(&handle.len())
        && handle.starts_with(|c: char| c.is_ascii_lowercase())
        && handle
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED_HANDLES.contains(&handle.as_str());
    if valid {
        Ok(handle)
    } else {
        Err(ErrorCode::InvalidHandle)
    }
}

/// Checks a new password's length: at least `min_chars` characters and at most
/// [`MAX_PASSWORD_BYTES`] bytes. Error `weak_password`. No composition rules.
pub fn validate_password_length(password: &str, min_chars: usize) -> Result<(), ErrorCode> {
    if password.chars().count() < min_chars || password.len() > MAX_PASSWORD_BYTES {
        Err(ErrorCode::WeakPassword)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada.Lovelace@Example.ORG "),
            Ok("ada.lovelace@example.org".to_owned())
        );
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@",
            "ada@localhost",
            "ada@example..org",
            "a da@example.org",
            "ada@@example.org",
            "ada@example.org\n",
        ] {
            if bad.trim() == bad || bad.is_empty() {
                assert_eq!(
                    normalize_email(bad),
                    Err(ErrorCode::InvalidEmail),
                    "{bad:?}"
                );
            }
        }
        assert_eq!(
            normalize_email(&format!("{}@example.org", "a".repeat(250))),
            Err(ErrorCode::InvalidEmail)
        );
    }

    #[test]
    fn handles_are_ascii_lower_case_and_not_reserved() {
        assert_eq!(normalize_handle("@Ada_99"), Ok("ada_99".to_owned()));
        for bad in [
            "ad",
            "9ada",
            "_ada",
            "ada-l",
            "adа",
            "admin",
            &"a".repeat(21),
        ] {
            assert_eq!(
                normalize_handle(bad),
                Err(ErrorCode::InvalidHandle),
                "{bad}"
            );
        }
    }

    #[test]
    fn password_length_bounds() {
        assert_eq!(
            validate_password_length("short", 8),
            Err(ErrorCode::WeakPassword)
        );
        assert_eq!(validate_password_length("long enough", 8), Ok(()));
        assert_eq!(
            validate_password_length(&"x".repeat(MAX_PASSWORD_BYTES + 1), 8),
            Err(ErrorCode::WeakPassword)
        );
    }
}

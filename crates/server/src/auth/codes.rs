//! The single-use codes mailed for password resets and email verification: 128 random
//! bits from the operating system (two v4 UUIDs' worth), shown as 26 base32 characters
//! in groups for typing, stored only as their SHA-256 (a stolen database reveals no
//! working code). Typing is forgiving: case, spaces and dashes are ignored.

use sha2::{Digest, Sha256};

/// The base32 alphabet of RFC 4648 (no 0/1/8 to confuse with letters).
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new code, as mailed: `XXXXX-XXXXX-XXXXX-XXXXX-XXXXXX`.
pub fn new_code() -> String {
    let bits = uuid::Uuid::new_v4().as_u128() ^ (uuid::Uuid::new_v4().as_u128() << 6);
    let chars: Vec<char> = (0..26)
        .map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]))
        .collect();
    chars
        .chunks(5)
        .map(|chunk| chunk.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The stored form of a code as typed: SHA-256 (hex) of its characters upper-cased,
/// without spaces and dashes.
pub fn code_hash(typed: &str) -> String {
    let normal: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    let digest = Sha256::digest(normal.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_and_forgivingly_typed() {
        let one = new_code();
        let two = new_code();
        assert_ne!(one, two);
        assert_eq!(one.len(), 26 + 5);
        assert!(
            one.chars()
                .all(|c| c == '-' || ALPHABET.contains(&(c as u8))),
            "{one}"
        );
        let typed = one.to_lowercase().replace('-', " ");
        assert_eq!(code_hash(&typed), code_hash(&one));
        assert_ne!(code_hash(&one), code_hash(&two));
        assert_eq!(code_hash(&one).len(), 64);
    }
}

//! Stable author colours: the same user id always gets the same colour, on every client
//! and every run (FNV-1a hash, like the TUI). The page styles the classes
//! `author-c0` … `author-c11` (`static/style.css`) with colours readable on its
//! background.

/// How many author colours the style sheet defines.
pub const PALETTE_SIZE: u64 = 12;

/// The colour index (0..[`PALETTE_SIZE`]) of an author.
pub fn author_colour(user_id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % PALETTE_SIZE
}

/// The CSS class that colours an author, for example `author-c3`.
pub fn author_class(user_id: &str) -> String {
    format!("author-c{}", author_colour(user_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_is_stable_and_in_range() {
        assert_eq!(author_colour("u-1"), author_colour("u-1"));
        // FNV-1a of the empty string is the offset basis.
        assert_eq!(author_colour(""), 0xcbf2_9ce4_8422_2325 % PALETTE_SIZE);
        assert!((0..1000).all(|i| author_colour(&format!("user-{i}")) < PALETTE_SIZE));
    }

    #[test]
    fn golden_values_shared_with_the_browser_tests() {
        // The same values as `authorClass` in e2e/support.mjs.
        assert_eq!(author_class("u-1"), "author-c2");
        assert_eq!(
            author_class("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
            "author-c9"
        );
        assert_eq!(author_class("ada"), "author-c7");
    }

    #[test]
    fn colours_are_spread() {
        let used: std::collections::HashSet<u64> = (0..200)
            .map(|i| author_colour(&format!("0193a1b2-{i:04}")))
            .collect();
        assert_eq!(used.len() as u64, PALETTE_SIZE, "{used:?}");
    }

    #[test]
    fn class_names_the_index() {
        let class = author_class("u-1");
        assert_eq!(class, format!("author-c{}", author_colour("u-1")));
    }
}

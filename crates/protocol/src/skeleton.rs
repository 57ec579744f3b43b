//! Look-alike display names: [`name_skeleton`] maps a name to a key that two names share
//! when they would look alike (UTS #39 "confusable detection", made case-insensitive),
//! [`confusable_skeleton`] is the case-sensitive key, and [`NameKey`] compares both.
//! The server refuses a rename to a name whose key another present user in a shared room
//! already has (`name_taken`); clients mark look-alike members with a short tag of their
//! user id.

use unicode_normalization::UnicodeNormalization;

/// How many times a skeleton applies its step at most while looking for a fixed point
/// (in practice the second application already changes nothing).
const MAX_ROUNDS: usize = 8;

/// The case-insensitive confusable skeleton of a display name: names that differ only in
/// case or in look-alike letters of other scripts share it (`Alice`, `alice`, `ALICE`
/// and `Аlice` with a Cyrillic `А` all give `alice`; so do `rn` and `m`).
///
/// One step is: NFKC (compatibility forms such as full-width letters become ordinary
/// ones), Unicode's default lowercase mapping, every run of white space collapsed to one
/// space, then the UTS #39 skeleton (NFD, default ignorable code points removed, each
/// character replaced by its prototype from Unicode's `confusables.txt`, NFD again).
/// Because a prototype may be an upper-case letter, the step is repeated until the
/// result stops changing, so the skeleton of a skeleton is itself.
///
/// Lowercasing first loses the look-alikes that only exist across case (capital `I` and
/// small `l`); [`confusable_skeleton`] keeps those, and [`NameKey`] compares both.
pub fn name_skeleton(name: &str) -> String {
    fixed_point(name, true)
}

/// The case-sensitive confusable skeleton of a display name: as [`name_skeleton`] without
/// the lowercase mapping, so `aIice` (capital `I`) and `alice` share it while `Alice`
/// and `alice` do not.
pub fn confusable_skeleton(name: &str) -> String {
    fixed_point(name, false)
}

/// The look-alike keys of one display name, to compare with those of others.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameKey {
    folded: String,
    exact: String,
}

impl NameKey {
    /// The keys of `name`.
    pub fn new(name: &str) -> Self {
        Self {
            folded: name_skeleton(name),
            exact: confusable_skeleton(name),
        }
    }

    /// The case-insensitive key ([`name_skeleton`]).
    pub fn folded(&self) -> &str {
        &self.folded
    }

    /// The case-sensitive key ([`confusable_skeleton`]).
    pub fn exact(&self) -> &str {
        &self.exact
    }

    /// Whether the two names would look alike: their [`name_skeleton`]s or their
    /// [`confusable_skeleton`]s are equal.
    pub fn looks_like(&self, other: &NameKey) -> bool {
        self.folded == other.folded || self.exact == other.exact
    }
}

/// Whether two display names would look alike (see [`NameKey::looks_like`]).
pub fn looks_alike(a: &str, b: &str) -> bool {
    NameKey::new(a).looks_like(&NameKey::new(b))
}

fn fixed_point(name: &str, lowercase: bool) -> String {
    let mut current = step(name, lowercase);
    for _ in 0..MAX_ROUNDS {
        let next = step(&current, lowercase);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn step(name: &str, lowercase: bool) -> String {
    let mut folded = String::with_capacity(name.len());
    let mut in_space = false;
    for c in name.nfkc() {
        if c.is_whitespace() {
            if !in_space {
                folded.push(' ');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        if lowercase {
            folded.extend(c.to_lowercase());
        } else {
            folded.push(c);
        }
    }
    unicode_security::skeleton(&folded).collect()
}

/// A short tag of a user id to tell look-alike names apart: its last four letters or
/// digits, lowercased (user ids are UUIDs; their tail is random).
pub fn user_tag(user_id: &str) -> String {
    let tail: Vec<char> = user_id
        .chars()
        .rev()
        .filter(char::is_ascii_alphanumeric)
        .take(4)
        .collect();
    tail.into_iter()
        .rev()
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_script_look_alikes_collide() {
        let alice = name_skeleton("alice");
        for name in ["Alice", "ALICE", "\u{410}lice", "\u{430}lice", "ａｌｉｃｅ"] {
            assert_eq!(name_skeleton(name), alice, "{name}");
        }
        assert_eq!(confusable_skeleton("aIice"), confusable_skeleton("alice"));
        for name in ["Alice", "ALICE", "\u{410}lice", "aIice", "a1ice", "alice"] {
            assert!(looks_alike(name, "alice"), "{name}");
        }
        assert!(!looks_alike("alice", "bob"));
        assert_eq!(name_skeleton("rn"), name_skeleton("m"));
        assert_eq!(name_skeleton("a  b"), name_skeleton("a\u{3000}b"));
        assert_ne!(name_skeleton("alice"), name_skeleton("alicia"));
        assert_ne!(name_skeleton("Jürgen"), name_skeleton("Jurgen"));
    }

    #[test]
    fn skeleton_is_a_fixed_point() {
        for name in ["Alice", "ᴀlice", "ß", "İstanbul", "🐱 cat", "ǅ", "Ⅻ"] {
            let once = name_skeleton(name);
            assert_eq!(name_skeleton(&once), once, "{name}");
            let once = confusable_skeleton(name);
            assert_eq!(confusable_skeleton(&once), once, "{name}");
        }
    }

    #[test]
    fn tags_are_the_id_tail() {
        assert_eq!(user_tag("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3F4A5B"), "4a5b");
        assert_eq!(user_tag("u-1"), "u1");
        assert_eq!(user_tag(""), "");
    }
}

//! Marking look-alike names. Joining a room never refuses a name (a squatter could lock
//! the real user out), so a client shows a member or an author whose name looks like
//! another present member's (the same UTS #39 skeleton, [`NameKey`]) with a short tag of
//! their user id: `alice#3f2a`. Both the terminal and the web client label names through
//! [`Room::label`](crate::Room::label), which asks the [`Lookalikes`] of the room.

use std::collections::BTreeMap;

use tuitalk_protocol::skeleton::{NameKey, user_tag};

/// The look-alike keys of a room's present members, counted so that a label costs one
/// skeleton and a few map look-ups however many members there are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookalikes {
    keys: BTreeMap<String, NameKey>,
    folded: BTreeMap<String, usize>,
    exact: BTreeMap<String, usize>,
}

impl Lookalikes {
    /// Records (or replaces) the name of present member `user_id`.
    pub fn set(&mut self, user_id: &str, name: &str) {
        self.remove(user_id);
        let key = NameKey::new(name);
        *self.folded.entry(key.folded().to_owned()).or_default() += 1;
        *self.exact.entry(key.exact().to_owned()).or_default() += 1;
        self.keys.insert(user_id.to_owned(), key);
    }

    /// Forgets member `user_id`.
    pub fn remove(&mut self, user_id: &str) {
        let Some(key) = self.keys.remove(user_id) else {
            return;
        };
        for (map, k) in [
            (&mut self.folded, key.folded()),
            (&mut self.exact, key.exact()),
        ] {
            if let Some(count) = map.get_mut(k) {
                *count -= 1;
                if *count == 0 {
                    map.remove(k);
                }
            }
        }
    }

    /// Forgets every member.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether a present member other than `user_id` has a name that looks like `name`.
    pub fn collides(&self, user_id: &str, name: &str) -> bool {
        let key = NameKey::new(name);
        let own = self.keys.get(user_id);
        let others = |map: &BTreeMap<String, usize>, k: &str, own: Option<&str>| {
            let count = map.get(k).copied().unwrap_or(0);
            count > usize::from(own == Some(k))
        };
        others(&self.folded, key.folded(), own.map(NameKey::folded))
            || others(&self.exact, key.exact(), own.map(NameKey::exact))
    }

    /// How to show `name` of `user_id`: the name itself, or [`marked`] when another
    /// present member looks alike.
    pub fn label(&self, user_id: &str, name: &str) -> String {
        if self.collides(user_id, name) {
            marked(name, user_id)
        } else {
            name.to_owned()
        }
    }
}

/// `name#tag`, the tag being the tail of the user id ([`user_tag`]).
pub fn marked(name: &str, user_id: &str) -> String {
    format!("{name}#{}", user_tag(user_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f3f2a";
    const MALLORY: &str = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f9c41";

    #[test]
    fn lookalikes_are_marked_with_their_id_tag() {
        let mut present = Lookalikes::default();
        present.set(ALICE, "alice");
        assert_eq!(present.label(ALICE, "alice"), "alice");
        present.set(MALLORY, "\u{410}lice");
        assert_eq!(present.label(ALICE, "alice"), "alice#3f2a");
        assert_eq!(present.label(MALLORY, "\u{410}lice"), "\u{410}lice#9c41");
        // An author who is not present, named like a present member.
        assert_eq!(present.label("u-9", "ALICE"), "ALICE#u9");
        assert_eq!(present.label("u-9", "bob"), "bob");
    }

    #[test]
    fn marks_follow_renames_and_departures() {
        let mut present = Lookalikes::default();
        present.set(ALICE, "alice");
        present.set(MALLORY, "Alice");
        assert!(present.collides(ALICE, "alice"));
        present.set(MALLORY, "mallory");
        assert!(!present.collides(ALICE, "alice"));
        present.set(MALLORY, "aIice");
        assert!(present.collides(ALICE, "alice"));
        present.remove(MALLORY);
        assert!(!present.collides(ALICE, "alice"));
        present.remove(MALLORY);
        present.clear();
        assert!(!present.collides(ALICE, "alice"));
    }
}

//! [`Secret`]: a password or a session token, kept out of `Debug` output so that it
//! never reaches a log, a panic message or a test failure by accident.

use serde::{Deserialize, Serialize};

/// A string that must not be shown: `Debug` prints `Secret(…)`, never the value. Read
/// it with [`Secret::expose`] where it is sent or stored.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for sending or storing it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many characters the value has.
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }

    /// Appends a character.
    pub fn push(&mut self, c: char) {
        self.0.push(c);
    }

    /// Removes the last character.
    pub fn pop(&mut self) {
        self.0.pop();
    }

    /// Empties the value, overwriting its bytes first (a best effort: copies made
    /// earlier, by the terminal or the allocator, are not reached).
    pub fn clear(&mut self) {
        let len = self.0.len();
        self.0.replace_range(.., &"\0".repeat(len));
        self.0.clear();
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let mut secret = Secret::new("hunter2");
        secret.push('!');
        assert_eq!(format!("{secret:?}"), "Secret(…)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret(…))");
        assert_eq!(secret.expose(), "hunter2!");
        assert_eq!(secret.chars(), 8);
        secret.pop();
        assert_eq!(secret.expose(), "hunter2");
        secret.clear();
        assert!(secret.is_empty());
    }

    #[test]
    fn serialises_as_the_plain_string() {
        let secret = Secret::new("tok");
        assert_eq!(
            serde_json::to_string(&secret).ok().as_deref(),
            Some("\"tok\"")
        );
    }
}

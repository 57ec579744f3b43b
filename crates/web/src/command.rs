//! The composer's slash commands, for keyboard users (every one also has a control on
//! the page). The same words as the TUI's.

use std::convert::Infallible;

pub use tuitalk_client::command::DEFAULT_FETCH;

/// What a line typed into the composer asks for (the web client has no commands of its
/// own: `/help`, `/room`, `/leave`, `/name`, `/fetch`, `/who`, `/reconnect`).
pub type Command = tuitalk_client::command::Command<Infallible>;

/// One line per command, for `/help`.
pub const HELP: &[&str] = &[
    "/room ROOM: join ROOM (ASCII letters, digits, - _ .) and switch to it",
    "/leave: leave the current room",
    "/name NAME: change your display name",
    "/fetch [N]: load N older messages (default 50)",
    "/who: who is in the current room",
    "/reconnect: connect now instead of waiting",
    "keys: Enter sends, Shift+Enter starts a new line, Alt+Up/Alt+Down switch rooms, Page Up/Page Down scroll the messages",
    "text not starting with / is posted (start with // for a literal /)",
];

/// Parses a composer line. `Ok(None)` for a blank line; `Err` carries a usage message.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    tuitalk_client::command::parse(line, |_| None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_posts() {
        assert_eq!(
            parse("hi there"),
            Ok(Some(Command::Post("hi there".into())))
        );
        assert_eq!(parse("//me"), Ok(Some(Command::Post("/me".into()))));
        assert_eq!(parse("/room #42"), Ok(Some(Command::Room("42".into()))));
        assert_eq!(
            parse("/join lobby"),
            Ok(Some(Command::Room("lobby".into())))
        );
        assert_eq!(
            parse("/name  Ada L "),
            Ok(Some(Command::Name("Ada L".into())))
        );
        assert_eq!(parse("/fetch"), Ok(Some(Command::Fetch(DEFAULT_FETCH))));
        assert_eq!(parse("/more 7"), Ok(Some(Command::Fetch(7))));
        assert_eq!(parse("/leave"), Ok(Some(Command::Leave)));
        assert_eq!(parse("/who"), Ok(Some(Command::Who)));
        assert_eq!(parse("/reconnect"), Ok(Some(Command::Reconnect)));
        assert_eq!(parse("/help"), Ok(Some(Command::Help)));
        assert_eq!(parse("  "), Ok(None));
    }

    #[test]
    fn mistakes_explain_themselves() {
        assert!(parse("/room").is_err());
        assert!(parse("/room a b").is_err());
        assert!(parse("/fetch 0").is_err());
        assert!(parse("/name").is_err());
        assert!(parse("/leave now").is_err());
        assert!(parse("/bogus").expect_err("unknown").contains("/help"));
    }
}

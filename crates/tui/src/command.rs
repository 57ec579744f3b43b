//! The input line's slash commands.

pub use tuitalk_client::command::DEFAULT_FETCH;

/// The terminal's own commands, besides the shared ones of
/// [`tuitalk_client::command::Command`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// `/clear`: clear the current room's view (`/fetch` brings messages back).
    Clear,
    /// `/rooms`: the joined rooms with their unread counts.
    Rooms,
    /// `/quit`: leave the program.
    Quit,
}

/// What a line typed by the user asks for.
pub type Command = tuitalk_client::command::Command<Extra>;

/// One line per command, for `/help`.
pub const HELP: &[&str] = &[
    "/room ROOM    join ROOM (ASCII letters, digits, - _ .) and switch to it",
    "/leave        leave the current room",
    "/name NAME    change your display name",
    "/fetch [N]    load N older messages (default 50)",
    "/who          who is in the current room",
    "/rooms        your rooms and unread counts",
    "/clear        clear the view of this room",
    "/reconnect    connect now instead of waiting",
    "/quit         leave TuiTalk (also Ctrl-C)",
    "keys: Enter send, Tab next room, PgUp/PgDn/Home/End scroll, Ctrl-A/Ctrl-E/Ctrl-U edit",
    "text not starting with / is posted to the current room (start with // for a literal /)",
];

/// Parses a line from the input box. `Ok(None)` for a blank line; `Err` carries a usage
/// message for the user.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    tuitalk_client::command::parse(line, |word| match word {
        "clear" => Some(Extra::Clear),
        "rooms" => Some(Extra::Rooms),
        "quit" | "exit" | "q" => Some(Extra::Quit),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse("/help"), Ok(Some(Command::Help)));
        assert_eq!(parse("/room 42"), Ok(Some(Command::Room("42".into()))));
        assert_eq!(
            parse("/room #lobby"),
            Ok(Some(Command::Room("lobby".into())))
        );
        assert_eq!(
            parse("/name  grace hopper "),
            Ok(Some(Command::Name("grace hopper".into())))
        );
        assert_eq!(parse("/fetch"), Ok(Some(Command::Fetch(DEFAULT_FETCH))));
        assert_eq!(parse("/fetch 20"), Ok(Some(Command::Fetch(20))));
        assert_eq!(parse("/quit"), Ok(Some(Command::Extra(Extra::Quit))));
        assert_eq!(
            parse("hello /room"),
            Ok(Some(Command::Post("hello /room".into())))
        );
        assert_eq!(parse("//shrug"), Ok(Some(Command::Post("/shrug".into()))));
        assert_eq!(parse("   "), Ok(None));
    }

    #[test]
    fn bad_commands_explain_themselves() {
        assert!(parse("/fetch x").is_err());
        assert!(parse("/fetch 0").is_err());
        assert!(parse("/room").is_err());
        assert!(parse("/room a b").is_err());
        assert!(parse("/name").is_err());
        assert!(parse("/who me").is_err());
        assert!(parse("/frobnicate").expect_err("unknown").contains("/help"));
    }
}

//! The composer's slash commands, for keyboard users (every one also has a control on
//! the page). The same words as the TUI's.

/// How many messages `/fetch` loads when no number is given (also the page size of the
/// "load older messages" button and of scrolling to the top).
pub const DEFAULT_FETCH: u32 = 50;

/// What a line typed into the composer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Plain text: post it to the current room. A leading `//` posts a literal `/`.
    Post(String),
    /// `/room ROOM`: join a room (if needed) and switch to it.
    Room(String),
    /// `/leave`: leave the current room.
    Leave,
    /// `/name NAME`: change the display name.
    Name(String),
    /// `/fetch [N]`: load N older messages.
    Fetch(u32),
    /// `/who`: list who is in the room (also always shown in the people list).
    Who,
    /// `/reconnect`: connect now instead of waiting for the backoff.
    Reconnect,
    /// `/help`: list the commands.
    Help,
}

/// One line per command, for `/help`.
pub const HELP: &[&str] = &[
    "/room ROOM: join ROOM (letters, digits, - _ .) and switch to it",
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
    if line.trim().is_empty() {
        return Ok(None);
    }
    if let Some(rest) = line.strip_prefix("//") {
        return Ok(Some(Command::Post(format!("/{rest}"))));
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Some(Command::Post(line.to_owned())));
    };
    let rest = rest.trim();
    let (word, arg) = match rest.split_once(char::is_whitespace) {
        Some((word, arg)) => (word, arg.trim()),
        None => (rest, ""),
    };
    let no_arg = |command: Command| {
        if arg.is_empty() {
            Ok(Some(command))
        } else {
            Err(format!("/{word} takes no argument"))
        }
    };
    match word {
        "help" | "h" | "?" => no_arg(Command::Help),
        "leave" | "part" => no_arg(Command::Leave),
        "who" => no_arg(Command::Who),
        "reconnect" => no_arg(Command::Reconnect),
        "name" | "nick" if !arg.is_empty() => Ok(Some(Command::Name(arg.to_owned()))),
        "name" | "nick" => Err("usage: /name NAME".to_owned()),
        "room" | "join" | "r" => match arg.trim_start_matches('#') {
            "" => Err("usage: /room ROOM".to_owned()),
            room if room.contains(char::is_whitespace) => {
                Err("room names have no spaces: /room ROOM".to_owned())
            }
            room => Ok(Some(Command::Room(room.to_owned()))),
        },
        "fetch" | "more" if arg.is_empty() => Ok(Some(Command::Fetch(DEFAULT_FETCH))),
        "fetch" | "more" => match arg.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Some(Command::Fetch(n))),
            _ => Err("usage: /fetch [N] with N a positive number".to_owned()),
        },
        other => Err(format!(
            "unknown command /{other}; /help lists the commands"
        )),
    }
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

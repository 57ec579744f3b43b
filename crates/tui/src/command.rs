//! The input line's slash commands.

/// How many messages `/fetch` loads when no number is given.
pub const DEFAULT_FETCH: u32 = 50;

/// What a line typed by the user asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/help`: list the commands.
    Help,
    /// `/clear`: clear the current room's view (`/fetch` brings messages back).
    Clear,
    /// `/name NAME`: change the display name.
    Name(String),
    /// `/room ROOM`: join a room (if needed) and switch to it.
    Room(String),
    /// `/leave`: leave the current room.
    Leave,
    /// `/fetch [N]`: load N older messages above the oldest shown.
    Fetch(u32),
    /// `/who`: who is present in the current room.
    Who,
    /// `/rooms`: the joined rooms with their unread counts.
    Rooms,
    /// `/reconnect`: connect now instead of waiting for the backoff.
    Reconnect,
    /// `/quit`: leave the program.
    Quit,
    /// Plain text: post it to the current room. A leading `//` posts a literal `/`.
    Post(String),
}

/// One line per command, for `/help`.
pub const HELP: &[&str] = &[
    "/room ROOM    join ROOM (letters, digits, - _ .) and switch to it",
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
        "clear" => no_arg(Command::Clear),
        "leave" | "part" => no_arg(Command::Leave),
        "who" => no_arg(Command::Who),
        "rooms" => no_arg(Command::Rooms),
        "reconnect" => no_arg(Command::Reconnect),
        "quit" | "exit" | "q" => no_arg(Command::Quit),
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
        assert_eq!(parse("/quit"), Ok(Some(Command::Quit)));
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

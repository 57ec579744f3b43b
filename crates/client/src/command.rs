//! The slash commands both clients understand, parsed from a typed line.
//!
//! The terminal and the web client share the grammar and the words; each adds its own
//! argument-less commands through [`parse`]'s `extra` (the TUI's `/quit`, `/clear`,
//! `/rooms`) and keeps its own `/help` text.

/// How many messages `/fetch` loads when no number is given.
pub const DEFAULT_FETCH: u32 = 50;

/// What a typed line asks for; `X` is the client's own extra commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<X> {
    /// Plain text: post it to the current room. A leading `//` posts a literal `/`.
    Post(String),
    /// `/room ROOM`: join a room (if needed) and switch to it.
    Room(String),
    /// `/leave`: leave the current room.
    Leave,
    /// `/name NAME`: change the display name.
    Name(String),
    /// `/fetch [N]`: load N older messages above the oldest shown.
    Fetch(u32),
    /// `/who`: who is present in the current room.
    Who,
    /// `/reconnect`: connect now instead of waiting for the backoff.
    Reconnect,
    /// `/help`: list the commands.
    Help,
    /// A command of this client only, found by `extra`; it takes no argument.
    Extra(X),
}

/// Parses a typed line. `extra` maps a command word to one of the client's own commands
/// (`None`: not one of them). `Ok(None)` for a blank line; `Err` carries a usage message
/// for the user.
pub fn parse<X>(
    line: &str,
    extra: impl Fn(&str) -> Option<X>,
) -> Result<Option<Command<X>>, String> {
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
    let no_arg = |command: Command<X>| {
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
        other => match extra(other) {
            Some(command) => no_arg(Command::Extra(command)),
            None => Err(format!(
                "unknown command /{other}; /help lists the commands"
            )),
        },
    }
}

//! Command-line arguments.

use clap::Parser;

/// TuiTalk: chat in the terminal.
///
/// Joins rooms on a TuiTalk server, shows their messages as they arrive and posts what
/// you type. Reconnects by itself and sends what you wrote while offline once back.
/// Type /help inside for the commands.
#[derive(Debug, Clone, Parser)]
#[command(name = "tuitalk", version, about, long_about)]
pub struct Cli {
    /// The server's WebSocket endpoint.
    #[arg(long, env = "TUITALK_URL", default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,

    /// Your display name as a new guest (the server picks one when absent).
    #[arg(long, env = "TUITALK_NAME", value_parser = parse_name)]
    pub name: Option<String>,

    /// A room to join at start (as if typed `/room ROOM`); may be repeated. Without it the
    /// client joins `lobby`, so chat works at once.
    #[arg(
        long = "room",
        value_name = "ROOM",
        value_parser = parse_room,
        default_value = "lobby"
    )]
    pub rooms: Vec<String>,
}

/// Checks `--name` against the protocol's rules (with the default length limit).
fn parse_name(name: &str) -> Result<String, String> {
    let max = tuitalk_client::default_limits().max_name_chars as usize;
    tuitalk_protocol::name::validate_display_name(name, max)
        .map(|()| name.to_owned())
        .map_err(|_| format!("1 to {max} characters, no control characters or surrounding spaces"))
}

/// Checks `--room` against the protocol's rules.
fn parse_room(room: &str) -> Result<String, String> {
    tuitalk_protocol::name::validate_room(room)
        .map(|()| room.to_owned())
        .map_err(|_| "1 to 64 ASCII letters, digits, '-', '_' or '.'".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_checks_names() {
        let cli = Cli::try_parse_from(["tuitalk"]).expect("defaults");
        assert_eq!(cli.url, "ws://127.0.0.1:8080/ws");
        let cli = Cli::try_parse_from(["tuitalk", "--name", "ada", "--room", "42"])
            .expect("name and room");
        assert_eq!(cli.name.as_deref(), Some("ada"));
        assert_eq!(cli.rooms, ["42"]);
        let cli = Cli::try_parse_from(["tuitalk"]).expect("no arguments");
        assert_eq!(cli.rooms, ["lobby"]);
        assert!(Cli::try_parse_from(["tuitalk", "--name", " ada"]).is_err());
        assert!(Cli::try_parse_from(["tuitalk", "--room", "a b"]).is_err());
    }
}

//! Command-line arguments: the chat itself (no subcommand), `tuitalk login` and
//! `tuitalk logout`.

use clap::{Args, Parser, Subcommand};

/// The default server.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:8080/ws";

/// TuiTalk: chat in the terminal.
///
/// Joins rooms on a TuiTalk server, shows their messages as they arrive and posts what
/// you type. Reconnects by itself and sends what you wrote while offline once back.
/// Type /help inside for the commands.
///
/// The session (a guest's or an account's) is saved per server in
/// $XDG_CONFIG_HOME/tuitalk/sessions.json (~/.config/tuitalk/ without it, mode 0600) and
/// resumed at the next start.
#[derive(Debug, Clone, Parser)]
#[command(name = "tuitalk", version, about, long_about)]
pub struct Cli {
    /// Sign in or out without starting the chat.
    #[command(subcommand)]
    pub command: Option<Sub>,

    /// The server's WebSocket endpoint.
    #[arg(long, env = "TUITALK_URL", default_value = DEFAULT_URL)]
    pub url: String,

    /// Start as a new guest: the saved session is neither used nor changed, and this
    /// one is not saved (not even after /login or /register).
    #[arg(long)]
    pub guest: bool,

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

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Sub {
    /// Sign in to an account and save the session for the next start (replacing, and
    /// revoking, the one saved before).
    Login(LoginArgs),
    /// Revoke the saved session on the server and forget it.
    Logout(ServerArgs),
}

/// The server a subcommand talks to.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The server: its WebSocket URL (as `--url`), `http://host:port`, or `host:port`.
    #[arg(long, alias = "url", env = "TUITALK_URL", default_value = DEFAULT_URL)]
    pub server: String,
}

/// `tuitalk login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The account's email address.
    #[arg(long)]
    pub email: String,

    /// Read the password from the first line of standard input instead of asking for
    /// it on the terminal (for scripts and password managers).
    #[arg(long)]
    pub password_stdin: bool,

    /// A label for the new session (`GET /api/sessions` lists it), for example
    /// "laptop"; the server takes the client's name and version without it.
    #[arg(long)]
    pub label: Option<String>,

    /// The server.
    #[command(flatten)]
    pub server: ServerArgs,
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
        assert!(!cli.guest && cli.command.is_none());
        assert!(
            Cli::try_parse_from(["tuitalk", "--guest"])
                .expect("guest")
                .guest
        );
        assert!(Cli::try_parse_from(["tuitalk", "--name", " ada"]).is_err());
        assert!(Cli::try_parse_from(["tuitalk", "--room", "a b"]).is_err());
    }

    #[test]
    fn subcommands_parse() {
        let cli = Cli::try_parse_from([
            "tuitalk",
            "login",
            "--email",
            "ada@example.org",
            "--password-stdin",
            "--server",
            "127.0.0.1:9000",
        ])
        .expect("login");
        let Some(Sub::Login(login)) = cli.command else {
            panic!("not login: {:?}", cli.command);
        };
        assert_eq!(login.email, "ada@example.org");
        assert!(login.password_stdin);
        assert_eq!(login.server.server, "127.0.0.1:9000");
        let cli =
            Cli::try_parse_from(["tuitalk", "logout", "--url", "ws://h:1/ws"]).expect("logout");
        assert!(
            matches!(cli.command, Some(Sub::Logout(ServerArgs { server })) if server == "ws://h:1/ws")
        );
        assert!(
            Cli::try_parse_from(["tuitalk", "login"]).is_err(),
            "--email is required"
        );
    }
}

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
    #[arg(long, env = "TUITALK_NAME")]
    pub name: Option<String>,

    /// A room to join at start (as if typed `/room ROOM`); may be repeated.
    #[arg(long = "room", value_name = "ROOM")]
    pub rooms: Vec<String>,
}

//! `tuitalk`: the terminal chat client. Parses the command line; runs `login` or
//! `logout` in the shell, or sets up the terminal (restored on exit and on panic) and
//! runs the UI.

use clap::Parser;
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use tuitalk_tui::{app, cli::Cli, login};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    if let Some(command) = cli.command.take() {
        return login::run(command).await;
    }
    // `ratatui::try_init` enters the alternate screen and raw mode and installs a panic hook
    // that restores the terminal before the panic message is printed.
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(err) => {
            ratatui::restore();
            return Err(anyhow::Error::new(err).context("tuitalk needs an interactive terminal"));
        }
    };
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), DisableBracketedPaste);
        previous(info);
    }));
    let _ = crossterm::execute!(std::io::stdout(), EnableBracketedPaste);
    let result = app::run(&mut terminal, cli).await;
    let _ = crossterm::execute!(std::io::stdout(), DisableBracketedPaste);
    ratatui::restore();
    result
}

//! The `tuitalk-server` binary: parses the command line, sets up logging, loads the
//! configuration, binds, and hands over to [`tuitalk_server::run`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tuitalk_server::Config;

/// TuiTalk chat server. With no configuration: 127.0.0.1:8080, SQLite in ./data,
/// in-process broker.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (settings: `tuitalk-server print-default-config`).
    /// Environment variables TUITALK__SECTION__KEY override it.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, overriding `server.listen`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Run,
    /// Validate the configuration (file and environment) and exit: 0 when valid, 1 with
    /// the offending key otherwise.
    CheckConfig,
    /// Print every setting with its documentation and default value, as TOML.
    PrintDefaultConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::PrintDefaultConfig) => {
            print!("{}", Config::default().to_documented_toml());
            ExitCode::SUCCESS
        }
        Some(Command::CheckConfig) => match Config::load(cli.config.as_deref()) {
            Ok(_) => {
                println!("configuration is valid");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("invalid configuration: {err}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Run) | None => match serve(cli) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("tuitalk-server: {}", error_chain(&err));
                ExitCode::FAILURE
            }
        },
    }
}

/// The error and its causes, each cause left out when the message before already says it
/// (the server's errors include their cause's text: `store: database: ...`).
fn error_chain(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn serve(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    if let Some(listen) = cli.listen {
        config.server.listen = listen;
    }
    init_tracing(&config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let shutdown = CancellationToken::new();
        tokio::spawn(tuitalk_server::shutdown::cancel_on_signal(shutdown.clone()));
        tuitalk_server::run(listener, config, shutdown).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    // Tasks still running past the shutdown timeout are dropped with the runtime.
    runtime.shutdown_background();
    Ok(())
}

/// Logs to the systemd journal when running under systemd (`JOURNAL_STREAM` is set),
/// else to stderr. `RUST_LOG` overrides `log.filter`.
fn init_tracing(config: &Config) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => EnvFilter::try_new(value).context("RUST_LOG")?,
        _ => EnvFilter::try_new(&config.log.filter).context("log.filter")?,
    };
    let journald = if std::env::var_os("JOURNAL_STREAM").is_some() {
        match tracing_journald::layer() {
            Ok(layer) => Some(layer),
            Err(err) => {
                eprintln!("journald unavailable ({err}); logging to stderr");
                None
            }
        }
    } else {
        None
    };
    let fmt = journald.is_none().then(|| {
        use std::io::IsTerminal;
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(journald)
        .with(fmt)
        .try_init()
        .context("installing the logger")?;
    Ok(())
}

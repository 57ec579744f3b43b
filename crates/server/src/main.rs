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
    /// Manage accounts in the configured store (SQLite or PostgreSQL); works with or
    /// without running servers.
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
}

/// `tuitalk-server user …`. Accounts are named by email or @handle.
#[derive(Debug, Subcommand)]
enum UserCommand {
    /// List accounts, ordered by handle.
    List {
        /// Start after this handle (paging).
        #[arg(long, value_name = "HANDLE")]
        after: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Create an account (its email counts as verified).
    Create {
        /// Email address.
        #[arg(long)]
        email: String,
        /// Handle (3 to 20 of a-z, 0-9, _).
        #[arg(long)]
        handle: String,
        /// Display name (default: the handle).
        #[arg(long)]
        name: Option<String>,
        /// Read the password as one line from standard input instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password; every session of the account is revoked.
    ResetPassword {
        /// Email or @handle.
        who: String,
        /// Read the password as one line from standard input instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: its sessions are revoked and it cannot log in.
    Disable {
        /// Email or @handle.
        who: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Email or @handle.
        who: String,
    },
    /// Make an account an admin (the first one is made so by the operator).
    Promote {
        /// Email or @handle.
        who: String,
    },
    /// Make an admin a member again.
    Demote {
        /// Email or @handle.
        who: String,
    },
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
        Some(Command::User { action }) => match user(cli.config.as_deref(), action) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("tuitalk-server user: {}", error_chain(&err));
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

/// Runs a `user` subcommand; the text to print.
fn user(config: Option<&std::path::Path>, command: UserCommand) -> anyhow::Result<String> {
    use tuitalk_server::admin::UserAction;
    use tuitalk_server::store::accounts::Role;
    let config = Config::load(config).context("loading configuration")?;
    let action = match command {
        UserCommand::List { after, limit } => UserAction::List { after, limit },
        UserCommand::Create {
            email,
            handle,
            name,
            password_stdin,
        } => UserAction::Create {
            email,
            handle,
            name,
            password: read_password(password_stdin)?,
        },
        UserCommand::ResetPassword {
            who,
            password_stdin,
        } => UserAction::ResetPassword {
            who,
            password: read_password(password_stdin)?,
        },
        UserCommand::Disable { who } => UserAction::SetDisabled {
            who,
            disabled: true,
        },
        UserCommand::Enable { who } => UserAction::SetDisabled {
            who,
            disabled: false,
        },
        UserCommand::Promote { who } => UserAction::SetRole {
            who,
            role: Role::Admin,
        },
        UserCommand::Demote { who } => UserAction::SetRole {
            who,
            role: Role::Member,
        },
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(tuitalk_server::admin::run(&config, action))
}

/// A password: one line of standard input, or typed twice on the terminal without echo.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("password: ").context("reading the password")?;
    let again = rpassword::prompt_password("again: ").context("reading the password")?;
    anyhow::ensure!(first == again, "the two passwords differ");
    Ok(first)
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

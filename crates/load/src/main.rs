//! The `tuitalk-load` binary: parses the command line, starts a multi-threaded runtime,
//! runs [`tuitalk_load::run`] and prints its one JSON line.

use std::process::ExitCode;

use clap::Parser as _;
use tuitalk_load::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(message) = cli.validate() {
        eprintln!("tuitalk-load: {message}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("tuitalk-load: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(tuitalk_load::run(cli));
    println!("{}", outcome.json);
    ExitCode::from(outcome.status)
}

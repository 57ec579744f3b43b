//! `tuitalk-load`: many slim TuiTalk WebSocket clients in one process, to load a server
//! (or a cluster behind a load balancer) and to verify its delivery guarantees while it
//! is restarted, killed or failed over.
//!
//! In load mode, R receivers and S senders spread over K rooms speak the real protocol
//! (`hello` with a kept token, `join` with `since` on resume, posts with unique ids kept
//! until their `ack`). Afterwards every receiver must have got every acknowledged post
//! of its room exactly once, in sequence order, with the acknowledged id. The binary
//! prints one JSON line ([`stats::Report`]) and exits non-zero when anything was lost,
//! duplicated, out of order, mismatched, unacknowledged or refused. Idle mode
//! ([`stats::IdleReport`]) holds many idle connections for the memory benchmark.
//!
//! # Layout
//! - [`cli`]: the command line.
//! - [`client`]: one connection's protocol state machine and task (reconnect, resume,
//!   outbox, latency samples).
//! - [`sender`]: a sender's outbox, schedule and retries.
//! - [`shared`]: the clock, phase tokens and counters all client tasks share.
//! - [`wire`]: reading server events without per-message allocations.
//! - [`verify`]: pure verification of deliveries against acks.
//! - [`stats`]: histograms, delivery gaps and the JSON reports.
//! - [`load`]: load mode's phases (connect, send, settle, verify).
//! - [`idle`]: idle mode.

pub mod cli;
pub mod client;
pub mod idle;
pub mod load;
pub mod sender;
pub mod shared;
pub mod stats;
pub mod verify;
pub mod wire;

pub use cli::Cli;

/// What the binary prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The one JSON line for stdout.
    pub json: String,
    /// The exit status: 0 clean, 1 verification failed, 2 the run could not be done.
    pub status: u8,
}

/// Runs the mode the command line asks for.
pub async fn run(cli: Cli) -> Outcome {
    let (json, ok, error) = match cli.idle {
        Some(connections) => {
            let report = idle::run(&cli, connections).await;
            (
                serde_json::to_string(&report),
                report.ok,
                report.error.is_some(),
            )
        }
        None => {
            let report = load::run(&cli).await;
            (
                serde_json::to_string(&report),
                report.ok,
                report.error.is_some(),
            )
        }
    };
    let json =
        json.unwrap_or_else(|err| format!("{{\"error\":\"cannot encode the report: {err}\"}}"));
    let status = match (ok, error) {
        (_, true) => 2,
        (true, false) => 0,
        (false, false) => 1,
    };
    Outcome { json, status }
}

//! State every client task shares with the run: one monotonic clock, the phase tokens,
//! progress counters the orchestrator polls, and the latency histograms.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tuitalk_client::BackoffConfig;

use crate::stats::SharedHistogram;

/// State every client task shares with the run: the clock, the phase tokens, counters
/// for the orchestrator and the latency histograms.
#[derive(Debug)]
pub struct Shared {
    epoch: Instant,
    /// Fired when the senders may begin (every receiver has joined).
    pub go: CancellationToken,
    /// Fired when the run is over: tasks close their connections and return.
    pub stop: CancellationToken,
    send_start_us: AtomicU64,
    send_end_us: AtomicU64,
    /// Receivers that have joined their room at least once.
    pub receivers_ready: AtomicUsize,
    /// Senders that have joined their room at least once.
    pub senders_ready: AtomicUsize,
    /// Idle connections that have joined their room at least once.
    pub idle_ready: AtomicUsize,
    /// Connections joined right now.
    pub up: AtomicUsize,
    /// Senders that have created all their posts.
    pub senders_finished: AtomicUsize,
    /// Senders that have created all their posts and got every ack.
    pub senders_drained: AtomicUsize,
    /// Per room, the highest acknowledged sequence.
    pub room_acked: Vec<AtomicU64>,
    /// Per receiver, the highest sequence seen.
    pub receiver_last: Vec<AtomicU64>,
    /// Send → receipt latencies.
    pub latency: SharedHistogram,
    /// Send → ack latencies.
    pub ack_latency: SharedHistogram,
    /// Reconnect delays.
    pub backoff: BackoffConfig,
    /// Diagnostics on stderr.
    pub verbose: bool,
}

impl Shared {
    /// Shared state for `rooms` rooms and `receivers` receivers.
    pub fn new(
        rooms: usize,
        receivers: usize,
        backoff: BackoffConfig,
        verbose: bool,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            epoch: Instant::now(),
            go: CancellationToken::new(),
            stop: CancellationToken::new(),
            send_start_us: AtomicU64::new(u64::MAX),
            send_end_us: AtomicU64::new(u64::MAX),
            receivers_ready: AtomicUsize::new(0),
            senders_ready: AtomicUsize::new(0),
            idle_ready: AtomicUsize::new(0),
            up: AtomicUsize::new(0),
            senders_finished: AtomicUsize::new(0),
            senders_drained: AtomicUsize::new(0),
            room_acked: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            receiver_last: (0..receivers).map(|_| AtomicU64::new(0)).collect(),
            latency: crate::stats::shared_histogram()?,
            ack_latency: crate::stats::shared_histogram()?,
            backoff,
            verbose,
        })
    }

    /// Microseconds since the run began, on the one monotonic clock of this process.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The instant `us` microseconds after the run began.
    pub fn instant(&self, us: u64) -> Instant {
        self.epoch + Duration::from_micros(us)
    }

    /// Marks the start of sending (now) and lets the senders go. Returns the time.
    pub fn start_sending(&self) -> u64 {
        let now = self.now_us();
        self.send_start_us.store(now, Ordering::SeqCst);
        self.go.cancel();
        now
    }

    /// Marks the end of sending (now). Returns the time.
    pub fn end_sending(&self) -> u64 {
        let now = self.now_us();
        self.send_end_us.store(now, Ordering::SeqCst);
        now
    }

    /// When sending started and ended (`u64::MAX` for not yet).
    pub fn send_window(&self) -> (u64, u64) {
        (
            self.send_start_us.load(Ordering::Relaxed),
            self.send_end_us.load(Ordering::Relaxed),
        )
    }

    /// Writes a diagnostic line to stderr when verbose.
    pub fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.verbose {
            eprintln!("[{:9.3}s] {what}", self.now_us() as f64 / 1e6);
        }
    }
}

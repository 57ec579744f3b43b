//! Accepting TCP connections when the process runs out of file descriptors.
//!
//! `accept` failing with EMFILE/ENFILE leaves the connection in the listen backlog, and a
//! loop that retries at once spins; one that only sleeps lets the backlog — health checks
//! included — wait for as long as the flood lasts. [`Acceptor`] keeps one descriptor in
//! reserve: on EMFILE it gives it up, accepts the waiting connection and closes it at once
//! (the client sees the connection refused, not a hang), takes the reserve back, and
//! backs off (exponentially, [`backon`]) before the next accept.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::net::{TcpListener, TcpStream};

/// The first pause after an accept error.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
/// The longest pause after repeated accept errors.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts from a listener, riding out descriptor exhaustion.
#[derive(Debug)]
pub struct Acceptor {
    listener: TcpListener,
    reserve: Option<std::fs::File>,
    backoff: Option<backon::ExponentialBackoff>,
}

impl Acceptor {
    /// Wraps `listener` and opens the reserve descriptor.
    pub fn new(listener: TcpListener) -> Self {
        Self {
            listener,
            reserve: open_reserve(),
            backoff: None,
        }
    }

    /// The next connection. Cancel-safe (like [`TcpListener::accept`]); errors of single
    /// connections are logged and skipped, never returned.
    pub async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok(accepted) => {
                    self.backoff = None;
                    return accepted;
                }
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    if is_out_of_descriptors(&error) {
                        self.shed_one();
                    }
                    let delay = self
                        .backoff
                        .get_or_insert_with(|| {
                            ExponentialBuilder::default()
                                .with_min_delay(MIN_BACKOFF)
                                .with_max_delay(MAX_BACKOFF)
                                .without_max_times()
                                .build()
                        })
                        .next()
                        .unwrap_or(MAX_BACKOFF);
                    tracing::warn!(%error, delay_ms = delay.as_millis() as u64, "accept failed");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Out of descriptors: frees the reserve, accepts one waiting connection and closes it,
    /// and opens the reserve again.
    fn shed_one(&mut self) {
        self.reserve = None;
        if let Some(Ok((stream, _))) = futures_util::FutureExt::now_or_never(self.listener.accept())
        {
            drop(stream);
        }
        self.reserve = open_reserve();
    }
}

fn open_reserve() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// Errors that concern only the one connection being accepted.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// EMFILE or ENFILE.
fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(23 | 24))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the limit in force (or
/// `None` when it cannot be read).
pub fn raise_fd_limit() -> Option<u64> {
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
    match rlimit::increase_nofile_limit(hard) {
        Ok(limit) => Some(limit),
        Err(error) => {
            tracing::debug!(%error, "could not raise RLIMIT_NOFILE");
            Some(soft)
        }
    }
}

/// Descriptors the process has open now (from `/proc/self/fd`), when readable.
pub fn open_fds() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|dir| dir.count() as u64)
}

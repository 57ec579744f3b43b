//! The store's size, read every `store.size_interval_ms` ([`Store::size_bytes`]:
//! SQLite's database file and WAL, PostgreSQL's `pg_database_size`) and exported as
//! `tuitalk_store_size_bytes`, with an alarm: `tuitalk_store_size_alarm` is 1 while the
//! size is above `store.size_alarm_bytes` (0: off), and crossing it either way is logged.
//! Reading the size costs a few system calls, so it is done by this task and never per
//! scrape.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Store;
use crate::metrics::Metrics;

/// The alarm's state: raised while the size is above the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeAlarm {
    /// The threshold in bytes; 0 never raises.
    threshold: u64,
    /// Whether the last size read was above it.
    raised: bool,
}

impl SizeAlarm {
    /// An alarm at `threshold` bytes (0: off), not raised.
    pub fn new(threshold: u64) -> Self {
        Self {
            threshold,
            raised: false,
        }
    }

    /// Whether the alarm is raised.
    pub fn raised(&self) -> bool {
        self.raised
    }

    /// Takes a new size; returns `Some(raised)` when the alarm changed.
    pub fn observe(&mut self, size: u64) -> Option<bool> {
        let raised = self.threshold > 0 && size > self.threshold;
        (raised != self.raised).then(|| {
            self.raised = raised;
            raised
        })
    }
}

/// Starts the task that reads the size at once and then every `interval`, until
/// `shutdown` fires.
pub fn start(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    interval: Duration,
    threshold: u64,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut alarm = SizeAlarm::new(threshold);
        let mut failing = false;
        loop {
            let read = tokio::select! {
                () = shutdown.cancelled() => break,
                read = store.size_bytes() => read,
            };
            match read {
                Ok(size) => {
                    failing = false;
                    metrics
                        .store_size_bytes
                        .set(i64::try_from(size).unwrap_or(i64::MAX));
                    match alarm.observe(size) {
                        Some(true) => tracing::warn!(
                            size_bytes = size,
                            threshold_bytes = threshold,
                            "store size above store.size_alarm_bytes"
                        ),
                        Some(false) => tracing::info!(
                            size_bytes = size,
                            threshold_bytes = threshold,
                            "store size back below store.size_alarm_bytes"
                        ),
                        None => {}
                    }
                    metrics.store_size_alarm.set(i64::from(alarm.raised()));
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "cannot read the store's size");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(interval.max(Duration::from_millis(1))) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alarm_rises_and_falls_once() {
        let mut alarm = SizeAlarm::new(100);
        assert_eq!(alarm.observe(100), None);
        assert_eq!(alarm.observe(101), Some(true));
        assert_eq!(alarm.observe(500), None);
        assert!(alarm.raised());
        assert_eq!(alarm.observe(99), Some(false));
        let mut off = SizeAlarm::new(0);
        assert_eq!(off.observe(u64::MAX), None);
    }
}

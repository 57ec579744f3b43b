//! Measurements and the JSON report.
//!
//! Latencies are recorded in microseconds into shared HDR histograms. A client task
//! buffers its samples in a small [`LatencyBuf`] and folds them into the shared histogram
//! a few hundred at a time, so thousands of tasks neither lock per message nor each carry
//! a full histogram. [`GapTracker`] keeps a receiver's longest silence while sending went
//! on. [`Report`] and [`IdleReport`] are the one JSON line the binary prints.

use std::sync::{Arc, Mutex, PoisonError};

use hdrhistogram::Histogram;
use serde::Serialize;

/// The largest latency a histogram records, in microseconds (one hour); larger values
/// are clamped to it.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// How many samples a [`LatencyBuf`] holds before it folds them into the shared
/// histogram.
const BUF_SAMPLES: usize = 256;

/// A latency histogram shared by many tasks.
pub type SharedHistogram = Arc<Mutex<Histogram<u64>>>;

/// A new empty shared histogram of microseconds, 1 µs to [`MAX_LATENCY_US`], three
/// significant digits.
pub fn shared_histogram() -> anyhow::Result<SharedHistogram> {
    let histogram = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?;
    Ok(Arc::new(Mutex::new(histogram)))
}

/// A task's buffer of latency samples for one shared histogram.
#[derive(Debug)]
pub struct LatencyBuf {
    samples: Vec<u64>,
    sink: SharedHistogram,
}

impl LatencyBuf {
    /// A buffer feeding `sink`. The buffer allocates on its first sample.
    pub fn new(sink: SharedHistogram) -> Self {
        Self {
            samples: Vec::new(),
            sink,
        }
    }

    /// Records one latency in microseconds.
    pub fn record(&mut self, micros: u64) {
        if self.samples.capacity() == 0 {
            self.samples.reserve_exact(BUF_SAMPLES);
        }
        self.samples.push(micros);
        if self.samples.len() >= BUF_SAMPLES {
            self.flush();
        }
    }

    /// Folds the buffered samples into the shared histogram.
    pub fn flush(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        let mut histogram = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        for &sample in &self.samples {
            histogram.saturating_record(sample.clamp(1, MAX_LATENCY_US));
        }
        drop(histogram);
        self.samples.clear();
    }
}

impl Drop for LatencyBuf {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Quantiles of a latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Number of samples.
    pub count: u64,
}

/// Microseconds to milliseconds, rounded to microseconds.
fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl Quantiles {
    /// The quantiles of a histogram of microseconds (all zero when empty).
    pub fn of_histogram(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
            count: histogram.len(),
        }
    }

    /// The quantiles of a shared histogram.
    pub fn of_shared(histogram: &SharedHistogram) -> Self {
        let histogram = histogram.lock().unwrap_or_else(PoisonError::into_inner);
        Self::of_histogram(&histogram)
    }

    /// Exact quantiles (nearest rank) of a few values in microseconds, for example one
    /// value per receiver.
    pub fn of_values(values: &mut [u64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let rank = |q: f64| {
            let n = values.len();
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            ms(values[index])
        };
        Self {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: ms(values[values.len() - 1]),
            count: values.len() as u64,
        }
    }
}

/// A receiver's longest interval without a delivery while sending went on.
///
/// Times are microseconds on the run's clock. Only the sending window counts: a
/// delivery before its start counts from the start, one after its end is ignored, and
/// the interval from the last delivery to the end of sending counts too (a receiver that
/// stopped receiving shows the whole tail as its gap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GapTracker {
    last: Option<u64>,
    max: u64,
}

impl GapTracker {
    /// A tracker with no delivery yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a delivery at `now`, with sending going on from `start` to `end`
    /// (`u64::MAX` while it has not started or not ended).
    pub fn delivery(&mut self, now: u64, start: u64, end: u64) {
        if now < start || now > end {
            return;
        }
        let from = self.last.map_or(start, |last| last.max(start));
        self.max = self.max.max(now - from);
        self.last = Some(now);
    }

    /// The longest gap, including the one from the last delivery (or the start) to the
    /// end of sending.
    pub fn finish(&self, start: u64, end: u64) -> u64 {
        if end == u64::MAX || start == u64::MAX || end < start {
            return self.max;
        }
        let from = self.last.map_or(start, |last| last.max(start));
        self.max.max(end.saturating_sub(from))
    }
}

/// The result of a load run: the one JSON line printed on stdout.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// `"load"`.
    pub mode: &'static str,
    /// Whether the run is clean: nothing lost, duplicated, out of order, mismatched,
    /// unacknowledged or refused, and every client connected.
    pub ok: bool,
    /// Sending connections.
    pub senders: usize,
    /// Receiving connections.
    pub receivers: usize,
    /// Rooms.
    pub rooms: usize,
    /// The total posting rate asked for (0: as fast as acks allow).
    pub rate: f64,
    /// Unacknowledged posts each sender may have in flight.
    pub window: usize,
    /// Posts created by the senders.
    pub posts: u64,
    /// Posts acknowledged.
    pub acked: u64,
    /// Posts never acknowledged (still in an outbox when the run ended).
    pub unacked: u64,
    /// Posts refused with a non-retryable error (dropped).
    pub rejected: u64,
    /// Acknowledged posts per second, from the start of sending to the last ack.
    pub posts_per_s: f64,
    /// Deliveries each receiver should have had (acknowledged posts of its room after
    /// its start), summed.
    pub expected_deliveries: u64,
    /// First deliveries to receivers, summed.
    pub deliveries: u64,
    /// Deliveries per second, from the start of sending to the last delivery.
    pub deliveries_per_s: f64,
    /// Send → receipt latency at the receivers.
    pub latency_ms: Quantiles,
    /// Send → ack latency at the senders.
    pub ack_latency_ms: Quantiles,
    /// Acknowledged posts a receiver did not get.
    pub lost: u64,
    /// Deliveries of a sequence a receiver already had, plus posts acknowledged under
    /// two different sequences.
    pub duplicated: u64,
    /// Deliveries that skipped sequences or filled a skipped one late.
    pub out_of_order: u64,
    /// Sequences delivered with another post id than acknowledged, plus sequences
    /// acknowledged to two posts.
    pub mismatched: u64,
    /// Resumes that found the room's head below the last sequence seen.
    pub store_resets: u64,
    /// Posts answered with a retryable error (`rate_limited`, `unavailable`,
    /// `internal`) and sent again later.
    pub post_retries: u64,
    /// Error events other than retried posts.
    pub errors: u64,
    /// Sessions re-established after a disconnect, over all clients.
    pub reconnects: u64,
    /// Per receiver, the longest interval without a delivery while sending went on (from
    /// the start of sending to the end of sending or its room's last ack, whichever is
    /// first); quantiles over receivers.
    pub delivery_gap_ms: Quantiles,
    /// Seconds of sending.
    pub duration_s: f64,
    /// Seconds spent after sending until every post was acknowledged and delivered (or
    /// the settle time ran out).
    pub settle_s: f64,
    /// Whether every post was acknowledged and delivered before the settle time ran out.
    pub settled: bool,
    /// Clients that never joined their room (the run goes on without them).
    pub not_connected: usize,
    /// Why the run could not be carried out, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report {
    /// Decides [`Report::ok`] from the counts.
    pub fn judge(&mut self) {
        self.ok = self.error.is_none()
            && self.not_connected == 0
            && self.posts == self.acked
            && self.unacked == 0
            && self.rejected == 0
            && self.lost == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.mismatched == 0
            && self.errors == 0;
    }
}

/// The result of an idle run (`--idle`): the one JSON line printed on stdout.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IdleReport {
    /// `"idle"`.
    pub mode: &'static str,
    /// Whether every connection was up at the end of the hold.
    pub ok: bool,
    /// Connections asked for.
    pub connections: usize,
    /// Connections up (joined) at the end of the hold.
    pub up: usize,
    /// Fewest connections up at any check during the hold.
    pub up_min: usize,
    /// Seconds until every connection was up (or the connect phase gave up).
    pub connect_s: f64,
    /// Seconds held.
    pub hold_s: f64,
    /// Sessions re-established after a disconnect.
    pub reconnects: u64,
    /// The longest time during the hold (sampled every 100 ms) from the moment not every
    /// connection was up until every one was up again; absent when none dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_s: Option<f64>,
    /// Whether connections were still missing at the end of the hold.
    pub still_down: bool,
    /// Summed resident memory (KiB) of the `--pid` processes before connecting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_kib_before: Option<u64>,
    /// Summed resident memory (KiB) of the `--pid` processes at the end of the hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_kib_after: Option<u64>,
    /// (after − before) / up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_kib_per_connection: Option<f64>,
    /// This process's resident memory (KiB) at the end of the hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_rss_kib: Option<u64>,
    /// Why the run could not be carried out, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads `VmRSS` (KiB) from the text of a `/proc/PID/status` file.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The summed resident memory (KiB) of processes `pids` (`"self"` works too), or
/// `None` when any cannot be read.
pub fn rss_kib(pids: &[String]) -> Option<u64> {
    let mut total = 0;
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        total += parse_vm_rss_kib(&status)?;
    }
    Some(total)
}

/// `count` per `seconds`, 0 when no time passed.
pub fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        round3(count as f64 / seconds)
    } else {
        0.0
    }
}

/// Rounds to three decimals, for readable JSON.
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_samples_reach_the_histogram() {
        let shared = shared_histogram().expect("histogram");
        let mut buf = LatencyBuf::new(shared.clone());
        for micros in 1..=1000 {
            buf.record(micros * 1000);
        }
        // 1000 samples: three full buffers were flushed, the rest waits.
        assert_eq!(Quantiles::of_shared(&shared).count, 768);
        buf.flush();
        let q = Quantiles::of_shared(&shared);
        assert_eq!(q.count, 1000);
        assert!((q.p50 - 500.0).abs() < 1.0, "{q:?}");
        assert!((q.p90 - 900.0).abs() < 1.0, "{q:?}");
        assert!((q.p99 - 990.0).abs() < 1.0, "{q:?}");
        assert!((q.max - 1000.0).abs() < 1.0, "{q:?}");
    }

    #[test]
    fn dropping_a_buffer_flushes_it() {
        let shared = shared_histogram().expect("histogram");
        {
            let mut buf = LatencyBuf::new(shared.clone());
            buf.record(5);
        }
        assert_eq!(Quantiles::of_shared(&shared).count, 1);
    }

    #[test]
    fn out_of_range_samples_are_clamped() {
        let shared = shared_histogram().expect("histogram");
        let mut buf = LatencyBuf::new(shared.clone());
        buf.record(0);
        buf.record(u64::MAX);
        buf.flush();
        let q = Quantiles::of_shared(&shared);
        assert_eq!(q.count, 2);
        assert!(q.max >= MAX_LATENCY_US as f64 / 1000.0 * 0.999, "{q:?}");
    }

    #[test]
    fn empty_histogram_is_all_zero() {
        let shared = shared_histogram().expect("histogram");
        assert_eq!(Quantiles::of_shared(&shared), Quantiles::default());
        assert_eq!(Quantiles::of_values(&mut []), Quantiles::default());
    }

    #[test]
    fn value_quantiles_use_nearest_rank() {
        let mut values: Vec<u64> = (1..=100).rev().map(|v| v * 1000).collect();
        let q = Quantiles::of_values(&mut values);
        assert_eq!((q.p50, q.p90, q.p99, q.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(q.count, 100);
        let q = Quantiles::of_values(&mut [7000]);
        assert_eq!((q.p50, q.p99, q.max), (7.0, 7.0, 7.0));
    }

    #[test]
    fn gaps_count_only_while_sending() {
        let mut gap = GapTracker::new();
        gap.delivery(50, 100, u64::MAX); // before sending: ignored
        gap.delivery(130, 100, u64::MAX); // 30 after the start
        gap.delivery(140, 100, u64::MAX);
        gap.delivery(400, 100, u64::MAX); // a 260 gap (a restart)
        gap.delivery(410, 100, 500);
        gap.delivery(900, 100, 500); // after the end: ignored
        assert_eq!(gap.finish(100, 500), 260);
    }

    #[test]
    fn the_tail_after_the_last_delivery_counts() {
        let mut gap = GapTracker::new();
        gap.delivery(110, 100, u64::MAX);
        assert_eq!(gap.finish(100, 1000), 890);
        // Never received anything: the whole window is the gap.
        assert_eq!(GapTracker::new().finish(100, 1000), 900);
        // Sending never ended: only what was measured.
        assert_eq!(gap.finish(100, u64::MAX), 10);
    }

    #[test]
    fn report_is_judged_and_serialised() {
        let mut report = Report {
            mode: "load",
            posts: 10,
            acked: 10,
            ..Report::default()
        };
        report.judge();
        assert!(report.ok);
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["posts"], 10);
        assert_eq!(json["latency_ms"]["p99"], 0.0);
        assert!(json.get("error").is_none());
        report.lost = 1;
        report.judge();
        assert!(!report.ok);
        report.lost = 0;
        report.unacked = 1;
        report.judge();
        assert!(!report.ok);
    }

    #[test]
    fn vm_rss_is_read_from_proc_status() {
        let status = "Name:\tx\nVmPeak:\t  9 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss_kib(status), Some(12345));
        assert_eq!(parse_vm_rss_kib("Name: x\n"), None);
        assert!(rss_kib(&["self".to_owned()]).is_some_and(|kib| kib > 0));
    }

    #[test]
    fn rates_and_rounding() {
        assert_eq!(per_second(10, 4.0), 2.5);
        assert_eq!(per_second(10, 0.0), 0.0);
        assert_eq!(round3(1.23456), 1.235);
    }
}

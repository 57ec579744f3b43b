//! Idle mode (`--idle N`): the memory-per-connection benchmark.
//!
//! Opens N connections (ramped by `--connect-rate`), each saying `hello` and joining one
//! of the K rooms, holds them for `--hold` seconds once all are up, and reports how many
//! stayed up. With `--pid`, the summed resident memory of those processes is read from
//! `/proc/PID/status` before connecting and at the end of the hold, giving KiB per
//! connection. Idle clients reconnect like the others when dropped, but send nothing
//! else: the server's WebSocket pings, answered by the library, keep them alive. When
//! connections drop during the hold (a backend killed on purpose), `recovery_s` reports how
//! long it took until every one was up again: the reconnect-storm drill.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, sleep};
use tuitalk_client::BackoffConfig;

use crate::cli::Cli;
use crate::client::{Role, Spec};
use crate::load::{collect, spawn_ramped, wait_ready};
use crate::shared::Shared;
use crate::stats::{IdleReport, round3, rss_kib};

/// How often the number of live connections is sampled during the hold.
const SAMPLE: Duration = Duration::from_millis(100);

/// Runs idle mode with `connections` connections.
pub async fn run(cli: &Cli, connections: usize) -> IdleReport {
    let mut report = IdleReport {
        mode: "idle",
        connections,
        ..IdleReport::default()
    };
    let backoff = BackoffConfig {
        base_ms: cli.backoff_base_ms,
        cap_ms: cli.backoff_cap_ms,
    };
    let shared = match Shared::new(cli.rooms, 0, backoff, cli.verbose) {
        Ok(shared) => Arc::new(shared),
        Err(err) => {
            report.error = Some(format!("setting up: {err}"));
            return report;
        }
    };
    let pids: Vec<String> = cli.pid.iter().map(u32::to_string).collect();
    if !pids.is_empty() {
        report.server_rss_kib_before = rss_kib(&pids);
        if report.server_rss_kib_before.is_none() {
            report.error = Some(format!("cannot read /proc/PID/status of {pids:?}"));
            return report;
        }
    }
    let prefix = cli
        .room_prefix
        .clone()
        .unwrap_or_else(|| format!("idle-{:08x}", fastrand::u32(..)));
    let specs = (0..connections).map(|n| Spec {
        url: cli.url[n % cli.url.len()].clone(),
        name: format!("{}-i{n}", cli.name_prefix),
        room: format!("{prefix}-{}", n % cli.rooms),
        room_index: n % cli.rooms,
        role: Role::Idle,
    });
    let began = Instant::now();
    let tasks = spawn_ramped(specs, cli.connect_rate, &shared).await;
    let ready = wait_ready(
        &shared,
        |s| s.idle_ready.load(Ordering::Relaxed),
        connections,
        cli.connect_budget(connections),
    )
    .await;
    report.connect_s = round3(began.elapsed().as_secs_f64());
    if cli.verbose {
        eprintln!(
            "{ready}/{connections} connections up after {:.3} s; holding {} s",
            report.connect_s, cli.hold
        );
    }

    let hold_began = Instant::now();
    let hold_end = hold_began + Duration::from_secs_f64(cli.hold);
    let mut up_min = shared.up.load(Ordering::Relaxed);
    let mut outage = Outage::default();
    while Instant::now() < hold_end {
        sleep(SAMPLE.min(hold_end - Instant::now())).await;
        let up = shared.up.load(Ordering::Relaxed);
        up_min = up_min.min(up);
        outage.sample(Instant::now(), up, connections);
    }
    report.recovery_s = outage.longest.map(|d| round3(d.as_secs_f64()));
    report.still_down = outage.since.is_some();
    report.hold_s = round3(hold_began.elapsed().as_secs_f64());
    report.up = shared.up.load(Ordering::Relaxed);
    report.up_min = up_min.min(report.up);
    if !pids.is_empty() {
        report.server_rss_kib_after = rss_kib(&pids);
        if let (Some(before), Some(after)) =
            (report.server_rss_kib_before, report.server_rss_kib_after)
            && report.up > 0
        {
            let per = (after as f64 - before as f64) / report.up as f64;
            report.server_kib_per_connection = Some(round3(per));
        }
    }
    report.load_rss_kib = rss_kib(&["self".to_owned()]);

    shared.stop.cancel();
    let (reports, missing) = collect(tasks).await;
    report.reconnects = reports.iter().map(|r| r.reconnects).sum();
    if missing > 0 && report.error.is_none() {
        report.error = Some(format!(
            "{missing} client tasks did not hand back their results"
        ));
    }
    report.ok = report.error.is_none() && report.up == connections;
    report
}

/// Tracks the times during the hold when not every connection was up.
#[derive(Debug, Default)]
struct Outage {
    /// When the current outage began, if one is going on.
    since: Option<Instant>,
    /// The longest outage that ended.
    longest: Option<Duration>,
}

impl Outage {
    /// Takes one sample: `up` of `all` connections are up at `now`.
    fn sample(&mut self, now: Instant, up: usize, all: usize) {
        match (self.since, up >= all) {
            (None, false) => self.since = Some(now),
            (Some(began), true) => {
                let took = now - began;
                self.longest = Some(self.longest.map_or(took, |l| l.max(took)));
                self.since = None;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_measures_the_longest_dip_and_one_still_going_on() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut outage = Outage::default();
        outage.sample(at(0), 10, 10);
        outage.sample(at(100), 7, 10);
        outage.sample(at(400), 10, 10);
        outage.sample(at(500), 9, 10);
        outage.sample(at(600), 10, 10);
        assert_eq!(outage.longest, Some(Duration::from_millis(300)));
        assert!(outage.since.is_none());
        outage.sample(at(700), 0, 10);
        assert_eq!(outage.since, Some(at(700)));
        assert_eq!(outage.longest, Some(Duration::from_millis(300)));
    }
}

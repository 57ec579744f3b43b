//! Load mode: receivers, then senders, then sending, settling and verification.
//!
//! 1. Connect the receivers (ramped by `--connect-rate`) and wait until each has joined
//!    its room, so each one's start is fixed before the first post.
//! 2. Connect the senders the same way, mark the start of sending and let them go.
//! 3. Wait until every sender has created all its posts (`--duration`/`--messages`),
//!    then mark the end of sending.
//! 4. Settle: wait (at most `--settle`) until every post is acknowledged and every
//!    receiver has seen its room's highest acknowledged sequence.
//! 5. Stop every client, gather what each saw, verify and report.
//!
//! Every phase has a deadline, and the whole run is bounded by them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout_at};
use tuitalk_client::BackoffConfig;

use crate::cli::Cli;
use crate::client::{self, ClientReport, Role, Spec};
use crate::sender::SendPlan;
use crate::shared::Shared;
use crate::stats::{Quantiles, Report, per_second, round3};
use crate::verify::{AckLog, Tally, check};

/// How often the orchestrator looks at the clients' progress.
const POLL: Duration = Duration::from_millis(10);
/// How long a sender that cannot post (disconnected) may overrun `--duration` before
/// sending is declared over anyway.
const SEND_GRACE: Duration = Duration::from_secs(5);
/// With only `--messages` (no `--duration`), the longest sending may take.
const MAX_SEND_WITHOUT_DURATION: Duration = Duration::from_secs(3600);
/// How long client tasks get to hand back their results after the stop.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a load test as the command line says; the report tells how it went.
pub async fn run(cli: &Cli) -> Report {
    let mut report = Report {
        mode: "load",
        senders: cli.senders,
        receivers: cli.receivers,
        rooms: cli.rooms,
        rate: cli.rate,
        window: cli.window,
        ..Report::default()
    };
    let backoff = BackoffConfig {
        base_ms: cli.backoff_base_ms,
        cap_ms: cli.backoff_cap_ms,
    };
    let shared = match Shared::new(cli.rooms, cli.receivers, backoff, cli.verbose) {
        Ok(shared) => Arc::new(shared),
        Err(err) => {
            report.error = Some(format!("setting up: {err}"));
            return report;
        }
    };
    let rooms = room_names(cli);
    let log = |what: std::fmt::Arguments<'_>| {
        if cli.verbose {
            eprintln!("[{:9.3}s] {what}", shared.now_us() as f64 / 1e6);
        }
    };
    log(format_args!(
        "rooms {}..{}, {} receivers, {} senders, urls {:?}",
        rooms[0],
        rooms.len() - 1,
        cli.receivers,
        cli.senders,
        cli.url
    ));

    // 1. Receivers.
    let receiver_specs = (0..cli.receivers).map(|i| Spec {
        url: cli.url[i % cli.url.len()].clone(),
        name: format!("{}-r{i}", cli.name_prefix),
        room: rooms[i % rooms.len()].clone(),
        room_index: i % rooms.len(),
        role: Role::Receiver { index: i },
    });
    let receivers = spawn_ramped(receiver_specs, cli.connect_rate, &shared).await;
    let ready = wait_ready(
        &shared,
        |s| s.receivers_ready.load(Ordering::Relaxed),
        cli.receivers,
        cli.connect_budget(cli.receivers),
    )
    .await;
    log(format_args!("{ready}/{} receivers joined", cli.receivers));

    // 2. Senders.
    let plan = |j: usize| SendPlan {
        rate: cli.rate / cli.senders as f64,
        window: cli.window,
        messages: cli.messages,
        duration_us: cli.send_duration().map(|d| d.as_micros() as u64),
        offset_us: if cli.rate > 0.0 {
            (j as f64 * 1e6 / cli.rate) as u64
        } else {
            0
        },
    };
    let sender_specs = (0..cli.senders).map(|j| Spec {
        url: cli.url[(cli.receivers + j) % cli.url.len()].clone(),
        name: format!("{}-s{j}", cli.name_prefix),
        room: rooms[j % rooms.len()].clone(),
        room_index: j % rooms.len(),
        role: Role::Sender {
            index: j,
            plan: plan(j),
        },
    });
    let senders = if ready == 0 {
        Vec::new()
    } else {
        spawn_ramped(sender_specs, cli.connect_rate, &shared).await
    };
    let senders_ready = if ready == 0 {
        0
    } else {
        wait_ready(
            &shared,
            |s| s.senders_ready.load(Ordering::Relaxed),
            cli.senders,
            cli.connect_budget(cli.senders),
        )
        .await
    };
    log(format_args!(
        "{senders_ready}/{} senders joined",
        cli.senders
    ));
    if ready == 0 || senders_ready == 0 {
        report.error = Some(format!(
            "could not connect: {ready}/{} receivers and {senders_ready}/{} senders joined \
             (is the server at {:?} up?)",
            cli.receivers, cli.senders, cli.url
        ));
        shared.stop.cancel();
        let _ = collect(receivers).await;
        let _ = collect(senders).await;
        return report;
    }

    // 3. Sending.
    let start_us = shared.start_sending();
    let send_deadline = Instant::now()
        + cli
            .send_duration()
            .map_or(MAX_SEND_WITHOUT_DURATION, |d| d + SEND_GRACE);
    wait_until(&shared, send_deadline, |s| {
        s.senders_finished.load(Ordering::Relaxed) >= cli.senders
    })
    .await;
    let end_us = shared.end_sending();
    log(format_args!(
        "sending over ({} of {} senders finished)",
        shared.senders_finished.load(Ordering::Relaxed),
        cli.senders
    ));

    // 4. Settling.
    let settle_deadline = Instant::now() + Duration::from_secs_f64(cli.settle);
    let settled = wait_until(&shared, settle_deadline, |s| settled(s, cli)).await;
    let settled_us = shared.now_us();
    log(format_args!(
        "{} after {:.3} s",
        if settled {
            "settled"
        } else {
            "settle time over"
        },
        (settled_us - end_us) as f64 / 1e6
    ));

    // 5. Stop, gather, verify.
    shared.stop.cancel();
    let (receivers, missing_r) = collect(receivers).await;
    let (senders, missing_s) = collect(senders).await;
    if missing_r + missing_s > 0 {
        report.error = Some(format!(
            "{missing_r} receiver and {missing_s} sender tasks did not hand back their results"
        ));
    }
    report.settled = settled;
    report.duration_s = round3((end_us - start_us) as f64 / 1e6);
    report.settle_s = round3((settled_us - end_us) as f64 / 1e6);
    summarise(
        &mut report,
        cli.rooms,
        (start_us, end_us),
        &receivers,
        &senders,
    );
    report.latency_ms = Quantiles::of_shared(&shared.latency);
    report.ack_latency_ms = Quantiles::of_shared(&shared.ack_latency);
    report.judge();
    report
}

/// The room names: `<prefix>-<k>`.
fn room_names(cli: &Cli) -> Vec<String> {
    let prefix = cli
        .room_prefix
        .clone()
        .unwrap_or_else(|| format!("load-{:08x}", fastrand::u32(..)));
    (0..cli.rooms).map(|k| format!("{prefix}-{k}")).collect()
}

/// Spawns one task per client, `rate` per second (all at once for 0).
pub async fn spawn_ramped(
    specs: impl Iterator<Item = Spec>,
    rate: f64,
    shared: &Arc<Shared>,
) -> Vec<JoinHandle<ClientReport>> {
    let began = Instant::now();
    let mut tasks = Vec::new();
    for (i, spec) in specs.enumerate() {
        if rate > 0.0 && i > 0 {
            sleep_until(began + Duration::from_secs_f64(i as f64 / rate)).await;
        }
        if shared.stop.is_cancelled() {
            break;
        }
        tasks.push(tokio::spawn(client::run(spec, shared.clone())));
    }
    tasks
}

/// Waits until `count(shared)` reaches `want` or `budget` is over; returns the count.
pub async fn wait_ready(
    shared: &Shared,
    count: impl Fn(&Shared) -> usize,
    want: usize,
    budget: Duration,
) -> usize {
    let deadline = Instant::now() + budget;
    wait_until(shared, deadline, |s| count(s) >= want).await;
    count(shared)
}

/// Polls `done` until it holds (true) or `deadline` passes (false).
pub async fn wait_until(
    shared: &Shared,
    deadline: Instant,
    done: impl Fn(&Shared) -> bool,
) -> bool {
    loop {
        if done(shared) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(POLL).await;
    }
}

/// Whether every post is acknowledged and every receiver has its room's highest
/// acknowledged sequence.
fn settled(shared: &Shared, cli: &Cli) -> bool {
    if shared.senders_drained.load(Ordering::Relaxed) < cli.senders {
        return false;
    }
    shared.receiver_last.iter().enumerate().all(|(i, last)| {
        let room = i % cli.rooms;
        let acked = shared.room_acked[room].load(Ordering::Relaxed);
        last.load(Ordering::Relaxed) >= acked
    })
}

/// Waits for the tasks' results (they were told to stop); returns them and how many
/// did not come back in time.
pub async fn collect(tasks: Vec<JoinHandle<ClientReport>>) -> (Vec<ClientReport>, usize) {
    let deadline = Instant::now() + COLLECT_TIMEOUT;
    let mut reports = Vec::with_capacity(tasks.len());
    let mut missing = 0;
    for mut task in tasks {
        match timeout_at(deadline, &mut task).await {
            Ok(Ok(report)) => reports.push(report),
            Ok(Err(_join_error)) => missing += 1,
            Err(_elapsed) => {
                task.abort();
                missing += 1;
            }
        }
    }
    (reports, missing)
}

/// Fills the counts of `report` from what the clients saw.
fn summarise(
    report: &mut Report,
    rooms: usize,
    (start_us, end_us): (u64, u64),
    receivers: &[ClientReport],
    senders: &[ClientReport],
) {
    let mut logs = vec![AckLog::new(); rooms];
    let mut last_ack_us = None;
    // Per room, when its last post was acknowledged: a room whose senders finished
    // early is quiet from then on, which is not a delivery gap.
    let mut room_last_ack_us = vec![None; rooms];
    for sender in senders {
        report.posts += sender.posts;
        report.acked += sender.acked.len() as u64;
        report.unacked += sender.unacked;
        report.rejected += sender.rejected;
        report.post_retries += sender.retries;
        report.duplicated += sender.ack_conflicts;
        report.errors += sender.errors;
        report.reconnects += sender.reconnects;
        report.not_connected += usize::from(!sender.joined);
        last_ack_us = last_ack_us.max(sender.last_ack_us);
        if let Some(room_last) = room_last_ack_us.get_mut(sender.room_index) {
            *room_last = (*room_last).max(sender.last_ack_us);
        }
        if let Some(log) = logs.get_mut(sender.room_index) {
            for &(seq, fp) in &sender.acked {
                log.record(seq, fp);
            }
        }
    }
    report.mismatched += logs.iter().map(AckLog::conflicts).sum::<u64>();

    let mut tally = Tally::default();
    let mut gaps = Vec::with_capacity(receivers.len());
    let mut last_delivery_us = None;
    for receiver in receivers {
        report.errors += receiver.errors;
        report.reconnects += receiver.reconnects;
        report.not_connected += usize::from(!receiver.joined);
        let (Some(track), Some(log)) = (&receiver.track, logs.get(receiver.room_index)) else {
            continue;
        };
        if !receiver.joined {
            continue;
        }
        tally.add(check(track, log));
        let room_end = room_last_ack_us
            .get(receiver.room_index)
            .copied()
            .flatten()
            .map_or(end_us, |last_ack| last_ack.min(end_us));
        gaps.push(receiver.gap.finish(start_us, room_end));
        last_delivery_us = last_delivery_us.max(receiver.last_delivery_us);
    }
    report.expected_deliveries = tally.expected;
    report.deliveries = tally.delivered;
    report.lost = tally.lost;
    report.duplicated += tally.duplicated;
    report.out_of_order = tally.out_of_order;
    report.mismatched += tally.mismatched;
    report.store_resets = tally.resets;
    report.delivery_gap_ms = Quantiles::of_values(&mut gaps);
    let seconds_until =
        |at: Option<u64>| at.map_or(0.0, |at| at.saturating_sub(start_us) as f64 / 1e6);
    report.posts_per_s = per_second(report.acked, seconds_until(last_ack_us));
    report.deliveries_per_s = per_second(report.deliveries, seconds_until(last_delivery_us));
}

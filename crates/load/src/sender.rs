//! A sender's outbox: creating posts on schedule, keeping them until their `ack`,
//! re-sending them unchanged after a reconnect, retrying refused ones.
//!
//! Pure state: the session loop in [`crate::client`] feeds it acks and refusals and
//! sends the frames [`SenderState::pump`] queues. A post's text starts with the time it
//! was due in microseconds on the run's clock, so receivers measure send → receipt
//! latency from the schedule (a post created late because the connection was down still
//! counts from when it was due).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tuitalk_protocol::{ClientCommand, ErrorCode, Seq, encode_command};

use crate::client::ClientReport;
use crate::shared::Shared;
use crate::stats::LatencyBuf;
use crate::verify::fingerprint;

/// Retry delay for a refused post when the server names none.
const DEFAULT_RETRY_MS: u64 = 250;

/// How a sender posts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendPlan {
    /// This sender's posts per second; 0 = whenever an ack frees a place in the window.
    pub rate: f64,
    /// Unacknowledged posts in flight at most.
    pub window: usize,
    /// Posts to create at most.
    pub messages: Option<u64>,
    /// How long to create posts, in microseconds from the start of sending.
    pub duration_us: Option<u64>,
    /// With a rate: when this sender's first post is due, in microseconds after the start
    /// of sending (staggers the senders evenly).
    pub offset_us: u64,
}

/// A post waiting for its ack.
struct Pending {
    fp: u64,
    /// The encoded `post` command, sent again unchanged (same id, same text).
    frame: Utf8Bytes,
    created_us: u64,
    /// Sent on the current connection and not answered yet.
    sent: bool,
    /// Not to be sent before this time (after a retryable refusal).
    not_before_us: u64,
}

/// One sender's posting state across its sessions.
pub struct SenderState {
    index: usize,
    plan: SendPlan,
    rng: fastrand::Rng,
    outbox: VecDeque<Pending>,
    in_flight: usize,
    created: u64,
    started_us: Option<u64>,
    finished: bool,
    drained: bool,
    /// Acknowledged posts: id fingerprint → sequence.
    acked: HashMap<u64, Seq>,
    ack_conflicts: u64,
    rejected: u64,
    retries: u64,
    /// The earliest `not_before_us` of a refused post waiting to be retried.
    retry_at_us: Option<u64>,
    last_ack_us: Option<u64>,
    ack_latency: LatencyBuf,
}

/// What became of a refused post.
pub enum Refusal {
    /// Kept, to be sent again later.
    Retry,
    /// Dropped for good.
    Rejected,
    /// Not one of ours.
    Unrelated,
}

impl SenderState {
    /// A sender with number `index` (part of its post texts) posting by `plan`.
    pub fn new(index: usize, plan: SendPlan, ack_latency: LatencyBuf) -> Self {
        Self {
            index,
            plan,
            rng: fastrand::Rng::new(),
            outbox: VecDeque::new(),
            in_flight: 0,
            created: 0,
            started_us: None,
            finished: false,
            drained: false,
            acked: HashMap::new(),
            ack_conflicts: 0,
            rejected: 0,
            retries: 0,
            retry_at_us: None,
            last_ack_us: None,
            ack_latency,
        }
    }

    /// Whether it still waits for the start of sending.
    pub fn waiting_for_go(&self) -> bool {
        self.started_us.is_none()
    }

    /// Hands its counts and acks over to the client's report.
    pub fn report(mut self, report: &mut ClientReport) {
        self.ack_latency.flush();
        report.posts = self.created;
        report.acked = self.acked.iter().map(|(&fp, &seq)| (seq, fp)).collect();
        report.unacked = self.outbox.len() as u64;
        report.rejected = self.rejected;
        report.retries = self.retries;
        report.ack_conflicts = self.ack_conflicts;
        report.last_ack_us = self.last_ack_us;
    }

    /// A new connection: nothing is in flight on it.
    pub fn new_connection(&mut self) {
        for pending in &mut self.outbox {
            pending.sent = false;
        }
        self.in_flight = 0;
    }

    /// The microsecond interval between this sender's posts at its rate.
    fn interval_us(&self) -> f64 {
        1e6 / self.plan.rate
    }

    /// When this sender next has something to do without a frame arriving: a post
    /// falling due, the end of its sending time, a refused post to retry.
    pub fn next_due_us(&self) -> Option<u64> {
        let start = self.started_us?;
        let mut due = self.retry_at_us;
        if !self.finished {
            let end = self.plan.duration_us.map(|d| start.saturating_add(d));
            let next = if self.plan.rate > 0.0 {
                let at = self.plan.offset_us as f64 + self.created as f64 * self.interval_us();
                Some(start.saturating_add(at as u64))
            } else {
                None
            };
            for candidate in [next, end].into_iter().flatten() {
                due = Some(due.map_or(candidate, |d: u64| d.min(candidate)));
            }
        }
        due
    }

    /// Creates the posts that are due and sends what the window allows.
    pub fn pump(&mut self, room: &str, shared: &Shared, out: &mut Vec<Message>) {
        if self.started_us.is_none() {
            if !shared.go.is_cancelled() {
                return;
            }
            self.started_us = Some(shared.send_window().0);
        }
        let Some(start) = self.started_us else {
            return;
        };
        let now = shared.now_us();
        if !self.finished {
            self.create_due(room, start, now);
            if self.finished {
                shared.senders_finished.fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.retry_at_us.is_some_and(|at| at <= now) {
            self.retry_at_us = None;
        }
        for pending in &mut self.outbox {
            if self.in_flight >= self.plan.window {
                break;
            }
            if pending.sent {
                continue;
            }
            if pending.not_before_us > now {
                let at = pending.not_before_us;
                self.retry_at_us = Some(self.retry_at_us.map_or(at, |r| r.min(at)));
                continue;
            }
            out.push(Message::Text(pending.frame.clone()));
            pending.sent = true;
            self.in_flight += 1;
        }
        if self.finished && self.outbox.is_empty() && !self.drained {
            self.drained = true;
            shared.senders_drained.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn create_due(&mut self, room: &str, start: u64, now: u64) {
        let end = self.plan.duration_us.map(|d| start.saturating_add(d));
        loop {
            if self
                .plan
                .messages
                .is_some_and(|limit| self.created >= limit)
            {
                self.finished = true;
                return;
            }
            let at = if self.plan.rate > 0.0 {
                let offset = self.plan.offset_us as f64 + self.created as f64 * self.interval_us();
                let at = start.saturating_add(offset as u64);
                if end.is_some_and(|end| at >= end) {
                    self.finished = true;
                    return;
                }
                if at > now {
                    return;
                }
                at
            } else {
                if end.is_some_and(|end| now >= end) {
                    self.finished = true;
                    return;
                }
                if self.outbox.len() >= self.plan.window {
                    return;
                }
                now
            };
            self.create(room, at);
        }
    }

    /// Creates one post, due (and timed) at `at_us`.
    fn create(&mut self, room: &str, at_us: u64) {
        let id = tuitalk_client::id::uuid_v4(&mut self.rng);
        let fp = fingerprint(&id);
        let text = format!("{at_us} {}.{}", self.index, self.created);
        let post = ClientCommand::Post {
            room: room.to_owned(),
            id,
            text,
        };
        self.outbox.push_back(Pending {
            fp,
            frame: Utf8Bytes::from(encode_command(&post)),
            created_us: at_us,
            sent: false,
            not_before_us: 0,
        });
        self.created += 1;
    }

    /// Takes an `ack`: the post leaves the outbox and its sequence is recorded (a
    /// second ack for the same post with another sequence is a conflict).
    pub fn ack(&mut self, id: &str, seq: Seq, room_index: usize, shared: &Shared) {
        let fp = fingerprint(id);
        let Some(position) = self.outbox.iter().position(|p| p.fp == fp) else {
            // Not in the outbox: an ack repeated for a post acknowledged before.
            if self.acked.get(&fp).is_some_and(|&known| known != seq) {
                self.ack_conflicts += 1;
            }
            return;
        };
        let Some(pending) = self.outbox.remove(position) else {
            return;
        };
        if pending.sent {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let now = shared.now_us();
        self.ack_latency
            .record(now.saturating_sub(pending.created_us));
        if let Some(previous) = self.acked.insert(fp, seq)
            && previous != seq
        {
            self.ack_conflicts += 1;
        }
        if let Some(max) = shared.room_acked.get(room_index) {
            max.fetch_max(seq, Ordering::Relaxed);
        }
        self.last_ack_us = Some(now);
    }

    /// Takes an `error` naming post `id`: a retryable refusal (and `not_joined`) keeps
    /// the post to send again after the wait the server asked for; any other drops it.
    pub fn refused(
        &mut self,
        id: &str,
        code: Option<ErrorCode>,
        retry_after_ms: Option<u64>,
        now: u64,
    ) -> Refusal {
        let fp = fingerprint(id);
        let Some(position) = self.outbox.iter().position(|p| p.fp == fp) else {
            return Refusal::Unrelated;
        };
        let retry = code.is_some_and(ErrorCode::is_retryable) || code == Some(ErrorCode::NotJoined);
        if !retry {
            if let Some(pending) = self.outbox.remove(position)
                && pending.sent
            {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            self.rejected += 1;
            return Refusal::Rejected;
        }
        let wait_ms = retry_after_ms.unwrap_or(DEFAULT_RETRY_MS).max(1);
        // A little jitter so refused senders do not all come back in step.
        let jitter_ms = self.rng.u64(0..=wait_ms / 4);
        let at = now.saturating_add((wait_ms + jitter_ms).saturating_mul(1000));
        if let Some(pending) = self.outbox.get_mut(position) {
            if pending.sent {
                pending.sent = false;
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            pending.not_before_us = at;
        }
        self.retry_at_us = Some(self.retry_at_us.map_or(at, |r| r.min(at)));
        self.retries += 1;
        if code == Some(ErrorCode::NotJoined) {
            Refusal::Unrelated
        } else {
            Refusal::Retry
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuitalk_client::BackoffConfig;

    fn shared() -> Shared {
        Shared::new(1, 1, BackoffConfig::default(), false).expect("shared")
    }

    fn sender(plan: SendPlan) -> SenderState {
        let mut sender = SenderState::new(0, plan, LatencyBuf::new(shared().ack_latency.clone()));
        sender.rng = fastrand::Rng::with_seed(1);
        sender
    }

    fn ids(out: &[Message]) -> Vec<String> {
        out.iter()
            .map(|m| {
                let text = m.to_text().expect("text");
                let value: serde_json::Value = serde_json::from_str(text).expect("json");
                value["id"].as_str().expect("id").to_owned()
            })
            .collect()
    }

    #[test]
    fn ack_paced_sender_keeps_its_window() {
        let shared = shared();
        let plan = SendPlan {
            rate: 0.0,
            window: 3,
            messages: Some(5),
            duration_us: None,
            offset_us: 0,
        };
        let mut s = sender(plan);
        let mut out = Vec::new();
        s.pump("r", &shared, &mut out);
        assert!(out.is_empty(), "nothing before go");
        shared.start_sending();
        s.pump("r", &shared, &mut out);
        assert_eq!(out.len(), 3);
        let sent = ids(&out);
        out.clear();
        s.ack(&sent[0], 1, 0, &shared);
        s.pump("r", &shared, &mut out);
        assert_eq!(out.len(), 1, "one place freed");
        assert_eq!(s.in_flight, 3);
        assert_eq!(shared.room_acked[0].load(Ordering::Relaxed), 1);
        // A repeated ack with another sequence is a conflict.
        s.ack(&sent[0], 2, 0, &shared);
        assert_eq!(s.ack_conflicts, 1);
    }

    #[test]
    fn reconnect_resends_the_same_frames() {
        let shared = shared();
        shared.start_sending();
        let plan = SendPlan {
            rate: 0.0,
            window: 2,
            messages: Some(2),
            duration_us: None,
            offset_us: 0,
        };
        let mut s = sender(plan);
        let mut first = Vec::new();
        s.pump("r", &shared, &mut first);
        s.new_connection();
        let mut again = Vec::new();
        s.pump("r", &shared, &mut again);
        assert_eq!(first, again);
        assert!(s.finished);
        for (seq, id) in ids(&again).iter().enumerate() {
            s.ack(id, seq as u64 + 1, 0, &shared);
        }
        s.pump("r", &shared, &mut again);
        assert!(s.drained);
        assert_eq!(shared.senders_drained.load(Ordering::Relaxed), 1);
        assert_eq!(shared.senders_finished.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn refused_posts_wait_and_come_back() {
        let shared = shared();
        shared.start_sending();
        let plan = SendPlan {
            rate: 0.0,
            window: 4,
            messages: Some(1),
            duration_us: None,
            offset_us: 0,
        };
        let mut s = sender(plan);
        let mut out = Vec::new();
        s.pump("r", &shared, &mut out);
        let id = ids(&out).remove(0);
        out.clear();
        let now = shared.now_us();
        assert!(matches!(
            s.refused(&id, Some(ErrorCode::RateLimited), Some(60_000), now),
            Refusal::Retry
        ));
        s.pump("r", &shared, &mut out);
        assert!(out.is_empty(), "not before the retry time");
        assert!(s.next_due_us().is_some_and(|due| due >= now + 60_000_000));
        s.outbox[0].not_before_us = 0;
        s.retry_at_us = None;
        s.pump("r", &shared, &mut out);
        assert_eq!(ids(&out), std::slice::from_ref(&id));
        assert!(matches!(
            s.refused(&id, Some(ErrorCode::IdConflict), None, now),
            Refusal::Rejected
        ));
        assert_eq!((s.rejected, s.outbox.len(), s.in_flight), (1, 0, 0));
        assert!(matches!(
            s.refused("other", Some(ErrorCode::RateLimited), None, now),
            Refusal::Unrelated
        ));
    }

    #[test]
    fn rate_sender_creates_posts_on_schedule() {
        let shared = shared();
        let start = shared.start_sending();
        let plan = SendPlan {
            rate: 100.0,
            window: 1000,
            messages: None,
            duration_us: Some(50_000),
            offset_us: 5_000,
        };
        let mut s = sender(plan);
        s.started_us = Some(start);
        // 30 ms in: posts due at 5, 15, 25 ms.
        s.create_due("r", start, start + 30_000);
        assert_eq!(s.created, 3);
        assert_eq!(s.next_due_us(), Some(start + 35_000));
        let times: Vec<u64> = s.outbox.iter().map(|p| p.created_us - start).collect();
        assert_eq!(times, [5_000, 15_000, 25_000]);
        // Past the end: 35 and 45 ms, then finished.
        s.create_due("r", start, start + 100_000);
        assert_eq!(s.created, 5);
        assert!(s.finished);
    }
}
